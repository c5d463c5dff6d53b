package engine

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/semcache/semcache/cache"
)

const warmFile = `{"request": {"model": "m", "messages": [{"role": "user", "content": "how do I reverse a list in python"}]}, "response": {"content": "Use reversed() or list.reverse().", "usage": {"prompt_tokens": 9, "completion_tokens": 6, "total_tokens": 15}}}

{"request": {"model": "m", "messages": [{"role": "user", "content": "what is the capital of france"}]}, "response": {"id": "chatcmpl-1", "object": "chat.completion", "model": "m-2024", "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}}, "ttl_seconds": 60}
`

func warmEngine(t *testing.T) (*Engine, *cache.Cache) {
	t.Helper()
	c, err := cache.Open(cache.Options{MaxBytes: 1 << 20, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	e, err := New(Options{Cache: c, Metrics: NewMetrics(prometheus.NewRegistry(), 10, nil)})
	if err != nil {
		t.Fatal(err)
	}
	return e, c
}

// chatLookup is how the chat endpoint describes a one-question request.
func chatLookup(t *testing.T, e *Engine, ns, q string) cache.Lookup {
	t.Helper()
	ep, _ := e.Endpoint("POST", "/v1/chat/completions")
	req, err := ep.Parse([]byte(`{"model":"m","messages":[{"role":"user","content":"` + q + `"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	l := req.Items()[0]
	l.Namespace = ns
	return l
}

func TestWarmStoresBothAnswerForms(t *testing.T) {
	e, c := warmEngine(t)
	ctx := context.Background()
	n, err := e.Warm(ctx, "a", strings.NewReader(warmFile))
	if err != nil || n != 2 {
		t.Fatalf("warm = %d, %v", n, err)
	}
	tests := []struct {
		name, ns, prompt string
		tier             cache.Tier
		text, model      string
	}{
		{"short form", "a", "how do I reverse a list in python", cache.TierExact, "Use reversed() or list.reverse().", "m"},
		{"full form", "a", "what is the capital of france", cache.TierExact, "Paris.", "m-2024"},
		{"other namespace", "c", "what is the capital of france", cache.TierNone, "", ""},
	}
	for _, tt := range tests {
		r := c.Get(ctx, chatLookup(t, e, tt.ns, tt.prompt))
		if r.Tier != tt.tier {
			t.Fatalf("%s: tier %q, want %q", tt.name, r.Tier, tt.tier)
		}
		if tt.tier != cache.TierNone && (r.Entry.Answer.Text != tt.text || r.Entry.Answer.Model != tt.model || r.Entry.Answer.Endpoint != "chat") {
			t.Errorf("%s: answer %+v", tt.name, r.Entry.Answer)
		}
	}
	r := c.Get(ctx, chatLookup(t, e, "a", "what is the capital of france"))
	if got := r.Entry.ExpiresAt.Sub(r.Entry.CreatedAt); got != time.Minute {
		t.Errorf("ttl_seconds ignored: lifetime %s", got)
	}
}

func TestWarmRejectsBadLines(t *testing.T) {
	good := `{"request":{"model":"m","messages":[{"role":"user","content":"hi"}]},"response":{"content":"hello"}}`
	tests := []struct {
		name, line, want string
	}{
		{"not json", `{"request":`, "line 2"},
		{"no request", `{"response":{"content":"x"}}`, "missing request"},
		{"no response", `{"request":{"model":"m","messages":[{"role":"user","content":"hi"}]}}`, "missing response"},
		{"bad request", `{"request":{"messages":[]},"response":{"content":"x"}}`, "request:"},
		{"never cached", `{"request":{"model":"m","n":2,"messages":[{"role":"user","content":"hi"}]},"response":{"content":"x"}}`, "never cached"},
		{"no content", `{"request":{"model":"m","messages":[{"role":"user","content":"hi"}]},"response":{"text":"x"}}`, "content"},
		{"cut answer", `{"request":{"model":"m","messages":[{"role":"user","content":"hi"}]},"response":{"choices":[{"index":0,"message":{"role":"assistant","content":"x"},"finish_reason":"length"}]}}`, "finish_reason"},
		{"negative ttl", `{"request":{"model":"m","messages":[{"role":"user","content":"hi"}]},"response":{"content":"x"},"ttl_seconds":-1}`, "ttl_seconds"},
		{"unknown endpoint", `{"endpoint":"images","request":{"model":"m"},"response":{"data":[]}}`, "unknown endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, c := warmEngine(t)
			n, err := e.Warm(context.Background(), "a", strings.NewReader(good+"\n"+tt.line+"\n"))
			if !errors.Is(err, cache.ErrInvalid) || n != 0 || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "line 2") {
				t.Fatalf("warm = %d, %v; want ErrInvalid mentioning line 2 and %q", n, err, tt.want)
			}
			if r := c.Get(context.Background(), chatLookup(t, e, "a", "hi")); r.Tier != cache.TierNone {
				t.Fatal("a good line was stored although the file had a bad one")
			}
		})
	}
}
