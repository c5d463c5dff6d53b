package proxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	goopenai "github.com/sashabaranov/go-openai"

	"github.com/semcache/semcache/bench/upstream"
	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/engine"
	"github.com/semcache/semcache/httpapi"
	"github.com/semcache/semcache/rag"
	"github.com/semcache/semcache/wire/chat"
)

type harness struct {
	up      *upstream.Server
	upSrv   *httptest.Server
	cache   *cache.Cache
	engine  *engine.Engine
	srv     *Server
	front   *httptest.Server
	reg     *prometheus.Registry
	baseURL string
}

type harnessOpt func(*cache.Options, *ServerOptions)

func newHarness(t *testing.T, opts ...harnessOpt) *harness {
	t.Helper()
	h := &harness{up: upstream.New(upstream.Options{})}
	h.upSrv = httptest.NewServer(h.up)
	t.Cleanup(h.upSrv.Close)
	copts := cache.Options{}
	u, _ := url.Parse(h.upSrv.URL + "/v1")
	sopts := ServerOptions{Upstream: u}
	for _, o := range opts {
		o(&copts, &sopts)
	}
	c, err := cache.Open(copts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	h.cache = c
	h.reg = prometheus.NewRegistry()
	h.engine, err = engine.New(engine.Options{Cache: c, Metrics: engine.NewMetrics(h.reg, 10, map[string]engine.Price{"sim-gpt": {PromptPerMillion: 1e6, CompletionPerMillion: 2e6}})})
	if err != nil {
		t.Fatal(err)
	}
	sopts.Engine = h.engine
	h.srv, err = NewServer(sopts)
	if err != nil {
		t.Fatal(err)
	}
	h.front = httptest.NewServer(h.srv)
	t.Cleanup(h.front.Close)
	h.baseURL = h.front.URL + "/v1"
	return h
}

func chatBody(prompt string, stream bool) string {
	b, _ := json.Marshal(map[string]any{
		"model":          "sim-gpt",
		"messages":       []map[string]string{{"role": "user", "content": prompt}},
		"stream":         stream,
		"stream_options": map[string]bool{"include_usage": stream},
	})
	return string(b)
}

type reply struct {
	status int
	header http.Header
	body   string
}

func (h *harness) post(t *testing.T, key, body string, hdr ...string) reply {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.baseURL+"/chat/completions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, string(b)}
}

// sseContent assembles the content of an SSE body and checks it is a
// complete, well-formed stream.
func sseContent(t *testing.T, body string) string {
	t.Helper()
	a := chat.NewAssembler(true)
	_, _ = a.Write([]byte(body))
	ans, err := a.Result(true)
	if err != nil {
		t.Fatalf("stream not complete: %v\n%s", err, body)
	}
	return ans.Content
}

func jsonContent(t *testing.T, body string) string {
	t.Helper()
	var c struct {
		Choices []struct {
			Message struct{ Content string }
		}
	}
	if err := json.Unmarshal([]byte(body), &c); err != nil || len(c.Choices) != 1 {
		t.Fatalf("bad completion body: %v\n%s", err, body)
	}
	return c.Choices[0].Message.Content
}

func TestMissThenHit(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			h := newHarness(t)
			body := chatBody("What is the capital of France?", stream)
			first := h.post(t, "k1", body)
			second := h.post(t, "k1", body)
			if first.status != 200 || second.status != 200 {
				t.Fatalf("status %d / %d: %s", first.status, second.status, second.body)
			}
			if got := first.header.Get("X-Semcache"); got != "miss" {
				t.Fatalf("first X-Semcache = %q", got)
			}
			if got := second.header.Get("X-Semcache"); got != "hit-exact" {
				t.Fatalf("second X-Semcache = %q", got)
			}
			if second.header.Get("X-Semcache-Entry") != first.header.Get("X-Semcache-Entry") || second.header.Get("Age") == "" {
				t.Fatalf("entry/age headers: %v", second.header)
			}
			content := jsonContent
			if stream {
				content = sseContent
				if ct := second.header.Get("Content-Type"); ct != "text/event-stream" {
					t.Fatalf("hit content type %q", ct)
				}
				if !strings.Contains(second.body, `"usage":{"prompt_tokens"`) {
					t.Fatal("replay lacks the usage chunk that was asked for")
				}
			}
			if a, b := content(t, first.body), content(t, second.body); a != b || a == "" {
				t.Fatalf("hit content %q != miss content %q", b, a)
			}
			if n := h.up.ChatCalls(); n != 1 {
				t.Fatalf("upstream calls = %d, want 1", n)
			}
			// Whichever way it was fetched, the other form is served too.
			other := h.post(t, "k1", chatBody("What is the capital of France?", !stream))
			if other.header.Get("X-Semcache") != "hit-exact" {
				t.Fatalf("other form: %v", other.header.Get("X-Semcache"))
			}
		})
	}
}

