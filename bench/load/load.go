// Package load is a load generator for OpenAI-compatible chat endpoints,
// built to measure the semcache proxy: it replays a reproducible mix of
// unique, exactly repeated and lightly paraphrased prompts at a fixed
// concurrency, reads every answer to the end (SSE included) and reports
// latency, time to first token and the proxy's X-Semcache verdicts.
package load

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// CacheHeader is the response header the proxy uses to say how it served a
// request. Responses without it are counted under NoCacheHeader.
const (
	CacheHeader   = "X-Semcache"
	NoCacheHeader = "none"
)

const (
	defaultModel     = "sim-gpt"
	systemPrompt     = "You are a helpful assistant."
	maxErrorBodySize = 64 << 10
)

// Options configures Run.
type Options struct {
	// Target is the API base URL including /v1, e.g. http://127.0.0.1:8080/v1.
	Target string
	// Requests is how many chat completions to send (> 0).
	Requests int
	// Concurrency is how many requests are in flight at once; 0 means 1.
	Concurrency int
	// DuplicateRatio is the fraction of requests that repeat an earlier
	// prompt exactly.
	DuplicateRatio float64
	// ParaphraseRatio is the fraction of requests that lightly reword an
	// earlier prompt (case, punctuation, word order, a polite prefix).
	ParaphraseRatio float64
	// Stream asks for SSE answers (with stream_options.include_usage).
	Stream bool
	// APIKey is sent as a bearer token when not empty.
	APIKey string
	// Model is the model name to request; empty means "sim-gpt".
	Model string
	// Seed makes the prompt mix reproducible.
	Seed int64
	// HTTPClient sends the requests; nil means a client with a connection
	// pool sized for Concurrency.
	HTTPClient *http.Client
}

// Validate reports every problem with o.
func (o Options) Validate() error {
	var errs []error
	if o.Target == "" {
		errs = append(errs, errors.New("load: Target is required"))
	} else if u, err := url.Parse(o.Target); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("load: Target %q is not an http(s) URL", o.Target))
	}
	if o.Requests <= 0 {
		errs = append(errs, fmt.Errorf("load: Requests %d must be > 0", o.Requests))
	}
	if o.Concurrency < 0 {
		errs = append(errs, fmt.Errorf("load: Concurrency %d is negative", o.Concurrency))
	}
	for _, r := range []struct {
		name string
		v    float64
	}{{"DuplicateRatio", o.DuplicateRatio}, {"ParaphraseRatio", o.ParaphraseRatio}} {
		if !(r.v >= 0 && r.v <= 1) {
			errs = append(errs, fmt.Errorf("load: %s %v outside 0..1", r.name, r.v))
		}
	}
	if o.DuplicateRatio+o.ParaphraseRatio > 1 {
		errs = append(errs, fmt.Errorf("load: DuplicateRatio + ParaphraseRatio = %v exceeds 1", o.DuplicateRatio+o.ParaphraseRatio))
	}
	return errors.Join(errs...)
}

// result is the outcome of one request.
type result struct {
	kind    Kind
	done    bool // false: never sent or canceled by ctx
	status  int  // 0: no HTTP response
	cache   string
	latency time.Duration
	ttft    time.Duration // stream only; 0 if no content arrived
	err     error
}

// Run sends opts.Requests chat completions and reports on them. It stops
// early when ctx ends; the report then covers the requests that finished
// and the returned error wraps ctx.Err().
func Run(ctx context.Context, opts Options) (Report, error) {
	if err := opts.Validate(); err != nil {
		return Report{}, err
	}
	if opts.Concurrency == 0 {
		opts.Concurrency = 1
	}
	if opts.Model == "" {
		opts.Model = defaultModel
	}
	hc := opts.HTTPClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = opts.Concurrency
		hc = &http.Client{Transport: tr}
		defer tr.CloseIdleConnections()
	}
	c := &client{
		http:   hc,
		url:    strings.TrimSuffix(opts.Target, "/") + "/chat/completions",
		apiKey: opts.APIKey,
		model:  opts.Model,
		stream: opts.Stream,
	}

	jobs := planJobs(opts.Requests, opts.DuplicateRatio, opts.ParaphraseRatio, opts.Seed)
	results := make([]result, len(jobs))
	next := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range min(opts.Concurrency, len(jobs)) {
		wg.Go(func() {
			for i := range next {
				results[i] = c.do(ctx, jobs[i])
			}
		})
	}
feed:
	for i := range jobs {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	elapsed := time.Since(start)

	for i := range results {
		results[i].kind = jobs[i].kind
	}
	rep := newReport(results, elapsed)
	if err := ctx.Err(); err != nil {
		return rep, fmt.Errorf("load: stopped after %d of %d requests: %w", rep.Completed, rep.Planned, err)
	}
	return rep, nil
}

// client sends one chat completion and reads the answer to the end.
type client struct {
	http   *http.Client
	url    string
	apiKey string
	model  string
	stream bool
}

