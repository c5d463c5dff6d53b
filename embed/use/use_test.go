package use

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/semcache/semcache/embed"
)

func TestEmbedContract(t *testing.T) {
	enc := testEncoder(t)
	if enc.Dimension() != 512 || enc.ModelID() != "use-lite-en-0.2.0" {
		t.Fatalf("Dimension %d, ModelID %q", enc.Dimension(), enc.ModelID())
	}
	ctx := context.Background()
	got, err := enc.Embed(ctx, nil)
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("Embed(nil) = %v, %v; want empty, nil", got, err)
	}
	texts := []string{"What is the capital of France?", "", "What is the capital of France?", "Paris", " "}
	got, err = enc.Embed(ctx, texts)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(texts) {
		t.Fatalf("%d vectors for %d texts", len(got), len(texts))
	}
	for i, v := range got {
		if len(v) != 512 {
			t.Fatalf("vector %d has %d elements", i, len(v))
		}
		var ss float64
		for _, x := range v {
			ss += float64(x) * float64(x)
		}
		if math.Abs(ss-1) > 1e-5 {
			t.Errorf("vector %d has squared norm %g", i, ss)
		}
	}
	if !equalVec(got[0], got[2]) {
		t.Error("the same text embedded twice in one call differs")
	}
	if equalVec(got[0], got[3]) || equalVec(got[1], got[4]) {
		t.Error("different texts got identical vectors")
	}
	// Empty after normalisation: the model's vector for no tokens.
	if !equalVec(got[1], enc.m.empty) {
		t.Error(`Embed("") is not normalise(tanh(bt))`)
	}
	// Appending to one result must not clobber the next.
	_ = append(got[0], 1)
	if !equalVec(got[2], got[0]) {
		t.Error("append to a result overwrote its neighbour")
	}
}