func TestFreshIDsOnHits(t *testing.T) {
	h := newHarness(t)
	body := chatBody("ids please", false)
	h.post(t, "k", body)
	var ids []string
	for range 2 {
		var c struct{ ID string }
		_ = json.Unmarshal([]byte(h.post(t, "k", body).body), &c)
		ids = append(ids, c.ID)
	}
	if ids[0] == ids[1] || !strings.HasPrefix(ids[0], "chatcmpl-") {
		t.Fatalf("ids = %v", ids)
	}
}

func TestGoOpenAIClient(t *testing.T) {
	h := newHarness(t)
	cfg := goopenai.DefaultConfig("sk-test")
	cfg.BaseURL = h.baseURL
	client := goopenai.NewClientWithConfig(cfg)
	ctx := context.Background()
	req := goopenai.ChatCompletionRequest{
		Model:    "sim-gpt",
		Messages: []goopenai.ChatCompletionMessage{{Role: "user", Content: "Tell me about caching"}},
	}
	var contents []string
	for range 2 {
		resp, err := client.CreateChatCompletion(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		contents = append(contents, resp.Choices[0].Message.Content)
	}
	req.Stream = true
	req.StreamOptions = &goopenai.StreamOptions{IncludeUsage: true}
	for range 2 {
		st, err := client.CreateChatCompletionStream(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		sawUsage := false
		for {
			ch, err := st.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if ch.Usage != nil {
				sawUsage = true
			}
			for _, c := range ch.Choices {
				b.WriteString(c.Delta.Content)
			}
		}
		st.Close()
		if !sawUsage {
			t.Fatal("go-openai saw no usage chunk")
		}
		contents = append(contents, b.String())
	}
	for _, c := range contents[1:] {
		if c != contents[0] || c == "" {
			t.Fatalf("contents differ: %q", contents)
		}
	}
	if n := h.up.ChatCalls(); n != 1 {
		t.Fatalf("upstream calls = %d, want 1", n)
	}
}

func TestTenantsNeverShare(t *testing.T) {
	h := newHarness(t)
	body := chatBody("Secret plan for tenant A", false)
	a := h.post(t, "key-A", body)
	b := h.post(t, "key-B", body)
	anon := h.post(t, "", body)
	for i, r := range []reply{a, b, anon} {
		if r.header.Get("X-Semcache") != "miss" {
			t.Fatalf("request %d: X-Semcache = %q, want miss", i, r.header.Get("X-Semcache"))
		}
	}
	if h.post(t, "key-A", body).header.Get("X-Semcache") != "hit-exact" {
		t.Fatal("tenant A does not hit its own entry")
	}
	if n := h.up.ChatCalls(); n != 3 {
		t.Fatalf("upstream calls = %d, want 3", n)
	}
}

func TestNeverCached(t *testing.T) {
	tests := []struct {
		name, marker string
		stream       bool
		wantStatus   int
	}{
		{"cut stream", "[[sim:cut]]", true, 200},
		{"cut json", "[[sim:cut]]", false, 200},
		{"length stream", "[[sim:length]]", true, 200},
		{"length json", "[[sim:length]]", false, 200},
		{"tool calls stream", "[[sim:tools]]", true, 200},
		{"tool calls json", "[[sim:tools]]", false, 200},
		{"content filter", "[[sim:filter]]", false, 200},
		{"mid-stream error", "[[sim:midstream-error]]", true, 200},
		{"upstream 500", "[[sim:status=500]]", false, 500},
		{"upstream 429 stream", "[[sim:status=429]]", true, 429},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			body := chatBody("question "+tt.marker, tt.stream)
			for i := range 2 {
				r, err := h.rawPost(body)
				if err == nil && r.status != tt.wantStatus {
					t.Fatalf("status = %d, want %d: %s", r.status, tt.wantStatus, r.body)
				}
				if err == nil && r.header.Get("X-Semcache") != "miss" {
					t.Fatalf("attempt %d: X-Semcache = %q", i, r.header.Get("X-Semcache"))
				}
			}
			if n := h.up.ChatCalls(); n != 2 {
				t.Fatalf("upstream calls = %d, want 2 (nothing cached)", n)
			}
		})
	}
}

