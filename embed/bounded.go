package embed

import (
	"context"
	"sync/atomic"
)

// BoundOptions configures NewBounded.
type BoundOptions struct {
	// Clip says how much of a long text is embedded.
	Clip ClipOptions
	// OnClip, when set, is called on the caller's goroutine for every text
	// Embed clips, with the caller's ctx and the text's length in bytes,
	// before the inner call: the hook for a metric or a log line.
	OnClip func(ctx context.Context, textBytes int)
}

// Validate reports every invalid field.
func (o BoundOptions) Validate() error { return o.Clip.Validate() }

// Bounded is an Embedder that clips long texts (see Clip) before passing
// them to an inner Embedder, so no request makes inner read more than
// ClipOptions.MaxRunes runes per text. It counts the texts it clipped and
// reports each to OnClip. Texts within the bound reach inner unchanged.
//
// Bounded is safe for concurrent use.
type Bounded struct {
	inner   Embedder
	opts    BoundOptions
	clipped atomic.Uint64
}

var _ Embedder = (*Bounded)(nil)

// NewBounded wraps inner.
func NewBounded(inner Embedder, opts BoundOptions) (*Bounded, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts.Clip = opts.Clip.withDefaults()
	return &Bounded{inner: inner, opts: opts}, nil
}

// Dimension implements Embedder; it is inner's.
func (b *Bounded) Dimension() int { return b.inner.Dimension() }

// ModelID implements Embedder; it is inner's.
func (b *Bounded) ModelID() string { return b.inner.ModelID() }

// Clipped reports how many texts Embed has clipped.
func (b *Bounded) Clipped() uint64 { return b.clipped.Load() }

// Embed implements Embedder. The caller's slice is never modified.
func (b *Bounded) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	var out []string // copy of texts, made at the first clipped one
	for i, t := range texts {
		c, ok := Clip(t, b.opts.Clip)
		if !ok {
			continue
		}
		if out == nil {
			out = append([]string(nil), texts...)
		}
		out[i] = c
		b.clipped.Add(1)
		if b.opts.OnClip != nil {
			b.opts.OnClip(ctx, len(t))
		}
	}
	if out == nil {
		out = texts
	}
	return b.inner.Embed(ctx, out)
}
