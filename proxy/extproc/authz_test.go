package extproc_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/semcache/semcache/engine"
	"github.com/semcache/semcache/proxy/extproc/envoydriver"
)

func TestExtAuthz(t *testing.T) {
	for _, tc := range []struct {
		name        string
		stream      bool
		packAsBytes bool
	}{
		{"json", false, false},
		{"sse, raw_body", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.authz.PackAsBytes = tc.packAsBytes
			body := chatBody("What does ext_authz do?", tc.stream)
			ctx := context.Background()

			miss, err := h.authz.Do(ctx, chatRequest("k", body))
			if err != nil {
				t.Fatal(err)
			}
			if miss.Denied || miss.Status != http.StatusOK || miss.Header.Get("X-Semcache") != "miss" {
				t.Fatalf("miss: denied=%v status=%d X-Semcache=%q", miss.Denied, miss.Status, miss.Header.Get("X-Semcache"))
			}
			// No write-back through ext_authz: still a miss.
			again, err := h.authz.Do(ctx, chatRequest("k", body))
			if err != nil {
				t.Fatal(err)
			}
			if again.Denied || h.writeBack("stored") != 0 {
				t.Fatal("ext_authz stored an answer")
			}

			// Stored through ext_proc, served through ext_authz.
			h.do(t, chatRequest("k", body))
			hit, err := h.authz.Do(ctx, chatRequest("k", body))
			if err != nil {
				t.Fatal(err)
			}
			if !hit.Denied || hit.Status != http.StatusOK || hit.Upstream != nil {
				t.Fatalf("hit: denied=%v status=%d", hit.Denied, hit.Status)
			}
			want := "application/json"
			if tc.stream {
				want = "text/event-stream"
			}
			if hit.Header.Get("Content-Type") != want || hit.Header.Get("X-Semcache") != "hit-exact" {
				t.Fatalf("hit headers %v", hit.Header)
			}
			if a, b := content(t, miss), content(t, hit); a != b {
				t.Fatalf("hit content %q != %q", b, a)
			}
			if n := h.requests(engine.FrontExtAuthz.Name, engine.OutcomeHitExact); n != 1 {
				t.Fatalf("extauthz hits = %v", n)
			}
			if n := h.up.ChatCalls(); n != 3 {
				t.Fatalf("upstream calls = %d, want 3", n)
			}
		})
	}
}

func TestExtAuthzAllowsEverythingElse(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  *envoydriver.Request
	}{
		{"other path", &envoydriver.Request{Method: http.MethodGet, Path: "/v1/models"}},
		{"malformed body", chatRequest("k", []byte(`{"messages": oops`))},
		{"no body", chatRequest("k", nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			resp, err := h.authz.Do(context.Background(), tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Denied || resp.Upstream == nil {
				t.Fatal("request was not allowed through")
			}
			if resp.Header.Get("X-Semcache") != "" {
				t.Fatalf("X-Semcache %q on a request semcache did not look up", resp.Header.Get("X-Semcache"))
			}
		})
	}
}
