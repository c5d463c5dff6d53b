package upstream

import (
	"errors"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	oai "github.com/openai/openai-go/v3"
	goopenai "github.com/sashabaranov/go-openai"
)

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr []string
	}{
		{"zero value", Options{}, nil},
		{"full", Options{TTFT: time.Second, TokensPerSecond: 10, AnswerTokens: 3, ErrorRate: 1, EmbeddingDim: 8}, nil},
		{"negative ttft", Options{TTFT: -1}, []string{"TTFT"}},
		{"all bad", Options{TTFT: -1, TokensPerSecond: math.NaN(), AnswerTokens: -1, ErrorRate: 1.5, EmbeddingDim: -3},
			[]string{"TTFT", "TokensPerSecond", "AnswerTokens", "ErrorRate", "EmbeddingDim"}},
		{"nan error rate", Options{ErrorRate: math.NaN()}, []string{"ErrorRate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.Validate()
			if (err != nil) != (len(tt.wantErr) > 0) {
				t.Fatalf("Validate() = %v, want errors about %v", err, tt.wantErr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %s", err, w)
				}
			}
		})
	}
}

func TestModelsAndUnknownPaths(t *testing.T) {
	sim, base := newTestServer(t, Options{})
	models, err := goOpenAIClient(base).ListModels(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(models.Models) == 0 || models.Models[0].ID != "sim-gpt" || models.Models[0].OwnedBy != "semcache-bench" || models.Models[0].Object != "model" {
		t.Errorf("models %+v", models.Models)
	}
	off := officialClient(base)
	m, err := off.Models.Get(t.Context(), "sim-gpt-mini")
	if err != nil || m.ID != "sim-gpt-mini" {
		t.Errorf("get model: %+v, %v", m, err)
	}

	tests := []struct {
		method, path string
		status       int
		code         string
	}{
		{http.MethodGet, "/v1/nope", 404, "unknown_url"},
		{http.MethodPost, "/v2/chat/completions", 404, "unknown_url"},
		{http.MethodGet, "/v1/chat/completions", 405, "method_not_allowed"},
		{http.MethodGet, "/v1/models/gpt-17", 404, "model_not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.method+tt.path, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tt.method, strings.TrimSuffix(base, "/v1")+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body apiError
			if err := jsonDecode(resp, &body); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status || body.Error.Code == nil || *body.Error.Code != tt.code || body.Error.Message == "" {
				t.Errorf("status %d body %+v, want %d %s", resp.StatusCode, body, tt.status, tt.code)
			}
		})
	}
	if got := sim.Calls("/v1/nope"); got != 1 {
		t.Errorf("Calls(/v1/nope) = %d, want 1", got)
	}
}

func TestCountersAndReset(t *testing.T) {
	sim, base := newTestServer(t, Options{})
	c := goOpenAIClient(base)
	for _, p := range []string{"first", "second"} {
		if _, err := c.CreateChatCompletion(t.Context(), userRequest(p)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.CreateEmbeddings(t.Context(), goopenai.EmbeddingRequestStrings{Input: []string{"x"}, Model: "e"}); err != nil {
		t.Fatal(err)
	}
	if sim.ChatCalls() != 2 || sim.Calls(PathEmbeddings) != 1 {
		t.Errorf("chat %d embeddings %d, want 2 and 1", sim.ChatCalls(), sim.Calls(PathEmbeddings))
	}
	if !strings.Contains(string(sim.LastRequest()), `"second"`) {
		t.Errorf("LastRequest %s is not the second request", sim.LastRequest())
	}
	if got := sim.LastHeaders().Get("Authorization"); got != "Bearer sk-test" {
		t.Errorf("LastHeaders Authorization %q", got)
	}
	sim.Reset()
	if sim.ChatCalls() != 0 || sim.Calls(PathEmbeddings) != 0 || sim.LastRequest() != nil || sim.LastHeaders() != nil || sim.Canceled() != 0 {
		t.Errorf("Reset left state: chat %d last %q", sim.ChatCalls(), sim.LastRequest())
	}
}

// TestOfficialClientErrors checks that openai-go surfaces every failure mode.
func TestOfficialClientErrors(t *testing.T) {
	_, base := newTestServer(t, Options{AnswerTokens: 8})
	off := officialClient(base)
	tests := []struct {
		name       string
		prompt     string
		wantStatus int // 0: any error while streaming
	}{
		{"status 401", "q " + MarkerStatus(401), 401},
		{"midstream error", "q " + MarkerMidstreamError, 0},
		{"cut", "q " + MarkerCut, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			params := oai.ChatCompletionNewParams{Model: testModel, Messages: []oai.ChatCompletionMessageParamUnion{oai.UserMessage(tt.prompt)}}
			stream := off.Chat.Completions.NewStreaming(t.Context(), params)
			var content string
			for stream.Next() {
				for _, ch := range stream.Current().Choices {
					content += ch.Delta.Content
					if ch.FinishReason != "" {
						t.Errorf("finish_reason %q on a failing stream", ch.FinishReason)
					}
				}
			}
			err := stream.Err()
			if err == nil {
				t.Fatalf("stream ended cleanly with %q, want an error", content)
			}
			if tt.wantStatus != 0 {
				apiErr, ok := errors.AsType[*oai.Error](err)
				if !ok || apiErr.StatusCode != tt.wantStatus {
					t.Errorf("error %v, want status %d", err, tt.wantStatus)
				}
			}
		})
	}
}
