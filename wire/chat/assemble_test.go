package chat

import (
	"errors"
	"strings"
	"testing"

	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/wire"
)

const (
	chunkRole   = `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m-1","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}` + "\n\n"
	chunkHello  = `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m-1","choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}]}` + "\n\n"
	chunkWorld  = `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m-1","choices":[{"index":0,"delta":{"content":" world"},"finish_reason":null}]}` + "\n\n"
	chunkStop   = `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m-1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\n"
	chunkLength = `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m-1","choices":[{"index":0,"delta":{},"finish_reason":"length"}]}` + "\n\n"
	chunkUsage  = `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m-1","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}` + "\n\n"
	chunkTool   = `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m-1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"t","type":"function","function":{"name":"f","arguments":""}}]},"finish_reason":null}]}` + "\n\n"
	chunkErr    = `data: {"error":{"message":"overloaded","type":"server_error"}}` + "\n\n"
	chunkSecond = `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m-1","choices":[{"index":1,"delta":{"content":"x"},"finish_reason":null}]}` + "\n\n"
	done        = "data: [DONE]\n\n"
	// A refusal streams as refusal deltas (content stays null); Azure
	// annotates chunks with content_filter_results.
	chunkRefusal  = `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m-1","choices":[{"index":0,"delta":{"refusal":"I can't help with that."},"finish_reason":null}]}` + "\n\n"
	chunkFiltered = `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m-1","choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null,"content_filter_results":{"hate":{"filtered":true,"severity":"high"},"violence":{"filtered":false,"severity":"safe"}}}]}` + "\n\n"
)

func TestAssembleStream(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		clean    bool
		wantErr  string
		wantText string
	}{
		{"complete with usage", chunkRole + chunkHello + chunkWorld + chunkStop + chunkUsage + done, true, "", "Hello world"},
		{"complete, transport error after DONE", chunkRole + chunkHello + chunkStop + done, false, "", "Hello"},
		{"clean end without DONE", chunkRole + chunkHello + chunkStop, true, "", "Hello"},
		{"cut mid-stream", chunkRole + chunkHello, false, "incomplete", ""},
		{"cut mid-event", chunkRole + chunkHello + chunkStop[:30], false, "incomplete", ""},
		{"clean end without finish", chunkRole + chunkHello, true, "incomplete", ""},
		{"length", chunkRole + chunkHello + chunkLength + done, true, `finish_reason "length"`, ""},
		{"tool call", chunkRole + chunkTool + chunkStop + done, true, "tool call", ""},
		{"error mid-stream", chunkRole + chunkHello + chunkErr, true, "error", ""},
		{"two choices", chunkRole + chunkSecond + chunkStop + done, true, "more than one choice", ""},
		{"junk event", chunkRole + "data: {not json\n\n" + chunkStop + done, true, "malformed", ""},
		{"refusal", chunkRole + chunkRefusal + chunkStop + done, true, "refusal", ""},
		{"empty answer", chunkRole + chunkStop + done, true, "empty answer", ""},
		{"blank answer", chunkRole + strings.Replace(chunkHello, "Hello", "  ", 1) + chunkStop + done, true, "empty answer", ""},
		{"filtered chunk", chunkRole + chunkFiltered + chunkStop + done, true, "filtered", ""},
		{"unfiltered annotations", chunkRole + strings.Replace(chunkFiltered, "true", "false", 1) + chunkStop + done, true, "", "Hello"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := NewAssembler(true)
			// Feed in awkward pieces to exercise the parser.
			for i := 0; i < len(tt.body); i += 7 {
				_, _ = a.Write([]byte(tt.body[i:min(i+7, len(tt.body))]))
			}
			ans, err := a.Result(tt.clean)
			if tt.wantErr != "" {
				if !errors.Is(err, wire.ErrNotCacheable) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want not cacheable: %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ans.Content != tt.wantText || ans.FinishReason != "stop" || ans.Role != "assistant" || ans.Model != "m-1" {
				t.Fatalf("answer = %+v", ans)
			}
		})
	}
	a := NewAssembler(true)
	_, _ = a.Write([]byte(chunkRole + chunkHello + chunkStop + chunkUsage + done))
	ans, err := a.Result(true)
	if err != nil || ans.Usage == nil || ans.Usage.TotalTokens != 5 {
		t.Fatalf("usage not kept: %+v %v", ans.Usage, err)
	}
}