func equalVec(a, b []float32) bool {
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

// TestEmbedClipsAt128Tokens: only the first 128 tokens count.
func TestEmbedClipsAt128Tokens(t *testing.T) {
	enc := testEncoder(t)
	words := func(n int) string { return strings.TrimSpace(strings.Repeat("the ", n)) }
	var lt lattice
	if n := len(enc.tok.encode(words(maxTokens), &lt)); n != maxTokens {
		t.Fatalf("%d words give %d tokens, want %d", maxTokens, n, maxTokens)
	}
	got, err := enc.Embed(context.Background(), []string{words(maxTokens), words(200), words(maxTokens - 1)})
	if err != nil {
		t.Fatal(err)
	}
	if !equalVec(got[0], got[1]) {
		t.Error("200 tokens embed differently from their first 128")
	}
	if equalVec(got[0], got[2]) {
		t.Error("127 and 128 tokens embed identically; the clip is too short")
	}
}

// TestEmbedDeterministicAcrossWorkers: results do not depend on
// GOMAXPROCS, on batching or on concurrent callers (run with -race).
func TestEmbedDeterministicAcrossWorkers(t *testing.T) {
	enc := testEncoder(t)
	var g golden
	readJSON(t, "golden.json", &g)
	ctx := context.Background()
	prev := runtime.GOMAXPROCS(1)
	seq, err := enc.Embed(ctx, g.Sentences)
	runtime.GOMAXPROCS(max(prev, 4))
	defer runtime.GOMAXPROCS(prev)
	if err != nil {
		t.Fatal(err)
	}
	par, err := enc.Embed(ctx, g.Sentences)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	single := make([][]float32, len(g.Sentences))
	errs := make([]error, len(g.Sentences))
	for i, s := range g.Sentences {
		wg.Go(func() {
			v, err := enc.Embed(ctx, []string{s})
			if err == nil {
				single[i] = v[0]
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i := range g.Sentences {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if !equalVec(seq[i], par[i]) || !equalVec(seq[i], single[i]) {
			t.Errorf("sentence %d %q: sequential, parallel and single results differ", i, g.Sentences[i])
		}
	}
}

func TestEmbedCancelled(t *testing.T) {
	enc := testEncoder(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	texts := make([]string, 64)
	for i := range texts {
		texts[i] = "a sentence that will never be embedded"
	}
	for _, procs := range []int{1, 2} {
		prev := runtime.GOMAXPROCS(procs)
		got, err := enc.Embed(ctx, texts)
		runtime.GOMAXPROCS(prev)
		if !errors.Is(err, context.Canceled) || !errors.Is(err, embed.ErrEmbed) || got != nil {
			t.Errorf("GOMAXPROCS=%d: Embed with a cancelled context = %d vectors, %v; want nil and an error wrapping embed.ErrEmbed and context.Canceled", procs, len(got), err)
		}
	}
}

// linkModel makes dir a copy of the model directory made of symlinks, except
// for the files in replace, which are written with the given content.
func linkModel(t *testing.T, model, dir string, replace map[string][]byte) {
	t.Helper()
	entries, err := os.ReadDir(model)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		dst := filepath.Join(dir, e.Name())
		if content, ok := replace[e.Name()]; ok {
			if content != nil {
				if err := os.WriteFile(dst, content, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			continue
		}
		if err := os.Symlink(filepath.Join(model, e.Name()), dst); err != nil {
			t.Fatal(err)
		}
	}
}

// editManifest rewrites model.json's weightsManifest (dropping the
// topology, which Load does not read).
func editManifest(t *testing.T, raw []byte, edit func(*manifest)) []byte {
	t.Helper()
	var m manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	edit(&m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLoadLayoutsAndErrors(t *testing.T) {
	model, err := resolveDir(testModelDir(t))
	if err != nil {
		t.Fatal(err)
	}
	modelJSON, err := os.ReadFile(filepath.Join(model, "model.json"))
	if err != nil {
		t.Fatal(err)
	}
	shard7, err := os.ReadFile(filepath.Join(model, "group1-shard7of7"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		sub     string            // where Load is pointed, relative to the temp dir
		layout  string            // where the files go, relative to the temp dir
		replace map[string][]byte // nil content = file missing
		wantErr string
	}{
		{name: "flat", layout: "m", sub: "m"},
		{name: "npm package layout", layout: "x/package/dist", sub: "x"},
		{name: "missing dir", layout: "m", sub: "nope", wantErr: "no model.json"},
		{name: "missing shard", layout: "m", sub: "m", replace: map[string][]byte{"group1-shard3of7": nil}, wantErr: "group1-shard3of7"},
		{name: "short shard", layout: "m", sub: "m", replace: map[string][]byte{"group1-shard7of7": shard7[:len(shard7)-4]}, wantErr: "shards hold"},
		{name: "missing vocab", layout: "m", sub: "m", replace: map[string][]byte{"vocab.json": nil}, wantErr: "vocab.json"},
		{name: "short vocab", layout: "m", sub: "m", replace: map[string][]byte{"vocab.json": []byte(`[["a", -1]]`)}, wantErr: "entries"},
		{name: "bad manifest", layout: "m", sub: "m", replace: map[string][]byte{"model.json": []byte(`{`)}, wantErr: "parse model.json"},
		{name: "manifest without topology", layout: "m", sub: "m",
			replace: map[string][]byte{"model.json": editManifest(t, modelJSON, func(*manifest) {})}},
		{name: "escaping shard path", layout: "m", sub: "m",
			replace: map[string][]byte{"model.json": editManifest(t, modelJSON, func(m *manifest) {
				m.WeightsManifest[0].Paths[0] = "../group1-shard1of7"
			})},
			wantErr: "bad shard path"},
		{name: "renamed tensor", layout: "m", sub: "m",
			replace: map[string][]byte{"model.json": editManifest(t, modelJSON, func(m *manifest) {
				for i, w := range m.WeightsManifest[0].Weights {
					if w.Name == "module/Embeddings_en" {
						m.WeightsManifest[0].Weights[i].Name = "module/Embeddings_xx"
					}
				}
			})},
			wantErr: "no tensor module/Embeddings_en"},
		{name: "swapped tensor names", layout: "m", sub: "m",
			// Two tensors trade names but keep their positions' shapes:
			// the shape check must catch it.
			replace: map[string][]byte{"model.json": editManifest(t, modelJSON, func(m *manifest) {
				w := m.WeightsManifest[0].Weights
				w[0], w[1] = w[1], w[0]
				w[0].Shape, w[1].Shape = w[1].Shape, w[0].Shape
			})},
			wantErr: "shape"},
		{name: "quantized", layout: "m", sub: "m",
			replace: map[string][]byte{"model.json": editManifest(t, modelJSON, func(m *manifest) {
				m.WeightsManifest[0].Weights[3].Quantization = []byte(`{"dtype":"uint8"}`)
			})},
			wantErr: "quantized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmp := t.TempDir()
			linkModel(t, model, filepath.Join(tmp, tt.layout), tt.replace)
			enc, err := Load(filepath.Join(tmp, tt.sub))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				v, err := enc.Embed(context.Background(), []string{"Hello world."})
				if err != nil || math.Abs(float64(v[0][0])+0.0473066) > 1e-6 {
					t.Fatalf("Embed after Load = %v, %v", v[0][:1], err)
				}
				if !Present(filepath.Join(tmp, tt.sub)) {
					t.Error("Present = false for a loadable model")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "use: ") {
				t.Fatalf("Load error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
