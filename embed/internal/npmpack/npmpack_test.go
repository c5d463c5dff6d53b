package npmpack

import (
	"context"
	"crypto/sha512"
	"encoding/base64"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func sri(b []byte) string {
	sum := sha512.Sum512(b)
	return "sha512-" + base64.StdEncoding.EncodeToString(sum[:])
}

// fakeNPM writes an npm stand-in running body in the pack directory.
func fakeNPM(t *testing.T, body string) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the fake npm is a shell script")
	}
	npm := filepath.Join(t.TempDir(), "npm")
	if err := os.WriteFile(npm, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return npm
}

func TestFetch(t *testing.T) {
	content := []byte("tarball bytes")
	tests := []struct {
		name, script, integrity, wantErr string
	}{
		{"prints its name", "printf 'tarball bytes' > p-1.0.0.tgz\necho p-1.0.0.tgz\n", sri(content), ""},
		{"prints nothing: the one tarball is found", "printf 'tarball bytes' > p-1.0.0.tgz\n", sri(content), ""},
		{"prints a path outside the directory", "printf 'tarball bytes' > p-1.0.0.tgz\necho ../../etc/passwd.tgz\n", sri(content), ""},
		{"two tarballs and no name", "touch a.tgz b.tgz\n", sri(content), "produced 2 tarballs"},
		{"no tarball", "echo done\n", sri(content), "produced 0 tarballs"},
		{"wrong content", "printf 'other bytes' > p-1.0.0.tgz\necho p-1.0.0.tgz\n", sri(content), "has integrity sha512-"},
		{"npm fails", "echo boom >&2\nexit 3\n", sri(content), "npm pack p@1.0.0: exit status 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var progress strings.Builder
			got, err := Fetch(context.Background(), Spec{NPM: fakeNPM(t, tt.script), Package: "p@1.0.0", Integrity: tt.integrity}, dir, &progress)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Fetch = %q, %v; want an error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != filepath.Join(dir, "p-1.0.0.tgz") {
				t.Fatalf("Fetch = %q, %v; want %s", got, err, filepath.Join(dir, "p-1.0.0.tgz"))
			}
		})
	}
	if _, err := Fetch(context.Background(), Spec{NPM: "semcache-no-such-npm", Package: "p@1"}, t.TempDir(), nil); err == nil || !strings.Contains(err.Error(), "needs npm") {
		t.Errorf("Fetch without npm = %v, want one saying npm is needed", err)
	}
}
