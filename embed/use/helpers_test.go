package use

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// testModelDir returns the model directory for tests: $SEMCACHE_MODEL_DIR,
// else ~/.cache/semcache/models/use-lite-en-0.2.0 (where .ci/use-model.sh
// puts it). Without a model the test is skipped, except under CI, where it
// fails: CI must never skip the golden tests silently.
func testModelDir(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv("SEMCACHE_MODEL_DIR")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			tb.Fatalf("no SEMCACHE_MODEL_DIR and no home directory: %v", err)
		}
		dir = DefaultDir(filepath.Join(home, ".cache", "semcache"))
	}
	if err := checkComplete(dir); err != nil {
		msg := "USE-lite model not available (run .ci/use-model.sh or set SEMCACHE_MODEL_DIR): " + err.Error()
		if os.Getenv("CI") != "" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	return dir
}

var sharedEncoder = struct {
	once sync.Once
	enc  *Encoder
	err  error
}{}

// testEncoder loads the model once per test binary.
func testEncoder(tb testing.TB) *Encoder {
	tb.Helper()
	dir := testModelDir(tb)
	sharedEncoder.once.Do(func() {
		sharedEncoder.enc, sharedEncoder.err = Load(dir)
	})
	if sharedEncoder.err != nil {
		tb.Fatalf("Load(%s): %v", dir, sharedEncoder.err)
	}
	return sharedEncoder.enc
}

// golden is testdata/golden.json, written by scripts/use-golden/golden.mjs
// with the reference implementation.
type golden struct {
	Meta      map[string]any `json:"meta"`
	Sentences []string       `json:"sentences"`
	IDs       [][]int32      `json:"ids"`
	Vectors   [][]float64    `json:"vectors"`
}

// tokenGolden is testdata/tokens.json: strings and the reference
// tokenizer's ids.
type tokenGolden struct {
	Strings []string  `json:"strings"`
	IDs     [][]int32 `json:"ids"`
}

func readJSON(tb testing.TB, name string, v any) {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
}

func cosine(a []float32, b []float64) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * b[i]
		na += float64(a[i]) * float64(a[i])
		nb += b[i] * b[i]
	}
	return dot / math.Sqrt(na*nb)
}

func equalIDs(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
