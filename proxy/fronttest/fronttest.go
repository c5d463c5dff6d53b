// Package fronttest is the conformance suite every front passes (as
// vectorstore/storetest is for stores): the HTTP server in proxy and Envoy
// ext_proc in proxy/extproc run the same scenarios through the same
// engine, so behaviour cannot drift between them. Each scenario gets a
// fresh engine, cache and simulated upstream (bench/upstream, plus a
// legacy /v1/completions handler) from the front's Factory.
//
// Scenarios: miss then exact hit, JSON and SSE, for every cached API; a
// semantic hit for chat and responses; an embeddings batch with some
// inputs cached; no-store and no-cache; bypassed requests counted; a bad
// body answered with an OpenAI error; errors, cut streams, length cuts
// and tool-call answers never cached; the RAG sources field and request
// ids identical on every front; route identity (key headers) in the key
// and the partition; client authentication refusing unknown keys before
// any work; the upstream's Cache-Control (no-store, private, max-age=0)
// honoured; refusals, empty and filtered answers never cached; gzip
// request bodies decoded, zip bombs and unknown encodings refused; the
// request's freshness (max-age, only-if-cached: 504), a raise-only
// X-Semcache-Threshold, X-Semcache-Namespace sub-namespaces and the cache
// rules (policy.go).
// hit marker, zero usage on hits, replayed streams in the stored chunks
// (or words), several answers per key in turn (answers.go).
package fronttest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/semcache/semcache/bench/upstream"
	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/engine"
	"github.com/semcache/semcache/rag"
	"github.com/semcache/semcache/wire"
	"github.com/semcache/semcache/wire/chat"
	"github.com/semcache/semcache/wire/completions"
	"github.com/semcache/semcache/wire/embeddings"
	"github.com/semcache/semcache/wire/responses"
)

// Request is what a client sends.
type Request struct {
	Method, Path string
	Header       http.Header
	Body         []byte
}

// Response is what the client gets. Err is set when the body broke
// (a cut stream must reach the client as broken).
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	Err    error
	// Upstream is the request as it reached the upstream (nil when it did
	// not).
	Upstream *Forwarded
}

// Forwarded is a request as the upstream got it.
type Forwarded struct {
	// Path is the request target (query included).
	Path   string
	Header http.Header
	Body   []byte
}

// Front sends one request through the front under test.
type Front interface {
	Do(ctx context.Context, r *Request) *Response
}

// Options shape the engine of one scenario.
type Options struct {
	// Semantic turns the similarity tier on (lexical embedder, memory
	// store).
	Semantic bool
	// Enricher injects RAG context; SourcesField adds the sources member.
	Enricher     engine.Enricher
	SourcesField bool
	// ClientKeys turns client authentication on with these keys.
	ClientKeys []string
	// Rules are the engine's cache rules.
	Rules []engine.RuleConfig
	// Now is the clock of the engine and the cache (nil: time.Now).
	Now func() time.Time
	// Answers say how hits present themselves (marker, usage, variants).
	Answers engine.Answers
	// Answerer writes the simulator's chat and responses answers (nil:
	// its derived text).
	Answerer upstream.Answerer
}

// Env is one scenario's front with what it runs on.
type Env struct {
	Front    Front
	Upstream *upstream.Server
	Cache    *cache.Cache
	Metrics  *engine.Metrics
	// Name is the front's metric label.
	Name string
}

// Factory builds a fresh Env; the handler it must put in front of its
// upstream is Upstream(sim).
type Factory func(t *testing.T, o Options) *Env

