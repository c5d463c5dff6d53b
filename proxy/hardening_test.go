package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/semcache/semcache/bench/upstream"
	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/engine"
	"github.com/semcache/semcache/wire/chat"
)

// gate holds every upstream request until it is opened, and records what
// arrived.
type gate struct {
	next    http.Handler
	open    chan struct{}
	waiting atomic.Int64
	mu      sync.Mutex
	bodies  []string
	paths   []string
	aborted atomic.Int64 // requests whose context ended while held
}

func newGate(next http.Handler) *gate { return &gate{next: next, open: make(chan struct{})} }

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	g.mu.Lock()
	g.bodies = append(g.bodies, string(b))
	g.paths = append(g.paths, r.URL.Path)
	g.mu.Unlock()
	g.waiting.Add(1)
	select {
	case <-g.open:
	case <-r.Context().Done():
		g.aborted.Add(1)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	g.next.ServeHTTP(w, r)
}

// waitFor polls cond for up to 10 s (a liveness bound, not a timing).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type gated struct {
	up      *upstream.Server
	gate    *gate
	srv     *Server
	base    string
	metrics *engine.Metrics
}

func newGated(t *testing.T, opts ...func(*ServerOptions)) *gated {
	t.Helper()
	g := &gated{up: upstream.New(upstream.Options{})}
	g.gate = newGate(g.up)
	upSrv := httptest.NewServer(g.gate)
	t.Cleanup(upSrv.Close)
	c, err := cache.Open(cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	g.metrics = engine.NewMetrics(prometheus.NewRegistry(), 10, nil)
	eng, err := engine.New(engine.Options{Cache: c, Metrics: g.metrics})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(upSrv.URL + "/v1")
	so := ServerOptions{Engine: eng, Upstream: u}
	for _, o := range opts {
		o(&so)
	}
	g.srv, err = NewServer(so)
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(g.srv)
	t.Cleanup(front.Close)
	// Registered last, so it runs first: a test that fails before opening
	// the gate must not leave handlers blocked while the servers close
	// (httptest's Close waits for them).
	t.Cleanup(func() {
		select {
		case <-g.gate.open:
		default:
			close(g.gate.open)
		}
	})
	g.base = front.URL
	return g
}

// counter sums the counters c collects (every series of a vector).
func counter(c prometheus.Collector) float64 {
	ch := make(chan prometheus.Metric)
	go func() {
		c.Collect(ch)
		close(ch)
	}()
	var sum float64
	for m := range ch {
		var pb dto.Metric
		_ = m.Write(&pb)
		sum += pb.GetCounter().GetValue()
	}
	return sum
}

func (g *gated) send(ctx context.Context, body string) (*http.Response, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, g.base+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer k")
	return http.DefaultClient.Do(req)
}

// subscribers is the number of clients of the one flight in progress.
func (g *gated) subscribers() int {
	g.srv.flights.mu.Lock()
	defer g.srv.flights.mu.Unlock()
	for _, f := range g.srv.flights.m {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.subscribers
	}
	return 0
}

// TestLeaderLeavesFollowersComplete: the shared upstream call belongs to
// the flight, not to the client that started it. The leader leaves while
// the upstream is still thinking; its 100 followers all get the complete
// answer, streamed or not, from the one upstream call.
func TestLeaderLeavesFollowersComplete(t *testing.T) {
	const followers = 100
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			g := newGated(t)
			body := chatBody("Who painted the Mona Lisa?", stream)
			leaderCtx, leave := context.WithCancel(context.Background())
			leaderDone := make(chan error, 1)
			go func() {
				resp, err := g.send(leaderCtx, body)
				if err == nil {
					_, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				leaderDone <- err
			}()
			waitFor(t, "the leader's upstream call", func() bool { return g.gate.waiting.Load() == 1 })

			type result struct {
				status    int
				coalesced string
				content   string
				err       error
			}
			results := make(chan result, followers)
			for range followers {
				go func() {
					resp, err := g.send(context.Background(), body)
					if err != nil {
						results <- result{err: err}
						return
					}
					defer resp.Body.Close()
					b, err := io.ReadAll(resp.Body)
					r := result{status: resp.StatusCode, coalesced: resp.Header.Get("X-Semcache-Coalesced"), err: err}
					a := chat.NewAssembler(stream)
					_, _ = a.Write(b)
					if ans, aerr := a.Result(err == nil); aerr == nil {
						r.content = ans.Content
					} else if r.err == nil {
						r.err = fmt.Errorf("incomplete answer: %w: %.200s", aerr, b)
					}
					results <- r
				}()
			}
			waitFor(t, "the followers to join", func() bool { return counter(g.metrics.Coalesced) == followers })

			leave()
			if err := <-leaderDone; err == nil {
				t.Fatal("the leader's request was not cut")
			}
			waitFor(t, "the leader to leave the flight", func() bool { return g.subscribers() == followers })
			close(g.gate.open)

			var first string
			for range followers {
				r := <-results
				if r.err != nil || r.status != http.StatusOK || r.coalesced != "true" || r.content == "" {
					t.Fatalf("follower: status %d, coalesced %q, err %v", r.status, r.coalesced, r.err)
				}
				if first == "" {
					first = r.content
				} else if r.content != first {
					t.Fatalf("followers got different answers: %q and %q", first, r.content)
				}
			}
			if n := g.gate.waiting.Load(); n != 1 || g.gate.aborted.Load() != 0 {
				t.Fatalf("upstream calls %d, aborted %d: want one uncancelled call", n, g.gate.aborted.Load())
			}
			// The answer was stored too.
			resp, err := g.send(context.Background(), body)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.Header.Get("X-Semcache") != "hit-exact" {
				t.Fatalf("after the flight: X-Semcache %q", resp.Header.Get("X-Semcache"))
			}
		})
	}
}

