package fronttest

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/semcache/semcache/engine"
	"github.com/semcache/semcache/wire/chat"
)

// Markers the suite's upstream (Upstream) understands besides the
// simulator's, in the last user message of a chat request:
const (
	// markerRefusal answers with a refusal (content null, refusal set).
	markerRefusal = "[[front:refusal]]"
	// markerEmpty answers with an empty content.
	markerEmpty = "[[front:empty]]"
	// markerFiltered answers with content_filter_results marking the
	// answer as filtered (Azure OpenAI's annotation).
	markerFiltered = "[[front:filtered]]"
	// markerCacheControl + VALUE + "]]" adds Cache-Control: VALUE to the
	// simulator's answer.
	markerCacheControl = "[[front:cache-control="
)

// frontMarkers serves the suite's own markers and passes everything else
// to next.
func frontMarkers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if r.URL.Path != chat.Path || !bytes.Contains(body, []byte("[[front:")) {
			next.ServeHTTP(w, r)
			return
		}
		var req struct {
			Stream bool `json:"stream"`
		}
		_ = json.Unmarshal(body, &req)
		text := string(body)
		if i := strings.Index(text, markerCacheControl); i >= 0 {
			v := text[i+len(markerCacheControl):]
			if j := strings.Index(v, "]]"); j >= 0 {
				w = &addHeader{ResponseWriter: w, key: "Cache-Control", value: v[:j]}
			}
			next.ServeHTTP(w, r)
			return
		}
		msg := `"content":"Paris is the capital."`
		extra := ""
		switch {
		case strings.Contains(text, markerRefusal):
			msg = `"content":null,"refusal":"I can't help with that."`
		case strings.Contains(text, markerEmpty):
			msg = `"content":""`
		case strings.Contains(text, markerFiltered):
			extra = `,"content_filter_results":{"hate":{"filtered":true,"severity":"high"}}`
		}
		if !req.Stream {
			w.Header().Set("Content-Type", "application/json")
			_, _ = fmt.Fprintf(w, `{"id":"chatcmpl-f","object":"chat.completion","created":1,"model":"sim-gpt","choices":[{"index":0,"message":{"role":"assistant",%s},"finish_reason":"stop"%s}],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}`, msg, extra)
			return
		}
		delta := strings.Replace(strings.Replace(msg, `"content":null,`, ``, 1), `"content":null`, ``, 1)
		w.Header().Set("Content-Type", "text/event-stream")
		for _, ch := range []string{
			`{"index":0,"delta":{"role":"assistant"},"finish_reason":null}`,
			`{"index":0,"delta":{` + delta + `},"finish_reason":null` + extra + `}`,
			`{"index":0,"delta":{},"finish_reason":"stop"}`,
		} {
			_, _ = fmt.Fprintf(w, "data: {\"id\":\"chatcmpl-f\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"sim-gpt\",\"choices\":[%s]}\n\n", ch)
		}
		_, _ = fmt.Fprint(w, "data: [DONE]\n\n")
	})
}

// addHeader adds a header value to a response just before its headers
// go out (the simulator sets its own Cache-Control on streams).
type addHeader struct {
	http.ResponseWriter
	key, value string
	wrote      bool
}

func (a *addHeader) WriteHeader(code int) {
	if !a.wrote {
		a.wrote = true
		a.Header().Add(a.key, a.value)
	}
	a.ResponseWriter.WriteHeader(code)
}

func (a *addHeader) Write(p []byte) (int, error) {
	if !a.wrote {
		a.WriteHeader(http.StatusOK)
	}
	return a.ResponseWriter.Write(p)
}

func (a *addHeader) Flush() {
	if fl, ok := a.ResponseWriter.(http.Flusher); ok {
		fl.Flush()
	}
}

func (a *addHeader) Unwrap() http.ResponseWriter { return a.ResponseWriter }