func TestAssembleJSON(t *testing.T) {
	ok := `{"id":"x","object":"chat.completion","created":1,"model":"m-1","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`
	tests := []struct {
		name, body string
		clean      bool
		wantErr    string
	}{
		{"ok", ok, true, ""},
		{"truncated", ok[:40], false, "incomplete"},
		{"malformed", ok[:40], true, "malformed"},
		{"length", strings.Replace(ok, `"stop"`, `"length"`, 1), true, "length"},
		{"content filter", strings.Replace(ok, `"stop"`, `"content_filter"`, 1), true, "content_filter"},
		{"tool calls", `{"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"t","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"stop"}]}`, true, "tool call"},
		{"no choices", `{"model":"m","choices":[]}`, true, "one choice"},
		{"error body", `{"error":{"message":"x"}}`, true, "error"},
		{"refusal", `{"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":"I can't help with that."},"finish_reason":"stop"}]}`, true, "refusal"},
		{"empty content", strings.Replace(ok, `"Hi"`, `""`, 1), true, "empty answer"},
		{"null content", strings.Replace(ok, `"Hi"`, `null`, 1), true, "no content"},
		{"filtered choice", strings.Replace(ok, `"finish_reason":"stop"`, `"finish_reason":"stop","content_filter_results":{"sexual":{"filtered":true,"severity":"medium"}}`, 1), true, "filtered"},
		{"filtered prompt", strings.Replace(ok, `"usage"`, `"prompt_filter_results":[{"prompt_index":0,"content_filter_results":{"jailbreak":{"filtered":true,"detected":true}}}],"usage"`, 1), true, "filtered"},
		{"nothing filtered", strings.Replace(ok, `"finish_reason":"stop"`, `"finish_reason":"stop","content_filter_results":{"hate":{"filtered":false,"severity":"safe"}}`, 1), true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := NewAssembler(false)
			_, _ = a.Write([]byte(tt.body))
			ans, err := a.Result(tt.clean)
			if tt.wantErr != "" {
				if !errors.Is(err, wire.ErrNotCacheable) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %s", err, tt.wantErr)
				}
				return
			}
			if err != nil || ans.Content != "Hi" || ans.Usage == nil || ans.Usage.TotalTokens != 2 {
				t.Fatalf("ans = %+v, err = %v", ans, err)
			}
		})
	}
}

func TestAssembleTooLarge(t *testing.T) {
	a := NewAssembler(false)
	a.MaxBytes = 10
	_, _ = a.Write([]byte(`{"model":"m","choices":[]}`))
	if _, err := a.Result(true); err == nil || !strings.Contains(err.Error(), "larger") {
		t.Fatalf("err = %v", err)
	}
}

// TestRenderRoundTrip replays answers as SSE and JSON and assembles them
// back: a client parsing our replay sees exactly what was stored.
func TestRenderRoundTrip(t *testing.T) {
	answers := []Answer{
		{Model: "m", Usage: &cache.Usage{PromptTokens: 1, CompletionTokens: 2, TotalTokens: 3}, Payload: Payload{Role: "assistant", Content: "short", FinishReason: "stop"}},
		{Model: "m", Payload: Payload{Role: "assistant", Content: strings.Repeat("héllo wörld ", 100), FinishReason: "stop", SystemFingerprint: "fp"}},
	}
	for i, want := range answers {
		for _, usage := range []bool{false, true} {
			body := RenderSSE(&want, "id", 5, usage)
			if !strings.HasSuffix(string(body), "data: [DONE]\n\n") {
				t.Fatalf("%d: SSE does not end with [DONE]", i)
			}
			if strings.Contains(string(body), `"usage"`) != usage {
				t.Fatalf("%d: usage chunk presence = %v, want %v", i, !usage, usage)
			}
			a := NewAssembler(true)
			_, _ = a.Write(body)
			got, err := a.Result(true)
			if err != nil {
				t.Fatalf("%d: replayed SSE not assemblable: %v", i, err)
			}
			if got.Content != want.Content || got.FinishReason != want.FinishReason || got.Model != want.Model {
				t.Fatalf("%d: SSE round trip: got %+v want %+v", i, got, want)
			}
		}
		a := NewAssembler(false)
		_, _ = a.Write(RenderJSON(&want, "id", 5))
		got, err := a.Result(true)
		if err != nil || got.Content != want.Content || got.SystemFingerprint != want.SystemFingerprint {
			t.Fatalf("%d: JSON round trip: %+v %v", i, got, err)
		}
	}
}

func TestSplitUTF8(t *testing.T) {
	s := strings.Repeat("é", 300) // 600 bytes
	pieces := splitUTF8(s, 255)
	if strings.Join(pieces, "") != s {
		t.Fatal("pieces do not join back")
	}
	for _, p := range pieces {
		if len(p) > 255 || !strings.HasPrefix(p, "é") {
			t.Fatalf("bad piece %q", p)
		}
	}
}

func TestCacheAnswerRoundTrip(t *testing.T) {
	a := Answer{Model: "m", Usage: &cache.Usage{PromptTokens: 1, CompletionTokens: 2, TotalTokens: 3},
		Payload: Payload{Role: "assistant", Content: "Paris.", Refusal: "r", FinishReason: "stop", SystemFingerprint: "fp"}}
	ca := a.Cache()
	if ca.Endpoint != Name || ca.Text != "Paris." || ca.Model != "m" {
		t.Fatalf("cache answer %+v", ca)
	}
	got, err := FromCache(&ca)
	if err != nil || got.Payload != a.Payload || got.Usage.TotalTokens != 3 {
		t.Fatalf("decoded %+v, %v", got, err)
	}
	other := ca
	other.Endpoint = "responses"
	if _, err := FromCache(&other); err == nil {
		t.Fatal("another endpoint's answer decoded as chat")
	}
}

// TestRenderStoredRefusal: an entry stored before refusals stopped being
// cached replays as a refusal (content null), not as an empty answer.
func TestRenderStoredRefusal(t *testing.T) {
	a := Answer{Model: "m", Payload: Payload{Role: "assistant", Refusal: "I can't help with that.", FinishReason: "stop"}}
	if got := string(RenderJSON(&a, "id", 1)); !strings.Contains(got, `"content":null`) || !strings.Contains(got, `"refusal":"I can't help with that."`) {
		t.Fatalf("JSON replay %s", got)
	}
	sse := string(RenderSSE(&a, "id", 1, false))
	if strings.Contains(sse, `"content":""`) || !strings.Contains(sse, `"refusal":"I can't help with that."`) {
		t.Fatalf("SSE replay %s", sse)
	}
}
