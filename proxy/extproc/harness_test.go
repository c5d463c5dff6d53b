package extproc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/semcache/semcache/bench/upstream"
	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/embed/lexical"
	"github.com/semcache/semcache/engine"
	"github.com/semcache/semcache/proxy/extproc"
	"github.com/semcache/semcache/proxy/extproc/envoydriver"
	"github.com/semcache/semcache/vectorstore/memory"
	"github.com/semcache/semcache/wire/chat"
)

// harness is one engine served over loopback gRPC, with the simulated LLM
// upstream behind the protocol drivers.
type harness struct {
	up      *upstream.Server
	upURL   *url.URL
	cache   *cache.Cache
	engine  *engine.Engine
	metrics *engine.Metrics
	grpc    *grpc.Server
	conn    *grpc.ClientConn
	driver  *envoydriver.Driver
	authz   *envoydriver.AuthzDriver
}

type harnessConfig struct {
	semantic      *cache.SemanticOptions // Embedder nil: lexical + memory store
	enricher      engine.Enricher
	lookupTimeout time.Duration
	// wrap decorates the simulated upstream.
	wrap func(http.Handler) http.Handler
}

type harnessOpt func(*harnessConfig)

func withSemantic(o cache.SemanticOptions) harnessOpt {
	return func(c *harnessConfig) { c.semantic = &o }
}

func withEnricher(e engine.Enricher) harnessOpt { return func(c *harnessConfig) { c.enricher = e } }

func withLookupTimeout(d time.Duration) harnessOpt {
	return func(c *harnessConfig) { c.lookupTimeout = d }
}

func withUpstreamWrap(w func(http.Handler) http.Handler) harnessOpt {
	return func(c *harnessConfig) { c.wrap = w }
}

func newHarness(tb testing.TB, opts ...harnessOpt) *harness {
	tb.Helper()
	var cfg harnessConfig
	for _, o := range opts {
		o(&cfg)
	}
	h := &harness{up: upstream.New(upstream.Options{})}
	var handler http.Handler = h.up
	if cfg.wrap != nil {
		handler = cfg.wrap(handler)
	}
	upSrv := httptest.NewServer(handler)
	tb.Cleanup(upSrv.Close)
	h.upURL, _ = url.Parse(upSrv.URL)

	copts := cache.Options{}
	if cfg.semantic != nil {
		sem := *cfg.semantic
		if sem.Embedder == nil {
			emb, err := lexical.New(lexical.Options{})
			if err != nil {
				tb.Fatal(err)
			}
			sem.Embedder = emb
		}
		if sem.Index == nil {
			dim := 0
			if d, ok := sem.Embedder.(interface{ Dimension() int }); ok {
				dim = d.Dimension()
			}
			st, err := memory.Open(context.Background(), memory.Options{Dimension: dim})
			if err != nil {
				tb.Fatal(err)
			}
			tb.Cleanup(func() { st.Close() })
			sem.Index = st
		}
		copts.Semantic = &sem
	}
	c, err := cache.Open(copts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	h.cache = c
	h.metrics = engine.NewMetrics(prometheus.NewRegistry(), 10, nil)
	h.engine, err = engine.New(engine.Options{Cache: c, Metrics: h.metrics, Enricher: cfg.enricher})
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := extproc.NewServer(extproc.Options{Engine: h.engine, LookupTimeout: cfg.lookupTimeout})
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	h.grpc = srv.NewGRPCServer()
	go func() { _ = h.grpc.Serve(ln) }()
	tb.Cleanup(h.grpc.Stop)
	h.conn, err = grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { h.conn.Close() })
	// The filter configuration docs/envoy/envoy.yaml documents: the driver
	// ignores any override it does not list, so the tests prove it is
	// enough. Its message timeout is made generous: tests check behaviour,
	// the benchmark (which keeps Envoy's 200 ms) checks speed.
	fc := documentedConfig(tb)
	fc.MessageTimeout = 10 * time.Second
	h.driver = &envoydriver.Driver{Client: extprocv3.NewExternalProcessorClient(h.conn), Config: fc, Upstream: h.upURL}
	h.authz = &envoydriver.AuthzDriver{Client: authv3.NewAuthorizationClient(h.conn), Upstream: h.upURL}
	return h
}

func chatBody(prompt string, stream bool) []byte {
	m := map[string]any{
		"model":    "sim-gpt",
		"messages": []map[string]string{{"role": "user", "content": prompt}},
		"stream":   stream,
	}
	if stream {
		m["stream_options"] = map[string]bool{"include_usage": true}
	}
	b, _ := json.Marshal(m)
	return b
}

func chatRequest(key string, body []byte, hdr ...string) *envoydriver.Request {
	h := http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + key}}
	for i := 0; i+1 < len(hdr); i += 2 {
		h.Set(hdr[i], hdr[i+1])
	}
	return &envoydriver.Request{Method: http.MethodPost, Path: "/v1/chat/completions", Header: h, Body: body}
}

func (h *harness) do(t *testing.T, r *envoydriver.Request) *envoydriver.Response {
	t.Helper()
	resp, err := h.driver.Do(context.Background(), r)
	if err != nil {
		t.Fatalf("ext_proc exchange: %v", err)
	}
	return resp
}

// content extracts the answer text of a JSON or SSE completion body, and
// fails unless it is complete and well formed.
func content(t *testing.T, resp *envoydriver.Response) string {
	t.Helper()
	stream := strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream")
	a := chat.NewAssembler(stream)
	_, _ = a.Write(resp.Body)
	ans, err := a.Result(true)
	if err != nil {
		t.Fatalf("answer not complete: %v\n%s", err, resp.Body)
	}
	return ans.Content
}

// writeBack counts the answers by write-back decision: "stored" (handed
// to the cache: queued, or dropped by a full queue) or a reason of
// semcache_writeback_skipped_total.
func (h *harness) writeBack(result string) float64 {
	if result == "stored" {
		s := h.cache.Stats()
		return float64(s.Queued + s.Dropped)
	}
	var pb dto.Metric
	if err := h.metrics.WriteBackSkipped.WithLabelValues(result).Write(&pb); err != nil {
		return -1
	}
	return pb.GetCounter().GetValue()
}

// requests sums semcache_requests_total of a front over namespaces and
// routes.
func (h *harness) requests(front, outcome string) float64 {
	ch := make(chan prometheus.Metric, 64)
	go func() { h.metrics.Requests.Collect(ch); close(ch) }()
	var n float64
	for metric := range ch {
		var pb dto.Metric
		if err := metric.Write(&pb); err != nil {
			continue
		}
		labels := map[string]string{}
		for _, l := range pb.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["front"] == front && labels["outcome"] == outcome {
			n += pb.GetCounter().GetValue()
		}
	}
	return n
}

// waitNoGoroutine waits until no goroutine's stack mentions any of marks:
// the stream handlers and the driver's receivers have all returned. It is
// a liveness check (bounded at 10 s), not a timing one.
func waitNoGoroutine(t *testing.T, marks ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		found := ""
		for _, m := range marks {
			if bytes.Contains(buf[:n], []byte(m)) {
				found = m
			}
		}
		if found == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutine still running in %s:\n%s", found, buf[:n])
		}
		time.Sleep(5 * time.Millisecond)
	}
}