// Upstream serves the simulator plus a legacy /v1/completions endpoint
// (which the simulator does not speak): a deterministic answer derived
// from the prompt, JSON or SSE.
func Upstream(sim *upstream.Server) http.Handler {
	return frontMarkers(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != completions.Path {
			sim.ServeHTTP(w, r)
			return
		}
		var req struct {
			Prompt        string `json:"prompt"`
			Stream        bool   `json:"stream"`
			StreamOptions *struct {
				IncludeUsage bool `json:"include_usage"`
			} `json:"stream_options"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":{"message":"bad json","type":"invalid_request_error","param":null,"code":null}}`))
			return
		}
		text := fmt.Sprintf(" once upon a time %d", len(req.Prompt))
		usage := `{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8}`
		if !req.Stream {
			w.Header().Set("Content-Type", "application/json")
			_, _ = fmt.Fprintf(w, `{"id":"cmpl-up","object":"text_completion","created":1,"model":"sim-gpt","choices":[{"text":%q,"index":0,"logprobs":null,"finish_reason":"stop"}],"usage":%s}`, text, usage)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for i, word := range strings.SplitAfter(text, " ") {
			fin := "null"
			if i == len(strings.SplitAfter(text, " "))-1 {
				fin = `"stop"`
			}
			_, _ = fmt.Fprintf(w, "data: {\"id\":\"cmpl-up\",\"object\":\"text_completion\",\"created\":1,\"model\":\"sim-gpt\",\"choices\":[{\"text\":%q,\"index\":0,\"logprobs\":null,\"finish_reason\":%s}]}\n\n", word, fin)
		}
		if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
			_, _ = fmt.Fprintf(w, "data: {\"id\":\"cmpl-up\",\"object\":\"text_completion\",\"created\":1,\"model\":\"sim-gpt\",\"choices\":[],\"usage\":%s}\n\n", usage)
		}
		_, _ = fmt.Fprint(w, "data: [DONE]\n\n")
	}))
}

// Recorder remembers the last request the upstream got (fronts whose
// transport does not report it, such as the HTTP server, use it).
type Recorder struct {
	Next http.Handler
	mu   sync.Mutex
	last *Forwarded
}

// ServeHTTP records the request and passes it on.
func (rec *Recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec.mu.Lock()
	rec.last = &Forwarded{Path: r.URL.RequestURI(), Header: r.Header.Clone(), Body: body}
	rec.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec.Next.ServeHTTP(w, r)
}

// Take returns the request recorded since the last Take (nil if none).
func (rec *Recorder) Take() *Forwarded {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	f := rec.last
	rec.last = nil
	return f
}

// Run runs every scenario against the fronts f builds.
func Run(t *testing.T, f Factory) {
	t.Run("MissThenExactHit", func(t *testing.T) { testMissThenHit(t, f) })
	t.Run("SemanticHit", func(t *testing.T) { testSemanticHit(t, f) })
	t.Run("EmbeddingsPartialHit", func(t *testing.T) { testEmbeddingsPartial(t, f) })
	t.Run("NoStoreNoCache", func(t *testing.T) { testControls(t, f) })
	t.Run("BypassCounted", func(t *testing.T) { testBypass(t, f) })
	t.Run("ReplayedResponseRetrieved", func(t *testing.T) { testReplayedResponseID(t, f) })
	t.Run("BadBody", func(t *testing.T) { testBadBody(t, f) })
	t.Run("NeverCached", func(t *testing.T) { testNeverCached(t, f) })
	t.Run("SourcesFieldAndRequestID", func(t *testing.T) { testSourcesAndRequestID(t, f) })
	t.Run("RouteIdentity", func(t *testing.T) { testRouteIdentity(t, f) })
	t.Run("ClientAuth", func(t *testing.T) { testClientAuth(t, f) })
	t.Run("UpstreamCacheControl", func(t *testing.T) { testUpstreamCacheControl(t, f) })
	t.Run("RefusalsNeverCached", func(t *testing.T) { testRefusals(t, f) })
	t.Run("EncodedBody", func(t *testing.T) { testEncodedBody(t, f) })
	t.Run("RequestFreshness", func(t *testing.T) { testFreshness(t, f) })
	t.Run("OnlyIfCached", func(t *testing.T) { testOnlyIfCached(t, f) })
	t.Run("ThresholdRaiseOnly", func(t *testing.T) { testThreshold(t, f) })
	t.Run("SubNamespace", func(t *testing.T) { testSubNamespace(t, f) })
	t.Run("CacheRules", func(t *testing.T) { testCacheRules(t, f) })
	runAnswers(t, f)
}

// api is one cached API as the scenarios drive it.
type api struct {
	name, path string
	body       func(prompt string, stream bool) []byte
	// content reads the answer text out of a reply, checking it is a
	// complete answer.
	stream bool
	calls  func(*upstream.Server) int64
}

