package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/semcache/semcache/bench/upstream"
)

// served is an in-process `semcache serve` whose context the test owns:
// cancelling it is what SIGTERM does to the real process.
type served struct {
	*running
	cancel context.CancelFunc
	done   chan error
}

// serveWith starts `semcache serve args...` in-process with a reload
// trigger (what SIGHUP is to the real process).
func serveWith(t *testing.T, reload <-chan os.Signal, args ...string) *served {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ctx = withReload(ctx, reload)
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	all := append([]string{"serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--embedder", "lexical"}, args...)
	s := &served{cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- run(ctx, all, stdout, stderr) }()
	t.Cleanup(func() {
		cancel()
		<-s.done
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := listening.FindStringSubmatch(stdout.String()); m != nil {
			s.running = &running{api: "http://" + m[1], admin: "http://" + m[2], stderr: stderr}
			return s
		}
		select {
		case err := <-s.done:
			s.done <- err
			t.Fatalf("serve exited early: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// slowUpstream answers every chat completion in about d (40 words).
func slowUpstream(t *testing.T, d time.Duration) (*upstream.Server, string) {
	t.Helper()
	up := upstream.New(upstream.Options{TTFT: 50 * time.Millisecond, AnswerTokens: 40, TokensPerSecond: 40 / d.Seconds()})
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	return up, srv.URL + "/v1"
}

// fixedUpstream answers every chat completion with text, at once.
func fixedUpstream(t *testing.T, text string) string {
	t.Helper()
	up := upstream.New(upstream.Options{Answerer: upstream.AnswerFunc(func([]upstream.Message) string { return text })})
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	return srv.URL + "/v1"
}

// stream is one streamed chat completion read to its end in the
// background.
type stream struct {
	done    chan struct{}
	status  int
	cache   string
	content string // the deltas joined
	sawDone bool   // the stream ended with data: [DONE]
	err     error
}

// openStreams starts n streamed requests with distinct prompts and
// returns once every one has its response headers.
func openStreams(t *testing.T, api, key, prefix string, n int) []*stream {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	t.Cleanup(client.CloseIdleConnections)
	out := make([]*stream, n)
	var started sync.WaitGroup
	for i := range out {
		s := &stream{done: make(chan struct{})}
		out[i] = s
		started.Add(1)
		go func() {
			defer close(s.done)
			body, _ := json.Marshal(map[string]any{"model": "sim-gpt", "stream": true,
				"messages": []map[string]string{{"role": "user", "content": fmt.Sprintf("%s question number %d?", prefix, i)}}})
			req, _ := http.NewRequest(http.MethodPost, api+"/v1/chat/completions", strings.NewReader(string(body)))
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := client.Do(req)
			started.Done()
			if err != nil {
				s.err = err
				return
			}
			defer resp.Body.Close()
			s.status, s.cache = resp.StatusCode, resp.Header.Get("X-Semcache")
			sc := bufio.NewScanner(resp.Body)
			var b strings.Builder
			for sc.Scan() {
				data, ok := strings.CutPrefix(sc.Text(), "data: ")
				if !ok {
					continue
				}
				if data == "[DONE]" {
					s.sawDone = true
					continue
				}
				var chunk struct {
					Choices []struct{ Delta struct{ Content string } }
				}
				if json.Unmarshal([]byte(data), &chunk) == nil && len(chunk.Choices) > 0 {
					b.WriteString(chunk.Choices[0].Delta.Content)
				}
			}
			s.err = sc.Err()
			s.content = b.String()
		}()
	}
	started.Wait()
	return out
}

// waitStreams waits for every stream and reports how many ended whole.
func waitStreams(t *testing.T, ss []*stream) (whole int, firstErr string) {
	t.Helper()
	for i, s := range ss {
		select {
		case <-s.done:
		case <-time.After(2 * time.Minute):
			t.Fatalf("stream %d never ended", i)
		}
		if s.err == nil && s.status == http.StatusOK && s.sawDone && s.content != "" {
			whole++
		} else if firstErr == "" {
			firstErr = fmt.Sprintf("stream %d: status %d, [DONE] %v, %d bytes, err %v", i, s.status, s.sawDone, len(s.content), s.err)
		}
	}
	return whole, firstErr
}

// counter reads a counter from /metrics (series as exposed, labels
// included; 0 when absent).
func counter(t *testing.T, admin, series string) float64 {
	t.Helper()
	resp, err := http.Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			var f float64
			if _, err := fmt.Sscan(v, &f); err == nil {
				return f
			}
		}
	}
	return 0
}

// waitCounter polls /metrics until series reaches at least want.
func waitCounter(t *testing.T, admin, series string, want float64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for counter(t, admin, series) < want {
		if time.Now().After(deadline) {
			t.Fatalf("%s never reached %v (now %v)", series, want, counter(t, admin, series))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readyz(t *testing.T, admin string) int {
	t.Helper()
	resp, err := http.Get(admin + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestReloadKeepsStreamsAndAppliesConfig: 200 streams from a slow
// upstream survive a reload that changes the upstream, the tenants and the
// thresholds; new requests see the new config at once; a broken file is
// rejected and the running config stays; a change of the file alone
// (--config-watch) reloads too.
func TestReloadKeepsStreamsAndAppliesConfig(t *testing.T) {
	upA, urlA := slowUpstream(t, 2*time.Second)
	urlB := fixedUpstream(t, "answer from B")
	dir := t.TempDir()
	config := func(upstreamURL, tenants, extra string) {
		writeConfig(t, dir, fmt.Sprintf("upstream: %s\ntenants:\n%s\n%s", upstreamURL, tenants, extra))
	}
	config(urlA, "  - {name: acme, keys: [k-acme-1]}", "")
	reload := make(chan os.Signal, 1)
	s := serveWith(t, reload, "--config", filepath.Join(dir, "semcache.yaml"), "--data-dir", filepath.Join(dir, "data"),
		"--config-watch", "100ms")

	base := ask(t, s.api, "k-acme-1", userMsg("How do I reverse a list in Python?"))
	if base.cache != "miss" || base.content == "" {
		t.Fatalf("base: %+v", base)
	}
	if p := ask(t, s.api, "k-acme-1", userMsg("how can i reverse a list in python")); p.cache != "hit-semantic" {
		t.Fatalf("before the reload a paraphrase is a semantic hit: %+v", p)
	}
	if o := ask(t, s.api, "k-acme-2", userMsg("How do I reverse a list in Python?")); o.cache != "miss" {
		t.Fatalf("before the reload k-acme-2 is its own namespace: %+v", o)
	}

	streams := openStreams(t, s.api, "k-acme-1", "reload", 200)
	config(urlB, "  - {name: acme, keys: [k-acme-1, k-acme-2]}", "thresholds: {\"tenant:acme\": 1.5}\ncache-max-bytes: 64MiB\n")
	// The file watch may see the change before the signal arrives: either
	// reloads it.
	reload <- os.Interrupt
	waitCounter(t, s.admin, `semcache_config_reloads_total{result="ok"}`, 1)
	if !strings.Contains(s.stderr.String(), "setting=cache-max-bytes") {
		t.Errorf("a restart-only change was not logged as ignored:\n%s", grepLines(s.stderr.String(), "reload"))
	}

	// New requests: k-acme-2 joined the tenant (exact hit on k-acme-1's
	// entry), the tenant's similarity tier is off (1.5), and misses go to B.
	if a := ask(t, s.api, "k-acme-2", userMsg("How do I reverse a list in Python?")); a.cache != "hit-exact" || a.content != base.content {
		t.Errorf("after the reload k-acme-2 is not in tenant acme: %+v", a)
	}
	p := ask(t, s.api, "k-acme-1", userMsg("in python, how would I reverse a list?"))
	if p.cache != "miss" || p.content != "answer from B" {
		t.Errorf("after the reload: paraphrase %q from %q, want a miss answered by upstream B", p.cache, p.content)
	}

	whole, firstErr := waitStreams(t, streams)
	if whole != len(streams) {
		t.Fatalf("%d of %d streams survived the reload; %s", whole, len(streams), firstErr)
	}
	for i, st := range streams {
		if st.content == "answer from B" {
			t.Fatalf("stream %d switched upstream half-way", i)
		}
	}
	if upA.ChatCalls() < int64(len(streams)) {
		t.Fatalf("upstream A answered %d calls, want at least the %d streams", upA.ChatCalls(), len(streams))
	}

	// A broken file is rejected whole: B and the tenant stay.
	writeConfig(t, dir, "upstream: "+urlA+"\ntenants:\n  - {name: broken}\n")
	reload <- os.Interrupt
	waitCounter(t, s.admin, `semcache_config_reloads_total{result="rejected"}`, 1)
	if a := ask(t, s.api, "k-acme-2", userMsg("What is the boiling point of water?")); a.content != "answer from B" {
		t.Errorf("a rejected reload changed the upstream: %+v", a)
	}
	if a := ask(t, s.api, "k-acme-2", userMsg("How do I reverse a list in Python?")); a.cache != "hit-exact" {
		t.Errorf("a rejected reload changed the tenants: %+v", a)
	}

	// The file watch: a valid change applies without a signal.
	oks := counter(t, s.admin, `semcache_config_reloads_total{result="ok"}`)
	config(urlA, "  - {name: acme, keys: [k-acme-1, k-acme-2]}", "")
	waitCounter(t, s.admin, `semcache_config_reloads_total{result="ok"}`, oks+1)
	if a := ask(t, s.api, "k-acme-2", userMsg("Where is the Eiffel tower?")); a.cache != "miss" || a.content == "answer from B" {
		t.Errorf("after the file change: %+v, want a miss answered by A", a)
	}
}

// TestDrainFinishesStreams: on SIGTERM (the context ends) /readyz turns
// 503 at once, and 100 open streams all finish within --drain-timeout.
// With a drain timeout shorter than the streams, they are cut at it.
func TestDrainFinishesStreams(t *testing.T) {
	_, url := slowUpstream(t, 3*time.Second)
	s := serveWith(t, nil, "--upstream", url, "--data-dir", t.TempDir(), "--drain-timeout", "1m")
	if code := readyz(t, s.admin); code != http.StatusOK {
		t.Fatalf("/readyz before the drain: %d", code)
	}
	streams := openStreams(t, s.api, "k", "drain", 100)
	s.cancel()
	saw503 := false
	for range 200 {
		if readyz(t, s.admin) == http.StatusServiceUnavailable {
			saw503 = true
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !saw503 {
		t.Error("/readyz never answered 503 during the drain")
	}
	whole, firstErr := waitStreams(t, streams)
	if whole != len(streams) {
		t.Fatalf("%d of %d streams finished during the drain; %s", whole, len(streams), firstErr)
	}
	if err := <-s.done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	s.done <- nil

	// Streams longer than the drain timeout are cut at it.
	_, slow := slowUpstream(t, 30*time.Second)
	s2 := serveWith(t, nil, "--upstream", slow, "--data-dir", t.TempDir(), "--drain-timeout", "300ms")
	cut := openStreams(t, s2.api, "k", "cut", 5)
	s2.cancel()
	if err := <-s2.done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	s2.done <- nil
	if whole, _ := waitStreams(t, cut); whole != 0 {
		t.Fatalf("%d streams of 30 s finished within a 300 ms drain", whole)
	}
	if !strings.Contains(s2.stderr.String(), "drain timeout reached") {
		t.Errorf("the cut was not logged:\n%s", s2.stderr.String())
	}
}

// TestPgvectorDownAtStartup: PostgreSQL is down when semcache starts. It
// starts anyway, answers misses from upstream and counts the degraded
// lookups; once PostgreSQL is up the store connects by itself and an
// answer stored during the outage (kept in the journal) becomes a
// semantic hit.
func TestPgvectorDownAtStartup(t *testing.T) {
	pg := startPrivatePostgres(t)
	pg.stop()
	up, upURL := simUpstream(t)
	s := start(t, upURL, t.TempDir(), "--store", "pgvector", "--pg-dsn", pg.dsn())
	first := ask(t, s.api, "tenant", userMsg("How do I reverse a list in Python?"))
	second := ask(t, s.api, "tenant", userMsg("What is the boiling point of water at sea level?"))
	for _, a := range []answer{first, second} {
		if a.status != 200 || a.cache != "miss" {
			t.Fatalf("with PostgreSQL down: %+v", a)
		}
	}
	if up.ChatCalls() != 2 {
		t.Fatalf("upstream calls %d, want 2", up.ChatCalls())
	}
	waitMetric(t, s.admin, `semcache_degraded_lookups_total{cause="store",namespace="`+namespaceOf("tenant")+`"} 2`)
	if e := ask(t, s.api, "tenant", userMsg("How do I reverse a list in Python?")); e.cache != "hit-exact" {
		t.Fatalf("the exact tier does not need the store: %+v", e)
	}

	pg.start()
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := ask(t, s.api, "tenant", userMsg("how can i reverse a list in python"), "Cache-Control", "no-store")
		if r.cache == "hit-semantic" {
			if r.content != first.content {
				t.Fatalf("after the store came up: wrong answer %q", r.content)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store never connected: last %+v\n%s", r, grepLines(s.stderr.String(), "store"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(s.stderr.String(), "vector store connected") {
		t.Errorf("the connection was not logged:\n%s", grepLines(s.stderr.String(), "store"))
	}
}