func testRouteIdentity(t *testing.T, f Factory) {
	env := f(t, Options{Semantic: true})
	ctx := context.Background()
	body := chatAPI.body("How do I reset my password on the website?", false)
	cases := []struct {
		name string
		hdr  []string
		want string
	}{
		{"project a", []string{"OpenAI-Project", "proj_a"}, "miss"},
		{"project b: another route", []string{"OpenAI-Project", "proj_b"}, "miss"},
		{"project a again", []string{"OpenAI-Project", "proj_a"}, "hit-exact"},
		{"header names are case-insensitive", []string{"openai-project", "proj_a"}, "hit-exact"},
		{"no route header", nil, "miss"},
		{"organization", []string{"OpenAI-Project", "proj_a", "OpenAI-Organization", "org_x"}, "miss"},
		{"gateway route r1", []string{"X-Route", "r1"}, "miss"},
		{"gateway route r2", []string{"X-Route", "r2"}, "miss"},
		{"gateway route r1 again", []string{"X-Route", "r1"}, "hit-exact"},
	}
	for _, c := range cases {
		r := env.Front.Do(ctx, post(chatAPI.path, "k", body, c.hdr...))
		if got := r.Header.Get("X-Semcache"); got != c.want {
			t.Fatalf("%s: X-Semcache %q, want %q", c.name, got, c.want)
		}
	}
	if err := env.Cache.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// The similarity partition follows the route too.
	para := chatAPI.body("how do i reset my password on the website", false)
	if r := env.Front.Do(ctx, post(chatAPI.path, "k", para, "OpenAI-Project", "proj_c")); r.Header.Get("X-Semcache") != "miss" {
		t.Fatalf("paraphrase on another route: %q", r.Header.Get("X-Semcache"))
	}
	if r := env.Front.Do(ctx, post(chatAPI.path, "k", para, "OpenAI-Project", "proj_a")); r.Header.Get("X-Semcache") != "hit-semantic" {
		t.Fatalf("paraphrase on the same route: %q", r.Header.Get("X-Semcache"))
	}
}

func refused(env *Env, reason string) float64 {
	var pb dto.Metric
	if err := env.Metrics.Refused.WithLabelValues(reason).Write(&pb); err != nil {
		return -1
	}
	return pb.GetCounter().GetValue()
}

