package extproc_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	filterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/semcache/semcache/bench/upstream"
	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/engine"
	"github.com/semcache/semcache/proxy/extproc/envoydriver"
	"github.com/semcache/semcache/rag"
	"github.com/semcache/semcache/wire/chat"
)

func TestMissWriteBackThenImmediateHit(t *testing.T) {
	for _, tc := range []struct {
		name        string
		stream      bool
		requestMode filterv3.ProcessingMode_BodySendMode
	}{
		{"json", false, filterv3.ProcessingMode_BUFFERED},
		{"sse", true, filterv3.ProcessingMode_BUFFERED},
		{"sse, streamed request body", true, filterv3.ProcessingMode_STREAMED},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.driver.Config.Mode.RequestBodyMode = tc.requestMode
			body := chatBody("What is the capital of France? "+strings.Repeat("Please answer briefly. ", 4), tc.stream)

			miss := h.do(t, chatRequest("k1", body, "Accept-Encoding", "gzip, br"))
			if miss.Immediate || miss.Status != http.StatusOK {
				t.Fatalf("first request: immediate=%v status=%d", miss.Immediate, miss.Status)
			}
			if got := miss.Header.Get("X-Semcache"); got != "miss" {
				t.Fatalf("miss X-Semcache = %q", got)
			}
			if miss.Mode.GetResponseBodyMode() != filterv3.ProcessingMode_STREAMED || miss.BodyMessages < 3 {
				t.Fatalf("answer not observed in chunks: mode %v, %d body messages", miss.Mode.GetResponseBodyMode(), miss.BodyMessages)
			}
			if ae := miss.Upstream.Header.Get("Accept-Encoding"); ae != "" {
				t.Fatalf("Accept-Encoding %q reached the upstream", ae)
			}
			if !bytes.Equal(miss.Upstream.Body, body) {
				t.Fatal("upstream body changed without RAG")
			}
			if n := h.writeBack("stored"); n != 1 {
				t.Fatalf("stored = %v, want 1", n)
			}

			hit := h.do(t, chatRequest("k1", body))
			if !hit.Immediate || hit.Status != http.StatusOK || hit.Upstream != nil {
				t.Fatalf("second request: immediate=%v status=%d upstream=%v", hit.Immediate, hit.Status, hit.Upstream != nil)
			}
			wantType := "application/json"
			if tc.stream {
				wantType = "text/event-stream"
			}
			if ct := hit.Header.Get("Content-Type"); ct != wantType {
				t.Fatalf("hit content type %q, want %q", ct, wantType)
			}
			if got := hit.Header.Get("X-Semcache"); got != "hit-exact" {
				t.Fatalf("hit X-Semcache = %q", got)
			}
			if hit.Header.Get("X-Semcache-Entry") != miss.Header.Get("X-Semcache-Entry") {
				t.Fatalf("entry %q != %q", hit.Header.Get("X-Semcache-Entry"), miss.Header.Get("X-Semcache-Entry"))
			}
			if a, b := content(t, miss), content(t, hit); a != b || a == "" {
				t.Fatalf("hit content %q != miss content %q", b, a)
			}
			if n := h.up.ChatCalls(); n != 1 {
				t.Fatalf("upstream chat calls = %d, want 1", n)
			}
			if tc.stream && !bytes.Contains(hit.Body, []byte("data: [DONE]")) {
				t.Fatal("SSE hit is not a whole transcript")
			}
			if n := h.requests(engine.FrontExtProc.Name, engine.OutcomeHitExact); n != 1 {
				t.Fatalf("hit_exact requests = %v", n)
			}
			if n := h.requests(engine.FrontExtProc.Name, engine.OutcomeMiss); n != 1 {
				t.Fatalf("miss requests = %v", n)
			}
			// Another tenant never sees it.
			if other := h.do(t, chatRequest("k2", body)); other.Immediate {
				t.Fatal("another key got a hit")
			}
		})
	}
}

