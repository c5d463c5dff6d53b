package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	oai "github.com/openai/openai-go/v3"
	goopenai "github.com/sashabaranov/go-openai"
)

// TestClientsAgree checks that go-openai and openai-go parse the JSON and SSE
// answers and that all four paths see the same content and usage.
func TestClientsAgree(t *testing.T) {
	_, base := newTestServer(t, Options{AnswerTokens: 12})
	ctx := t.Context()
	goc := goOpenAIClient(base)
	off := officialClient(base)

	for _, prompt := range []string{
		"What is a semantic cache?",
		"Explain   vector search\nin two lines, please.",
		"Ünïcödé prompt — with dashes and emoji 🚀",
	} {
		t.Run(prompt, func(t *testing.T) {
			req := userRequest(prompt)
			plain, err := goc.CreateChatCompletion(ctx, req)
			if err != nil {
				t.Fatalf("go-openai non-stream: %v", err)
			}
			want := plain.Choices[0].Message.Content
			if !strings.HasPrefix(want, "Answer-") || len(strings.Fields(want)) != 12 {
				t.Fatalf("content %q: want 12 words starting with Answer-", want)
			}
			if got := plain.Choices[0].FinishReason; got != goopenai.FinishReasonStop {
				t.Errorf("finish_reason %q, want stop", got)
			}
			if !strings.HasPrefix(plain.ID, "chatcmpl-") || plain.Object != "chat.completion" || plain.Model != testModel {
				t.Errorf("envelope id=%q object=%q model=%q", plain.ID, plain.Object, plain.Model)
			}
			if plain.Created != fixedNow().Unix() {
				t.Errorf("created %d, want %d", plain.Created, fixedNow().Unix())
			}
			wantPrompt := len(strings.Fields("You are terse.")) + len(strings.Fields(prompt))
			if u := plain.Usage; u.PromptTokens != wantPrompt || u.CompletionTokens != 12 || u.TotalTokens != wantPrompt+12 {
				t.Errorf("usage %+v, want prompt %d completion 12", u, wantPrompt)
			}

			req.StreamOptions = &goopenai.StreamOptions{IncludeUsage: true}
			st, err := goOpenAIStream(ctx, goc, req)
			if err != nil {
				t.Fatalf("go-openai stream: %v", err)
			}
			if st.content != want {
				t.Errorf("go-openai stream content %q, want %q", st.content, want)
			}
			if st.finishReason != "stop" {
				t.Errorf("go-openai stream finish_reason %q", st.finishReason)
			}
			if st.usage == nil || st.usage.CompletionTokens != 12 || st.usage.PromptTokens != wantPrompt {
				t.Errorf("go-openai stream usage %+v", st.usage)
			}

			params := oai.ChatCompletionNewParams{
				Model: testModel,
				Messages: []oai.ChatCompletionMessageParamUnion{
					oai.SystemMessage("You are terse."),
					oai.UserMessage(prompt),
				},
			}
			off1, err := off.Chat.Completions.New(ctx, params)
			if err != nil {
				t.Fatalf("openai-go non-stream: %v", err)
			}
			if got := off1.Choices[0].Message.Content; got != want {
				t.Errorf("openai-go content %q, want %q", got, want)
			}
			if off1.Usage.TotalTokens != int64(wantPrompt+12) {
				t.Errorf("openai-go usage %+v", off1.Usage)
			}

			params.StreamOptions = oai.ChatCompletionStreamOptionsParam{IncludeUsage: oai.Bool(true)}
			stream := off.Chat.Completions.NewStreaming(ctx, params)
			var acc oai.ChatCompletionAccumulator
			sawUsage := false
			for stream.Next() {
				chunk := stream.Current()
				if !acc.AddChunk(chunk) {
					t.Fatalf("accumulator rejected chunk %s", chunk.RawJSON())
				}
				if len(chunk.Choices) == 0 && chunk.Usage.TotalTokens > 0 {
					sawUsage = true
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("openai-go stream: %v", err)
			}
			if got := acc.Choices[0].Message.Content; got != want {
				t.Errorf("openai-go stream content %q, want %q", got, want)
			}
			if !sawUsage || acc.Usage.CompletionTokens != 12 {
				t.Errorf("openai-go stream usage chunk seen=%v usage=%+v", sawUsage, acc.Usage)
			}
			if acc.Choices[0].FinishReason != "stop" {
				t.Errorf("openai-go stream finish_reason %q", acc.Choices[0].FinishReason)
			}
		})
	}
}

// TestStreamWireFormat checks the SSE framing byte by byte.
func TestStreamWireFormat(t *testing.T) {
	_, base := newTestServer(t, Options{AnswerTokens: 5})
	tests := []struct {
		name         string
		body         string
		includeUsage bool
	}{
		{"with usage", `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi there"}]}`, true},
		{"without usage", `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi there"}]}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := rawPost(t, base+"/chat/completions", tt.body)
			if ct := ev.header.Get("Content-Type"); ct != "text/event-stream" {
				t.Errorf("Content-Type %q", ct)
			}
			if cc := ev.header.Get("Cache-Control"); cc != "no-cache" {
				t.Errorf("Cache-Control %q", cc)
			}
			if n := len(ev.data); n == 0 || ev.data[n-1] != "[DONE]" {
				t.Fatalf("stream does not end with [DONE]: %q", ev.data)
			}
			// role + 5 words + finish (+ usage) + [DONE]
			wantEvents := 1 + 5 + 1 + 1
			if tt.includeUsage {
				wantEvents++
			}
			if len(ev.data) != wantEvents {
				t.Fatalf("%d events, want %d: %q", len(ev.data), wantEvents, ev.data)
			}
			type rawChunk struct {
				ID      string                       `json:"id"`
				Object  string                       `json:"object"`
				Created int64                        `json:"created"`
				Model   string                       `json:"model"`
				Choices []map[string]json.RawMessage `json:"choices"`
				Usage   *json.RawMessage             `json:"-"`
			}
			var first rawChunk
			for i, d := range ev.data[:len(ev.data)-1] {
				var c rawChunk
				var fields map[string]json.RawMessage
				if err := json.Unmarshal([]byte(d), &c); err != nil {
					t.Fatalf("event %d %q: %v", i, d, err)
				}
				if err := json.Unmarshal([]byte(d), &fields); err != nil {
					t.Fatalf("event %d %q: %v", i, d, err)
				}
				if u, ok := fields["usage"]; ok {
					c.Usage = &u
				}
				if i == 0 {
					first = c
					if got := string(c.Choices[0]["delta"]); got != `{"role":"assistant","content":""}` {
						t.Errorf("first delta %s", got)
					}
				}
				if c.ID != first.ID || c.Created != first.Created || c.Model != "m" || c.Object != "chat.completion.chunk" {
					t.Errorf("event %d envelope %+v differs from first %+v", i, c, first)
				}
				last := i == len(ev.data)-2
				switch {
				case !tt.includeUsage && c.Usage != nil:
					t.Errorf("event %d has usage without include_usage: %s", i, d)
				case tt.includeUsage && !last && (c.Usage == nil || string(*c.Usage) != "null"):
					t.Errorf("event %d: want \"usage\":null, got %s", i, d)
				case tt.includeUsage && last && (len(c.Choices) != 0 || c.Usage == nil || string(*c.Usage) == "null"):
					t.Errorf("usage event %s: want choices [] and usage", d)
				}
				if i >= 1 && i <= 5 {
					var content string
					var delta struct{ Content string }
					_ = json.Unmarshal(c.Choices[0]["delta"], &delta)
					content = delta.Content
					if i > 1 && !strings.HasPrefix(content, " ") {
						t.Errorf("word %d %q lacks a leading space", i, content)
					}
					if string(c.Choices[0]["finish_reason"]) != "null" {
						t.Errorf("event %d finish_reason %s, want null", i, c.Choices[0]["finish_reason"])
					}
				}
				if i == 6 && (string(c.Choices[0]["finish_reason"]) != `"stop"` || string(c.Choices[0]["delta"]) != "{}") {
					t.Errorf("finish event %s", d)
				}
			}
			if tt.includeUsage && !strings.Contains(ev.data[len(ev.data)-2], `"choices":[]`) {
				t.Errorf("usage chunk %s lacks \"choices\":[]", ev.data[len(ev.data)-2])
			}
		})
	}
}

func TestDeterminism(t *testing.T) {
	_, base := newTestServer(t, Options{})
	c := goOpenAIClient(base)
	ctx := t.Context()
	answer := func(req goopenai.ChatCompletionRequest) string {
		t.Helper()
		resp, err := c.CreateChatCompletion(ctx, req)
		if err != nil {
			t.Fatalf("chat: %v", err)
		}
		return resp.Choices[0].Message.Content
	}
	base1 := userRequest("How do I reverse a list in Go?")
	ref := answer(base1)
	if again := answer(base1); again != ref {
		t.Fatalf("same request, different answers: %q vs %q", ref, again)
	}
	if !strings.Contains(ref, "about How do I reverse a list") {
		t.Errorf("answer %q does not mention the prompt", ref)
	}
	otherModel := base1
	otherModel.Model = "sim-gpt-mini"
	otherTemp := userRequest("How do I reverse a list in Go?")
	otherTemp.Temperature = 0.7
	otherSystem := userRequest("How do I reverse a list in Go?")
	otherSystem.Messages[0].Content = "You are verbose."
	for name, req := range map[string]goopenai.ChatCompletionRequest{
		"prompt":      userRequest("How do I reverse a map in Go?"),
		"model":       otherModel,
		"temperature": otherTemp,
		"system":      otherSystem,
	} {
		if got := answer(req); got == ref {
			t.Errorf("changing %s did not change the answer %q", name, got)
		}
	}
}

func TestMaxTokens(t *testing.T) {
	_, base := newTestServer(t, Options{})
	c := goOpenAIClient(base)
	full, err := c.CreateChatCompletion(t.Context(), userRequest("limits"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		set  func(*goopenai.ChatCompletionRequest)
	}{
		{"max_tokens", func(r *goopenai.ChatCompletionRequest) { r.MaxTokens = 4 }},
		{"max_completion_tokens", func(r *goopenai.ChatCompletionRequest) { r.MaxCompletionTokens = 4 }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := userRequest("limits")
			tt.set(&req)
			resp, err := c.CreateChatCompletion(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			want := strings.Join(strings.Fields(full.Choices[0].Message.Content)[:4], " ")
			if got := resp.Choices[0].Message.Content; got != want {
				t.Errorf("content %q, want %q", got, want)
			}
			if resp.Choices[0].FinishReason != goopenai.FinishReasonLength || resp.Usage.CompletionTokens != 4 {
				t.Errorf("finish %q usage %+v", resp.Choices[0].FinishReason, resp.Usage)
			}
		})
	}
}

func TestBadRequests(t *testing.T) {
	_, base := newTestServer(t, Options{})
	tests := []struct {
		name      string
		body      string
		wantParam string
	}{
		{"malformed json", `{"model":`, ""},
		{"missing model", `{"messages":[{"role":"user","content":"x"}]}`, "model"},
		{"missing messages", `{"model":"m"}`, "messages"},
		{"null messages", `{"model":"m","messages":null}`, "messages"},
		{"empty messages", `{"model":"m","messages":[]}`, "messages"},
		{"missing role", `{"model":"m","messages":[{"content":"x"}]}`, "messages[0].role"},
		{"numeric content", `{"model":"m","messages":[{"role":"user","content":5}]}`, "messages"},
		{"n=2", `{"model":"m","n":2,"messages":[{"role":"user","content":"x"}]}`, "n"},
		{"max_tokens 0", `{"model":"m","max_tokens":0,"messages":[{"role":"user","content":"x"}]}`, "max_tokens"},
		{"model not a string", `{"model":5,"messages":[{"role":"user","content":"x"}]}`, "model"},
		{"unknown marker", `{"model":"m","messages":[{"role":"user","content":"x [[sim:nope]]"}]}`, "messages"},
		{"bad status marker", `{"model":"m","messages":[{"role":"user","content":"x [[sim:status=200]]"}]}`, "messages"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got struct {
				Error struct {
					Message string  `json:"message"`
					Type    string  `json:"type"`
					Param   *string `json:"param"`
					Code    *string `json:"code"`
				} `json:"error"`
			}
			status := postJSON(t, base+"/chat/completions", tt.body, &got)
			if status != 400 {
				t.Errorf("status %d, want 400", status)
			}
			if got.Error.Type != "invalid_request_error" || got.Error.Message == "" {
				t.Errorf("error body %+v", got.Error)
			}
			param := ""
			if got.Error.Param != nil {
				param = *got.Error.Param
			}
			if param != tt.wantParam {
				t.Errorf("param %q, want %q", param, tt.wantParam)
			}
		})
	}
}

func TestContentParts(t *testing.T) {
	sim, base := newTestServer(t, Options{})
	var a, b struct {
		Choices []struct {
			Message struct{ Content string } `json:"message"`
		} `json:"choices"`
	}
	postJSON(t, base+"/chat/completions", `{"model":"m","messages":[{"role":"user","content":"alpha beta"}]}`, &a)
	postJSON(t, base+"/chat/completions", `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"alpha"},{"type":"image_url","image_url":{"url":"data:,"}},{"type":"text","text":"beta"}]}]}`, &b)
	if a.Choices[0].Message.Content == "" || a.Choices[0].Message.Content != b.Choices[0].Message.Content {
		t.Errorf("string content %q and parts content %q differ", a.Choices[0].Message.Content, b.Choices[0].Message.Content)
	}
	if !strings.Contains(string(sim.LastRequest()), "image_url") {
		t.Errorf("LastRequest %q is not the last body", sim.LastRequest())
	}
}

func TestMarkers(t *testing.T) {
	_, base := newTestServer(t, Options{AnswerTokens: 10})
	c := goOpenAIClient(base)
	ctx := t.Context()
	ref, err := c.CreateChatCompletion(ctx, userRequest("plain question"))
	if err != nil {
		t.Fatal(err)
	}
	if ref.Choices[0].FinishReason != goopenai.FinishReasonStop {
		t.Fatalf("reference finish_reason %q", ref.Choices[0].FinishReason)
	}

	type outcome struct {
		content  string
		finish   string
		err      error
		toolName string
		toolArgs string
	}
	nonStream := func(prompt string) outcome {
		resp, err := c.CreateChatCompletion(ctx, userRequest(prompt))
		if err != nil {
			return outcome{err: err}
		}
		o := outcome{content: resp.Choices[0].Message.Content, finish: string(resp.Choices[0].FinishReason)}
		for _, tc := range resp.Choices[0].Message.ToolCalls {
			o.toolName, o.toolArgs = tc.Function.Name, tc.Function.Arguments
		}
		return o
	}
	stream := func(prompt string) outcome {
		r, err := goOpenAIStream(ctx, c, userRequest(prompt))
		return outcome{content: r.content, finish: r.finishReason, err: err, toolName: r.toolName, toolArgs: r.toolArgs}
	}
	apiStatus := func(err error) int {
		if apiErr, ok := errors.AsType[*goopenai.APIError](err); ok {
			return apiErr.HTTPStatusCode
		}
		return 0
	}
	halfWords := func(o outcome) error {
		if n := len(strings.Fields(o.content)); n != 5 {
			return fmt.Errorf("%d words in %q, want 5", n, o.content)
		}
		return nil
	}
	tests := []struct {
		name   string
		prompt string
		stream bool
		check  func(o outcome) error
	}{
		{"cut stream", "q " + MarkerCut, true, func(o outcome) error {
			if o.err == nil || o.finish != "" {
				return fmt.Errorf("want an error and no finish_reason, got err=%v finish=%q", o.err, o.finish)
			}
			return halfWords(o)
		}},
		{"cut non-stream", "q " + MarkerCut, false, func(o outcome) error {
			if o.err == nil {
				return errors.New("want a transport or decode error")
			}
			return nil
		}},
		{"length", "q " + MarkerLength, false, func(o outcome) error {
			if o.finish != "length" || len(strings.Fields(o.content)) != 10 {
				return fmt.Errorf("finish %q content %q", o.finish, o.content)
			}
			return nil
		}},
		{"length stream", "q " + MarkerLength, true, func(o outcome) error {
			if o.err != nil || o.finish != "length" {
				return fmt.Errorf("err %v finish %q", o.err, o.finish)
			}
			return nil
		}},
		{"filter", "q " + MarkerFilter, false, func(o outcome) error {
			if o.finish != "content_filter" {
				return fmt.Errorf("finish %q", o.finish)
			}
			return halfWords(o)
		}},
		{"filter stream", "q " + MarkerFilter, true, func(o outcome) error {
			if o.err != nil || o.finish != "content_filter" {
				return fmt.Errorf("err %v finish %q", o.err, o.finish)
			}
			return halfWords(o)
		}},
		{"tools", "weather in Paris " + MarkerTools, false, func(o outcome) error {
			return checkToolCall(o.finish, o.toolName, o.toolArgs, o.content)
		}},
		{"tools stream", "weather in Paris " + MarkerTools, true, func(o outcome) error {
			if o.err != nil {
				return o.err
			}
			return checkToolCall(o.finish, o.toolName, o.toolArgs, o.content)
		}},
		{"status 429", "q " + MarkerStatus(429), false, func(o outcome) error {
			if apiStatus(o.err) != 429 {
				return fmt.Errorf("err %v, want 429 APIError", o.err)
			}
			return nil
		}},
		{"status 503 stream", "q " + MarkerStatus(503), true, func(o outcome) error {
			if apiStatus(o.err) != 503 {
				return fmt.Errorf("err %v, want 503 APIError", o.err)
			}
			return nil
		}},
		{"midstream error", "q " + MarkerMidstreamError, true, func(o outcome) error {
			if o.err == nil || !strings.Contains(o.err.Error(), "simulated") {
				return fmt.Errorf("err %v, want the simulated error", o.err)
			}
			if n := len(strings.Fields(o.content)); n != 3 {
				return fmt.Errorf("%d words before the error, want 3", n)
			}
			return nil
		}},
		{"midstream error non-stream", "q " + MarkerMidstreamError, false, func(o outcome) error {
			if apiStatus(o.err) != 500 {
				return fmt.Errorf("err %v, want 500", o.err)
			}
			return nil
		}},
		{"marker in middle", "before " + MarkerLength + " after", false, func(o outcome) error {
			if o.finish != "length" || !strings.Contains(o.content, "about before after") {
				return fmt.Errorf("finish %q content %q", o.finish, o.content)
			}
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := nonStream
			if tt.stream {
				run = stream
			}
			if err := tt.check(run(tt.prompt)); err != nil {
				t.Error(err)
			}
		})
	}
}

func checkToolCall(finish, name, args, content string) error {
	if finish != "tool_calls" || name != defaultTool || content != "" {
		return fmt.Errorf("finish %q name %q content %q", finish, name, content)
	}
	var a toolArguments
	if err := json.Unmarshal([]byte(args), &a); err != nil {
		return fmt.Errorf("arguments %q: %w", args, err)
	}
	if a.Query != "weather in Paris" || len(a.Ref) != 8 {
		return fmt.Errorf("arguments %+v", a)
	}
	return nil
}

func TestMarkersOnlyInLastUserMessage(t *testing.T) {
	_, base := newTestServer(t, Options{})
	c := goOpenAIClient(base)
	req := userRequest("an ordinary follow-up")
	req.Messages = append([]goopenai.ChatCompletionMessage{{Role: "user", Content: "old " + MarkerStatus(500)}, {Role: "assistant", Content: "ok"}}, req.Messages...)
	resp, err := c.CreateChatCompletion(t.Context(), req)
	if err != nil {
		t.Fatalf("earlier marker leaked: %v", err)
	}
	if resp.Choices[0].FinishReason != goopenai.FinishReasonStop {
		t.Errorf("finish %q", resp.Choices[0].FinishReason)
	}
}

func TestToolsWithOfficialClient(t *testing.T) {
	_, base := newTestServer(t, Options{})
	off := officialClient(base)
	params := oai.ChatCompletionNewParams{
		Model:    testModel,
		Messages: []oai.ChatCompletionMessageParamUnion{oai.UserMessage("weather in Paris " + MarkerTools)},
		Tools:    []oai.ChatCompletionToolUnionParam{oai.ChatCompletionFunctionTool(oai.FunctionDefinitionParam{Name: "get_weather"})},
	}
	resp, err := off.Chat.Completions.New(t.Context(), params)
	if err != nil {
		t.Fatal(err)
	}
	calls := resp.Choices[0].Message.ToolCalls
	if len(calls) != 1 || calls[0].Function.Name != "get_weather" || resp.Choices[0].FinishReason != "tool_calls" {
		t.Fatalf("non-stream tool calls %+v finish %q", calls, resp.Choices[0].FinishReason)
	}
	stream := off.Chat.Completions.NewStreaming(t.Context(), params)
	var acc oai.ChatCompletionAccumulator
	var finished []oai.FinishedChatCompletionToolCall
	for stream.Next() {
		acc.AddChunk(stream.Current())
		if tc, ok := acc.JustFinishedToolCall(); ok {
			finished = append(finished, tc)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if len(finished) != 1 || finished[0].Name != "get_weather" || finished[0].Arguments != calls[0].Function.Arguments || finished[0].ID != calls[0].ID {
		t.Errorf("streamed tool call %+v, want %+v", finished, calls[0])
	}
}

func TestEcho(t *testing.T) {
	_, base := newTestServer(t, Options{})
	messages := `[ {"role":"system","content":"Use the context: <doc>Paris is in France.</doc>"},
		{"role":"user", "content":"Where is Paris? ` + MarkerEcho + `"} ]`
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			body := fmt.Sprintf(`{"model":"m","stream":%v,"max_tokens":2,"messages":%s}`, stream, messages)
			var content string
			if stream {
				ev := rawPost(t, base+"/chat/completions", body)
				for _, d := range ev.data[:len(ev.data)-1] {
					var c struct {
						Choices []struct{ Delta struct{ Content string } } `json:"choices"`
					}
					if err := json.Unmarshal([]byte(d), &c); err != nil {
						t.Fatal(err)
					}
					for _, ch := range c.Choices {
						content += ch.Delta.Content
					}
				}
			} else {
				var resp struct {
					Choices []struct{ Message struct{ Content string } } `json:"choices"`
				}
				postJSON(t, base+"/chat/completions", body, &resp)
				content = resp.Choices[0].Message.Content
			}
			if want := compactJSON(t, messages); content != want {
				t.Errorf("echo %q, want %q", content, want)
			}
		})
	}
}

func TestErrorRate(t *testing.T) {
	for _, tt := range []struct {
		name     string
		rate     float64
		min, max int
	}{
		{"never", 0, 0, 0},
		{"always", 1, 40, 40},
		{"half", 0.5, 5, 35},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sim, base := newTestServer(t, Options{ErrorRate: tt.rate, Seed: 7})
			c := goOpenAIClient(base)
			pattern := func() string {
				var b strings.Builder
				for range 40 {
					_, err := c.CreateChatCompletion(t.Context(), userRequest("x"))
					switch st := 0; {
					case err == nil:
						b.WriteByte('.')
					default:
						if apiErr, ok := errors.AsType[*goopenai.APIError](err); ok {
							st = apiErr.HTTPStatusCode
						}
						if st != 500 {
							t.Fatalf("error %v, want 500", err)
						}
						b.WriteByte('E')
					}
				}
				return b.String()
			}
			first := pattern()
			if n := strings.Count(first, "E"); n < tt.min || n > tt.max {
				t.Errorf("%d errors in %s, want %d..%d", n, first, tt.min, tt.max)
			}
			sim.Reset()
			if again := pattern(); again != first {
				t.Errorf("after Reset pattern %s, want %s", again, first)
			}
		})
	}
}

func TestCancellation(t *testing.T) {
	tests := []struct {
		name   string
		opts   Options
		prompt string
		stream bool
		// readFirst makes the client read one chunk before going away.
		readFirst bool
	}{
		{"hold stream", Options{}, "wait " + MarkerHold(time.Minute), true, false},
		{"hold non-stream", Options{}, "wait " + MarkerHold(time.Minute), false, false},
		{"slow mid-stream", Options{}, "wait " + MarkerSlow(time.Minute), true, true},
		{"ttft", Options{TTFT: time.Minute}, "wait", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, base := newTestServer(t, tt.opts)
			c := goOpenAIClient(base)
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() {
				req := userRequest(tt.prompt)
				if !tt.stream {
					_, err := c.CreateChatCompletion(ctx, req)
					done <- err
					return
				}
				req.Stream = true
				s, err := c.CreateChatCompletionStream(ctx, req)
				if err == nil && tt.readFirst {
					_, err = s.Recv()
					if err == nil {
						cancel()
						for err == nil {
							_, err = s.Recv()
						}
					}
				}
				if s != nil {
					s.Close()
				}
				done <- err
			}()
			eventually(t, "the request to arrive", func() bool { return sim.ChatCalls() == 1 })
			if !tt.readFirst {
				cancel()
			}
			if err := <-done; err == nil {
				t.Error("client call succeeded, want a cancellation error")
			}
			cancel()
			eventually(t, "Canceled() == 1", func() bool { return sim.Canceled() == 1 })
		})
	}
}

// TestDelaysAreHonoured asserts only lower bounds on time.
func TestDelaysAreHonoured(t *testing.T) {
	const d = 120 * time.Millisecond
	tests := []struct {
		name      string
		opts      Options
		prompt    string
		firstWord time.Duration // lower bound on time to first content chunk
		total     time.Duration // lower bound on time to the end
	}{
		{"ttft", Options{TTFT: d}, "q", d, d},
		{"hold", Options{}, "q " + MarkerHold(d), d, d},
		{"tokens per second", Options{TokensPerSecond: 50, AnswerTokens: 7}, "q", 0, 6 * 20 * time.Millisecond},
		{"slow", Options{AnswerTokens: 4}, "q " + MarkerSlow(40*time.Millisecond), 0, 3 * 40 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, base := newTestServer(t, tt.opts)
			c := goOpenAIClient(base)
			req := userRequest(tt.prompt)
			req.Stream = true
			start := time.Now()
			s, err := c.CreateChatCompletionStream(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var first time.Duration
			for {
				chunk, err := s.Recv()
				if err != nil {
					break
				}
				if first == 0 && len(chunk.Choices) > 0 && chunk.Choices[0].Delta.Content != "" {
					first = time.Since(start)
				}
			}
			total := time.Since(start)
			if first < tt.firstWord || first == 0 {
				t.Errorf("first word after %v, want >= %v", first, tt.firstWord)
			}
			if total < tt.total {
				t.Errorf("stream took %v, want >= %v", total, tt.total)
			}

			start = time.Now()
			req.Stream = false
			if _, err := c.CreateChatCompletion(t.Context(), req); err != nil {
				t.Fatal(err)
			}
			if took := time.Since(start); took < tt.total {
				t.Errorf("non-stream took %v, want >= %v", took, tt.total)
			}
		})
	}
}
