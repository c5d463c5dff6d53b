package load

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/semcache/semcache/bench/upstream"
)

func startUpstream(t *testing.T, opts upstream.Options, wrap func(http.Handler) http.Handler) (*upstream.Server, string) {
	t.Helper()
	sim := upstream.New(opts)
	var h http.Handler = sim
	if wrap != nil {
		h = wrap(sim)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return sim, ts.URL + "/v1"
}

func TestOptionsValidate(t *testing.T) {
	ok := Options{Target: "http://127.0.0.1:1/v1", Requests: 1}
	tests := []struct {
		name string
		mod  func(*Options)
		want []string
	}{
		{"valid", func(*Options) {}, nil},
		{"no target", func(o *Options) { o.Target = "" }, []string{"Target"}},
		{"not http", func(o *Options) { o.Target = "ftp://x/v1" }, []string{"Target"}},
		{"everything wrong", func(o *Options) {
			o.Requests, o.Concurrency, o.DuplicateRatio, o.ParaphraseRatio = 0, -1, -0.1, 2
		}, []string{"Requests", "Concurrency", "DuplicateRatio", "ParaphraseRatio"}},
		{"ratios sum over 1", func(o *Options) { o.DuplicateRatio, o.ParaphraseRatio = 0.6, 0.5 }, []string{"exceeds 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := ok
			tt.mod(&o)
			err := o.Validate()
			if (err != nil) != (len(tt.want) > 0) {
				t.Fatalf("Validate() = %v, want errors about %v", err, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not mention %s", err, w)
				}
			}
		})
	}
}

func TestRunAgainstUpstream(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(map[bool]string{false: "json", true: "sse"}[stream], func(t *testing.T) {
			sim, target := startUpstream(t, upstream.Options{AnswerTokens: 8}, nil)
			const n = 40
			rep, err := Run(t.Context(), Options{
				Target: target, Requests: n, Concurrency: 4, DuplicateRatio: 0.3, ParaphraseRatio: 0.2,
				Stream: stream, APIKey: "sk-load", Seed: 3,
			})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Planned != n || rep.Completed != n || rep.Errors != 0 || rep.Canceled != 0 {
				t.Fatalf("report %+v", rep)
			}
			if got := sim.ChatCalls(); got != n {
				t.Errorf("upstream saw %d chat calls, want %d", got, n)
			}
			if g := rep.ByCache[NoCacheHeader]; g.Count != n || g.Latency.N != n || len(rep.ByCache) != 1 {
				t.Errorf("ByCache %+v, want all %d under %q", rep.ByCache, n, NoCacheHeader)
			}
			if rep.Statuses[200] != n || rep.Latency.N != n || rep.Latency.P50 <= 0 || rep.RequestsPerSecond <= 0 {
				t.Errorf("statuses %v latency %+v rps %v", rep.Statuses, rep.Latency, rep.RequestsPerSecond)
			}
			wantTTFT := 0
			if stream {
				wantTTFT = n
			}
			if rep.TTFT.N != wantTTFT {
				t.Errorf("TTFT samples %d, want %d", rep.TTFT.N, wantTTFT)
			}
			kinds := 0
			for _, k := range rep.ByKind {
				kinds += k.Count
			}
			if kinds != n || rep.ByKind[KindUnique].Count == 0 {
				t.Errorf("ByKind %+v", rep.ByKind)
			}
			if got := sim.LastHeaders().Get("Authorization"); got != "Bearer sk-load" {
				t.Errorf("Authorization %q", got)
			}
			var req struct {
				Model         string `json:"model"`
				Stream        bool   `json:"stream"`
				StreamOptions *struct {
					IncludeUsage bool `json:"include_usage"`
				} `json:"stream_options"`
			}
			if err := json.Unmarshal(sim.LastRequest(), &req); err != nil {
				t.Fatal(err)
			}
			if req.Model != defaultModel || req.Stream != stream || (req.StreamOptions != nil) != stream {
				t.Errorf("request %s", sim.LastRequest())
			}
			var out bytes.Buffer
			if err := rep.Print(&out); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"40 completed", NoCacheHeader, "unique", "200=40"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("report lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}

// fakeCache marks a request "hit" when its body was seen before, like an
// exact-match proxy would.
func fakeCache(next http.Handler) http.Handler {
	var mu sync.Mutex
	seen := map[string]bool{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		verdict := "miss"
		if seen[string(b)] {
			verdict = "hit"
		}
		seen[string(b)] = true
		mu.Unlock()
		w.Header().Set(CacheHeader, verdict)
		r.Body = io.NopCloser(bytes.NewReader(b))
		next.ServeHTTP(w, r)
	})
}

func TestRunCountsCacheHeader(t *testing.T) {
	_, target := startUpstream(t, upstream.Options{}, fakeCache)
	const n = 60
	opts := Options{Target: target, Requests: n, Concurrency: 1, DuplicateRatio: 0.4, ParaphraseRatio: 0.2, Seed: 11, Stream: true}
	rep, err := Run(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	dups := 0
	for _, j := range planJobs(n, opts.DuplicateRatio, opts.ParaphraseRatio, opts.Seed) {
		if j.kind == KindDuplicate {
			dups++
		}
	}
	if dups == 0 {
		t.Fatal("plan has no duplicates; pick another seed")
	}
	if got := rep.ByCache["hit"].Count; got != dups {
		t.Errorf("hits %d, want %d duplicates", got, dups)
	}
	if got := rep.ByCache["miss"].Count; got != n-dups {
		t.Errorf("misses %d, want %d", got, n-dups)
	}
	if got := rep.ByKind[KindDuplicate].ByCache["hit"]; got != dups {
		t.Errorf("duplicate hits %d, want %d", got, dups)
	}
	if rep.ByCache["hit"].TTFT.N != dups {
		t.Errorf("hit TTFT samples %d, want %d", rep.ByCache["hit"].TTFT.N, dups)
	}
}

func TestRunReportsErrors(t *testing.T) {
	_, target := startUpstream(t, upstream.Options{ErrorRate: 1}, nil)
	rep, err := Run(t.Context(), Options{Target: target, Requests: 10, Concurrency: 3})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Errors != 10 || rep.Statuses[500] != 10 || rep.ByCache[NoCacheHeader].Errors != 10 {
		t.Errorf("errors %d statuses %v", rep.Errors, rep.Statuses)
	}
	if len(rep.ErrorSamples) != 1 || !strings.Contains(rep.ErrorSamples[0], "status 500") {
		t.Errorf("error samples %q", rep.ErrorSamples)
	}

	// Nothing listening: transport errors, status 0.
	ts := httptest.NewServer(http.NotFoundHandler())
	dead := ts.URL + "/v1"
	ts.Close()
	rep, err = Run(t.Context(), Options{Target: dead, Requests: 3})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Errors != 3 || rep.Statuses[0] != 3 {
		t.Errorf("dead target: errors %d statuses %v", rep.Errors, rep.Statuses)
	}
}

func TestRunStopsOnContext(t *testing.T) {
	sim, target := startUpstream(t, upstream.Options{TTFT: time.Minute}, nil)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		for sim.ChatCalls() < 2 {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	rep, err := Run(ctx, Options{Target: target, Requests: 50, Concurrency: 2, Stream: true})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run error %v, want context.Canceled", err)
	}
	if rep.Completed != 0 || rep.Canceled != 50 || rep.Errors != 0 {
		t.Errorf("report %+v", rep)
	}
	if got := sim.ChatCalls(); got != 2 {
		t.Errorf("upstream saw %d calls after cancel, want 2", got)
	}
}

func TestReadStream(t *testing.T) {
	const (
		word   = `{"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}`
		finish = `{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`
	)
	tests := []struct {
		name    string
		body    string
		wantErr string
	}{
		{"canonical", "data: " + word + "\n\ndata: " + finish + "\n\ndata: [DONE]\n\n", ""},
		{"no space, comments, CRLF-free", ": keep-alive\n\ndata:" + word + "\n\nevent: x\ndata:" + finish + "\n\ndata:[DONE]\n\n", ""},
		{"error event", "data: " + word + "\n\ndata: {\"error\":{\"message\":\"boom\"}}\n\n", "boom"},
		{"cut", "data: " + word + "\n\n", "without [DONE]"},
		{"done without finish", "data: " + word + "\n\ndata: [DONE]\n\n", "without a finish_reason"},
		{"malformed", "data: {nope\n\n", "decode stream chunk"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ttft, err := readStream(strings.NewReader(tt.body), time.Now().Add(-time.Millisecond))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				if ttft < time.Millisecond {
					t.Errorf("ttft %v, want >= 1ms", ttft)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want it to mention %q", err, tt.wantErr)
			}
		})
	}
}

func TestPercentiles(t *testing.T) {
	ms := func(vs ...int) []time.Duration {
		out := make([]time.Duration, len(vs))
		for i, v := range vs {
			out[i] = time.Duration(v) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i
	}
	tests := []struct {
		name string
		in   []time.Duration
		want Percentiles
	}{
		{"empty", nil, Percentiles{}},
		{"one", ms(7), Percentiles{N: 1, P50: 7 * time.Millisecond, P90: 7 * time.Millisecond, P99: 7 * time.Millisecond, Max: 7 * time.Millisecond}},
		{"hundred reversed", ms(hundred...), Percentiles{N: 100, P50: 50 * time.Millisecond, P90: 90 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentiles(tt.in); got != tt.want {
				t.Errorf("percentiles = %+v, want %+v", got, tt.want)
			}
		})
	}
}
