package chat

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// FuzzDecodeUpstream: decodeUpstream reads completion bodies and stream
// chunks exactly as encoding/json does (same values, an error for the same
// inputs), odd spellings included.
func FuzzDecodeUpstream(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}`,
		`{"MODEL":"m","Choices":[{"INDEX":0,"Message":{"Content":"case"},"finish_reason":"stop"}]}`,
		`{"model":"a","model":"b","choices":[]}`,
		`{"model":"bad utf8 \xff\xfe","choices":null}`,
		`{"error":{"message":"x"},"choices":[{"content_filter_results":{"hate":{"filtered":true}}}]}`,
		`{"choices":[{"message":{"content":null,"refusal":"no","tool_calls":[{"id":"t"}]}}],"prompt_filter_results":[]}`,
		`{"choices":[{"delta":{"role":"assistant","content":"\u00e9\ud83d\ude00"},"finish_reason":null}],"usage":null}`,
		`{"choices":[{"index":1.0}]}`,
		`{"usage":{"prompt_tokens":1e3}}`,
		`{"model":123}`,
		`[]`, `null`, `{`, `{"a":1}x`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(name string, newV func() any) {
			want, got := newV(), newV()
			werr := json.Unmarshal(data, want)
			gerr := decodeUpstream(data, got)
			if (werr == nil) != (gerr == nil) {
				t.Fatalf("%s %q: encoding/json error %v, decodeUpstream error %v", name, data, werr, gerr)
			}
			if werr == nil && !reflect.DeepEqual(want, got) {
				t.Fatalf("%s %q: encoding/json %+v, decodeUpstream %+v", name, data, want, got)
			}
		}
		check("completion", func() any { return new(completionBody) })
		check("chunk", func() any { return new(streamChunk) })
	})
}

// TestDecodeUpstreamRawMembers: raw members keep their bytes.
func TestDecodeUpstreamRawMembers(t *testing.T) {
	var c completionBody
	body := `{"error":{"message":"x"},"choices":[{"message":{"tool_calls":[{"id":"t"}]},"content_filter_results":{"hate":{"filtered":true}}}]}`
	if err := decodeUpstream([]byte(body), &c); err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]string{
		"error":                  string(c.Error),
		"tool_calls":             string(c.Choices[0].Message.ToolCalls),
		"content_filter_results": string(c.Choices[0].ContentFilterResults),
	} {
		if !strings.Contains(body, got) || got == "" {
			t.Errorf("%s = %q, not the member's bytes", name, got)
		}
	}
}
