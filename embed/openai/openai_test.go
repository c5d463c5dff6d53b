package openai

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/semcache/semcache/embed"
)

const (
	testDim   = 6
	testModel = "text-embedding-3-small"
)

// rawVector is the fake server's deterministic, deliberately not unit-norm,
// embedding of text.
func rawVector(text string, dim int) []float32 {
	h := fnv.New64a()
	h.Write([]byte(text))
	x := h.Sum64()
	v := make([]float32, dim)
	for i := range v {
		v[i] = 3 * (float32(x>>(4*i)&7) + 1)
	}
	return v
}

// wantVector is what the Embedder must return for text.
func wantVector(text string) []float32 {
	v := rawVector(text, testDim)
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	for i := range v {
		v[i] = float32(float64(v[i]) / math.Sqrt(s))
	}
	return v
}

// isWant reports whether v is text's expected vector (to float rounding).
func isWant(v []float32, text string) bool {
	want := wantVector(text)
	if len(v) != len(want) {
		return false
	}
	for j := range want {
		if math.Abs(float64(v[j]-want[j])) > 1e-6 {
			return false
		}
	}
	return true
}

func checkVectors(t *testing.T, texts []string, got [][]float32) {
	t.Helper()
	if len(got) != len(texts) {
		t.Fatalf("got %d vectors for %d texts", len(got), len(texts))
	}
	for i, text := range texts {
		if !isWant(got[i], text) {
			t.Fatalf("vector %d (%q) = %v, want %v", i, text, got[i], wantVector(text))
		}
	}
}

// wireRequest is a decoded /v1/embeddings request body.
type wireRequest struct {
	Input          []string `json:"input"`
	Model          string   `json:"model"`
	EncodingFormat *string  `json:"encoding_format"`
	Dimensions     *int     `json:"dimensions"`
	Auth           string   `json:"-"`
}

// fault lets a test take over the response to request number n (0-based).
// It returns false to let the server answer normally.
type fault func(n int, req wireRequest, w http.ResponseWriter, r *http.Request) bool

// fakeServer speaks the OpenAI /v1/embeddings wire format.
type fakeServer struct {
	*httptest.Server
	dim int

	mu           sync.Mutex
	reqs         []wireRequest
	fault        fault
	ignoreFormat bool // answer floats whatever was asked
	reverse      bool // list data in reverse index order
	extraData    int  // add bogus entries to data
}

func newFakeServer(t *testing.T) *fakeServer {
	t.Helper()
	s := &fakeServer{dim: testDim}
	s.Server = httptest.NewServer(http.HandlerFunc(s.handle))
	t.Cleanup(s.Close)
	return s
}

func (s *fakeServer) set(fn func(s *fakeServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s)
}

