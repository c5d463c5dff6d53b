package engine

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"strings"

	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/wire"
)

// observedBody feeds an upstream answer to its assembler as it passes
// through. A plain body is fed as it arrives; a gzip body (Envoy passes
// the upstream's encoding through) is kept and inflated at the end.
type observedBody struct {
	asm  wire.Assembler
	gzip bool
	raw  bytes.Buffer
	over bool
}

// newObservedBody fails (wrapping wire.ErrNotCacheable) for encodings it
// cannot read, such as br: those answers pass through uncached.
func newObservedBody(asm wire.Assembler, encoding string) (*observedBody, error) {
	o := &observedBody{asm: asm}
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "", "identity":
	case "gzip", "x-gzip":
		o.gzip = true
	default:
		return nil, wire.NotCacheable("content-encoding %q", encoding)
	}
	return o, nil
}

func (o *observedBody) write(p []byte) {
	if !o.gzip {
		_, _ = o.asm.Write(p)
		return
	}
	if o.over || o.raw.Len()+len(p) > wire.MaxAnswerBytes {
		o.over = true
		o.raw.Reset()
		return
	}
	o.raw.Write(p)
}

// contentStarted reports whether the assembler has seen the first event
// carrying content (false for assemblers that cannot tell, and for a gzip
// body, read only at the end).
func (o *observedBody) contentStarted() bool {
	cs, ok := o.asm.(wire.ContentStarter)
	return ok && cs.ContentStarted()
}

// answers returns the assembled answers; clean tells whether the body
// ended normally.
func (o *observedBody) answers(clean bool) ([]cache.Answer, error) {
	if o.gzip {
		if o.over {
			return nil, wire.NotCacheable("compressed answer larger than %d bytes", wire.MaxAnswerBytes)
		}
		zr, err := gzip.NewReader(&o.raw)
		if err != nil {
			return nil, fmt.Errorf("%w: bad gzip body: %w", wire.ErrNotCacheable, err)
		}
		// One byte over the limit lets the assembler see the overflow.
		if _, err := io.Copy(o.asm, io.LimitReader(zr, wire.MaxAnswerBytes+1)); err != nil {
			return nil, fmt.Errorf("%w: bad gzip body: %w", wire.ErrNotCacheable, err)
		}
		o.gzip = false
	}
	return o.asm.Answers(clean)
}