func jsonBody(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

var (
	chatAPI = api{name: chat.Name, path: chat.Path, stream: true, calls: (*upstream.Server).ChatCalls,
		body: func(p string, stream bool) []byte {
			m := map[string]any{"model": "sim-gpt", "messages": []map[string]string{{"role": "user", "content": p}}, "stream": stream}
			if stream {
				m["stream_options"] = map[string]bool{"include_usage": true}
			}
			return jsonBody(m)
		}}
	responsesAPI = api{name: responses.Name, path: responses.Path, stream: true, calls: (*upstream.Server).ResponsesCalls,
		body: func(p string, stream bool) []byte {
			return jsonBody(map[string]any{"model": "sim-gpt", "instructions": "Be brief.", "input": p, "stream": stream})
		}}
	embeddingsAPI = api{name: embeddings.Name, path: embeddings.Path,
		calls: func(s *upstream.Server) int64 { return s.Calls(upstream.PathEmbeddings) },
		body: func(p string, _ bool) []byte {
			return jsonBody(map[string]any{"model": "sim-embedding", "input": []string{p, p + " again"}, "encoding_format": "base64"})
		}}
	completionsAPI = api{name: completions.Name, path: completions.Path, stream: true,
		calls: func(*upstream.Server) int64 { return -1 }, // not the simulator's
		body: func(p string, stream bool) []byte {
			m := map[string]any{"model": "sim-gpt", "prompt": p, "max_tokens": 16, "stream": stream}
			if stream {
				m["stream_options"] = map[string]bool{"include_usage": true}
			}
			return jsonBody(m)
		}}
	apis = []api{chatAPI, responsesAPI, embeddingsAPI, completionsAPI}
)

func post(path, key string, body []byte, hdr ...string) *Request {
	h := http.Header{"Content-Type": {"application/json"}}
	if key != "" {
		h.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		h.Set(hdr[i], hdr[i+1])
	}
	return &Request{Method: http.MethodPost, Path: path, Header: h, Body: body}
}

// answer reads the answer out of a reply with the API's own assembler,
// and fails unless it is a complete, cacheable answer.
func answer(t *testing.T, a api, r *Response) string {
	t.Helper()
	if r.Err != nil || r.Status != http.StatusOK {
		t.Fatalf("%s: status %d err %v: %.300s", a.name, r.Status, r.Err, r.Body)
	}
	stream := strings.HasPrefix(r.Header.Get("Content-Type"), "text/event-stream")
	var asm wire.Assembler
	switch a.name {
	case chat.Name:
		asm = chat.NewAssembler(stream)
	case responses.Name:
		asm = responses.NewAssembler(stream)
	case completions.Name:
		req, _ := completions.ParseRequest(a.body("x", stream))
		asm = req.Assembler(stream, nil)
	case embeddings.Name:
		req, _ := embeddings.ParseRequest(a.body("x", false))
		asm = req.Assembler(false, []int{0, 1})
	}
	_, _ = asm.Write(r.Body)
	ans, err := asm.Answers(true)
	if err != nil || len(ans) == 0 {
		t.Fatalf("%s: reply is not a complete answer: %v\n%.500s", a.name, err, r.Body)
	}
	var b strings.Builder
	for _, x := range ans {
		b.WriteString(x.Text)
		if a.name == embeddings.Name {
			b.Write(x.Payload) // the vectors themselves
		}
	}
	return b.String()
}

// requests sums semcache_requests_total of the env's front, route and
// outcome over namespaces.
func requests(env *Env, route, outcome string) float64 {
	ch := make(chan prometheus.Metric, 256)
	go func() { env.Metrics.Requests.Collect(ch); close(ch) }()
	var n float64
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			continue
		}
		labels := map[string]string{}
		for _, l := range pb.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["front"] == env.Name && labels["route"] == route && labels["outcome"] == outcome {
			n += pb.GetCounter().GetValue()
		}
	}
	return n
}

func writeBack(env *Env, result string) float64 {
	var pb dto.Metric
	if err := env.Metrics.WriteBack.WithLabelValues(result).Write(&pb); err != nil {
		return -1
	}
	return pb.GetCounter().GetValue()
}

