package upstream

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	goopenai "github.com/sashabaranov/go-openai"
)

const testModel = "sim-gpt"

// fixedNow is the clock of every test server.
func fixedNow() time.Time { return time.Unix(1750000000, 0) }

func newTestServer(t *testing.T, opts Options) (*Server, string) {
	t.Helper()
	if opts.Now == nil {
		opts.Now = fixedNow
	}
	sim := New(opts)
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	return sim, ts.URL + "/v1"
}

func goOpenAIClient(baseURL string) *goopenai.Client {
	cfg := goopenai.DefaultConfig("sk-test")
	cfg.BaseURL = baseURL
	return goopenai.NewClientWithConfig(cfg)
}

func officialClient(baseURL string) oai.Client {
	return oai.NewClient(option.WithBaseURL(baseURL), option.WithAPIKey("sk-test"), option.WithMaxRetries(0))
}

func userRequest(prompt string) goopenai.ChatCompletionRequest {
	return goopenai.ChatCompletionRequest{
		Model: testModel,
		Messages: []goopenai.ChatCompletionMessage{
			{Role: goopenai.ChatMessageRoleSystem, Content: "You are terse."},
			{Role: goopenai.ChatMessageRoleUser, Content: prompt},
		},
	}
}

// goOpenAIStream runs a streaming request with go-openai and returns the
// concatenated content, the last finish reason, the usage chunk (if any)
// and the error that ended the stream (nil on a clean io.EOF).
type streamResult struct {
	content      string
	finishReason string
	usage        *goopenai.Usage
	chunks       []goopenai.ChatCompletionStreamResponse
	toolArgs     string
	toolName     string
}

func goOpenAIStream(ctx context.Context, c *goopenai.Client, req goopenai.ChatCompletionRequest) (streamResult, error) {
	req.Stream = true
	var res streamResult
	stream, err := c.CreateChatCompletionStream(ctx, req)
	if err != nil {
		return res, err
	}
	defer stream.Close()
	for {
		chunk, err := stream.Recv()
		if err == io.EOF {
			return res, nil
		}
		if err != nil {
			return res, err
		}
		res.chunks = append(res.chunks, chunk)
		if chunk.Usage != nil {
			res.usage = chunk.Usage
		}
		for _, ch := range chunk.Choices {
			res.content += ch.Delta.Content
			if ch.FinishReason != "" {
				res.finishReason = string(ch.FinishReason)
			}
			for _, tc := range ch.Delta.ToolCalls {
				res.toolName += tc.Function.Name
				res.toolArgs += tc.Function.Arguments
			}
		}
	}
}

// sseEvent is one raw data payload of an SSE body.
type sseEvents struct {
	header http.Header
	status int
	data   []string
}

// rawPost posts body to url and splits an SSE answer into data payloads.
func rawPost(t *testing.T, url, body string) sseEvents {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	ev := sseEvents{header: resp.Header, status: resp.StatusCode}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if d, ok := strings.CutPrefix(line, "data: "); ok {
			ev.data = append(ev.data, d)
		}
	}
	return ev
}

// readJSON posts body and decodes the JSON answer into v.
func postJSON(t *testing.T, url, body string, v any) int {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
	return resp.StatusCode
}

func compactJSON(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Fatalf("compact %q: %v", s, err)
	}
	return b.String()
}

// eventually polls cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