// rawPost tolerates a broken body (cut streams abort the connection).
func (h *harness) rawPost(body string) (reply, error) { return h.rawPostTo("/chat/completions", body) }

// rawPostTo posts to another API under /v1.
func (h *harness) rawPostTo(path, body string) (reply, error) {
	req, _ := http.NewRequest(http.MethodPost, h.baseURL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer k")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, string(b)}, err
}

func TestCutStreamReachesClientAsBroken(t *testing.T) {
	h := newHarness(t)
	_, err := h.rawPost(chatBody("break it [[sim:cut]]", true))
	if err == nil {
		t.Fatal("a stream cut upstream looked complete to the client")
	}
}

func TestCoalescing(t *testing.T) {
	h := newHarness(t)
	body := chatBody("coalesce me [[sim:hold=400]]", true)
	const n = 50
	var wg sync.WaitGroup
	contents := make([]string, n)
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := h.rawPost(body)
			if err != nil {
				errs <- err
				return
			}
			a := chat.NewAssembler(true)
			_, _ = a.Write([]byte(r.body))
			ans, err := a.Result(true)
			if err != nil {
				errs <- fmt.Errorf("request %d: %w", i, err)
				return
			}
			contents[i] = ans.Content
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := h.up.ChatCalls(); got != 1 {
		t.Fatalf("upstream calls = %d, want exactly 1", got)
	}
	for i, c := range contents {
		if c != contents[0] || c == "" {
			t.Fatalf("request %d got %q, want %q", i, c, contents[0])
		}
	}
}

// TestFollowersStreamLive checks that every client, leader and followers,
// receives its first content while the upstream answer is still in flight,
// i.e. the stream is passed on as it arrives, not after it ends.
func TestFollowersStreamLive(t *testing.T) {
	h := newHarness(t)
	body := chatBody("live follow [[sim:slow=40]]", true)
	inFlight := func() bool {
		h.srv.flights.mu.Lock()
		defer h.srv.flights.mu.Unlock()
		return len(h.srv.flights.m) > 0
	}
	late := make(chan int, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, h.baseURL+"/chat/completions", strings.NewReader(body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			got := false
			for sc.Scan() {
				line := sc.Text()
				if !got && strings.Contains(line, `"content":"`) && !strings.Contains(line, `"content":""`) {
					got = true
					if !inFlight() {
						late <- i
					}
				}
			}
		}()
	}
	wg.Wait()
	close(late)
	for i := range late {
		t.Fatalf("client %d got its first content only after the upstream answer had ended: not streamed live", i)
	}
	if h.up.ChatCalls() != 1 {
		t.Fatalf("upstream calls = %d", h.up.ChatCalls())
	}
}

func TestClientDisconnectCancelsUpstream(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, h.baseURL+"/chat/completions",
		strings.NewReader(chatBody("slow answer [[sim:slow=100]]", true)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	// Read the first event, then hang up.
	_, _ = bufio.NewReader(resp.Body).ReadString('\n')
	cancel()
	resp.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for h.up.Canceled() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("upstream request was not cancelled after the client left")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// And nothing partial was cached.
	if r := h.post(t, "", chatBody("slow answer [[sim:slow=1]]", false)); r.header.Get("X-Semcache") != "miss" {
		t.Fatalf("X-Semcache = %q", r.header.Get("X-Semcache"))
	}
}

func TestCompleteOnDisconnectCaches(t *testing.T) {
	h := newHarness(t, func(_ *cache.Options, s *ServerOptions) { s.CompleteOnDisconnect = true })
	body := chatBody("finish anyway [[sim:slow=20]]", true)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, h.baseURL+"/chat/completions", strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = bufio.NewReader(resp.Body).ReadString('\n')
	cancel()
	resp.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := h.post(t, "", body)
		if r.header.Get("X-Semcache") == "hit-exact" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("answer finished after the client left was not cached")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if h.up.Canceled() != 0 {
		t.Fatal("upstream was cancelled despite CompleteOnDisconnect")
	}
}

func TestBadInput(t *testing.T) {
	h := newHarness(t, func(_ *cache.Options, s *ServerOptions) { s.MaxBodyBytes = 4096 })
	tests := []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"malformed json", "POST", "/v1/chat/completions", `{"model":`, 400, "invalid_request"},
		{"missing model", "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request"},
		{"missing messages", "POST", "/v1/chat/completions", `{"model":"m"}`, 400, "invalid_request"},
		{"wrong type", "POST", "/v1/chat/completions", `{"model":"m","messages":"x"}`, 400, "invalid_request"},
		{"too large", "POST", "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("a", 5000) + `"}]}`, 413, "request_too_large"},
		{"wrong method", "GET", "/v1/chat/completions", ``, 405, "method_not_allowed"},
		{"unknown root path", "GET", "/nope", ``, 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, h.front.URL+tt.path, strings.NewReader(tt.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e httpapi.ErrorBody
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
				t.Fatalf("error body is not OpenAI JSON: %v", err)
			}
			if resp.StatusCode != tt.status || e.Error.Code == nil || *e.Error.Code != tt.code || e.Error.Message == "" {
				t.Fatalf("status %d code %v message %q", resp.StatusCode, e.Error.Code, e.Error.Message)
			}
		})
	}
	r := h.post(t, "", chatBody("x", false), "X-Semcache-TTL", "soon")
	if r.status != 400 || !strings.Contains(r.body, "X-Semcache-TTL") {
		t.Fatalf("bad TTL header: %d %s", r.status, r.body)
	}
	if h.up.ChatCalls() != 0 {
		t.Fatal("bad requests reached upstream")
	}
}

func TestUpstreamDown(t *testing.T) {
	h := newHarness(t)
	h.upSrv.Close()
	for _, stream := range []bool{false, true} {
		r := h.post(t, "", chatBody("anyone there?", stream))
		if r.status != 502 || !strings.Contains(r.body, `"upstream_unavailable"`) {
			t.Fatalf("status %d body %s", r.status, r.body)
		}
	}
}

func TestCacheControls(t *testing.T) {
	h := newHarness(t)
	body := chatBody("controls", false)
	if r := h.post(t, "", body, "Cache-Control", "no-store"); r.header.Get("X-Semcache") != "miss" {
		t.Fatal("no-store first request not a miss")
	}
	if r := h.post(t, "", body); r.header.Get("X-Semcache") != "miss" {
		t.Fatal("no-store answer was stored")
	}
	if r := h.post(t, "", body); r.header.Get("X-Semcache") != "hit-exact" {
		t.Fatal("stored answer not served")
	}
	if r := h.post(t, "", body, "Cache-Control", "no-cache"); r.header.Get("X-Semcache") != "miss" {
		t.Fatal("no-cache did not skip the lookup")
	}
	if r := h.post(t, "", body, "X-Semcache-Cache-Control", "no-cache", "Accept", "text/event-stream"); r.header.Get("X-Semcache") != "miss" {
		t.Fatal("X-Semcache-Cache-Control: no-cache did not skip the lookup")
	}
	// SSE clients send Cache-Control: no-cache on every stream; it must not
	// make streams uncacheable.
	if r := h.post(t, "", chatBody("controls", true), "Cache-Control", "no-cache", "Accept", "text/event-stream"); r.header.Get("X-Semcache") != "hit-exact" {
		t.Fatalf("SSE boilerplate bypassed the cache: %q", r.header.Get("X-Semcache"))
	}
	if h.up.ChatCalls() != 4 {
		t.Fatalf("upstream calls = %d, want 4", h.up.ChatCalls())
	}
	if r := h.post(t, "", chatBody("n two", false)[:len(chatBody("n two", false))-1]+`,"n":2}`); r.header.Get("X-Semcache") != "bypass" {
		t.Fatalf("n=2: X-Semcache = %q", r.header.Get("X-Semcache"))
	}
}

func TestTTLHeader(t *testing.T) {
	clk := time.Unix(1_800_000_000, 0)
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clk }
	h := newHarness(t, func(c *cache.Options, _ *ServerOptions) { c.Now = now })
	body := chatBody("ttl", false)
	h.post(t, "", body, "X-Semcache-TTL", "60")
	if h.post(t, "", body).header.Get("X-Semcache") != "hit-exact" {
		t.Fatal("not cached")
	}
	mu.Lock()
	clk = clk.Add(61 * time.Second)
	mu.Unlock()
	if h.post(t, "", body).header.Get("X-Semcache") != "miss" {
		t.Fatal("served after X-Semcache-TTL")
	}
}

func TestPassthrough(t *testing.T) {
	h := newHarness(t)
	resp, err := http.Get(h.baseURL + "/models")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"sim-gpt"`) {
		t.Fatalf("models: %d %s", resp.StatusCode, b)
	}
	if resp.Header.Get("X-Request-Id") == "" || resp.Header.Get("X-Semcache") != "bypass" {
		t.Fatalf("passthrough headers: %v", resp.Header)
	}
	// A path off the allow-list never reaches the upstream.
	before := h.up.Calls("/v1/nope")
	resp, err = http.Get(h.baseURL + "/nope")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || !strings.Contains(string(b), `"unknown_url"`) || h.up.Calls("/v1/nope") != before {
		t.Fatalf("path off the allow-list: %d %s", resp.StatusCode, b)
	}
	// Passed-through calls are counted, by the first path segment.
	mfs, _ := h.reg.Gather()
	counted := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "semcache_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			counted[labels["route"]+"/"+labels["outcome"]] += m.GetCounter().GetValue()
		}
	}
	if counted["models/bypass"] != 1 || counted["nope/error"] != 1 {
		t.Fatalf("bypass counts by route: %v", counted)
	}
}