// TestLastSubscriberLeavingCancels: when every client of a flight is
// gone, its upstream call is cancelled.
func TestLastSubscriberLeavingCancels(t *testing.T) {
	g := newGated(t)
	body := chatBody("Nobody waits for this answer", false)
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if resp, err := g.send(ctx, body); err == nil {
				resp.Body.Close()
			}
		}()
	}
	waitFor(t, "three clients on one flight", func() bool { return g.gate.waiting.Load() == 1 && g.subscribers() == 3 })
	cancel()
	wg.Wait()
	waitFor(t, "the upstream call to be cancelled", func() bool { return g.gate.aborted.Load() == 1 })
}

// TestCoalescingNeedsIdenticalBodies: requests with the same cache key
// but other fields that reach the upstream (user, metadata, store,
// safety_identifier) make their own calls; identical ones share one.
func TestCoalescingNeedsIdenticalBodies(t *testing.T) {
	g := newGated(t)
	base := map[string]any{"model": "sim-gpt", "messages": []map[string]string{{"role": "user", "content": "Capital of Peru?"}}}
	variant := func(k string, v any) string {
		m := map[string]any{}
		for a, b := range base {
			m[a] = b
		}
		if k != "" {
			m[k] = v
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	bodies := []string{
		variant("", nil),
		variant("", nil), // identical: joins the first
		variant("user", "alice"),
		variant("user", "bob"),
		variant("metadata", map[string]string{"team": "x"}),
		variant("store", true),
		variant("safety_identifier", "u-123"),
	}
	var wg sync.WaitGroup
	for i, b := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := g.send(context.Background(), b)
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("request %d: %d", i, resp.StatusCode)
			}
		}()
		if i == 1 {
			waitFor(t, "the identical request to join", func() bool { return counter(g.metrics.Coalesced) == 1 })
		} else {
			// Request i is upstream when i calls are (request 1 joined
			// request 0's, so request 0 makes the first and i ≥ 2 the i-th).
			waitFor(t, fmt.Sprintf("request %d upstream", i), func() bool { return g.gate.waiting.Load() == int64(max(i, 1)) })
		}
	}
	close(g.gate.open)
	wg.Wait()
	if n := g.gate.waiting.Load(); n != int64(len(bodies)-1) {
		t.Fatalf("upstream calls %d, want %d", n, len(bodies)-1)
	}
	g.gate.mu.Lock()
	defer g.gate.mu.Unlock()
	for _, want := range []string{`"user":"alice"`, `"user":"bob"`, `"team":"x"`, `"store":true`, `"safety_identifier":"u-123"`} {
		found := false
		for _, b := range g.gate.bodies {
			found = found || strings.Contains(b, want)
		}
		if !found {
			t.Errorf("no upstream request carried %s", want)
		}
	}
}

