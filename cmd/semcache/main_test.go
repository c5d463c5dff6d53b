package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/semcache/semcache/bench/upstream"
)

// syncBuffer collects a goroutine's output safely.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type running struct {
	api, admin string
	stop       func()
	stderr     *syncBuffer
}

var listening = regexp.MustCompile(`listening on http://(\S+) \(admin http://(\S+)\)`)

// start runs `semcache serve` in-process with the given extra args.
func start(t *testing.T, upstreamURL, dataDir string, extra ...string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
		"--upstream", upstreamURL, "--data-dir", dataDir, "--embedder", "lexical"}, extra...)
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, stdout, stderr) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := listening.FindStringSubmatch(stdout.String()); m != nil {
			r := &running{api: "http://" + m[1], admin: "http://" + m[2], stderr: stderr}
			var once sync.Once
			r.stop = func() {
				once.Do(func() {
					cancel()
					if err := <-done; err != nil {
						t.Errorf("serve returned %v\n%s", err, stderr.String())
					}
				})
			}
			t.Cleanup(r.stop)
			waitReady(t, r.admin, deadline)
			return r
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("serve exited early: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("serve did not start\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitReady polls /readyz until the service (its vector store loaded in
// the background included) is ready.
func waitReady(t *testing.T, admin string, deadline time.Time) {
	t.Helper()
	for {
		resp, err := http.Get(admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func simUpstream(t *testing.T) (*upstream.Server, string) {
	t.Helper()
	up := upstream.New(upstream.Options{})
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	return up, srv.URL + "/v1"
}

type answer struct {
	status  int
	cache   string
	sim     string
	sources string
	content string
	body    string
}

func ask(t *testing.T, api, key, body string, hdr ...string) answer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, api+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var c struct {
		Choices []struct{ Message struct{ Content string } }
	}
	_ = json.Unmarshal(b, &c)
	a := answer{status: resp.StatusCode, cache: resp.Header.Get("X-Semcache"), sim: resp.Header.Get("X-Semcache-Similarity"),
		sources: resp.Header.Get("X-Semcache-Sources"), body: string(b)}
	if len(c.Choices) > 0 {
		a.content = c.Choices[0].Message.Content
	}
	return a
}

func userMsg(q string) string {
	b, _ := json.Marshal(map[string]any{"model": "sim-gpt", "messages": []map[string]string{{"role": "user", "content": q}}})
	return string(b)
}

func TestServeMissHitAndAdmin(t *testing.T) {
	up, upURL := simUpstream(t)
	s := start(t, upURL, t.TempDir())
	body := userMsg("What does a semantic cache do?")
	if a := ask(t, s.api, "k", body); a.cache != "miss" || a.status != 200 {
		t.Fatalf("first: %+v", a)
	}
	if a := ask(t, s.api, "k", body); a.cache != "hit-exact" {
		t.Fatalf("second: %+v", a)
	}
	if up.ChatCalls() != 1 {
		t.Fatalf("upstream calls = %d", up.ChatCalls())
	}
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready", "/metrics": `semcache_requests_total{front="http",namespace=`} {
		resp, err := http.Get(s.admin + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Fatalf("%s: %d %.300s", path, resp.StatusCode, b)
		}
	}
}

func TestRestartKeepsEntries(t *testing.T) {
	up, upURL := simUpstream(t)
	dir := t.TempDir()
	body := userMsg("Remember me across restarts")
	s := start(t, upURL, dir)
	first := ask(t, s.api, "k", body)
	s.stop()
	s2 := start(t, upURL, dir)
	second := ask(t, s2.api, "k", body)
	if second.cache != "hit-exact" || second.content != first.content {
		t.Fatalf("after restart: %+v (first %+v)", second, first)
	}
	if up.ChatCalls() != 1 {
		t.Fatalf("upstream calls = %d", up.ChatCalls())
	}
}

func TestSemanticEndToEnd(t *testing.T) {
	up, upURL := simUpstream(t)
	s := start(t, upURL, t.TempDir())
	base := ask(t, s.api, "tenant-a", userMsg("How do I reverse a list in Python?"))
	if base.cache != "miss" {
		t.Fatalf("base: %+v", base)
	}
	// Write-back to the similarity tier is asynchronous; wait for it.
	waitMetric(t, s.admin, "semcache_writeback_written_total 1")
	para := ask(t, s.api, "tenant-a", userMsg("how can i reverse a list in python"))
	if para.cache != "hit-semantic" || para.content != base.content || para.sim == "" {
		t.Fatalf("paraphrase: %+v\n%s", para, s.stderr.String())
	}
	calls := up.ChatCalls()
	tests := []struct{ name, key, body string }{
		{"other tenant", "tenant-b", userMsg("how can i reverse a list in python")},
		{"different number", "tenant-a", userMsg("How do I reverse a list of 3 items in Python?")},
		{"negation", "tenant-a", userMsg("How do I not reverse a list in Python?")},
		{"entity swap", "tenant-a", userMsg("How do I reverse a list in Java?")},
		{"other conversation prefix", "tenant-a", `{"model":"sim-gpt","messages":[{"role":"system","content":"You answer in French."},{"role":"user","content":"how can i reverse a list in python"}]}`},
	}
	for _, tt := range tests {
		if a := ask(t, s.api, tt.key, tt.body); a.cache != "miss" {
			t.Errorf("%s: X-Semcache = %q (similarity %s), want miss", tt.name, a.cache, a.sim)
		}
	}
	if got := up.ChatCalls() - calls; got != int64(len(tests)) {
		t.Errorf("upstream calls for the misses = %d, want %d", got, len(tests))
	}
}

func TestEmbedderFailureDegradesToMiss(t *testing.T) {
	_, upURL := simUpstream(t)
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer broken.Close()
	s := start(t, upURL, t.TempDir(), "--embedder", "openai", "--embed-url", broken.URL+"/v1", "--embed-dim", "8")
	for i := range 2 {
		a := ask(t, s.api, "k", userMsg("still answered?"))
		want := []string{"miss", "hit-exact"}[i]
		if a.status != 200 || a.cache != want {
			t.Fatalf("request %d with a dead embedder: %+v", i, a)
		}
	}
	resp, err := http.Get(s.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `semcache_degraded_lookups_total{cause="embedder",namespace="`+namespaceOf("k")+`"} 1`) {
		t.Fatalf("degraded lookup not counted:\n%s", grepLines(string(b), "degraded"))
	}
}

// waitMetric polls /metrics until a line appears.
func waitMetric(t *testing.T, admin, line string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(admin + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), "\n"+line+"\n") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("metric line %q never appeared", line)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestConfigReportsEveryProblem(t *testing.T) {
	err := run(context.Background(), []string{"serve", "--listen", "nope", "--upstream", "ftp://x", "--ttl", "-1s",
		"--store", "qdrant", "--semantic", "maybe", "--cache-max-bytes", "lots", "--memory-ef-search", "0"}, io.Discard, io.Discard)
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, want := range []string{"--listen", "--upstream", "--ttl", "--qdrant-addr", "--semantic", "--cache-max-bytes", "--memory-ef-search"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
}

func TestConfigLayering(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "semcache.yaml")
	yaml := "listen: 127.0.0.1:1111\nadmin-listen: 127.0.0.1:2222\nttl: 5m\ntenants:\n  - name: acme\n    keys: [sk-acme-1, sk-acme-2]\nprices:\n  sim-gpt: {prompt_per_million: 1, completion_per_million: 2}\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SEMCACHE_ADMIN_LISTEN", "127.0.0.1:3333")
	t.Setenv("SEMCACHE_TTL", "7m")
	cfg, _, err := parseConfig("serve", []string{"--config", file, "--ttl", "9m"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:1111" {
		t.Errorf("file value lost: listen = %s", cfg.Listen)
	}
	if cfg.AdminListen != "127.0.0.1:3333" {
		t.Errorf("env should beat file: admin-listen = %s", cfg.AdminListen)
	}
	if cfg.TTL != 9*time.Minute {
		t.Errorf("flag should beat env: ttl = %s", cfg.TTL)
	}
	if len(cfg.file.Tenants) != 1 || cfg.file.Tenants[0].Name != "acme" || cfg.file.Prices["sim-gpt"].CompletionPerMillion != 2 {
		t.Errorf("structured sections: %+v", cfg.file)
	}
}

func TestTenantsShareWithinTenant(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "semcache.yaml")
	_ = os.WriteFile(file, []byte("tenants:\n  - name: acme\n    keys: [sk-acme-1, sk-acme-2]\n"), 0o600)
	_, upURL := simUpstream(t)
	s := start(t, upURL, dir, "--config", file)
	body := userMsg("tenant sharing")
	ask(t, s.api, "sk-acme-1", body)
	if a := ask(t, s.api, "sk-acme-2", body); a.cache != "hit-exact" {
		t.Fatalf("second key of the same tenant: %+v", a)
	}
	if a := ask(t, s.api, "sk-other", body); a.cache != "miss" {
		t.Fatalf("key outside the tenant: %+v", a)
	}
}

// TestOfficialNodeClient drives the proxy with the official openai npm
// client (scripts/node-e2e). It needs `npm ci` there; CI always has it.
func TestOfficialNodeClient(t *testing.T) {
	script, _ := filepath.Abs("../../scripts/node-e2e/e2e.mjs")
	if _, err := os.Stat(filepath.Join(filepath.Dir(script), "node_modules", "openai")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("scripts/node-e2e/node_modules is missing in CI; run npm ci --prefix scripts/node-e2e")
		}
		t.Skip("openai npm client not installed (npm ci --prefix scripts/node-e2e)")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node not found")
	}
	for _, marker := range []bool{false, true} {
		t.Run(fmt.Sprintf("hit-marker=%v", marker), func(t *testing.T) {
			_, upURL := simUpstream(t)
			var extra []string
			env := append(os.Environ(), "SEMCACHE_EXPECT_MARKER=0")
			if marker {
				extra = append(extra, "--hit-marker")
				env = append(os.Environ(), "SEMCACHE_EXPECT_MARKER=1")
			}
			s := start(t, upURL, t.TempDir(), extra...)
			cmd := exec.Command(node, script)
			cmd.Env = append(env, "SEMCACHE_BASE_URL="+s.api+"/v1")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("node client: %v\n%s", err, out)
			}
			var res struct {
				OK bool `json:"ok"`
			}
			if err := json.Unmarshal(bytes.TrimSpace(out), &res); err != nil || !res.OK {
				t.Fatalf("node client result: %s", out)
			}
		})
	}
}

func TestUnknownSubcommand(t *testing.T) {
	if err := run(context.Background(), []string{"frobnicate"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "frobnicate") {
		t.Fatalf("err = %v", err)
	}
}

// TestShadowMode: would-be semantic hits are recorded, upstream is still
// called, and the cached and fresh answers are compared.
func TestShadowMode(t *testing.T) {
	up, upURL := simUpstream(t)
	s := start(t, upURL, t.TempDir(), "--semantic", "shadow")
	ask(t, s.api, "k", userMsg("How do I reverse a list in Python?"))
	waitMetric(t, s.admin, "semcache_writeback_written_total 1")
	para := ask(t, s.api, "k", userMsg("how can i reverse a list in python"))
	if para.cache != "miss" || up.ChatCalls() != 2 {
		t.Fatalf("shadow mode served a hit: %+v (upstream calls %d)", para, up.ChatCalls())
	}
	waitMetric(t, s.admin, "semcache_shadow_answer_similarity_count 1")
	if log := s.stderr.String(); !strings.Contains(log, "shadow semantic hit compared") || !strings.Contains(log, "answer_similarity=") {
		t.Fatalf("comparison not logged:\n%s", log)
	}
}

func TestServeHelpListsFlags(t *testing.T) {
	var stderr bytes.Buffer
	if err := run(context.Background(), []string{"serve", "-h"}, io.Discard, &stderr); err != nil {
		t.Fatal(err)
	}
	for _, flag := range []string{"-listen", "-upstream", "-data-dir", "-embedder", "-store", "-extproc-listen"} {
		if !strings.Contains(stderr.String(), flag) {
			t.Errorf("help does not list %s:\n%s", flag, stderr.String())
		}
	}
}

type fakeLoading struct{ ready bool }

func (f *fakeLoading) Ready() bool { return f.ready }

func TestReadiness(t *testing.T) {
	started := make(chan struct{})
	close(started)
	tests := []struct {
		name    string
		ready   chan struct{}
		loading []interface{ Ready() bool }
		want    bool
		state   string
	}{
		{"starting", make(chan struct{}), nil, false, "starting"},
		{"up, nothing loading", started, nil, true, "ready"},
		{"store still loading", started, []interface{ Ready() bool }{&fakeLoading{true}, &fakeLoading{false}}, false, "loading the vector store"},
		{"store loaded", started, []interface{ Ready() bool }{&fakeLoading{true}}, true, "ready"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &service{ready: tc.ready, loading: tc.loading}
			if ok, state := s.readiness(); ok != tc.want || state != tc.state {
				t.Errorf("readiness() = %v, %q; want %v, %q", ok, state, tc.want, tc.state)
			}
		})
	}
}