func TestSemanticHit(t *testing.T) {
	h := newHarness(t, withSemantic(cache.SemanticOptions{Threshold: 0.8}))
	first := h.do(t, chatRequest("k", chatBody("How do I reset my password on the website?", false)))
	if first.Immediate {
		t.Fatal("first request was a hit")
	}
	if err := h.cache.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	hit := h.do(t, chatRequest("k", chatBody("how do i reset my password on the website", true)))
	if !hit.Immediate {
		t.Fatalf("paraphrase not served: X-Semcache %q", hit.Header.Get("X-Semcache"))
	}
	if got := hit.Header.Get("X-Semcache"); got != "hit-semantic" || hit.Header.Get("X-Semcache-Similarity") == "" {
		t.Fatalf("headers %v", hit.Header)
	}
	if a, b := content(t, first), content(t, hit); a != b {
		t.Fatalf("semantic hit content %q != %q", b, a)
	}
}

// fakeRAG injects a system message.
type fakeRAG struct{}

func (fakeRAG) Version(ns string) string { return "v7" }

func (fakeRAG) Enrich(ctx context.Context, ns string, req *chat.Request, vector []float32) (rag.Enrichment, error) {
	b := bytes.Replace(req.Body, []byte(`"messages":[`),
		[]byte(`"messages":[{"role":"system","content":"Context: the capital of France is Paris. [doc-1#0]"},`), 1)
	return rag.Enrichment{Body: b, Sources: []string{"doc-1#0"}, Version: "v7"}, nil
}

func TestRAGInjection(t *testing.T) {
	h := newHarness(t, withEnricher(fakeRAG{}))
	body := chatBody("What is the capital of France?", false)
	resp := h.do(t, chatRequest("k", body))
	if resp.Immediate {
		t.Fatal("first request was a hit")
	}
	up := resp.Upstream
	if !bytes.Contains(up.Body, []byte("Context: the capital of France is Paris")) {
		t.Fatalf("context not injected upstream: %s", up.Body)
	}
	if got := up.Header.Get("Content-Length"); got != strconv.Itoa(len(up.Body)) || len(up.Body) == len(body) {
		t.Fatalf("content-length %q for a %d-byte body (original %d)", got, len(up.Body), len(body))
	}
	if !bytes.Equal(h.up.LastRequest(), up.Body) {
		t.Fatal("the simulated upstream did not receive the injected body")
	}
	if got := resp.Header.Get("X-Semcache-Sources"); got != "doc-1#0" {
		t.Fatalf("X-Semcache-Sources = %q", got)
	}
	hit := h.do(t, chatRequest("k", body))
	if !hit.Immediate || hit.Header.Get("X-Semcache-Sources") != "doc-1#0" {
		t.Fatalf("enriched answer not served: immediate=%v headers=%v", hit.Immediate, hit.Header)
	}
	// X-Semcache-RAG: off skips injection, is not sent upstream, and is a
	// different cache partition.
	off := h.do(t, chatRequest("k", body, "X-Semcache-RAG", "off"))
	if off.Immediate || !bytes.Equal(off.Upstream.Body, body) || off.Upstream.Header.Get("X-Semcache-Rag") != "" {
		t.Fatalf("RAG off: immediate=%v body changed=%v header=%q", off.Immediate, !bytes.Equal(off.Upstream.Body, body),
			off.Upstream.Header.Get("X-Semcache-Rag"))
	}
}