func TestUpstreamKeyReplacesClientKey(t *testing.T) {
	h := newHarness(t, func(_ *cache.Options, s *ServerOptions) { s.UpstreamKey = "sk-upstream" })
	h.post(t, "sk-client", chatBody("auth", false))
	if got := h.up.LastHeaders().Get("Authorization"); got != "Bearer sk-upstream" {
		t.Fatalf("upstream saw Authorization %q", got)
	}
	h2 := newHarness(t)
	h2.post(t, "sk-client", chatBody("auth", false))
	if got := h2.up.LastHeaders().Get("Authorization"); got != "Bearer sk-client" {
		t.Fatalf("client key not forwarded: %q", got)
	}
}

func TestMetricsAfterTraffic(t *testing.T) {
	h := newHarness(t)
	body := chatBody("count me", false)
	h.post(t, "k", body)
	h.post(t, "k", body)
	h.post(t, "k", body)
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			if m.Counter != nil {
				got[key] = m.GetCounter().GetValue()
			}
			fmt.Fprintln(&buf, key)
		}
	}
	ns := h.engine.Namespace(http.Header{"Authorization": {"Bearer k"}})
	if got["semcache_requests_total,front=http,namespace="+ns+",outcome=miss,route=chat"] != 1 ||
		got["semcache_requests_total,front=http,namespace="+ns+",outcome=hit_exact,route=chat"] != 2 {
		t.Fatalf("request counters wrong:\n%s", buf.String())
	}
	// Each hit saves the stored usage; the sim's price is 1 USD per prompt
	// token and 2 per completion token.
	prompt := got["semcache_saved_tokens_total,kind=prompt,namespace="+ns]
	completion := got["semcache_saved_tokens_total,kind=completion,namespace="+ns]
	if prompt <= 0 || completion <= 0 {
		t.Fatalf("tokens saved: %v / %v", prompt, completion)
	}
	if cost := got["semcache_saved_cost_usd_total,namespace="+ns]; cost != prompt+2*completion {
		t.Fatalf("cost saved = %v, want %v", cost, prompt+2*completion)
	}
}

