// Package openai embeds text with any OpenAI-compatible /v1/embeddings
// endpoint (OpenAI, Azure OpenAI's v1 API, vLLM, Ollama, TEI, …) through
// github.com/sashabaranov/go-openai.
//
// Concurrent Embed calls that arrive within a short window are merged into
// one upstream request and the results handed back to each caller; failed
// requests are retried with exponential backoff and jitter on 429, 5xx and
// network errors; every response is validated and L2-normalised.
package openai

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	goopenai "github.com/sashabaranov/go-openai"

	"github.com/semcache/semcache/embed"
)

// Defaults applied by New for zero Options fields.
const (
	DefaultBaseURL        = "https://api.openai.com/v1"
	DefaultEncodingFormat = "base64"
	DefaultTimeout        = 5 * time.Second
	DefaultMaxRetries     = 2
	DefaultBatchWindow    = 2 * time.Millisecond
	DefaultMaxBatch       = 64
	// maxBatchLimit is OpenAI's limit on inputs per request.
	maxBatchLimit = 2048
)

// Options configures an Embedder.
type Options struct {
	// BaseURL is the API root that "/embeddings" is appended to, e.g.
	// "http://localhost:8000/v1". Empty means DefaultBaseURL.
	BaseURL string
	// APIKey is sent as "Authorization: Bearer <APIKey>"; empty sends no
	// Authorization header (local servers).
	APIKey string
	// Model is the embedding model name. Required.
	Model string
	// Dimension is the length of the vectors the server returns. 0 means
	// ask: New embeds one text and uses the length it gets back.
	Dimension int
	// Dimensions, when > 0, is sent as the "dimensions" request parameter
	// (text-embedding-3 models shorten their vectors to it).
	Dimensions int
	// EncodingFormat is "float" or "base64" (default). base64 is about a
	// third of the bytes of JSON floats. If the server answers a base64
	// request with float arrays, the Embedder switches to "float".
	EncodingFormat string
	// Timeout bounds each upstream attempt. 0 means DefaultTimeout.
	Timeout time.Duration
	// MaxRetries is how many times a failed request is retried; 0 means
	// DefaultMaxRetries, negative means never retry.
	MaxRetries int
	// BatchWindow is how long the first Embed call of a batch waits for
	// others to join it. 0 means DefaultBatchWindow; negative means do not
	// wait (calls already queued still join).
	BatchWindow time.Duration
	// MaxBatch caps the texts in one upstream request; 0 means
	// DefaultMaxBatch. Larger Embed calls are split.
	MaxBatch int
	// HTTPClient sends the requests; nil means a new http.Client using
	// http.DefaultTransport.
	HTTPClient *http.Client
}

func (o Options) withDefaults() Options {
	if o.BaseURL == "" {
		o.BaseURL = DefaultBaseURL
	}
	if o.EncodingFormat == "" {
		o.EncodingFormat = DefaultEncodingFormat
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	switch {
	case o.MaxRetries == 0:
		o.MaxRetries = DefaultMaxRetries
	case o.MaxRetries < 0:
		o.MaxRetries = 0
	}
	switch {
	case o.BatchWindow == 0:
		o.BatchWindow = DefaultBatchWindow
	case o.BatchWindow < 0:
		o.BatchWindow = 0
	}
	if o.MaxBatch == 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{}
	}
	return o
}

