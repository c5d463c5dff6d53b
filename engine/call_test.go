package engine

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/semcache/semcache/cache"
)

func TestMissReason(t *testing.T) {
	tests := []struct {
		name string
		res  []cache.Result
		want string
	}{
		{"new", []cache.Result{{}}, "new"},
		{"shadow", []cache.Result{{Shadow: &cache.Entry{}}}, "shadow"},
		{"rejected", []cache.Result{{Rejections: []cache.Rejection{{Reason: "numbers"}}}}, "rejected"},
		{"degraded", []cache.Result{{EmbedErr: errors.New("down")}}, "degraded"},
		{"first miss of a batch", []cache.Result{{Entry: &cache.Entry{}}, {SearchErr: errors.New("down")}}, "degraded"},
		{"all hits", []cache.Result{{Entry: &cache.Entry{}}}, ""},
	}
	for _, tt := range tests {
		if got := missReason(tt.res); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

type recorder struct{ got []*Summary }

func (r *recorder) ObserveCall(s *Summary) { r.got = append(r.got, s) }

func testEngine(t *testing.T) (*Engine, *recorder) {
	t.Helper()
	c, err := cache.Open(cache.Options{MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rec := &recorder{}
	e, err := New(Options{Cache: c, Metrics: NewMetrics(prometheus.NewRegistry(), 10, nil), Observer: rec})
	if err != nil {
		t.Fatal(err)
	}
	return e, rec
}

const chatPath = "/v1/chat/completions"

func TestSummariesSayWhy(t *testing.T) {
	e, rec := testEngine(t)
	ctx := context.Background()
	run := func(hdr http.Header, body string) {
		c := e.Begin(FrontHTTP, http.MethodPost, chatPath, hdr)
		defer c.End()
		if p := c.Plan(ctx, []byte(body), true); p.Upstream != nil {
			c.Upstream(http.StatusServiceUnavailable, http.Header{})
			c.Finish(true)
		}
	}
	q := `{"model":"m","messages":[{"role":"user","content":"hello there"}]}`
	run(http.Header{}, q)
	run(http.Header{"Cache-Control": {"no-cache"}}, q)
	run(http.Header{}, `{"model":"m","n":3,"messages":[{"role":"user","content":"hi"}]}`)
	run(http.Header{}, `{"model":`)
	c := e.Begin(FrontHTTP, http.MethodGet, "/v1/models", http.Header{})
	c.End()
	want := []struct{ outcome, reason, route string }{
		{OutcomeMiss, "new", "chat"},
		{OutcomeMiss, "no_cache", "chat"},
		{OutcomeBypass, "n>1", "chat"},
		{OutcomeError, "", "chat"},
		{OutcomeBypass, "not cached: GET /v1/models", "models"},
	}
	if len(rec.got) != len(want) {
		t.Fatalf("%d summaries, want %d", len(rec.got), len(want))
	}
	for i, w := range want {
		s := rec.got[i]
		if s.Outcome != w.outcome || (w.reason != "" && s.Reason != w.reason) || s.Route != w.route || s.RequestID == "" {
			t.Errorf("call %d: %+v, want %+v", i, s, w)
		}
	}
	if rec.got[0].Prompt != "hello there" || rec.got[0].Model != "m" {
		t.Errorf("summary %+v", rec.got[0])
	}
}

func TestRejectAndInvalidByFront(t *testing.T) {
	e, _ := testEngine(t)
	tooLarge := &http.MaxBytesError{Limit: 10}
	http1 := e.Begin(FrontHTTP, http.MethodPost, chatPath, http.Header{})
	if r := http1.Reject(tooLarge); r == nil || r.Status != http.StatusRequestEntityTooLarge || http1.Outcome() != OutcomeError {
		t.Fatalf("HTTP reject: %+v %s", r, http1.Outcome())
	}
	env := e.Begin(FrontExtProc, http.MethodPost, chatPath, http.Header{})
	if r := env.Reject(tooLarge); r != nil || env.Outcome() != OutcomeBypass {
		t.Fatalf("a filter front refused a body it could pass: %+v %s", r, env.Outcome())
	}
	bad := []byte(`{"model":`)
	if p := e.Begin(FrontHTTP, http.MethodPost, chatPath, http.Header{}).Plan(context.Background(), bad, true); p.Reply == nil || p.Reply.Status != 400 {
		t.Fatalf("HTTP front: bad body not refused: %+v", p)
	}
	p := e.Begin(FrontExtProc, http.MethodPost, chatPath, http.Header{}).Plan(context.Background(), bad, true)
	if p.Reply != nil || p.Upstream == nil || p.Upstream.Body != nil || p.Upstream.Header.Get("X-Semcache") != "" {
		t.Fatalf("ext_proc: a bad body must pass untouched: %+v", p)
	}
}

func TestParseControls(t *testing.T) {
	tests := []struct {
		name    string
		h       http.Header
		want    Controls
		wantErr bool
	}{
		{"none", http.Header{}, Controls{}, false},
		{"no-cache", http.Header{"Cache-Control": {"no-cache"}}, Controls{NoCache: true}, false},
		{"sse boilerplate", http.Header{"Cache-Control": {"no-cache"}, "Accept": {"text/event-stream"}}, Controls{}, false},
		{"explicit wins", http.Header{"X-Semcache-Cache-Control": {"no-cache, no-store"}, "Accept": {"text/event-stream"}}, Controls{NoCache: true, NoStore: true}, false},
		{"ttl capped", http.Header{"X-Semcache-Ttl": {"999999999"}}, Controls{TTL: time.Hour}, false},
		{"rag off", http.Header{"X-Semcache-Rag": {"off"}}, Controls{NoRAG: true}, false},
		{"bad ttl", http.Header{"X-Semcache-Ttl": {"soon"}}, Controls{}, true},
		{"bad rag", http.Header{"X-Semcache-Rag": {"maybe"}}, Controls{}, true},
	}
	for _, tt := range tests {
		got, err := ParseControls(tt.h, time.Hour)
		if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
			t.Errorf("%s: %+v, %v", tt.name, got, err)
		}
		if err != nil && !errors.Is(err, ErrBadControl) {
			t.Errorf("%s: %v does not wrap ErrBadControl", tt.name, err)
		}
	}
}
