package upstream

import (
	"context"
	"strings"
	"sync"
	"testing"

	goopenai "github.com/sashabaranov/go-openai"
)

// recordingAnswerer answers "class:<n>" with n the number of user turns,
// and remembers what it saw.
type recordingAnswerer struct {
	mu   sync.Mutex
	seen [][]Message
}

func (r *recordingAnswerer) Answer(msgs []Message) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, msgs)
	users := 0
	for _, m := range msgs {
		if m.Role == "user" {
			users++
		}
	}
	return "class:" + strings.Repeat("u", users) + " and a longer tail so the stream has several pieces"
}

func TestAnswererJSONAndSSE(t *testing.T) {
	ans := &recordingAnswerer{}
	_, base := newTestServer(t, Options{Answerer: ans})
	c := goOpenAIClient(base)
	req := goopenai.ChatCompletionRequest{Model: testModel, Messages: []goopenai.ChatCompletionMessage{
		{Role: "user", Content: "Tell me about the Eiffel Tower."},
		{Role: "assistant", Content: "A tower in Paris."},
		{Role: "user", Content: "when was it built"},
	}}
	want := "class:uu and a longer tail so the stream has several pieces"
	resp, err := c.CreateChatCompletion(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Content; got != want {
		t.Errorf("JSON content %q, want %q", got, want)
	}
	if resp.Choices[0].FinishReason != "stop" || resp.Usage.CompletionTokens == 0 {
		t.Errorf("finish %q, usage %+v", resp.Choices[0].FinishReason, resp.Usage)
	}
	st, err := goOpenAIStream(context.Background(), c, req)
	if err != nil {
		t.Fatal(err)
	}
	if st.content != want || st.finishReason != "stop" || len(st.chunks) < 3 {
		t.Errorf("SSE content %q (%d chunks), finish %q", st.content, len(st.chunks), st.finishReason)
	}
	ans.mu.Lock()
	defer ans.mu.Unlock()
	if len(ans.seen) != 2 || len(ans.seen[0]) != 3 || ans.seen[0][1] != (Message{"assistant", "A tower in Paris."}) {
		t.Errorf("answerer saw %+v", ans.seen)
	}
}

func TestAnswererKeepsMarkers(t *testing.T) {
	_, base := newTestServer(t, Options{Answerer: AnswerFunc(func([]Message) string { return "class:x" })})
	c := goOpenAIClient(base)
	// A status marker still fails the call; the answerer is not asked.
	_, err := c.CreateChatCompletion(context.Background(), userRequest("hello "+MarkerStatus(503)))
	if err == nil {
		t.Fatal("status marker ignored with an answerer")
	}
	resp, err := c.CreateChatCompletion(context.Background(), userRequest("hello"))
	if err != nil || resp.Choices[0].Message.Content != "class:x" {
		t.Fatalf("content %+v, %v", resp, err)
	}
}