func (o Options) validate() error {
	var errs []error
	if o.Model == "" {
		errs = append(errs, errors.New("openai: Model is required"))
	}
	if u, err := url.Parse(o.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("openai: BaseURL %q is not an http(s) URL", o.BaseURL))
	}
	if o.Dimension < 0 {
		errs = append(errs, fmt.Errorf("openai: Dimension %d is negative", o.Dimension))
	}
	if o.Dimensions < 0 {
		errs = append(errs, fmt.Errorf("openai: Dimensions %d is negative", o.Dimensions))
	}
	if o.Dimension > 0 && o.Dimensions > 0 && o.Dimension != o.Dimensions {
		errs = append(errs, fmt.Errorf("openai: Dimension %d disagrees with requested Dimensions %d", o.Dimension, o.Dimensions))
	}
	if o.EncodingFormat != "float" && o.EncodingFormat != "base64" {
		errs = append(errs, fmt.Errorf("openai: EncodingFormat %q is not \"float\" or \"base64\"", o.EncodingFormat))
	}
	if o.Timeout < 0 {
		errs = append(errs, fmt.Errorf("openai: Timeout %v is negative", o.Timeout))
	}
	if o.MaxBatch < 0 || o.MaxBatch > maxBatchLimit {
		errs = append(errs, fmt.Errorf("openai: MaxBatch %d out of range [1, %d]", o.MaxBatch, maxBatchLimit))
	}
	return errors.Join(errs...)
}

// Embedder calls an OpenAI-compatible embeddings endpoint. It is safe for
// concurrent use; Close it to stop its batching goroutine.
type Embedder struct {
	opts    Options
	client  *goopenai.Client
	dim     int
	modelID string

	// floatFallback is set once the server answered a base64 request with
	// float arrays; later requests then ask for floats.
	floatFallback atomic.Bool

	// Backoff before retry k (0-based) is drawn from [d/2, d) with
	// d = min(backoffMax, backoffBase·2^k). Tests shorten them.
	backoffBase, backoffMax time.Duration

	reqs      chan *request // unbuffered: a sent request is owned by the batcher
	closed    chan struct{}
	closeOnce sync.Once
	root      context.Context // cancelled by Close; parent of upstream calls
	cancel    context.CancelFunc
	wg        sync.WaitGroup // batcher and dispatches
}

var _ embed.Embedder = (*Embedder)(nil)

// request is one chunk of one Embed call waiting for its vectors.
type request struct {
	ctx   context.Context
	texts []string
	res   chan result // buffered 1, so a departed caller never blocks delivery
}

type result struct {
	vecs [][]float32
	err  error
}

var errClosed = fmt.Errorf("openai: embedder closed: %w", embed.ErrEmbed)

// New validates opts, probes the vector length when opts.Dimension is 0
// (one upstream call, bounded by ctx), and starts the batcher.
func New(ctx context.Context, opts Options) (*Embedder, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	cfg := goopenai.DefaultConfig(opts.APIKey)
	cfg.BaseURL = opts.BaseURL
	cfg.HTTPClient = opts.HTTPClient
	root, cancel := context.WithCancel(context.Background())
	e := &Embedder{
		opts:        opts,
		client:      goopenai.NewClientWithConfig(cfg),
		dim:         opts.Dimension,
		modelID:     "openai:" + opts.Model,
		backoffBase: 250 * time.Millisecond,
		backoffMax:  4 * time.Second,
		reqs:        make(chan *request),
		closed:      make(chan struct{}),
		root:        root,
		cancel:      cancel,
	}
	if opts.Dimensions > 0 {
		e.modelID += ":" + strconv.Itoa(opts.Dimensions)
	}
	if e.dim == 0 {
		vecs, err := e.embedWithRetry(ctx, []string{"dimension probe"})
		if err != nil {
			cancel()
			return nil, fmt.Errorf("openai: probing dimension: %w", err)
		}
		e.dim = len(vecs[0])
	}
	e.wg.Add(1)
	go e.batcher()
	return e, nil
}

// Dimension implements embed.Embedder.
func (e *Embedder) Dimension() int { return e.dim }

// ModelID implements embed.Embedder: "openai:<model>" or, when Dimensions
// is set, "openai:<model>:<dimensions>".
func (e *Embedder) ModelID() string { return e.modelID }

// Close stops the batcher and aborts upstream calls in flight; their
// callers and later Embed calls get an error. It is idempotent.
func (e *Embedder) Close() error {
	e.closeOnce.Do(func() {
		close(e.closed)
		e.cancel()
	})
	e.wg.Wait()
	return nil
}