func testClientAuth(t *testing.T, f Factory) {
	sum := sha256.Sum256([]byte("hashed-key"))
	env := f(t, Options{ClientKeys: []string{"good-key", "sha256:" + hex.EncodeToString(sum[:])}})
	ctx := context.Background()
	body := chatAPI.body("Who wrote Hamlet?", false)
	for _, c := range []struct {
		name string
		r    *Request
	}{
		{"unknown key", post(chatAPI.path, "bad-key", body)},
		{"no key", post(chatAPI.path, "", body)},
		{"unknown key, passed-through path", &Request{Method: http.MethodGet, Path: "/v1/models", Header: http.Header{"Authorization": {"Bearer bad-key"}}}},
	} {
		r := env.Front.Do(ctx, c.r)
		var e struct {
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		if r.Status != http.StatusUnauthorized || json.Unmarshal(r.Body, &e) != nil || e.Error.Code != "invalid_api_key" {
			t.Fatalf("%s: status %d %.200s", c.name, r.Status, r.Body)
		}
		if r.Upstream != nil {
			t.Fatalf("%s: reached the upstream", c.name)
		}
	}
	if n := refused(env, engine.RefusedUnauthorized); n != 3 {
		t.Fatalf("refused %v, want 3", n)
	}
	if r := env.Front.Do(ctx, post(chatAPI.path, "good-key", body)); r.Header.Get("X-Semcache") != "miss" {
		t.Fatalf("allowed key: status %d, X-Semcache %q", r.Status, r.Header.Get("X-Semcache"))
	}
	if r := env.Front.Do(ctx, post(chatAPI.path, "good-key", body)); r.Header.Get("X-Semcache") != "hit-exact" {
		t.Fatalf("allowed key, again: %q", r.Header.Get("X-Semcache"))
	}
	if r := env.Front.Do(ctx, post(chatAPI.path, "hashed-key", body)); r.Status != http.StatusOK || r.Header.Get("X-Semcache") != "miss" {
		t.Fatalf("key given as a hash: status %d, X-Semcache %q (a miss: another namespace)", r.Status, r.Header.Get("X-Semcache"))
	}
}

func testUpstreamCacheControl(t *testing.T, f Factory) {
	cases := []struct {
		value  string
		stored bool
	}{
		{"no-store", false},
		{"private, max-age=60", false},
		{"max-age=0", false},
		{"s-maxage=0, max-age=600", false},
		{"public, max-age=600", true},
		{"no-cache", true}, // SSE boilerplate, not a ban on storing
	}
	for _, c := range cases {
		t.Run(c.value, func(t *testing.T) {
			env := f(t, Options{})
			ctx := context.Background()
			for _, stream := range []bool{false, true} {
				body := chatAPI.body(fmt.Sprintf("cache control %v %s%s]]", stream, markerCacheControl, c.value), stream)
				first := env.Front.Do(ctx, post(chatAPI.path, "k", body))
				answer(t, chatAPI, first)
				again := env.Front.Do(ctx, post(chatAPI.path, "k", body))
				if hit := again.Header.Get("X-Semcache") == "hit-exact"; hit != c.stored {
					t.Fatalf("stream=%v: second X-Semcache %q, want stored=%v", stream, again.Header.Get("X-Semcache"), c.stored)
				}
			}
			if want := map[bool]float64{true: 0, false: 4}[c.stored]; skipped(env, "upstream_no_store") != want {
				t.Fatalf("upstream_no_store counted %v, want %v", skipped(env, "upstream_no_store"), want)
			}
		})
	}
}

func testRefusals(t *testing.T, f Factory) {
	for _, m := range []string{markerRefusal, markerEmpty, markerFiltered} {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/stream=%v", strings.Trim(m, "[]"), stream), func(t *testing.T) {
				env := f(t, Options{})
				ctx := context.Background()
				body := chatAPI.body("tell me something "+m, stream)
				first := env.Front.Do(ctx, post(chatAPI.path, "k", body))
				if first.Status != http.StatusOK || first.Header.Get("X-Semcache") != "miss" {
					t.Fatalf("first: %d %q", first.Status, first.Header.Get("X-Semcache"))
				}
				if m == markerRefusal && !bytes.Contains(first.Body, []byte("I can't help with that.")) {
					t.Fatalf("the refusal did not reach the client: %s", first.Body)
				}
				if again := env.Front.Do(ctx, post(chatAPI.path, "k", body)); again.Header.Get("X-Semcache") != "miss" {
					t.Fatalf("second: X-Semcache %q: the answer was stored", again.Header.Get("X-Semcache"))
				}
				if n := stored(env); n != 0 {
					t.Fatalf("stored %v answers", n)
				}
			})
		}
	}
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func testEncodedBody(t *testing.T, f Factory) {
	env := f(t, Options{})
	ctx := context.Background()
	filter := env.Name != engine.FrontHTTP.Name
	plain := chatAPI.body("What is the capital of Italy?", false)
	zipped := post(chatAPI.path, "k", gzipped(t, plain), "Content-Encoding", "gzip")
	first := env.Front.Do(ctx, zipped)
	if first.Header.Get("X-Semcache") != "miss" {
		t.Fatalf("gzip body: status %d, X-Semcache %q: %.300s", first.Status, first.Header.Get("X-Semcache"), first.Body)
	}
	answer(t, chatAPI, first)
	if u := first.Upstream; u != nil && (u.Header.Get("Content-Encoding") != "" || !bytes.Equal(u.Body, plain)) {
		t.Fatalf("upstream got Content-Encoding %q and %.100q, want the plain body", u.Header.Get("Content-Encoding"), u.Body)
	}
	// The same request unencoded has the same key.
	if r := env.Front.Do(ctx, post(chatAPI.path, "k", plain)); r.Header.Get("X-Semcache") != "hit-exact" {
		t.Fatalf("plain body after the gzip one: %q", r.Header.Get("X-Semcache"))
	}
	// A zip bomb: a few KiB that inflate past the body limit.
	bomb := gzipped(t, append(append([]byte(`{"model":"sim-gpt","messages":[{"role":"user","content":"`), bytes.Repeat([]byte("a"), engine.DefaultMaxBodyBytes+1)...), `"}]}`...))
	r := env.Front.Do(ctx, post(chatAPI.path, "k", bomb, "Content-Encoding", "gzip"))
	if !filter && r.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("zip bomb of %d bytes: status %d %.200s", len(bomb), r.Status, r.Body)
	}
	if filter && r.Header.Get("X-Semcache") == "miss" {
		t.Fatal("zip bomb looked up")
	}
	// An encoding semcache cannot read.
	r = env.Front.Do(ctx, post(chatAPI.path, "k", []byte("\x1b\x00"), "Content-Encoding", "br"))
	if !filter && r.Status != http.StatusUnsupportedMediaType {
		t.Fatalf("br body: status %d %.200s", r.Status, r.Body)
	}
	if stored(env) != 1 {
		t.Fatalf("stored %v answers, want 1", stored(env))
	}
}
