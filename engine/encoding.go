package engine

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// ErrUnsupportedEncoding is returned for a request body in a
// Content-Encoding semcache cannot decode (br, zstd, …): 415.
var ErrUnsupportedEncoding = errors.New("engine: unsupported request Content-Encoding")

// decodeBody undoes a request body's Content-Encoding (gzip, x-gzip,
// deflate; "" and identity leave it), inflating at most limit bytes: a
// body that would grow past it fails with *http.MaxBytesError (413), so a
// small compressed body cannot become a large one (a zip bomb). A body
// that is not valid in its encoding fails with ErrUnreadableBody.
func decodeBody(encoding string, body []byte, limit int64) ([]byte, error) {
	var r io.Reader
	switch encoding {
	case "", "identity":
		return body, nil
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("%w: gzip: %w", ErrUnreadableBody, err)
		}
		r = zr
	case "deflate":
		// RFC 9110's deflate is zlib-wrapped; some clients send raw
		// deflate. Try zlib's header first.
		dr, err := newDeflateReader(body)
		if err != nil {
			return nil, fmt.Errorf("%w: deflate: %w", ErrUnreadableBody, err)
		}
		r = dr
	default:
		return nil, fmt.Errorf("%w: %q (semcache decodes gzip and deflate)", ErrUnsupportedEncoding, encoding)
	}
	out, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnreadableBody, encoding, err)
	}
	if int64(len(out)) > limit {
		return nil, &http.MaxBytesError{Limit: limit}
	}
	return out, nil
}

// newDeflateReader reads zlib-wrapped deflate, or raw deflate when the
// body has no zlib header.
func newDeflateReader(body []byte) (io.Reader, error) {
	if len(body) >= 2 && body[0]&0x0f == 8 && (uint16(body[0])<<8|uint16(body[1]))%31 == 0 {
		return zlib.NewReader(bytes.NewReader(body))
	}
	return flate.NewReader(bytes.NewReader(body)), nil
}