func testMissThenHit(t *testing.T, f Factory) {
	for _, a := range apis {
		for _, stream := range []bool{false, true} {
			if stream && !a.stream {
				continue
			}
			t.Run(fmt.Sprintf("%s/stream=%v", a.name, stream), func(t *testing.T) {
				env := f(t, Options{})
				ctx := context.Background()
				body := a.body("What is the capital of France? "+strings.Repeat("Please answer briefly. ", 3), stream)
				miss := env.Front.Do(ctx, post(a.path, "k1", body))
				if got := miss.Header.Get("X-Semcache"); got != "miss" {
					t.Fatalf("first X-Semcache = %q (status %d): %.300s", got, miss.Status, miss.Body)
				}
				first := answer(t, a, miss)
				hit := env.Front.Do(ctx, post(a.path, "k1", body))
				if got := hit.Header.Get("X-Semcache"); got != "hit-exact" {
					t.Fatalf("second X-Semcache = %q", got)
				}
				if hit.Upstream != nil {
					t.Fatal("a hit reached the upstream")
				}
				wantType := "application/json"
				if stream {
					wantType = "text/event-stream"
				}
				if ct := hit.Header.Get("Content-Type"); !strings.HasPrefix(ct, wantType) {
					t.Fatalf("hit content type %q, want %s", ct, wantType)
				}
				if second := answer(t, a, hit); second != first {
					t.Fatalf("hit answer differs from the miss:\n%.200s\n%.200s", second, first)
				}
				if hit.Header.Get("Age") == "" || hit.Header.Get("X-Request-Id") == "" {
					t.Fatalf("hit headers %v", hit.Header)
				}
				if a.name != embeddings.Name && hit.Header.Get("X-Semcache-Entry") != miss.Header.Get("X-Semcache-Entry") {
					t.Fatalf("entry %q != %q", hit.Header.Get("X-Semcache-Entry"), miss.Header.Get("X-Semcache-Entry"))
				}
				if n := a.calls(env.Upstream); n != 1 && n != -1 {
					t.Fatalf("upstream calls = %d, want 1", n)
				}
				if n := requests(env, a.name, engine.OutcomeHitExact); n != 1 {
					t.Fatalf("hit_exact counted %v times", n)
				}
				// Another tenant never sees it.
				if other := env.Front.Do(ctx, post(a.path, "k2", body)); other.Header.Get("X-Semcache") != "miss" {
					t.Fatalf("another key: X-Semcache %q", other.Header.Get("X-Semcache"))
				}
			})
		}
	}
}

func testSemanticHit(t *testing.T, f Factory) {
	for _, a := range []api{chatAPI, responsesAPI} {
		t.Run(a.name, func(t *testing.T) {
			env := f(t, Options{Semantic: true})
			ctx := context.Background()
			first := env.Front.Do(ctx, post(a.path, "k", a.body("How do I reset my password on the website?", false)))
			want := answer(t, a, first)
			if err := env.Cache.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			hit := env.Front.Do(ctx, post(a.path, "k", a.body("how do i reset my password on the website", true)))
			if hit.Header.Get("X-Semcache") != "hit-semantic" || hit.Header.Get("X-Semcache-Similarity") == "" {
				t.Fatalf("paraphrase: headers %v", hit.Header)
			}
			if got := answer(t, a, hit); got != want {
				t.Fatalf("semantic hit %q, want %q", got, want)
			}
			if miss := env.Front.Do(ctx, post(a.path, "k", a.body("How do I reset my password in the app?", false))); miss.Header.Get("X-Semcache") != "miss" {
				t.Fatalf("entity swap served: %q", miss.Header.Get("X-Semcache"))
			}
		})
	}
}

