package extproc

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"strings"

	"github.com/semcache/semcache/cache"
)

// maxObserved bounds what an observed answer may hold, compressed or not
// (the assembler's own default).
const maxObserved = 8 << 20

// observer assembles an upstream answer from the body chunks Envoy streams
// through. Plain bodies feed the assembler as they arrive; a gzip body is
// kept and inflated at the end.
type observer struct {
	asm  *cache.Assembler
	gzip bool
	raw  bytes.Buffer
	over bool
}

// newObserver fails (with cache.ErrNotCacheable) for encodings it cannot
// read, such as br: those answers pass through uncached.
func newObserver(stream bool, encoding string) (*observer, error) {
	o := &observer{asm: cache.NewAssembler(stream)}
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "", "identity":
	case "gzip", "x-gzip":
		o.gzip = true
	default:
		return nil, fmt.Errorf("%w: content-encoding %q", cache.ErrNotCacheable, encoding)
	}
	return o, nil
}

func (o *observer) write(p []byte) {
	if !o.gzip {
		_, _ = o.asm.Write(p)
		return
	}
	if o.over || o.raw.Len()+len(p) > maxObserved {
		o.over = true
		o.raw.Reset()
		return
	}
	o.raw.Write(p)
}

// result returns the assembled answer; clean tells whether the body ended
// normally.
func (o *observer) result(clean bool) (cache.Answer, error) {
	if o.gzip {
		if o.over {
			return cache.Answer{}, fmt.Errorf("%w: compressed answer larger than %d bytes", cache.ErrNotCacheable, maxObserved)
		}
		zr, err := gzip.NewReader(&o.raw)
		if err != nil {
			return cache.Answer{}, fmt.Errorf("%w: bad gzip body: %w", cache.ErrNotCacheable, err)
		}
		// One byte over the limit lets the assembler see the overflow.
		if _, err := io.Copy(o.asm, io.LimitReader(zr, maxObserved+1)); err != nil {
			return cache.Answer{}, fmt.Errorf("%w: bad gzip body: %w", cache.ErrNotCacheable, err)
		}
	}
	return o.asm.Result(clean)
}
