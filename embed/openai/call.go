package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"time"

	goopenai "github.com/sashabaranov/go-openai"

	"github.com/semcache/semcache/embed"
)

// errAttemptTimeout marks an attempt that ran out of Options.Timeout while
// its batch was still wanted; it is retried.
var errAttemptTimeout = errors.New("openai: upstream call timed out")

// embedWithRetry embeds texts with one upstream request, retrying
// transient failures. Every error it returns wraps embed.ErrEmbed.
func (e *Embedder) embedWithRetry(ctx context.Context, texts []string) ([][]float32, error) {
	for attempt := 0; ; attempt++ {
		vecs, err := e.call(ctx, texts)
		if err == nil {
			return vecs, nil
		}
		if ctx.Err() != nil {
			return nil, ctxError(ctx.Err())
		}
		if !retryable(err) || attempt >= e.opts.MaxRetries {
			if attempt > 0 {
				err = fmt.Errorf("after %d attempts: %w", attempt+1, err)
			}
			if errors.Is(err, embed.ErrEmbed) {
				return nil, err
			}
			return nil, fmt.Errorf("openai: %w: %w", embed.ErrEmbed, err)
		}
		t := time.NewTimer(e.backoff(attempt))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctxError(ctx.Err())
		}
	}
}

// backoff returns the pause before retry attempt+1: exponential with
// "equal jitter", in [d/2, d).
func (e *Embedder) backoff(attempt int) time.Duration {
	d := e.backoffMax
	if attempt < 30 {
		d = min(e.backoffBase<<attempt, e.backoffMax)
	}
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2)
}

// retryable reports whether err is worth another attempt: 429, 5xx,
// timeouts and network failures are; other HTTP errors and malformed
// responses are not.
func retryable(err error) bool {
	var apiErr *goopenai.APIError
	if errors.As(err, &apiErr) && apiErr.HTTPStatusCode != 0 {
		return retryableStatus(apiErr.HTTPStatusCode)
	}
	var reqErr *goopenai.RequestError
	if errors.As(err, &reqErr) && reqErr.HTTPStatusCode != 0 {
		return retryableStatus(reqErr.HTTPStatusCode)
	}
	var urlErr *url.Error
	var netErr net.Error
	return errors.Is(err, errAttemptTimeout) ||
		errors.As(err, &urlErr) ||
		errors.As(err, &netErr) ||
		errors.Is(err, io.ErrUnexpectedEOF)
}

func retryableStatus(code int) bool {
	return code == http.StatusTooManyRequests || code >= 500
}

// call makes one attempt, bounded by Options.Timeout.
func (e *Embedder) call(ctx context.Context, texts []string) ([][]float32, error) {
	actx, cancel := context.WithTimeout(ctx, e.opts.Timeout)
	defer cancel()
	format := goopenai.EmbeddingEncodingFormat(e.opts.EncodingFormat)
	if e.floatFallback.Load() {
		format = goopenai.EmbeddingEncodingFormatFloat
	}
	req := goopenai.EmbeddingRequestStrings{
		Input:          texts,
		Model:          goopenai.EmbeddingModel(e.opts.Model),
		EncodingFormat: format,
		Dimensions:     e.opts.Dimensions,
	}
	resp, err := e.client.CreateEmbeddings(actx, req)
	if err != nil && format == goopenai.EmbeddingEncodingFormatBase64 && isFloatInBase64(err) {
		// The server ignored encoding_format and sent float arrays.
		e.floatFallback.Store(true)
		req.EncodingFormat = goopenai.EmbeddingEncodingFormatFloat
		resp, err = e.client.CreateEmbeddings(actx, req)
	}
	if err != nil {
		if actx.Err() != nil && ctx.Err() == nil {
			return nil, fmt.Errorf("%w after %v: %w", errAttemptTimeout, e.opts.Timeout, err)
		}
		return nil, err
	}
	return e.validate(resp, len(texts))
}

// isFloatInBase64 recognises go-openai's decode error when a float array
// arrives where a base64 string was requested.
func isFloatInBase64(err error) bool {
	var typeErr *json.UnmarshalTypeError
	return errors.As(err, &typeErr) && typeErr.Value == "array"
}

// validate checks a response for n inputs and returns its vectors in input
// order, L2-normalised. Before the dimension is known (the probe) any
// consistent non-zero length is accepted.
func (e *Embedder) validate(resp goopenai.EmbeddingResponse, n int) ([][]float32, error) {
	if len(resp.Data) != n {
		return nil, fmt.Errorf("openai: response has %d embeddings for %d inputs: %w", len(resp.Data), n, embed.ErrEmbed)
	}
	dim := e.dim
	out := make([][]float32, n)
	for _, d := range resp.Data {
		if d.Index < 0 || d.Index >= n {
			return nil, fmt.Errorf("openai: response index %d out of range [0, %d): %w", d.Index, n, embed.ErrEmbed)
		}
		if out[d.Index] != nil {
			return nil, fmt.Errorf("openai: response repeats index %d: %w", d.Index, embed.ErrEmbed)
		}
		if dim == 0 {
			dim = len(d.Embedding)
		}
		if len(d.Embedding) != dim || dim == 0 {
			return nil, fmt.Errorf("openai: embedding %d has %d dimensions, want %d: %w", d.Index, len(d.Embedding), dim, embed.ErrEmbed)
		}
		if err := normalize(d.Embedding); err != nil {
			return nil, fmt.Errorf("openai: embedding %d: %w", d.Index, err)
		}
		out[d.Index] = d.Embedding
	}
	return out, nil
}

// normalize scales v to unit L2 norm in place.
func normalize(v []float32) error {
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	if sum == 0 || math.IsNaN(sum) || math.IsInf(sum, 0) {
		return fmt.Errorf("zero or non-finite vector: %w", embed.ErrEmbed)
	}
	inv := 1 / math.Sqrt(sum)
	for i, x := range v {
		v[i] = float32(float64(x) * inv)
	}
	return nil
}