func testEmbeddingsPartial(t *testing.T, f Factory) {
	env := f(t, Options{})
	ctx := context.Background()
	body := func(inputs ...string) []byte {
		return jsonBody(map[string]any{"model": "sim-embedding", "input": inputs})
	}
	first := env.Front.Do(ctx, post(embeddings.Path, "k", body("alpha", "bravo")))
	if first.Header.Get("X-Semcache") != "miss" {
		t.Fatalf("first: %q", first.Header.Get("X-Semcache"))
	}
	mixed := env.Front.Do(ctx, post(embeddings.Path, "k", body("xray", "alpha", "bravo")))
	if mixed.Header.Get("X-Semcache") != "hit-partial" || mixed.Header.Get("X-Semcache-Hits") != "2/3" {
		t.Fatalf("partial: %v", mixed.Header)
	}
	if mixed.Upstream == nil || !bytes.Contains(mixed.Upstream.Body, []byte(`"xray"`)) || bytes.Contains(mixed.Upstream.Body, []byte(`"alpha"`)) {
		t.Fatalf("upstream asked for %s", mixed.Upstream.Body)
	}
	if cl := mixed.Header.Get("Content-Length"); cl != "" && cl != strconv.Itoa(len(mixed.Body)) {
		t.Fatalf("content-length %s for a %d-byte body", cl, len(mixed.Body))
	}
	var l struct {
		Data []struct {
			Index     int             `json:"index"`
			Embedding json.RawMessage `json:"embedding"`
		} `json:"data"`
		Usage struct {
			PromptTokens int `json:"prompt_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(mixed.Body, &l); err != nil || len(l.Data) != 3 {
		t.Fatalf("merged reply: %v %.300s", err, mixed.Body)
	}
	direct := env.Front.Do(ctx, post(embeddings.Path, "k", body("alpha", "bravo")))
	var d struct {
		Data []struct {
			Embedding json.RawMessage `json:"embedding"`
		} `json:"data"`
	}
	_ = json.Unmarshal(direct.Body, &d)
	for i := range 3 {
		if l.Data[i].Index != i {
			t.Fatalf("index %d at position %d", l.Data[i].Index, i)
		}
	}
	if !bytes.Equal(l.Data[1].Embedding, d.Data[0].Embedding) || !bytes.Equal(l.Data[2].Embedding, d.Data[1].Embedding) {
		t.Fatal("cached inputs came back with other vectors")
	}
	if l.Usage.PromptTokens != 3 {
		t.Fatalf("usage %d, want 3 (one word each)", l.Usage.PromptTokens)
	}
}

func testControls(t *testing.T, f Factory) {
	for _, a := range []api{chatAPI, responsesAPI} {
		t.Run(a.name, func(t *testing.T) {
			env := f(t, Options{})
			ctx := context.Background()
			body := a.body("controls please", false)
			if r := env.Front.Do(ctx, post(a.path, "", body, "Cache-Control", "no-store")); r.Header.Get("X-Semcache") != "miss" {
				t.Fatal("no-store request not a miss")
			}
			if r := env.Front.Do(ctx, post(a.path, "", body)); r.Header.Get("X-Semcache") != "miss" {
				t.Fatal("a no-store answer was stored")
			}
			if r := env.Front.Do(ctx, post(a.path, "", body)); r.Header.Get("X-Semcache") != "hit-exact" {
				t.Fatal("the stored answer is not served")
			}
			if r := env.Front.Do(ctx, post(a.path, "", body, "X-Semcache-Cache-Control", "no-cache")); r.Header.Get("X-Semcache") != "miss" {
				t.Fatal("no-cache did not skip the lookup")
			}
			if r := env.Front.Do(ctx, post(a.path, "", body)); r.Upstream != nil && r.Upstream.Header.Get("X-Semcache-Cache-Control") != "" {
				t.Fatal("a control header reached the upstream")
			}
			if n := a.calls(env.Upstream); n != 3 {
				t.Fatalf("upstream calls = %d, want 3", n)
			}
			if writeBack(env, "no_store") != 1 {
				t.Fatal("no_store not counted")
			}
		})
	}
}

func testBypass(t *testing.T, f Factory) {
	env := f(t, Options{})
	ctx := context.Background()
	cases := []struct {
		route, path string
		body        []byte
	}{
		{chat.Name, chat.Path, []byte(`{"model":"sim-gpt","n":2,"messages":[{"role":"user","content":"two answers"}]}`)},
		{responses.Name, responses.Path, []byte(`{"model":"sim-gpt","input":"log my probs","top_logprobs":2}`)},
	}
	for _, c := range cases {
		for range 2 {
			r := env.Front.Do(ctx, post(c.path, "k", c.body))
			if r.Header.Get("X-Semcache") != "bypass" || r.Upstream == nil {
				t.Fatalf("%s: X-Semcache %q, upstream %v", c.route, r.Header.Get("X-Semcache"), r.Upstream != nil)
			}
		}
		if n := requests(env, c.route, engine.OutcomeBypass); n != 2 {
			t.Fatalf("%s: bypass counted %v times, want 2", c.route, n)
		}
	}
	// A path semcache does not cache at all is relayed, stamped and
	// counted under its own route.
	for range 2 {
		r := env.Front.Do(ctx, &Request{Method: http.MethodGet, Path: "/v1/models", Header: http.Header{"Authorization": {"Bearer k"}}})
		if r.Status != http.StatusOK || r.Header.Get("X-Semcache") != "bypass" || r.Upstream == nil {
			t.Fatalf("GET /v1/models: status %d, X-Semcache %q, upstream %v", r.Status, r.Header.Get("X-Semcache"), r.Upstream != nil)
		}
	}
	if n := requests(env, "models", engine.OutcomeBypass); n != 2 {
		t.Fatalf("models: bypass counted %v times, want 2", n)
	}
}

// testReplayedResponseID: a Responses hit carries a fresh id that names
// the response the upstream stored; retrieving it (GET, input_items)
// passes through with the original id, so the upstream finds it.
func testReplayedResponseID(t *testing.T, f Factory) {
	env := f(t, Options{})
	ctx := context.Background()
	body := []byte(`{"model":"sim-gpt","input":"Name three primary colours."}`)
	var id string
	for i := range 2 {
		r := env.Front.Do(ctx, post(responses.Path, "k", body))
		var v struct {
			ID string `json:"id"`
		}
		if r.Status != http.StatusOK || json.Unmarshal(r.Body, &v) != nil {
			t.Fatalf("request %d: status %d, body %.200s", i, r.Status, r.Body)
		}
		if i == 0 {
			id = v.ID
			continue
		}
		if r.Header.Get("X-Semcache") != "hit-exact" || v.ID == id {
			t.Fatalf("second request: X-Semcache %q, id %q (first %q)", r.Header.Get("X-Semcache"), v.ID, id)
		}
		for _, tail := range []string{"", "/input_items?limit=5"} {
			get := &Request{Method: http.MethodGet, Path: responses.Path + "/" + v.ID + tail, Header: http.Header{"Authorization": {"Bearer k"}}}
			g := env.Front.Do(ctx, get)
			if g.Upstream == nil || g.Upstream.Path != responses.Path+"/"+id+tail {
				t.Fatalf("GET %s: went upstream as %+v, want %s", get.Path, g.Upstream, responses.Path+"/"+id+tail)
			}
			if g.Header.Get("X-Semcache") != "bypass" {
				t.Fatalf("GET %s: X-Semcache %q", get.Path, g.Header.Get("X-Semcache"))
			}
		}
	}
}

func testBadBody(t *testing.T, f Factory) {
	for _, a := range apis {
		t.Run(a.name, func(t *testing.T) {
			env := f(t, Options{})
			r := env.Front.Do(context.Background(), post(a.path, "k", []byte(`{"model": "sim-gpt", "messages": [`)))
			var e struct {
				Error struct {
					Message string `json:"message"`
					Type    string `json:"type"`
				} `json:"error"`
			}
			if r.Status != http.StatusBadRequest || json.Unmarshal(r.Body, &e) != nil || e.Error.Message == "" || e.Error.Type == "" {
				t.Fatalf("status %d, body %.300s: want a 400 with an OpenAI error", r.Status, r.Body)
			}
			if n := requests(env, a.name, engine.OutcomeError); n != 1 {
				t.Fatalf("error counted %v times", n)
			}
		})
	}
}

func testNeverCached(t *testing.T, f Factory) {
	tools := `[{"type":"function","function":{"name":"lookup","parameters":{"type":"object","properties":{}}}}]`
	rtools := `[{"type":"function","name":"lookup","parameters":{"type":"object","properties":{}}}]`
	cases := []struct {
		name   string
		a      api
		marker string
		stream bool
		tools  string
	}{
		{"chat 500", chatAPI, upstream.MarkerStatus(500), false, ""},
		{"chat cut stream", chatAPI, upstream.MarkerCut, true, ""},
		{"chat length", chatAPI, upstream.MarkerLength, true, ""},
		{"chat tool call", chatAPI, upstream.MarkerTools, false, tools},
		{"chat error event", chatAPI, upstream.MarkerMidstreamError, true, ""},
		{"responses 500", responsesAPI, upstream.MarkerStatus(500), false, ""},
		{"responses cut stream", responsesAPI, upstream.MarkerCut, true, ""},
		{"responses length", responsesAPI, upstream.MarkerLength, false, ""},
		{"responses function call", responsesAPI, upstream.MarkerTools, true, rtools},
		{"responses failed", responsesAPI, upstream.MarkerFailed, true, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := f(t, Options{})
			ctx := context.Background()
			body := c.a.body("question "+c.marker, c.stream)
			if c.tools != "" {
				body = append(body[:len(body)-1], []byte(`,"tools":`+c.tools+`}`)...)
			}
			first := env.Front.Do(ctx, post(c.a.path, "k", body))
			if c.marker == upstream.MarkerCut && first.Err == nil {
				t.Fatal("a cut stream reached the client as complete")
			}
			if again := env.Front.Do(ctx, post(c.a.path, "k", body)); again.Header.Get("X-Semcache") == "hit-exact" {
				t.Fatal("an uncacheable answer was served")
			}
			if n := writeBack(env, "stored"); n != 0 {
				t.Fatalf("stored %v answers", n)
			}
			if n := c.a.calls(env.Upstream); n != 2 {
				t.Fatalf("upstream calls = %d, want 2", n)
			}
		})
	}
}

// FakeRAG injects a fixed system message into chat requests.
type FakeRAG struct{}

// Version implements engine.Enricher.
func (FakeRAG) Version(ns string) string { return "v1" }

// Enrich implements engine.Enricher.
func (FakeRAG) Enrich(ctx context.Context, ns string, req *chat.Request, vector []float32) (rag.Enrichment, error) {
	b := bytes.Replace(req.Body, []byte(`"messages":[`),
		[]byte(`"messages":[{"role":"system","content":"CONTEXT: the capital of France is Paris."},`), 1)
	return rag.Enrichment{Body: b, Sources: []string{"doc#1", "doc#2"}, Version: "v1"}, nil
}

func testSourcesAndRequestID(t *testing.T, f Factory) {
	env := f(t, Options{Enricher: FakeRAG{}, SourcesField: true})
	ctx := context.Background()
	body := chatAPI.body("What is the capital of France? "+upstream.MarkerEcho, false)
	miss := env.Front.Do(ctx, post(chat.Path, "k", body, "X-Request-Id", "req-abc"))
	hit := env.Front.Do(ctx, post(chat.Path, "k", body))
	for name, r := range map[string]*Response{"miss": miss, "hit": hit} {
		if r.Header.Get("X-Semcache-Sources") != "doc#1,doc#2" {
			t.Fatalf("%s: X-Semcache-Sources %q", name, r.Header.Get("X-Semcache-Sources"))
		}
		var ext struct {
			Semcache *struct{ Sources []string } `json:"semcache"`
		}
		if err := json.Unmarshal(r.Body, &ext); err != nil || ext.Semcache == nil || len(ext.Semcache.Sources) != 2 {
			t.Fatalf("%s: sources member missing: %v %.300s", name, err, r.Body)
		}
		if cl := r.Header.Get("Content-Length"); cl != "" && cl != strconv.Itoa(len(r.Body)) {
			t.Fatalf("%s: content-length %s for a %d-byte body", name, cl, len(r.Body))
		}
	}
	if !strings.Contains(answer(t, chatAPI, miss), "CONTEXT: the capital of France is Paris.") {
		t.Fatal("the upstream did not get the injected context")
	}
	if miss.Header.Get("X-Request-Id") != "req-abc" || miss.Upstream == nil || miss.Upstream.Header.Get("X-Request-Id") != "req-abc" {
		t.Fatalf("a client's request id is kept: client %q, upstream %v", miss.Header.Get("X-Request-Id"), miss.Upstream)
	}
	id := hit.Header.Get("X-Request-Id")
	if id == "" || id == "req-abc" {
		t.Fatalf("hit request id %q", id)
	}
	fresh := env.Front.Do(ctx, post(chat.Path, "k2", body))
	if fresh.Upstream == nil || fresh.Upstream.Header.Get("X-Request-Id") != fresh.Header.Get("X-Request-Id") || fresh.Header.Get("X-Request-Id") == "" {
		t.Fatalf("a generated request id differs between client (%q) and upstream", fresh.Header.Get("X-Request-Id"))
	}
}