func TestOtherPathsUntouched(t *testing.T) {
	for _, tc := range []struct {
		name          string
		allowOverride bool
		method, path  string
		body          []byte
		wantPassMode  bool
	}{
		{"models", true, http.MethodGet, "/v1/models", nil, true},
		{"moderations", true, http.MethodPost, "/v1/moderations", []byte(`{"model":"e","input":"hello"}`), true},
		{"moderations, overrides off", false, http.MethodPost, "/v1/moderations", []byte(`{"model":"e","input":"hello"}`), false},
		{"chat path, wrong method", true, http.MethodGet, "/v1/chat/completions", nil, true},
		{"chat path with query, another tenant of the path", true, http.MethodPost, "/v2/chat/completions", chatBody("hi", false), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.driver.Config.AllowModeOverride = tc.allowOverride
			hdr := http.Header{"Content-Type": {"application/json"}, "Accept-Encoding": {"gzip"}, "X-Custom": {"1"}}
			resp := h.do(t, &envoydriver.Request{Method: tc.method, Path: tc.path, Header: hdr, Body: tc.body})
			if resp.Immediate || resp.Upstream == nil {
				t.Fatal("request did not go upstream")
			}
			if !bytes.Equal(resp.Upstream.Body, tc.body) || resp.Upstream.Header.Get("Accept-Encoding") != "gzip" ||
				resp.Upstream.Header.Get("X-Custom") != "1" {
				t.Fatalf("request changed: %v %s", resp.Upstream.Header, resp.Upstream.Body)
			}
			// With or without the pass-through mode in force, Envoy shows
			// semcache the response headers, which are stamped as a bypass
			// (the pass-through mode spares the bodies).
			if got := resp.Header.Get("X-Semcache"); got != "bypass" {
				t.Fatalf("X-Semcache = %q on a passed-through response, want bypass", got)
			}
			gotPass := resp.Mode.GetRequestBodyMode() == filterv3.ProcessingMode_NONE &&
				resp.Mode.GetResponseBodyMode() == filterv3.ProcessingMode_NONE
			if gotPass != tc.wantPassMode {
				t.Fatalf("pass-through mode in force = %v, want %v (%v)", gotPass, tc.wantPassMode, resp.Mode)
			}
			if h.writeBack("stored")+h.requests(engine.FrontExtProc.Name, engine.OutcomeMiss) != 0 {
				t.Fatal("a passed-through request was counted as a miss or stored")
			}
			waitNoGoroutine(t, "extproc.(*Server).Process")
			if n := h.requests(engine.FrontExtProc.Name, engine.OutcomeBypass); n != 1 {
				t.Fatalf("bypass requests = %v, want 1 (passed-through calls are counted)", n)
			}
		})
	}
}

func TestClientCancelMidAnswer(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stream bool
		after  int
	}{
		{"mid-answer sse", true, 3},
		// Every byte of a valid answer arrived, but the stream was reset
		// before it ended: still not stored.
		{"whole json body without end of stream", false, 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			body := chatBody("Tell me a long story about caches", tc.stream)
			r := chatRequest("k", body)
			r.AbortAfterChunks = tc.after
			if _, err := h.driver.Do(context.Background(), r); !errors.Is(err, envoydriver.ErrAborted) {
				t.Fatalf("err = %v, want ErrAborted", err)
			}
			// The handler and the driver's receiver must both end.
			waitNoGoroutine(t, "extproc.(*Server).Process", "envoydriver.(*exchange).receive")
			if n := h.writeBack("stored"); n != 0 {
				t.Fatalf("a cut answer was stored (%v)", n)
			}
			if n := h.writeBack("not_cacheable"); n != 1 {
				t.Fatalf("not_cacheable = %v, want 1", n)
			}
			if n := h.requests(engine.FrontExtProc.Name, engine.OutcomeMiss); n != 1 {
				t.Fatalf("the cancelled miss was recorded %v times", n)
			}
			if again := h.do(t, chatRequest("k", body)); again.Immediate {
				t.Fatal("the cut answer was served")
			}
		})
	}
}

func TestMalformedBodyContinues(t *testing.T) {
	for _, tc := range []struct {
		name string
		body []byte
		hdr  []string
	}{
		{"not json", []byte(`{"model": "sim-gpt", "messages": [`), nil},
		{"no messages", []byte(`{"model":"sim-gpt"}`), nil},
		{"empty object", []byte(`{}`), nil},
		{"bad ttl header", chatBody("hello", false), []string{"X-Semcache-TTL", "soon"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			resp := h.do(t, chatRequest("k", tc.body, tc.hdr...))
			if resp.Immediate || resp.Upstream == nil || !bytes.Equal(resp.Upstream.Body, tc.body) {
				t.Fatalf("not passed through unchanged: immediate=%v", resp.Immediate)
			}
			if resp.Mode.GetResponseBodyMode() != filterv3.ProcessingMode_NONE {
				t.Fatal("the answer of an unparsed request was observed")
			}
			if n := h.requests(engine.FrontExtProc.Name, engine.OutcomeError); n != 1 {
				t.Fatalf("error requests = %v, want 1", n)
			}
			// The server is still there.
			if ok := h.do(t, chatRequest("k", chatBody("still alive?", false))); ok.Status != http.StatusOK {
				t.Fatalf("next request status %d", ok.Status)
			}
		})
	}
}

