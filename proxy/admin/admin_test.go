package admin

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/engine"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// stack is a cache, engines with metrics and a tracker, and the admin
// API in front of them.
type stack struct {
	cache   *cache.Cache
	metrics *engine.Metrics
	engines map[string]*engine.Engine // one per namespace
	tracker *Tracker
	admin   *Admin
	srv     *httptest.Server
	clk     *clock
}

func newStack(t *testing.T, dir, token string) *stack {
	t.Helper()
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	c, err := cache.Open(cache.Options{MaxBytes: 1 << 20, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	reg := prometheus.NewRegistry()
	tr, err := NewTracker(TrackerOptions{Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{cache: c, tracker: tr, clk: clk, engines: map[string]*engine.Engine{},
		metrics: engine.NewMetrics(reg, 10, map[string]engine.Price{"m": {PromptPerMillion: 1e6, CompletionPerMillion: 2e6}})}
	a, err := New(Options{Cache: c, Gatherer: reg, Tracker: tr, Token: token, Now: clk.now, SampleEvery: time.Hour, Warmer: s.engine(t, ""), HasPrices: s.metrics.HasPrices})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	mux := http.NewServeMux()
	a.Register(mux)
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	s.admin = a
	return s
}

// engine returns the engine that puts every request in namespace ns.
func (s *stack) engine(t *testing.T, ns string) *engine.Engine {
	t.Helper()
	if e := s.engines[ns]; e != nil {
		return e
	}
	nsr, err := engine.NewNamespacer(nil, ns)
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(engine.Options{Cache: s.cache, Namespaces: nsr, Observer: s.tracker, Metrics: s.metrics})
	if err != nil {
		t.Fatal(err)
	}
	s.engines[ns] = e
	return e
}

func chat(prompt string) []byte {
	b, _ := json.Marshal(map[string]any{"model": "m", "messages": []map[string]string{{"role": "user", "content": prompt}}})
	return b
}

// call runs one chat request in namespace ns through the engine's phases
// as a front would, answering a miss with "answer to <prompt>", and
// returns the outcome.
func (s *stack) call(t *testing.T, ns, prompt string) string {
	t.Helper()
	c := s.engine(t, ns).Begin(engine.FrontHTTP, http.MethodPost, "/v1/chat/completions", http.Header{})
	defer c.End()
	if p := c.Plan(context.Background(), chat(prompt), true); p.Reply == nil {
		answer, _ := json.Marshal(map[string]any{"model": "m",
			"choices": []any{map[string]any{"index": 0, "message": map[string]string{"role": "assistant", "content": "answer to " + prompt}, "finish_reason": "stop"}},
			"usage":   map[string]int{"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})
		if r := c.Upstream(http.StatusOK, http.Header{"Content-Type": {"application/json"}}); r.Observe {
			c.Write(answer)
		}
		c.Finish(true)
	}
	return c.Outcome()
}

func (s *stack) do(t *testing.T, method, path, token, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestOptionsValidation(t *testing.T) {
	_, err := New(Options{MaxWarmBytes: -1, SampleEvery: 2 * time.Hour})
	if err == nil {
		t.Fatal("invalid options accepted")
	}
	for _, want := range []string{"cache", "gatherer", "negative", "SampleEvery"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q: %v", want, err)
		}
	}
	if _, err := NewTracker(TrackerOptions{Misses: -1}); err == nil {
		t.Error("negative tracker size accepted")
	}
}

func TestToken(t *testing.T) {
	tests := []struct {
		name, configured, sent string
		want                   int
	}{
		{"no token configured", "", "", http.StatusOK},
		{"missing", "s3cret", "", http.StatusUnauthorized},
		{"wrong", "s3cret", "s3cre", http.StatusUnauthorized},
		{"right", "s3cret", "s3cret", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStack(t, "", tt.configured)
			status, h, body := s.do(t, "GET", "/admin/api/dashboard", tt.sent, "")
			if status != tt.want {
				t.Fatalf("status %d, want %d: %s", status, tt.want, body)
			}
			if status == http.StatusUnauthorized && (h.Get("WWW-Authenticate") == "" || !strings.Contains(body, `"code":"unauthorized"`)) {
				t.Errorf("401 without challenge or code: %v %s", h, body)
			}
			if h.Get("X-Request-Id") == "" {
				t.Error("no request id")
			}
			// The page itself holds no data and is public.
			if status, _, _ := s.do(t, "GET", "/dashboard/", "", ""); status != http.StatusOK {
				t.Errorf("dashboard page: %d", status)
			}
		})
	}
}

func TestDashboardData(t *testing.T) {
	s := newStack(t, t.TempDir(), "tok")
	script := []struct{ ns, prompt, want string }{
		{"a", "what is a cache", engine.OutcomeMiss},
		{"a", "what is a cache", engine.OutcomeHitExact},
		{"a", "what is a cache", engine.OutcomeHitExact},
		{"b", "what is a cache", engine.OutcomeMiss},
	}
	for _, st := range script {
		if got := s.call(t, st.ns, st.prompt); got != st.want {
			t.Fatalf("%s %q: %s, want %s", st.ns, st.prompt, got, st.want)
		}
	}
	s.clk.add(5 * time.Second)
	status, _, body := s.do(t, "GET", "/admin/api/dashboard", "tok", "")
	var d Dashboard
	if err := json.Unmarshal([]byte(body), &d); status != 200 || err != nil {
		t.Fatalf("dashboard: %d %v %s", status, err, body)
	}
	// Two exact hits, each saving 10 prompt + 5 completion tokens at
	// $1 and $2 per token.
	want := Summary{Requests: 4, HitsExact: 2, Misses: 2, HitRate: 0.5, TokensSavedPrompt: 20, TokensSavedCompletion: 10, CostSavedUSD: 40}
	if d.Totals != want {
		t.Errorf("totals %+v\nwant   %+v", d.Totals, want)
	}
	if len(d.Namespaces) != 2 || d.Namespaces[0].Namespace != "a" || d.Namespaces[0].Requests != 3 || d.Namespaces[0].HitRate != 2.0/3 {
		t.Errorf("namespaces %+v", d.Namespaces)
	}
	c := d.Charts
	if len(c.HitRate) != 3 || len(c.HitRate[0].Points) != 1 || c.HitRate[0].Points[0].V != 0.5 || c.HitRate[1].Points[0].V != 0.5 || c.HitRate[2].Points[0].V != 0 {
		t.Errorf("hit-rate series %+v", c.HitRate)
	}
	if len(c.Savings) != 2 || c.Savings[0].Points[len(c.Savings[0].Points)-1].V != 40 {
		t.Errorf("savings series %+v", c.Savings)
	}
	// Every chart shares the same "now" and the range's start.
	if now := d.GeneratedAt.UnixMilli(); c.To != now || c.From != now-(5*time.Minute).Milliseconds() || d.Range != "5m" {
		t.Errorf("chart axis [%d, %d], range %q, now %d", c.From, c.To, d.Range, now)
	}
	for _, set := range [][]Series{c.HitRate, c.Savings, c.Traffic, c.UpstreamErrors, c.HotTier, c.Evictions} {
		for _, sr := range set {
			if n := len(sr.Points); n > 0 && sr.Points[n-1].T > c.To {
				t.Errorf("%s ends after now", sr.Name)
			}
		}
	}
	if !d.PricesConfigured {
		t.Error("prices configured, the dashboard says none")
	}
	if len(d.TopEntries) != 1 || d.TopEntries[0].Hits != 2 || d.TopEntries[0].ExactHits != 2 || d.TopEntries[0].TokensSaved != 30 {
		t.Errorf("top entries %+v", d.TopEntries)
	}
	if len(d.Misses) != 2 || d.Misses[0].Prompt != "what is a cache" || d.Misses[0].Reason != "new" {
		t.Errorf("misses %+v", d.Misses)
	}
	outcomes := []string{}
	for _, l := range d.Latency {
		outcomes = append(outcomes, l.Outcome)
		if l.Count == 0 {
			t.Errorf("latency %+v", l)
		}
	}
	if strings.Join(outcomes, ",") != "hit_exact,miss,first_byte" {
		t.Errorf("latency outcomes %v", outcomes)
	}

	// Scoped to namespace b (the quieter one): no hits there.
	_, _, body = s.do(t, "GET", "/admin/api/dashboard?namespace=b", "tok", "")
	d = Dashboard{}
	_ = json.Unmarshal([]byte(body), &d)
	if d.Namespace != "b" || d.Totals.Requests != 1 || d.Totals.HitRate != 0 || len(d.TopEntries) != 0 || len(d.Misses) != 1 {
		t.Errorf("namespace b: %+v", d)
	}
	// Latency is per namespace too: b had one miss and no hit.
	if len(d.Latency) < 1 || d.Latency[0].Outcome != engine.OutcomeMiss || d.Latency[0].Count != 1 {
		t.Errorf("namespace b latency %+v", d.Latency)
	}
	for _, rng := range []string{"1h", "24h"} {
		status, _, body = s.do(t, "GET", "/admin/api/dashboard?range="+rng, "tok", "")
		d = Dashboard{}
		if err := json.Unmarshal([]byte(body), &d); status != 200 || err != nil || d.Range != rng || d.Charts.To-d.Charts.From != Ranges[rng].Milliseconds() {
			t.Errorf("range %s: %d %v %+v", rng, status, err, d.Charts)
		}
	}
	if status, _, body = s.do(t, "GET", "/admin/api/dashboard?range=7d", "tok", ""); status != 400 || !strings.Contains(body, "range") {
		t.Errorf("range 7d: %d %s", status, body)
	}
}

func TestEntriesAPI(t *testing.T) {
	s := newStack(t, t.TempDir(), "tok")
	warm := `{"request": {"model": "m", "messages": [{"role": "user", "content": "capital of France"}]}, "response": {"content": "Paris"}}
{"request": {"model": "m", "messages": [{"role": "user", "content": "capital of Spain"}]}, "response": {"content": "Madrid"}}
`
	steps := []struct {
		name, method, path, body string
		status                   int
		contains                 string
	}{
		{"warm", "POST", "/admin/api/namespaces/a/warm", warm, 200, `"stored":2`},
		{"bad warm stores nothing", "POST", "/admin/api/namespaces/a/warm", warm + "{}\n", 400, "line 3"},
		{"list", "GET", "/admin/api/namespaces/a/entries", "", 200, `"count":2`},
		{"search", "GET", "/admin/api/namespaces/a/entries?q=spain", "", 200, `"count":1`},
		{"limit", "GET", "/admin/api/namespaces/a/entries?limit=1", "", 200, `"count":1`},
		{"bad limit", "GET", "/admin/api/namespaces/a/entries?limit=0", "", 400, "invalid_argument"},
		{"other namespace is empty", "GET", "/admin/api/namespaces/b/entries", "", 200, `"count":0`},
		{"export", "GET", "/admin/api/namespaces/a/export", "", 200, `"content":"Madrid"`},
		{"stats", "GET", "/admin/api/stats", "", 200, `"namespace":"a","entries":2`},
		{"bad older_than", "DELETE", "/admin/api/namespaces/a/entries?older_than=yesterday", "", 400, "older_than"},
		{"future older_than", "DELETE", "/admin/api/namespaces/a/entries?older_than=2999-01-01T00:00:00Z", "", 400, "future"},
		{"bad id", "GET", "/admin/api/namespaces/a/entries/xyz", "", 400, "hex"},
		{"unknown id", "DELETE", "/admin/api/namespaces/a/entries/" + strings.Repeat("0", 24), "", 404, "not_found"},
		{"delete namespace", "DELETE", "/admin/api/namespaces/a", "", 200, `"deleted":2`},
		{"gone", "GET", "/admin/api/namespaces/a/entries", "", 200, `"count":0`},
		{"wrong method", "PUT", "/admin/api/namespaces/a", "", 404, "unknown admin route"},
	}
	for _, st := range steps {
		status, _, body := s.do(t, st.method, st.path, "tok", st.body)
		if status != st.status || !strings.Contains(body, st.contains) {
			t.Fatalf("%s: %d %.300s; want %d containing %q", st.name, status, body, st.status, st.contains)
		}
	}
	if got := s.call(t, "a", "capital of France"); got != engine.OutcomeMiss {
		t.Fatalf("deleted namespace still answers: %s", got)
	}
}

func TestDeleteEntryForgetsTopEntry(t *testing.T) {
	s := newStack(t, t.TempDir(), "tok")
	s.call(t, "a", "q1")
	s.call(t, "a", "q1")
	top := s.tracker.Top("", 10)
	if len(top) != 1 {
		t.Fatalf("top %+v", top)
	}
	status, _, body := s.do(t, "GET", "/admin/api/namespaces/"+top[0].Namespace+"/entries/"+top[0].ID, "tok", "")
	if status != 200 || !strings.Contains(body, `"content":"answer to q1"`) {
		t.Fatalf("get entry: %d %s", status, body)
	}
	status, _, body = s.do(t, "DELETE", "/admin/api/namespaces/"+top[0].Namespace+"/entries/"+top[0].ID, "tok", "")
	if status != 200 || !strings.Contains(body, `"deleted":1`) {
		t.Fatalf("delete entry: %d %s", status, body)
	}
	if top := s.tracker.Top("", 10); len(top) != 0 {
		t.Fatalf("deleted entry still in the top list: %+v", top)
	}
	if got := s.call(t, "a", "q1"); got != engine.OutcomeMiss {
		t.Fatalf("deleted entry still served: %s", got)
	}
}

func TestNeedsDiskIsNotImplemented(t *testing.T) {
	s := newStack(t, "", "tok")
	for _, path := range []string{"/admin/api/namespaces/a/entries", "/admin/api/namespaces/a/export"} {
		status, _, body := s.do(t, "GET", path, "tok", "")
		if status != http.StatusNotImplemented || !strings.Contains(body, "needs_disk_tier") {
			t.Errorf("%s without a disk tier: %d %s", path, status, body)
		}
	}
	status, _, body := s.do(t, "GET", "/admin/api/stats", "tok", "")
	if status != 200 || !strings.Contains(body, `"namespaces_error"`) {
		t.Errorf("stats without a disk tier: %d %s", status, body)
	}
}

func TestDashboardAssets(t *testing.T) {
	s := newStack(t, "", "")
	tests := []struct {
		path, contentType, contains string
	}{
		{"/dashboard/", "text/html", `data-testid="hit-rate"`},
		{"/dashboard/app.js", "javascript", "/admin/api/dashboard"},
		{"/dashboard/style.css", "text/css", ".tiles"},
	}
	for _, tt := range tests {
		status, h, body := s.do(t, "GET", tt.path, "", "")
		if status != 200 || !strings.Contains(h.Get("Content-Type"), tt.contentType) || !strings.Contains(body, tt.contains) {
			t.Errorf("%s: %d %s", tt.path, status, h.Get("Content-Type"))
		}
		if !strings.Contains(h.Get("Content-Security-Policy"), "script-src 'self'") {
			t.Errorf("%s: CSP %q", tt.path, h.Get("Content-Security-Policy"))
		}
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(s.srv.URL + "/dashboard")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/dashboard/" {
		t.Errorf("/dashboard: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestContentNeedsToken: prompts and answers (entries, export, the
// dashboard's prompts) and warming or deleting need the admin token;
// without one configured those routes are refused, and the dashboard
// shows aggregates only.
func TestContentNeedsToken(t *testing.T) {
	warm := `{"request": {"model": "m", "messages": [{"role": "user", "content": "planted question"}]}, "response": {"content": "planted answer"}}` + "\n"
	open := newStack(t, t.TempDir(), "")
	open.call(t, "a", "secret prompt of tenant a")
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/admin/api/namespaces/a/entries", ""},
		{"GET", "/admin/api/namespaces/a/entries/" + strings.Repeat("0", 24), ""},
		{"GET", "/admin/api/namespaces/a/export", ""},
		{"POST", "/admin/api/namespaces/a/warm", warm},
		{"DELETE", "/admin/api/namespaces/a", ""},
		{"DELETE", "/admin/api/namespaces/a/entries?older_than=1h", ""},
	} {
		status, _, body := open.do(t, r.method, r.path, "", r.body)
		if status != http.StatusForbidden || !strings.Contains(body, "admin_token_required") {
			t.Errorf("no token configured, %s %s: %d %.200s", r.method, r.path, status, body)
		}
	}
	if got := open.call(t, "a", "planted question"); got != engine.OutcomeMiss {
		t.Fatalf("a refused warm planted an answer: %s", got)
	}
	status, _, body := open.do(t, "GET", "/admin/api/dashboard", "", "")
	if status != 200 || strings.Contains(body, "secret prompt") || !strings.Contains(body, `"prompts_redacted":true`) || !strings.Contains(body, `"recent_misses":[{`) {
		t.Fatalf("dashboard without a token: %d %s", status, body)
	}
	if status, _, _ := open.do(t, "GET", "/admin/api/stats", "", ""); status != 200 {
		t.Fatalf("stats without a token configured: %d", status)
	}

	locked := newStack(t, t.TempDir(), "tok")
	locked.call(t, "a", "secret prompt of tenant a")
	if status, _, _ := locked.do(t, "GET", "/admin/api/dashboard", "", ""); status != http.StatusUnauthorized {
		t.Fatalf("dashboard data without the configured token: %d", status)
	}
	status, _, body = locked.do(t, "GET", "/admin/api/dashboard", "tok", "")
	if status != 200 || !strings.Contains(body, "secret prompt of tenant a") || !strings.Contains(body, `"prompts_redacted":false`) {
		t.Fatalf("dashboard with the token: %d %.300s", status, body)
	}
	if status, _, body := locked.do(t, "POST", "/admin/api/namespaces/a/warm", "", warm); status != http.StatusUnauthorized {
		t.Fatalf("warm without the token: %d %s", status, body)
	}
}
