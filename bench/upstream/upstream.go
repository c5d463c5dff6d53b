// Package upstream is a simulated OpenAI-compatible LLM API for benchmarks
// and tests of the semcache proxy.
//
// It speaks the OpenAI wire format exactly: chat completions with and without
// SSE streaming (usage chunk, [DONE]); the Responses API (POST /v1/responses:
// the response object, or named SSE events from response.created to
// response.completed, function calls, previous_response_id over a bounded
// in-memory store); embeddings in float and base64 encodings, batched; the
// model list; OpenAI error bodies for bad input. It answers deterministically
// from the request, simulates time to first token and token rate, and lets a
// test steer it through markers in the last user message (see [MarkerCut] and
// friends). Counters (calls per path, canceled requests, the last request per
// path) let tests check what reached the upstream.
package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Endpoint paths served by the simulator.
const (
	PathChat       = "/v1/chat/completions"
	PathResponses  = "/v1/responses"
	PathEmbeddings = "/v1/embeddings"
	PathModels     = "/v1/models"
)

const (
	defaultAnswerTokens = 24
	defaultEmbeddingDim = 256
	maxEmbeddingDim     = 1 << 16
	maxBodyBytes        = 16 << 20
	systemFingerprint   = "fp_semcache_sim"
	modelsCreated       = 1700000000
)

// Options configures a Server. The zero value is valid: no latency, 24-word
// answers, no injected errors, 256-dimensional embeddings.
type Options struct {
	// TTFT is the delay before the first content chunk (and, in non-stream
	// mode, part of the delay before the response).
	TTFT time.Duration
	// TokensPerSecond paces the words after the first; 0 means no delay.
	TokensPerSecond float64
	// AnswerTokens is the number of words in an ordinary answer; 0 means 24.
	AnswerTokens int
	// ErrorRate is the fraction (0..1) of chat and Responses calls answered
	// with a 500.
	// Which calls fail is decided by a PRNG seeded with Seed, so a given
	// sequence of calls fails the same way every run.
	ErrorRate float64
	// Seed seeds the ErrorRate PRNG.
	Seed int64
	// EmbeddingDim is the default embedding size; 0 means 256.
	EmbeddingDim int
	// Now is the clock for "created" timestamps; nil means time.Now.
	Now func() time.Time
	// Answerer, when set, writes the content of every ordinary answer
	// (markers keep their effects): semcache-bench eval's oracle answers
	// each prompt with the id of its equivalence class. nil keeps the
	// derived "Answer-<hash> about ..." text.
	Answerer Answerer
}

// Message is a chat message as an Answerer sees it: the role and the text
// of the content (text parts joined by a space).
type Message struct {
	Role string
	Text string
}

// Answerer writes the answer to a chat request. It must be safe for
// concurrent use.
type Answerer interface {
	Answer(msgs []Message) string
}

// AnswerFunc adapts a function to Answerer.
type AnswerFunc func(msgs []Message) string

// Answer calls f.
func (f AnswerFunc) Answer(msgs []Message) string { return f(msgs) }

// Validate reports every problem with o.
func (o Options) Validate() error {
	var errs []error
	if o.TTFT < 0 {
		errs = append(errs, fmt.Errorf("upstream: TTFT %v is negative", o.TTFT))
	}
	if o.TokensPerSecond < 0 || math.IsNaN(o.TokensPerSecond) || math.IsInf(o.TokensPerSecond, 0) {
		errs = append(errs, fmt.Errorf("upstream: TokensPerSecond %v must be a finite number >= 0", o.TokensPerSecond))
	}
	if o.AnswerTokens < 0 {
		errs = append(errs, fmt.Errorf("upstream: AnswerTokens %d is negative", o.AnswerTokens))
	}
	if !(o.ErrorRate >= 0 && o.ErrorRate <= 1) {
		errs = append(errs, fmt.Errorf("upstream: ErrorRate %v outside 0..1", o.ErrorRate))
	}
	if o.EmbeddingDim < 0 || o.EmbeddingDim > maxEmbeddingDim {
		errs = append(errs, fmt.Errorf("upstream: EmbeddingDim %d outside 0..%d", o.EmbeddingDim, maxEmbeddingDim))
	}
	return errors.Join(errs...)
}

// Server is the simulator. It is an http.Handler and safe for concurrent use.
type Server struct {
	opts     Options
	perToken time.Duration
	filler   []string

	seq      atomic.Uint64
	canceled atomic.Int64

	mu     sync.Mutex
	calls  map[string]int64
	last   map[string]lastRequest
	errRNG *rand.Rand
	stored storedResponses
}

// lastRequest is the raw body and headers of the last POST to one path.
type lastRequest struct {
	body []byte
	hdr  http.Header
}

// New returns a simulator configured by opts. It panics if opts.Validate
// fails, as that is a programming error; validate user input first.
func New(opts Options) *Server {
	if err := opts.Validate(); err != nil {
		panic(err)
	}
	if opts.AnswerTokens == 0 {
		opts.AnswerTokens = defaultAnswerTokens
	}
	if opts.EmbeddingDim == 0 {
		opts.EmbeddingDim = defaultEmbeddingDim
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{
		opts: opts, filler: strings.Fields(fillerText),
		calls: make(map[string]int64), last: make(map[string]lastRequest),
		stored: newStoredResponses(maxStoredResponses),
	}
	if opts.TokensPerSecond > 0 {
		s.perToken = time.Duration(float64(time.Second) / opts.TokensPerSecond)
	}
	s.errRNG = newErrorRNG(opts.Seed)
	return s
}

func newErrorRNG(seed int64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), 0x73656d6361636865))
}