func TestUncacheableAnswersNotStored(t *testing.T) {
	for _, tc := range []struct {
		name   string
		marker string
		stream bool
		result string
	}{
		{"500", upstream.MarkerStatus(500), false, "error_status"},
		{"429 stream", upstream.MarkerStatus(429), true, "error_status"},
		{"length", upstream.MarkerLength, true, "not_cacheable"},
		{"tool call", upstream.MarkerTools, false, "not_cacheable"},
		{"midstream error", upstream.MarkerMidstreamError, true, "not_cacheable"},
		{"no-store", "", false, "no_store"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			var hdr []string
			if tc.marker == "" {
				hdr = []string{"Cache-Control", "no-store"}
			}
			body := chatBody("question "+tc.marker, tc.stream)
			h.do(t, chatRequest("k", body, hdr...))
			if n := h.writeBack(tc.result); n != 1 {
				t.Fatalf("%s = %v, want 1", tc.result, n)
			}
			if n := h.writeBack("stored"); n != 0 {
				t.Fatalf("stored = %v", n)
			}
			if again := h.do(t, chatRequest("k", body)); again.Immediate {
				t.Fatal("an uncacheable answer was served")
			}
		})
	}
}

func TestOwnReplyNeverStoredAgain(t *testing.T) {
	t.Run("local reply replayed through the response path", func(t *testing.T) {
		h := newHarness(t)
		body := chatBody("replay me", true)
		h.do(t, chatRequest("k", body))
		r := chatRequest("k", body)
		r.ReplayLocalReply = true
		hit := h.do(t, r)
		if !hit.Immediate {
			t.Fatal("not a hit")
		}
		if hit.BodyMessages != 0 || h.writeBack("stored") != 1 {
			t.Fatalf("the local reply was observed (%d body messages) or stored again (%v)", hit.BodyMessages, h.writeBack("stored"))
		}
	})
	t.Run("answer already marked as a semcache hit", func(t *testing.T) {
		h := newHarness(t, withUpstreamWrap(func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Semcache", "hit-exact")
				next.ServeHTTP(w, r)
			})
		}))
		resp := h.do(t, chatRequest("k", chatBody("served by a semcache upstream", false)))
		if resp.BodyMessages != 0 || h.writeBack("stored") != 0 || resp.Header.Get("X-Semcache") != "hit-exact" {
			t.Fatalf("stored=%v body messages=%d X-Semcache=%q", h.writeBack("stored"), resp.BodyMessages, resp.Header.Get("X-Semcache"))
		}
	})
}

// recompress re-encodes the simulator's answers for requests carrying
// X-Test-Encoding.
func recompress(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		enc := r.Header.Get("X-Test-Encoding")
		if enc == "" {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		var b bytes.Buffer
		switch enc {
		case "gzip":
			zw := gzip.NewWriter(&b)
			_, _ = zw.Write(rec.Body.Bytes())
			_ = zw.Close()
		default:
			b.Write(rec.Body.Bytes()) // pretend: the processor cannot read it anyway
		}
		for k, vs := range rec.Header() {
			w.Header()[k] = vs
		}
		w.Header().Set("Content-Encoding", enc)
		w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
		w.WriteHeader(rec.Code)
		_, _ = w.Write(b.Bytes())
	})
}

func TestEncodedAnswers(t *testing.T) {
	for _, tc := range []struct {
		encoding string
		stream   bool
		stored   bool
	}{
		{"gzip", false, true},
		{"gzip", true, true},
		{"br", false, false},
	} {
		t.Run(fmt.Sprintf("%s stream=%v", tc.encoding, tc.stream), func(t *testing.T) {
			h := newHarness(t, withUpstreamWrap(recompress))
			body := chatBody("compressed please", tc.stream)
			miss := h.do(t, chatRequest("k", body, "X-Test-Encoding", tc.encoding))
			if miss.Header.Get("Content-Encoding") != tc.encoding {
				t.Fatalf("content-encoding %q", miss.Header.Get("Content-Encoding"))
			}
			hit := h.do(t, chatRequest("k", body))
			if hit.Immediate != tc.stored {
				t.Fatalf("hit = %v, want %v (writeback %v stored, %v not cacheable)", hit.Immediate, tc.stored,
					h.writeBack("stored"), h.writeBack("not_cacheable"))
			}
			if tc.stored {
				zr, err := gzip.NewReader(bytes.NewReader(miss.Body))
				if err != nil {
					t.Fatal(err)
				}
				plain, _ := io.ReadAll(zr)
				miss.Body, miss.Header = plain, hit.Header
				if content(t, miss) != content(t, hit) {
					t.Fatal("hit differs from the gzip answer")
				}
			}
		})
	}
}