// Embed implements embed.Embedder. The texts join the current batch (split
// into MaxBatch-sized chunks if needed). If ctx ends first, Embed returns
// at once with an error wrapping both embed.ErrEmbed and ctx.Err(); the
// batch goes on for its other callers.
func (e *Embedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if len(texts) == 0 {
		return [][]float32{}, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, ctxError(err)
	}
	reqs := make([]*request, 0, (len(texts)+e.opts.MaxBatch-1)/e.opts.MaxBatch)
	for start := 0; start < len(texts); start += e.opts.MaxBatch {
		end := min(start+e.opts.MaxBatch, len(texts))
		r := &request{ctx: ctx, texts: texts[start:end:end], res: make(chan result, 1)}
		select {
		case e.reqs <- r:
		case <-ctx.Done():
			return nil, ctxError(ctx.Err())
		case <-e.closed:
			return nil, errClosed
		}
		reqs = append(reqs, r)
	}
	out := make([][]float32, 0, len(texts))
	for _, r := range reqs {
		select {
		case res := <-r.res:
			if res.err != nil {
				return nil, res.err
			}
			out = append(out, res.vecs...)
		case <-ctx.Done():
			return nil, ctxError(ctx.Err())
		}
	}
	return out, nil
}

func ctxError(err error) error {
	return fmt.Errorf("openai: %w: %w", embed.ErrEmbed, err)
}

// batcher groups requests: a batch opens with the first request, collects
// more for BatchWindow or until MaxBatch texts, then is dispatched on its
// own goroutine while the next batch forms.
func (e *Embedder) batcher() {
	defer e.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var carry *request
	for {
		first := carry
		carry = nil
		if first == nil {
			select {
			case first = <-e.reqs:
			case <-e.closed:
				return
			}
		}
		batch, n := []*request{first}, len(first.texts)
		// add takes r into the batch, or keeps it for the next one when it
		// does not fit; it reports whether the batch may grow further.
		add := func(r *request) bool {
			if n+len(r.texts) > e.opts.MaxBatch {
				carry = r
				return false
			}
			batch = append(batch, r)
			n += len(r.texts)
			return true
		}
		if e.opts.BatchWindow > 0 {
			timer.Reset(e.opts.BatchWindow)
		}
	collect:
		for n < e.opts.MaxBatch {
			if e.opts.BatchWindow <= 0 {
				select {
				case r := <-e.reqs:
					if !add(r) {
						break collect
					}
					continue
				default:
					break collect
				}
			}
			select {
			case r := <-e.reqs:
				if !add(r) {
					break collect
				}
			case <-timer.C:
				break collect
			case <-e.closed:
				timer.Stop()
				for _, r := range batch {
					r.res <- result{err: errClosed}
				}
				return
			}
		}
		timer.Stop()
		e.wg.Add(1)
		go e.dispatch(batch)
	}
}

// dispatch makes one upstream call for batch and hands each request its
// vectors. The call is cancelled only by Close or when every caller in the
// batch has gone.
func (e *Embedder) dispatch(batch []*request) {
	defer e.wg.Done()
	live := batch[:0]
	n := 0
	for _, r := range batch {
		if r.ctx.Err() == nil {
			live = append(live, r)
			n += len(r.texts)
		}
	}
	if len(live) == 0 {
		return
	}
	ctx, cancel := context.WithCancel(e.root)
	defer cancel()
	var waiting atomic.Int32
	waiting.Store(int32(len(live)))
	texts := make([]string, 0, n)
	for _, r := range live {
		texts = append(texts, r.texts...)
		stop := context.AfterFunc(r.ctx, func() {
			if waiting.Add(-1) == 0 {
				cancel()
			}
		})
		defer stop()
	}
	vecs, err := e.embedWithRetry(ctx, texts)
	if err != nil && e.root.Err() != nil {
		err = errClosed
	}
	off := 0
	for _, r := range live {
		end := off + len(r.texts)
		if err != nil {
			r.res <- result{err: err}
		} else {
			r.res <- result{vecs: vecs[off:end:end]}
		}
		off = end
	}
}
