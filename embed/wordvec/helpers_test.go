package wordvec

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// testDir returns the directory of the real vectors: $SEMCACHE_WORDVEC_DIR,
// else ~/.cache/semcache/models/wordvec-sg100d-1.1.0 (where .ci/wordvec.sh
// puts them). Without them the test is skipped, except under CI, where it
// fails: CI must never skip the sanity tests silently.
func testDir(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv("SEMCACHE_WORDVEC_DIR")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			tb.Fatalf("no SEMCACHE_WORDVEC_DIR and no home directory: %v", err)
		}
		dir = DefaultDir(filepath.Join(home, ".cache", "semcache"))
	}
	if _, err := Load(File(dir)); err != nil {
		msg := "word vectors not available (run .ci/wordvec.sh or set SEMCACHE_WORDVEC_DIR): " + err.Error()
		if os.Getenv("CI") != "" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	return dir
}

var shared = struct {
	once sync.Once
	v    *Vectors
	err  error
}{}

// testVectors loads the real vectors once per test binary.
func testVectors(tb testing.TB) *Vectors {
	tb.Helper()
	dir := testDir(tb)
	shared.once.Do(func() { shared.v, shared.err = Load(File(dir)) })
	if shared.err != nil {
		tb.Fatal(shared.err)
	}
	return shared.v
}

// entry is one word of a synthetic source.
type entry struct {
	word string
	vec  []float64
}

// sourceJSON writes entries in the wink-embeddings layout: the layout
// keys, "words", "vectors" (components, L2 norm, index) and "unkVector".
func sourceJSON(entries []entry) []byte {
	dims := len(entries[0].vec)
	var b strings.Builder
	fmt.Fprintf(&b, `{"precision":8,"l2NormIndex":%d,"wordIndex":%d,"size":%d,"dimensions":%d,"words":[`, dims, dims+1, len(entries), dims)
	for i, e := range entries {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q", e.word)
	}
	b.WriteString(`],"vectors":{`)
	for i, e := range entries {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q:[", e.word)
		var sq float64
		for _, x := range e.vec {
			fmt.Fprintf(&b, "%g,", x)
			sq += x * x
		}
		fmt.Fprintf(&b, "%.8g,%d]", math.Sqrt(sq), i)
	}
	b.WriteString(`},"unkVector":[`)
	for range dims {
		b.WriteString("0,")
	}
	b.WriteString("-1]}")
	return []byte(b.String())
}

type tarFile struct {
	name string
	body []byte
}

func tarball(t testing.TB, files ...tarFile) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg}); err != nil {
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

// synthetic is a small source whose similarities are known: "alpha" and
// "beta" point the same way, "gamma" is orthogonal to them, "delta" is
// opposite to "alpha"; the other entries are not words and must be
// dropped.
func synthetic() []entry {
	return []entry{
		{"alpha", []float64{3, 0, 0, 0}},
		{",", []float64{1, 1, 1, 1}},
		{"beta", []float64{0.5, 0, 0, 0}},
		{"1999", []float64{1, 2, 3, 4}},
		{"gamma", []float64{0, 0, 2, 0}},
		{"e-mail", []float64{1, 1, 0, 0}},
		{"'s", []float64{0, 1, 0, 0}},
		{"delta", []float64{-1, 0, 0, 0}},
		{"zero", []float64{0, 0, 0, 0}},
		{"mixed", []float64{0.2, -0.7, 0.1, 0.05}},
	}
}

// convertBytes converts a source into a vectors file in memory.
func convertBytes(t testing.TB, src []byte, words int) ([]byte, convStats) {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "vectors-*.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stats, err := convert(bytes.NewReader(src), f, words)
	if err != nil {
		t.Fatalf("convert: %v", err)
	}
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return b, stats
}