// fakeEnricher injects a fixed system message and reports fixed sources.
type fakeEnricher struct{ version string }

func (f *fakeEnricher) Version(ns string) string { return f.version }

func (f *fakeEnricher) Enrich(ctx context.Context, ns string, req *chat.Request, vector []float32) (rag.Enrichment, error) {
	var body map[string]json.RawMessage
	_ = json.Unmarshal(req.Body, &body)
	var msgs []json.RawMessage
	_ = json.Unmarshal(body["messages"], &msgs)
	msgs = append([]json.RawMessage{json.RawMessage(`{"role":"system","content":"CONTEXT: the answer is 42"}`)}, msgs...)
	body["messages"], _ = json.Marshal(msgs)
	out, _ := json.Marshal(body)
	return rag.Enrichment{Body: out, Sources: []string{"doc#1", "doc#2"}, Version: f.version}, nil
}

func TestSourcesFieldAndSalt(t *testing.T) {
	for _, on := range []bool{false, true} {
		t.Run(fmt.Sprintf("field=%v", on), func(t *testing.T) {
			h := &harness{up: upstream.New(upstream.Options{})}
			h.upSrv = httptest.NewServer(h.up)
			defer h.upSrv.Close()
			c, _ := cache.Open(cache.Options{})
			defer c.Close()
			enr := &fakeEnricher{version: "v1"}
			eng, err := engine.New(engine.Options{Cache: c, Metrics: engine.NewMetrics(prometheus.NewRegistry(), 10, nil), Enricher: enr, SourcesField: on})
			if err != nil {
				t.Fatal(err)
			}
			u, _ := url.Parse(h.upSrv.URL + "/v1")
			h.srv, _ = NewServer(ServerOptions{Engine: eng, Upstream: u})
			h.front = httptest.NewServer(h.srv)
			defer h.front.Close()
			h.baseURL = h.front.URL + "/v1"
			body := chatBody("what is the answer? [[sim:echo]]", false)
			miss := h.post(t, "k", body)
			hit := h.post(t, "k", body)
			if miss.header.Get("X-Semcache-Sources") != "doc#1,doc#2" || hit.header.Get("X-Semcache-Sources") != "doc#1,doc#2" {
				t.Fatalf("sources headers: %q / %q", miss.header.Get("X-Semcache-Sources"), hit.header.Get("X-Semcache-Sources"))
			}
			if !strings.Contains(jsonContent(t, miss.body), "CONTEXT: the answer is 42") {
				t.Fatalf("upstream did not receive the injected context: %s", miss.body)
			}
			for name, r := range map[string]reply{"miss": miss, "hit": hit} {
				var ext struct {
					Semcache *struct{ Sources []string } `json:"semcache"`
				}
				if err := json.Unmarshal([]byte(r.body), &ext); err != nil {
					t.Fatalf("%s: body is not JSON: %v", name, err)
				}
				if (ext.Semcache != nil) != on || (on && len(ext.Semcache.Sources) != 2) {
					t.Fatalf("%s: semcache member = %+v, want present=%v", name, ext.Semcache, on)
				}
			}
			// A content change (new version) makes the old answer unreachable.
			enr.version = "v2"
			if r := h.post(t, "k", body); r.header.Get("X-Semcache") != "miss" {
				t.Fatalf("answer built on version v1 served for v2: %s", r.header.Get("X-Semcache"))
			}
			if r := h.post(t, "k", body, "X-Semcache-RAG", "off"); r.header.Get("X-Semcache") != "miss" || r.header.Get("X-Semcache-Sources") != "" {
				t.Fatalf("RAG off shared the RAG entry: %v", r.header)
			}
		})
	}
}