// ServeHTTP routes a request to the simulated endpoint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.calls[r.URL.Path]++
	s.mu.Unlock()

	switch path := r.URL.Path; {
	case path == PathChat:
		if s.allow(w, r, http.MethodPost) {
			s.handleChat(w, r)
		}
	case path == PathResponses:
		if s.allow(w, r, http.MethodPost) {
			s.handleResponses(w, r)
		}
	case path == PathEmbeddings:
		if s.allow(w, r, http.MethodPost) {
			s.handleEmbeddings(w, r)
		}
	case path == PathModels:
		if s.allow(w, r, http.MethodGet) {
			s.handleModels(w)
		}
	case strings.HasPrefix(path, PathModels+"/"):
		if s.allow(w, r, http.MethodGet) {
			s.handleModel(w, strings.TrimPrefix(path, PathModels+"/"))
		}
	default:
		writeError(w, http.StatusNotFound, "invalid_request_error", "",
			fmt.Sprintf("Unknown request URL: %s %s.", r.Method, path), "unknown_url")
	}
}

func (s *Server) allow(w http.ResponseWriter, r *http.Request, method string) bool {
	if r.Method == method {
		return true
	}
	w.Header().Set("Allow", method)
	writeError(w, http.StatusMethodNotAllowed, "invalid_request_error", "",
		fmt.Sprintf("Invalid method for URL (%s %s).", r.Method, r.URL.Path), "method_not_allowed")
	return false
}

// Calls returns how many requests for path have started.
func (s *Server) Calls(path string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[path]
}

// ChatCalls returns how many chat completion requests have started.
func (s *Server) ChatCalls() int64 { return s.Calls(PathChat) }

// Canceled returns how many requests lost their client before the answer
// was complete.
func (s *Server) Canceled() int64 { return s.canceled.Load() }

// ResponsesCalls returns how many Responses API requests have started.
func (s *Server) ResponsesCalls() int64 { return s.Calls(PathResponses) }

// LastRequest returns a copy of the raw body of the last chat request.
func (s *Server) LastRequest() []byte { return s.LastRequestTo(PathChat) }

// LastHeaders returns a copy of the headers of the last chat request.
func (s *Server) LastHeaders() http.Header { return s.LastHeadersTo(PathChat) }

// LastRequestTo returns a copy of the raw body of the last request to path
// (PathChat, PathResponses or PathEmbeddings), or nil.
func (s *Server) LastRequestTo(path string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.last[path]; ok {
		return append([]byte(nil), l.body...)
	}
	return nil
}

// LastHeadersTo returns a copy of the headers of the last request to path,
// or nil.
func (s *Server) LastHeadersTo(path string) http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last[path].hdr.Clone()
}

// Reset zeroes the counters, forgets the last requests and the stored
// responses, and reseeds the ErrorRate PRNG.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.calls)
	clear(s.last)
	s.stored = newStoredResponses(maxStoredResponses)
	s.errRNG = newErrorRNG(s.opts.Seed)
	s.canceled.Store(0)
}

func (s *Server) record(path string, body []byte, h http.Header) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last[path] = lastRequest{body: body, hdr: h.Clone()}
}

// readBody reads a request body of at most maxBodyBytes. On failure it has
// already answered the client.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		status := http.StatusBadRequest
		if _, tooBig := errors.AsType[*http.MaxBytesError](err); tooBig {
			status = http.StatusRequestEntityTooLarge
		}
		writeError(w, status, "invalid_request_error", "", "upstream: read request body: "+err.Error(), "")
		return nil, false
	}
	return body, true
}

// injectError draws from the ErrorRate PRNG.
func (s *Server) injectError() bool {
	if s.opts.ErrorRate == 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.errRNG.Float64() < s.opts.ErrorRate
}

func (s *Server) nextID(prefix string) string {
	return fmt.Sprintf("%s%012d", prefix, s.seq.Add(1))
}

// wait sleeps for d unless ctx ends first; it reports whether the client is
// still there.
func wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *Server) handleModels(w http.ResponseWriter) {
	list := modelList{Object: "list"}
	for _, id := range simModels() {
		list.Data = append(list.Data, model{ID: id, Object: "model", Created: modelsCreated, OwnedBy: "semcache-bench"})
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) handleModel(w http.ResponseWriter, id string) {
	for _, m := range simModels() {
		if m == id {
			writeJSON(w, http.StatusOK, model{ID: id, Object: "model", Created: modelsCreated, OwnedBy: "semcache-bench"})
			return
		}
	}
	writeError(w, http.StatusNotFound, "invalid_request_error", "model",
		fmt.Sprintf("The model '%s' does not exist", id), "model_not_found")
}

// simModels lists the model ids GET /v1/models advertises. Any model name is
// accepted by the other endpoints.
func simModels() []string {
	return []string{"sim-gpt", "sim-gpt-mini", "sim-embedding"}
}