type chatRequest struct {
	Model         string         `json:"model"`
	Messages      []chatMessage  `json:"messages"`
	Stream        bool           `json:"stream,omitempty"`
	StreamOptions *streamOptions `json:"stream_options,omitempty"`
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

func (c *client) do(ctx context.Context, j job) result {
	body := chatRequest{
		Model:    c.model,
		Messages: []chatMessage{{Role: "system", Content: systemPrompt}, {Role: "user", Content: j.prompt}},
		Stream:   c.stream,
	}
	if c.stream {
		body.StreamOptions = &streamOptions{IncludeUsage: true}
	}
	b, err := json.Marshal(body)
	if err != nil {
		return result{done: true, cache: NoCacheHeader, err: fmt.Errorf("load: encode request: %w", err)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(b))
	if err != nil {
		return result{done: true, cache: NoCacheHeader, err: fmt.Errorf("load: build request: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	if c.stream {
		req.Header.Set("Accept", "text/event-stream")
	}
	if c.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
	}

	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return result{}
		}
		return result{done: true, cache: NoCacheHeader, latency: time.Since(start), err: fmt.Errorf("load: send: %w", err)}
	}
	defer resp.Body.Close()
	r := result{done: true, status: resp.StatusCode, cache: resp.Header.Get(CacheHeader)}
	if r.cache == "" {
		r.cache = NoCacheHeader
	}
	switch {
	case resp.StatusCode != http.StatusOK:
		r.err = statusError(resp)
	case c.stream:
		r.ttft, r.err = readStream(resp.Body, start)
	default:
		r.err = readCompletion(resp.Body)
	}
	r.latency = time.Since(start)
	if r.err != nil && ctx.Err() != nil {
		return result{} // canceled mid-body: not an error of the target
	}
	return r
}

// wireError is the OpenAI error body, also used mid-stream.
type wireError struct {
	Error *struct {
		Message string `json:"message"`
		Type    string `json:"type"`
	} `json:"error"`
}

func statusError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBodySize)) // best effort: the status is the error
	var we wireError
	if json.Unmarshal(b, &we) == nil && we.Error != nil {
		return fmt.Errorf("load: status %d: %s", resp.StatusCode, we.Error.Message)
	}
	return fmt.Errorf("load: status %d", resp.StatusCode)
}

type completion struct {
	wireError
	Choices []struct {
		Message struct {
			Content   *string           `json:"content"`
			ToolCalls []json.RawMessage `json:"tool_calls"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
}

func readCompletion(body io.Reader) error {
	b, err := io.ReadAll(body)
	if err != nil {
		return fmt.Errorf("load: read body: %w", err)
	}
	var c completion
	if err := json.Unmarshal(b, &c); err != nil {
		return fmt.Errorf("load: decode completion: %w", err)
	}
	if c.Error != nil {
		return fmt.Errorf("load: error body: %s", c.Error.Message)
	}
	if len(c.Choices) == 0 || c.Choices[0].FinishReason == "" {
		return errors.New("load: completion without choices or finish_reason")
	}
	return nil
}

// Report summarises a run.
type Report struct {
	Planned           int                   // requests Run was asked to send
	Completed         int                   // requests that got an answer or failed
	Errors            int                   // completed requests that failed
	Canceled          int                   // requests not sent or cut short by ctx
	Elapsed           time.Duration         // wall time of the run
	RequestsPerSecond float64               // Completed / Elapsed
	Latency           Percentiles           // full-answer latency of completed requests
	TTFT              Percentiles           // time to first content chunk (stream mode)
	ByCache           map[string]GroupStats // keyed by X-Semcache value
	ByKind            map[Kind]KindStats
	Statuses          map[int]int // HTTP status → count; 0 = no response
	ErrorSamples      []string    // up to five distinct error messages
}

// GroupStats describes the requests that share an X-Semcache value.
type GroupStats struct {
	Count   int
	Errors  int
	Latency Percentiles
	TTFT    Percentiles
}

// KindStats describes the requests of one prompt kind.
type KindStats struct {
	Count   int
	ByCache map[string]int
}

// Percentiles of a set of durations (nearest-rank). N is the sample count;
// the other fields are zero when N is 0.
type Percentiles struct {
	N             int
	P50, P90, P99 time.Duration
	Max           time.Duration
}

func percentiles(ds []time.Duration) Percentiles {
	if len(ds) == 0 {
		return Percentiles{}
	}
	s := append([]time.Duration(nil), ds...)
	slices.Sort(s)
	rank := func(p float64) time.Duration {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	return Percentiles{N: len(s), P50: rank(0.50), P90: rank(0.90), P99: rank(0.99), Max: s[len(s)-1]}
}

const maxErrorSamples = 5

func newReport(results []result, elapsed time.Duration) Report {
	rep := Report{
		Planned: len(results), Elapsed: elapsed,
		ByCache: map[string]GroupStats{}, ByKind: map[Kind]KindStats{}, Statuses: map[int]int{},
	}
	var lat, ttft []time.Duration
	groupLat := map[string][]time.Duration{}
	groupTTFT := map[string][]time.Duration{}
	for _, r := range results {
		if !r.done {
			rep.Canceled++
			continue
		}
		rep.Completed++
		rep.Statuses[r.status]++
		g := rep.ByCache[r.cache]
		g.Count++
		if r.err != nil {
			rep.Errors++
			g.Errors++
			if msg := r.err.Error(); len(rep.ErrorSamples) < maxErrorSamples && !slices.Contains(rep.ErrorSamples, msg) {
				rep.ErrorSamples = append(rep.ErrorSamples, msg)
			}
		}
		rep.ByCache[r.cache] = g
		k := rep.ByKind[r.kind]
		if k.ByCache == nil {
			k.ByCache = map[string]int{}
		}
		k.Count++
		k.ByCache[r.cache]++
		rep.ByKind[r.kind] = k
		lat = append(lat, r.latency)
		groupLat[r.cache] = append(groupLat[r.cache], r.latency)
		if r.ttft > 0 {
			ttft = append(ttft, r.ttft)
			groupTTFT[r.cache] = append(groupTTFT[r.cache], r.ttft)
		}
	}
	rep.Latency, rep.TTFT = percentiles(lat), percentiles(ttft)
	for name, g := range rep.ByCache {
		g.Latency, g.TTFT = percentiles(groupLat[name]), percentiles(groupTTFT[name])
		rep.ByCache[name] = g
	}
	if elapsed > 0 {
		rep.RequestsPerSecond = float64(rep.Completed) / elapsed.Seconds()
	}
	return rep
}