// blockingEmbedder never answers before its context ends (or the test
// releases it, so the write-back queue can drain at cleanup).
type blockingEmbedder struct{ release chan struct{} }

func (b blockingEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-b.release:
		return nil, errors.New("released")
	}
}
func (blockingEmbedder) ModelID() string { return "blocking" }
func (blockingEmbedder) Dimension() int  { return 8 }

func TestSlowEmbedderBoundedByLookupTimeout(t *testing.T) {
	// The cache's own embed timeout is an hour: only the server's lookup
	// deadline ends the wait. Without it the driver's message timeout
	// (10 s) would fail the exchange.
	emb := blockingEmbedder{release: make(chan struct{})}
	h := newHarness(t,
		withSemantic(cache.SemanticOptions{Embedder: emb, Threshold: 0.9, EmbedTimeout: time.Hour}),
		withLookupTimeout(20*time.Millisecond))
	t.Cleanup(func() { close(emb.release) }) // runs before the cache closes
	resp := h.do(t, chatRequest("k", chatBody("slow lookups degrade to a miss", false)))
	if resp.Immediate || resp.Header.Get("X-Semcache") != "miss" || resp.Status != http.StatusOK {
		t.Fatalf("immediate=%v X-Semcache=%q status=%d", resp.Immediate, resp.Header.Get("X-Semcache"), resp.Status)
	}
	if n := h.up.ChatCalls(); n != 1 {
		t.Fatalf("upstream calls %d", n)
	}
}

func TestProtocolViolationsEndTheStream(t *testing.T) {
	headers := &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestHeaders{
		RequestHeaders: &extprocv3.HttpHeaders{Headers: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
			{Key: ":method", RawValue: []byte("POST")}, {Key: ":path", RawValue: []byte("/v1/chat/completions")},
		}}}}}
	for _, tc := range []struct {
		name string
		msgs []*extprocv3.ProcessingRequest
	}{
		{"request headers twice", []*extprocv3.ProcessingRequest{headers, headers}},
		{"empty message", []*extprocv3.ProcessingRequest{{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stream, err := h.driver.Client.Process(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var last error
			for _, m := range tc.msgs {
				if err := stream.Send(m); err != nil {
					break
				}
				if _, last = stream.Recv(); last != nil {
					break
				}
			}
			if status.Code(last) != codes.InvalidArgument {
				t.Fatalf("stream ended with %v, want InvalidArgument", last)
			}
		})
	}
}

// TestAuthorityInKey: Envoy routes by :authority, so two backends' answers
// to the same body never share an entry (ext_proc and ext_authz).
func TestAuthorityInKey(t *testing.T) {
	h := newHarness(t)
	body := chatBody("What is the tallest mountain?", false)
	at := func(authority string) *envoydriver.Request {
		r := chatRequest("k", body)
		r.Authority = authority
		return r
	}
	for _, c := range []struct{ authority, want string }{
		{"backend-a.internal", "miss"},
		{"backend-b.internal", "miss"},
		{"backend-a.internal", "hit-exact"},
		{"BACKEND-A.internal", "hit-exact"},
	} {
		if got := h.do(t, at(c.authority)).Header.Get("X-Semcache"); got != c.want {
			t.Fatalf("%s: X-Semcache %q, want %q", c.authority, got, c.want)
		}
	}
	r := at("backend-b.internal")
	resp, err := h.authz.Do(context.Background(), r)
	if err != nil || resp.Header.Get("X-Semcache") != "hit-exact" {
		t.Fatalf("ext_authz for backend b: %v %v", err, resp.Header)
	}
	r = at("backend-c.internal")
	if resp, err := h.authz.Do(context.Background(), r); err != nil || resp.Header.Get("X-Semcache") != "miss" {
		t.Fatalf("ext_authz for backend c: %v %v", err, resp.Header)
	}
}