func (s *fakeServer) requests() []wireRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reqs)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"message":%q,"type":"invalid_request_error","param":null,"code":null}}`, msg)
}

func (s *fakeServer) handle(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/embeddings" {
		writeError(w, http.StatusNotFound, "no route "+r.Method+" "+r.URL.Path)
		return
	}
	var req wireRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "bad json: "+err.Error())
		return
	}
	req.Auth = r.Header.Get("Authorization")
	s.mu.Lock()
	n := len(s.reqs)
	s.reqs = append(s.reqs, req)
	f, ignoreFormat, reverse, extra, dim := s.fault, s.ignoreFormat, s.reverse, s.extraData, s.dim
	s.mu.Unlock()
	if f != nil && f(n, req, w, r) {
		return
	}
	if len(req.Input) == 0 || req.Model == "" {
		writeError(w, http.StatusBadRequest, "input and model are required")
		return
	}
	if req.Dimensions != nil {
		dim = *req.Dimensions
	}
	b64 := req.EncodingFormat != nil && *req.EncodingFormat == "base64" && !ignoreFormat

	type datum struct {
		Object    string `json:"object"`
		Index     int    `json:"index"`
		Embedding any    `json:"embedding"`
	}
	data := make([]datum, 0, len(req.Input)+extra)
	encode := func(v []float32) any {
		if !b64 {
			return v
		}
		buf := make([]byte, 4*len(v))
		for j, x := range v {
			binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(x))
		}
		return base64.StdEncoding.EncodeToString(buf)
	}
	for i, text := range req.Input {
		data = append(data, datum{"embedding", i, encode(rawVector(text, dim))})
	}
	for range extra {
		data = append(data, datum{"embedding", len(data), encode(rawVector("x", dim))})
	}
	if reverse {
		slices.Reverse(data)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"object": "list",
		"data":   data,
		"model":  req.Model,
		"usage":  map[string]int{"prompt_tokens": len(req.Input), "total_tokens": len(req.Input)},
	})
}

// newEmbedder builds an Embedder for s with fast backoff.
func newEmbedder(t *testing.T, s *fakeServer, opts Options) *Embedder {
	t.Helper()
	opts.BaseURL = s.URL + "/v1"
	if opts.Model == "" {
		opts.Model = testModel
	}
	if opts.Dimension == 0 {
		opts.Dimension = testDim
	}
	e, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	e.backoffBase, e.backoffMax = time.Millisecond, 4*time.Millisecond
	t.Cleanup(func() { e.Close() })
	return e
}

func TestOptionsValidation(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want []string // substrings of the error; nil: valid
	}{
		{"minimal", Options{Model: "m", Dimension: 4}, nil},
		{"no model", Options{Dimension: 4}, []string{"Model is required"}},
		{"bad url", Options{Model: "m", Dimension: 4, BaseURL: "ftp://x"}, []string{"BaseURL"}},
		{"relative url", Options{Model: "m", Dimension: 4, BaseURL: "/v1"}, []string{"BaseURL"}},
		{"negatives", Options{Model: "m", Dimension: -1, Dimensions: -2, Timeout: -1, MaxBatch: -1},
			[]string{"Dimension -1", "Dimensions -2", "Timeout", "MaxBatch"}},
		{"disagree", Options{Model: "m", Dimension: 4, Dimensions: 8}, []string{"disagrees"}},
		{"format", Options{Model: "m", Dimension: 4, EncodingFormat: "binary"}, []string{"EncodingFormat"}},
		{"batch too big", Options{Model: "m", Dimension: 4, MaxBatch: 5000}, []string{"MaxBatch"}},
		{"all at once", Options{BaseURL: "::", EncodingFormat: "x"}, []string{"Model", "BaseURL", "EncodingFormat"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := New(context.Background(), tt.opts)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				e.Close()
				return
			}
			if err == nil {
				e.Close()
				t.Fatal("New succeeded, want error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	o := Options{Model: "m"}.withDefaults()
	if o.BaseURL != DefaultBaseURL || o.EncodingFormat != "base64" || o.Timeout != 5*time.Second ||
		o.MaxRetries != 2 || o.BatchWindow != 2*time.Millisecond || o.MaxBatch != 64 || o.HTTPClient == nil {
		t.Fatalf("defaults = %+v", o)
	}
	o = Options{MaxRetries: -1, BatchWindow: -1}.withDefaults()
	if o.MaxRetries != 0 || o.BatchWindow != 0 {
		t.Fatalf("negative MaxRetries/BatchWindow = %d/%v, want 0/0", o.MaxRetries, o.BatchWindow)
	}
}

func TestEncodingsAndWireFormat(t *testing.T) {
	tests := []struct {
		name       string
		opts       Options
		wantFormat string
		wantDims   int // 0: dimensions must be absent
		wantID     string
	}{
		{"default base64", Options{APIKey: "sk-test"}, "base64", 0, "openai:" + testModel},
		{"float", Options{APIKey: "sk-test", EncodingFormat: "float"}, "float", 0, "openai:" + testModel},
		{"dimensions", Options{APIKey: "sk-test", Dimensions: testDim}, "base64", testDim, "openai:" + testModel + ":6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFakeServer(t)
			s.set(func(s *fakeServer) { s.reverse = true }) // indexes, not positions, give the order
			e := newEmbedder(t, s, tt.opts)
			texts := []string{"first text", "second", "third one", "first text"}
			got, err := e.Embed(context.Background(), texts)
			if err != nil {
				t.Fatal(err)
			}
			checkVectors(t, texts, got)
			if e.ModelID() != tt.wantID || e.Dimension() != testDim {
				t.Errorf("ModelID/Dimension = %q/%d, want %q/%d", e.ModelID(), e.Dimension(), tt.wantID, testDim)
			}
			reqs := s.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d upstream requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Model != testModel || !slices.Equal(r.Input, texts) || r.Auth != "Bearer sk-test" {
				t.Errorf("request model=%q input=%q auth=%q", r.Model, r.Input, r.Auth)
			}
			if r.EncodingFormat == nil || *r.EncodingFormat != tt.wantFormat {
				t.Errorf("encoding_format = %v, want %q", r.EncodingFormat, tt.wantFormat)
			}
			switch {
			case tt.wantDims == 0 && r.Dimensions != nil:
				t.Errorf("dimensions = %d, want absent", *r.Dimensions)
			case tt.wantDims != 0 && (r.Dimensions == nil || *r.Dimensions != tt.wantDims):
				t.Errorf("dimensions = %v, want %d", r.Dimensions, tt.wantDims)
			}
		})
	}
}

func TestProbeDimension(t *testing.T) {
	s := newFakeServer(t)
	s.set(func(s *fakeServer) { s.dim = 11 })
	e, err := New(context.Background(), Options{BaseURL: s.URL + "/v1", Model: testModel})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.Dimension() != 11 {
		t.Fatalf("Dimension = %d, want 11", e.Dimension())
	}
	if reqs := s.requests(); len(reqs) != 1 || len(reqs[0].Input) != 1 {
		t.Fatalf("probe requests = %+v, want one request with one input", reqs)
	}
	v, err := e.Embed(context.Background(), []string{"a"})
	if err != nil || len(v[0]) != 11 {
		t.Fatalf("Embed = %v, %v; want one 11-dim vector", v, err)
	}
}

func TestProbeFailure(t *testing.T) {
	s := newFakeServer(t)
	s.set(func(s *fakeServer) {
		s.fault = func(_ int, _ wireRequest, w http.ResponseWriter, _ *http.Request) bool {
			writeError(w, http.StatusUnauthorized, "bad key")
			return true
		}
	})
	_, err := New(context.Background(), Options{BaseURL: s.URL + "/v1", Model: testModel})
	if !errors.Is(err, embed.ErrEmbed) || !strings.Contains(err.Error(), "bad key") {
		t.Fatalf("err = %v, want ErrEmbed mentioning the API message", err)
	}
	if n := len(s.requests()); n != 1 {
		t.Fatalf("%d requests, want 1 (401 is not retried)", n)
	}
}

func TestBase64FallbackToFloat(t *testing.T) {
	s := newFakeServer(t)
	s.set(func(s *fakeServer) { s.ignoreFormat = true })
	e := newEmbedder(t, s, Options{})
	for round := 0; round < 2; round++ {
		got, err := e.Embed(context.Background(), []string{"x", "y"})
		if err != nil {
			t.Fatal(err)
		}
		checkVectors(t, []string{"x", "y"}, got)
	}
	var formats []string
	for _, r := range s.requests() {
		formats = append(formats, *r.EncodingFormat)
	}
	if want := []string{"base64", "float", "float"}; !slices.Equal(formats, want) {
		t.Fatalf("formats = %q, want %q", formats, want)
	}
}

func TestBatchingMergesConcurrentCalls(t *testing.T) {
	s := newFakeServer(t)
	// MaxBatch is reached exactly when the last caller arrives, so the
	// batch goes out then; the long window only guards against splitting.
	e := newEmbedder(t, s, Options{MaxBatch: 10, BatchWindow: time.Minute})
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	for g := 0; g < 5; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			texts := []string{fmt.Sprintf("caller %d a", g), fmt.Sprintf("caller %d b", g)}
			got, err := e.Embed(context.Background(), texts)
			if err == nil {
				for i, text := range texts {
					if !isWant(got[i], text) {
						err = fmt.Errorf("caller %d got wrong vector for %q", g, text)
					}
				}
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	reqs := s.requests()
	if len(reqs) != 1 || len(reqs[0].Input) != 10 {
		t.Fatalf("upstream requests = %d (%v), want 1 with 10 inputs", len(reqs), reqs)
	}
}

func TestBatchWindowFlushes(t *testing.T) {
	s := newFakeServer(t)
	e := newEmbedder(t, s, Options{MaxBatch: 100, BatchWindow: 5 * time.Millisecond})
	got, err := e.Embed(context.Background(), []string{"lonely"})
	if err != nil {
		t.Fatal(err)
	}
	checkVectors(t, []string{"lonely"}, got)
}

func TestLargeCallIsSplit(t *testing.T) {
	s := newFakeServer(t)
	e := newEmbedder(t, s, Options{MaxBatch: 8, BatchWindow: -1})
	texts := make([]string, 20)
	for i := range texts {
		texts[i] = fmt.Sprintf("text %d", i)
	}
	got, err := e.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	checkVectors(t, texts, got)
	var sizes []int
	for _, r := range s.requests() {
		sizes = append(sizes, len(r.Input))
	}
	slices.Sort(sizes)
	if !slices.Equal(sizes, []int{4, 8, 8}) {
		t.Fatalf("request sizes = %v, want [4 8 8]", sizes)
	}
}

func statusFault(statuses ...int) fault {
	return func(n int, _ wireRequest, w http.ResponseWriter, _ *http.Request) bool {
		if n >= len(statuses) {
			return false
		}
		if statuses[n] == http.StatusBadGateway {
			// A proxy's HTML error page, not OpenAI JSON.
			w.WriteHeader(statuses[n])
			fmt.Fprint(w, "<html>bad gateway</html>")
			return true
		}
		writeError(w, statuses[n], http.StatusText(statuses[n]))
		return true
	}
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name       string
		fault      fault
		maxRetries int
		wantReqs   int
		wantErr    bool
	}{
		{"429 then ok", statusFault(429, 429), 0, 3, false},
		{"500 then ok", statusFault(500), 0, 2, false},
		{"502 html then ok", statusFault(502), 0, 2, false},
		{"503 exhausts retries", statusFault(503, 503, 503, 503), 0, 3, true},
		{"more retries", statusFault(503, 503, 503), 3, 4, false},
		{"no retries", statusFault(429), -1, 1, true},
		{"400 not retried", statusFault(400), 0, 1, true},
		{"401 not retried", statusFault(401), 0, 1, true},
		{"404 not retried", statusFault(404), 0, 1, true},
		{"connection dropped then ok", func(n int, _ wireRequest, w http.ResponseWriter, _ *http.Request) bool {
			if n > 0 {
				return false
			}
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return true
		}, 0, 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFakeServer(t)
			e := newEmbedder(t, s, Options{MaxRetries: tt.maxRetries})
			s.set(func(s *fakeServer) { s.fault = tt.fault })
			got, err := e.Embed(context.Background(), []string{"q"})
			if tt.wantErr {
				if !errors.Is(err, embed.ErrEmbed) {
					t.Fatalf("err = %v, want ErrEmbed", err)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				checkVectors(t, []string{"q"}, got)
			}
			if n := len(s.requests()); n != tt.wantReqs {
				t.Fatalf("%d upstream requests, want %d", n, tt.wantReqs)
			}
		})
	}
}

// blockUntil returns a fault that holds request n (or every request when n
// < 0) until release is closed or the client goes away.
func blockUntil(n int, release <-chan struct{}, arrived chan<- struct{}) fault {
	return func(i int, _ wireRequest, w http.ResponseWriter, r *http.Request) bool {
		if n >= 0 && i != n {
			return false
		}
		if arrived != nil {
			arrived <- struct{}{}
		}
		select {
		case <-release:
			return false
		case <-r.Context().Done():
			return true
		}
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	s := newFakeServer(t)
	s.set(func(s *fakeServer) { s.fault = blockUntil(-1, release, nil) })
	// 300 ms, not less: on a loaded machine an attempt with a shorter
	// deadline can time out before its request reaches the server.
	e := newEmbedder(t, s, Options{Timeout: 300 * time.Millisecond, MaxRetries: 1})
	_, err := e.Embed(context.Background(), []string{"slow"})
	if !errors.Is(err, embed.ErrEmbed) || !errors.Is(err, errAttemptTimeout) {
		t.Fatalf("err = %v, want ErrEmbed wrapping a timeout", err)
	}
	if n := len(s.requests()); n != 2 {
		t.Fatalf("%d upstream requests, want 2 (timeouts are retried)", n)
	}
}

func TestTimeoutThenSuccess(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	s := newFakeServer(t)
	s.set(func(s *fakeServer) { s.fault = blockUntil(0, release, nil) })
	e := newEmbedder(t, s, Options{Timeout: 20 * time.Millisecond})
	got, err := e.Embed(context.Background(), []string{"eventually"})
	if err != nil {
		t.Fatal(err)
	}
	checkVectors(t, []string{"eventually"}, got)
}

func TestCancelledCallerDoesNotPoisonBatch(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	s := newFakeServer(t)
	s.set(func(s *fakeServer) { s.fault = blockUntil(0, release, arrived) })
	e := newEmbedder(t, s, Options{MaxBatch: 2, BatchWindow: time.Minute})

	ctxA, cancelA := context.WithCancel(context.Background())
	errA := make(chan error, 1)
	go func() {
		_, err := e.Embed(ctxA, []string{"a"})
		errA <- err
	}()
	type res struct {
		v   [][]float32
		err error
	}
	resB := make(chan res, 1)
	go func() {
		v, err := e.Embed(context.Background(), []string{"b"})
		resB <- res{v, err}
	}()
	<-arrived // both are in the one upstream request
	cancelA()
	select {
	case err := <-errA:
		if !errors.Is(err, context.Canceled) || !errors.Is(err, embed.ErrEmbed) {
			t.Fatalf("cancelled caller err = %v, want context.Canceled and ErrEmbed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("cancelled caller did not return")
	}
	close(release)
	r := <-resB
	if r.err != nil {
		t.Fatalf("other caller: %v", r.err)
	}
	checkVectors(t, []string{"b"}, r.v)
	reqs := s.requests()
	if len(reqs) != 1 || !slices.Equal(reqs[0].Input, []string{"a", "b"}) && !slices.Equal(reqs[0].Input, []string{"b", "a"}) {
		t.Fatalf("requests = %v, want one with a and b", reqs)
	}
}

func TestAllCallersGoneCancelsUpstream(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	arrived := make(chan struct{}, 1)
	gone := make(chan struct{})
	s := newFakeServer(t)
	s.set(func(s *fakeServer) {
		s.fault = func(n int, req wireRequest, w http.ResponseWriter, r *http.Request) bool {
			arrived <- struct{}{}
			select {
			case <-r.Context().Done():
				close(gone)
			case <-release:
			}
			return true
		}
	})
	// A long Timeout, so only the caller's departure can end the request.
	e := newEmbedder(t, s, Options{Timeout: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := e.Embed(ctx, []string{"abandoned"})
		errc <- err
	}()
	<-arrived
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	select {
	case <-gone:
	case <-time.After(10 * time.Second):
		t.Fatal("upstream request was not cancelled after its only caller left")
	}
}

func TestBadResponses(t *testing.T) {
	rawJSON := func(body string) fault {
		return func(_ int, _ wireRequest, w http.ResponseWriter, _ *http.Request) bool {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, body)
			return true
		}
	}
	vec := `[1,2,3,4,5,6]`
	tests := []struct {
		name  string
		setup func(s *fakeServer)
		want  string
	}{
		{"extra embedding", func(s *fakeServer) { s.extraData = 1 }, "3 embeddings for 2 inputs"},
		{"missing embedding", func(s *fakeServer) {
			s.fault = rawJSON(`{"object":"list","data":[{"object":"embedding","index":0,"embedding":` + vec + `}]}`)
		}, "1 embeddings for 2 inputs"},
		{"wrong dimension", func(s *fakeServer) { s.dim = testDim + 1 }, "7 dimensions, want 6"},
		{"duplicate index", func(s *fakeServer) {
			s.fault = rawJSON(`{"object":"list","data":[{"object":"embedding","index":1,"embedding":` + vec + `},{"object":"embedding","index":1,"embedding":` + vec + `}]}`)
		}, "repeats index 1"},
		{"index out of range", func(s *fakeServer) {
			s.fault = rawJSON(`{"object":"list","data":[{"object":"embedding","index":0,"embedding":` + vec + `},{"object":"embedding","index":5,"embedding":` + vec + `}]}`)
		}, "index 5 out of range"},
		{"zero vector", func(s *fakeServer) {
			s.fault = rawJSON(`{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0,0,0,0,0,0]},{"object":"embedding","index":1,"embedding":` + vec + `}]}`)
		}, "zero or non-finite"},
		{"base64 string for float request", func(s *fakeServer) {
			s.fault = rawJSON(`{"object":"list","data":[{"object":"embedding","index":0,"embedding":"!!!"},{"object":"embedding","index":1,"embedding":"!!!"}]}`)
		}, "cannot unmarshal string"},
		{"not json", func(s *fakeServer) { s.fault = rawJSON(`<html>`) }, "invalid character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFakeServer(t)
			// The canned bodies hold float arrays; asking for base64 would
			// (correctly) trigger the float fallback and a second request.
			e := newEmbedder(t, s, Options{EncodingFormat: "float"})
			s.set(tt.setup)
			_, err := e.Embed(context.Background(), []string{"one", "two"})
			if !errors.Is(err, embed.ErrEmbed) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrEmbed containing %q", err, tt.want)
			}
			if n := len(s.requests()); n != 1 {
				t.Fatalf("%d upstream requests, want 1 (bad responses are not retried)", n)
			}
		})
	}
}

func TestClose(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	arrived := make(chan struct{}, 1)
	s := newFakeServer(t)
	e := newEmbedder(t, s, Options{})
	if _, err := e.Embed(context.Background(), []string{"before"}); err != nil {
		t.Fatal(err)
	}
	s.set(func(s *fakeServer) { s.fault = blockUntil(-1, release, arrived) })
	errc := make(chan error, 1)
	go func() {
		_, err := e.Embed(context.Background(), []string{"in flight"})
		errc <- err
	}()
	<-arrived
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, embed.ErrEmbed) {
		t.Fatalf("in-flight err = %v, want ErrEmbed", err)
	}
	if _, err := e.Embed(context.Background(), []string{"after"}); !errors.Is(err, embed.ErrEmbed) {
		t.Fatalf("after Close err = %v, want ErrEmbed", err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestEmptyAndCancelled(t *testing.T) {
	s := newFakeServer(t)
	e := newEmbedder(t, s, Options{})
	got, err := e.Embed(context.Background(), nil)
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("Embed(nil) = %v, %v; want empty, nil", got, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Embed(ctx, []string{"x"}); !errors.Is(err, context.Canceled) || !errors.Is(err, embed.ErrEmbed) {
		t.Fatalf("err = %v, want Canceled and ErrEmbed", err)
	}
	if n := len(s.requests()); n != 0 {
		t.Fatalf("%d upstream requests, want 0", n)
	}
}

func TestConcurrentStress(t *testing.T) {
	s := newFakeServer(t)
	e := newEmbedder(t, s, Options{MaxBatch: 7})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				texts := make([]string, 1+(g+i)%5)
				for j := range texts {
					texts[j] = fmt.Sprintf("g%d i%d j%d", g, i, j)
				}
				got, err := e.Embed(context.Background(), texts)
				if err != nil {
					errs <- err
					return
				}
				for j, text := range texts {
					if !isWant(got[j], text) {
						errs <- fmt.Errorf("%q: wrong vector", text)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, r := range s.requests() {
		if len(r.Input) > 7 {
			t.Fatalf("request with %d inputs exceeds MaxBatch 7", len(r.Input))
		}
	}
}

func TestBadBase64(t *testing.T) {
	short := base64.StdEncoding.EncodeToString(make([]byte, 4*testDim-2)) // not a whole vector
	tests := []struct {
		name, embedding, want string
	}{
		{"not base64", `"!!!"`, "illegal base64"},
		{"truncated vector", `"` + short + `"`, "5 dimensions, want 6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFakeServer(t)
			e := newEmbedder(t, s, Options{})
			s.set(func(s *fakeServer) {
				s.fault = func(_ int, _ wireRequest, w http.ResponseWriter, _ *http.Request) bool {
					w.Header().Set("Content-Type", "application/json")
					fmt.Fprintf(w, `{"object":"list","data":[{"object":"embedding","index":0,"embedding":%s}],"model":"m"}`, tt.embedding)
					return true
				}
			})
			_, err := e.Embed(context.Background(), []string{"one"})
			if !errors.Is(err, embed.ErrEmbed) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrEmbed containing %q", err, tt.want)
			}
			if n := len(s.requests()); n != 1 {
				t.Fatalf("%d upstream requests, want 1", n)
			}
		})
	}
}