// TestPathEscapeRefused: dot segments, even percent-encoded, never reach
// the upstream.
func TestPathEscapeRefused(t *testing.T) {
	g := newGated(t)
	close(g.gate.open)
	for _, p := range []string{"/v1/%2e%2e/%2e%2e/x", "/v1/%2E%2E/v1/models", "/v1/models/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/v1/a%2fb", "/v1/%2e/models"} {
		resp, err := http.Get(g.base + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), `"invalid_path"`) {
			t.Errorf("%s: %d %s", p, resp.StatusCode, b)
		}
	}
	if n := g.gate.waiting.Load(); n != 0 {
		t.Fatalf("%d requests reached the upstream: %v", n, g.gate.paths)
	}
	if n := counter(g.metrics.Refused.WithLabelValues(engine.RefusedBadPath)); n != 5 {
		t.Fatalf("refused bad_path %v", n)
	}
}

// TestInFlightLimit: past --max-inflight a request gets 503 with
// Retry-After and an OpenAI error, at once.
func TestInFlightLimit(t *testing.T) {
	g := newGated(t, func(o *ServerOptions) { o.MaxInFlight = 1 })
	first := make(chan int, 1)
	go func() {
		resp, err := g.send(context.Background(), chatBody("first", false))
		if err != nil {
			first <- 0
			return
		}
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	waitFor(t, "the first request upstream", func() bool { return g.gate.waiting.Load() == 1 })
	for _, send := range []func() (*http.Response, error){
		func() (*http.Response, error) { return g.send(context.Background(), chatBody("second", false)) },
		func() (*http.Response, error) { return http.Get(g.base + "/v1/models") },
	} {
		resp, err := send()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(b), `"code":"overloaded"`) {
			t.Fatalf("over the limit: %d %v %s", resp.StatusCode, resp.Header, b)
		}
	}
	close(g.gate.open)
	if s := <-first; s != 200 {
		t.Fatalf("first request: %d", s)
	}
	// The client can read the whole answer a moment before the handler
	// returns and gives its slot back.
	waitFor(t, "the first request's slot back", func() bool { return len(g.srv.slots) == 0 })
	resp, err := g.send(context.Background(), chatBody("second", false))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("after the first finished: %d", resp.StatusCode)
	}
	if n := counter(g.metrics.Refused.WithLabelValues(engine.RefusedOverloaded)); n != 2 {
		t.Fatalf("refused overloaded %v", n)
	}
}

// TestBodyBudget: a request that does not fit the in-flight body budget
// waits (at most the body timeout, then 503), and smaller requests that
// fit are not held up behind it.
func TestBodyBudget(t *testing.T) {
	b := newBudget(100)
	ctx := context.Background()
	if err := b.acquire(ctx, 60); err != nil {
		t.Fatal(err)
	}
	big := make(chan error, 1)
	go func() { big <- b.acquire(ctx, 60) }()
	small, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := b.acquire(small, 30); err != nil {
		t.Fatalf("a small request that fits waited behind a large one: %v", err)
	}
	select {
	case <-big:
		t.Fatal("the large request got in over the budget")
	default:
	}
	b.release(60)
	b.release(30)
	if err := <-big; err != nil {
		t.Fatal(err)
	}
	short, cancel2 := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel2()
	if err := b.acquire(short, 50); err == nil {
		t.Fatal("acquired past the budget")
	}

	// Through the front: one request holds the whole budget upstream; the
	// next waits for the body timeout and gets 503.
	g := newGated(t, func(o *ServerOptions) {
		o.MaxBodyBytes = 4096
		o.MaxBodyBytesInFlight = 4096
		o.BodyReadTimeout = 200 * time.Millisecond
	})
	first := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, g.base+"/v1/chat/completions", strings.NewReader(chatBody("first", false)))
		req.ContentLength = -1 // no declared length: it reserves the largest body
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			first <- 0
			return
		}
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	waitFor(t, "the first request upstream", func() bool { return g.gate.waiting.Load() == 1 })
	resp, err := g.send(context.Background(), chatBody("second", false))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "overloaded") {
		t.Fatalf("over the body budget: %d %s", resp.StatusCode, body)
	}
	close(g.gate.open)
	if s := <-first; s != 200 {
		t.Fatalf("first: %d", s)
	}
}
