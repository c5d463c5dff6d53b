package proxy

import (
	"net/http"
	"testing"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// TestOpenAIGoClient drives the proxy with the official Go SDK: the
// second request of each form is a hit, and the SDK's accumulator accepts
// the replayed stream (role, content, finish and usage chunks).
func TestOpenAIGoClient(t *testing.T) {
	h := newHarness(t)
	var last *http.Response
	client := oai.NewClient(option.WithBaseURL(h.baseURL), option.WithAPIKey("sk-go"), option.WithMaxRetries(0),
		option.WithResponseInto(&last))
	ctx := t.Context()
	params := oai.ChatCompletionNewParams{
		Model:    "sim-gpt",
		Messages: []oai.ChatCompletionMessageParamUnion{oai.SystemMessage("Be brief."), oai.UserMessage("What is an exact cache tier?")},
	}
	var contents, headers []string
	for range 2 {
		res, err := client.Chat.Completions.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		contents = append(contents, res.Choices[0].Message.Content)
		headers = append(headers, last.Header.Get("X-Semcache"))
		if res.Usage.TotalTokens == 0 {
			t.Fatal("usage missing")
		}
	}
	params.StreamOptions = oai.ChatCompletionStreamOptionsParam{IncludeUsage: oai.Bool(true)}
	for range 2 {
		stream := client.Chat.Completions.NewStreaming(ctx, params)
		var acc oai.ChatCompletionAccumulator
		for stream.Next() {
			if chunk := stream.Current(); !acc.AddChunk(chunk) {
				t.Fatalf("accumulator rejected chunk %s", chunk.RawJSON())
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if acc.Choices[0].FinishReason != "stop" || acc.Usage.TotalTokens == 0 {
			t.Fatalf("stream: finish %q usage %+v", acc.Choices[0].FinishReason, acc.Usage)
		}
		contents = append(contents, acc.Choices[0].Message.Content)
	}
	for i, c := range contents {
		if c != contents[0] || c == "" {
			t.Fatalf("content %d = %q, want %q", i, c, contents[0])
		}
	}
	if headers[0] != "miss" || headers[1] != "hit-exact" {
		t.Fatalf("X-Semcache = %v", headers)
	}
	if n := h.up.ChatCalls(); n != 1 {
		t.Fatalf("upstream calls = %d, want 1", n)
	}
}
