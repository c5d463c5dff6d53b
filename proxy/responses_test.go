package proxy

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"github.com/semcache/semcache/bench/upstream"
)

// TestOpenAIGoResponses drives /v1/responses with the official Go SDK:
// miss then hit, non-stream and stream; a hit has fresh ids, the stream
// helpers accept the replay (sequence numbers, deltas that add up to the
// completed response, usage on response.completed).
func TestOpenAIGoResponses(t *testing.T) {
	h := newHarness(t)
	var last *http.Response
	client := oai.NewClient(option.WithBaseURL(h.baseURL), option.WithAPIKey("sk-go"), option.WithMaxRetries(0),
		option.WithResponseInto(&last))
	ctx := t.Context()
	params := responses.ResponseNewParams{
		Model:        "sim-gpt",
		Instructions: oai.String("Be brief."),
		Input:        responses.ResponseNewParamsInputUnion{OfString: oai.String("What is an exact cache tier?")},
	}
	var texts, headers, ids, msgIDs []string
	for range 2 {
		resp, err := client.Responses.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, resp.OutputText())
		headers = append(headers, last.Header.Get("X-Semcache"))
		ids = append(ids, resp.ID)
		msgIDs = append(msgIDs, resp.Output[0].ID)
		if resp.Usage.TotalTokens == 0 || resp.Status != responses.ResponseStatusCompleted {
			t.Fatalf("response %+v", resp)
		}
	}
	for range 2 {
		stream := client.Responses.NewStreaming(ctx, params)
		var text strings.Builder
		var completed *responses.Response
		var types []string
		seq := int64(0)
		for stream.Next() {
			ev := stream.Current()
			if ev.SequenceNumber != seq {
				t.Fatalf("sequence_number %d, want %d", ev.SequenceNumber, seq)
			}
			seq++
			if len(types) == 0 || types[len(types)-1] != ev.Type {
				types = append(types, ev.Type)
			}
			switch ev.Type {
			case "response.output_text.delta":
				text.WriteString(ev.AsResponseOutputTextDelta().Delta)
			case "response.completed":
				r := ev.AsResponseCompleted().Response
				completed = &r
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		want := "response.created,response.in_progress,response.output_item.added,response.content_part.added," +
			"response.output_text.delta,response.output_text.done,response.content_part.done,response.output_item.done,response.completed"
		if strings.Join(types, ",") != want {
			t.Fatalf("event types %v", types)
		}
		if completed == nil || completed.OutputText() != text.String() || completed.Usage.TotalTokens == 0 {
			t.Fatalf("completed %+v, deltas %q", completed, text.String())
		}
		texts = append(texts, text.String())
		ids = append(ids, completed.ID)
	}
	for i, c := range texts {
		if c != texts[0] || c == "" {
			t.Fatalf("text %d = %q, want %q", i, c, texts[0])
		}
	}
	if headers[0] != "miss" || headers[1] != "hit-exact" {
		t.Fatalf("X-Semcache = %v", headers)
	}
	seen := map[string]bool{}
	for _, id := range append(ids, msgIDs...) {
		if seen[id] || (!strings.HasPrefix(id, "resp_") && !strings.HasPrefix(id, "msg_")) {
			t.Fatalf("ids not fresh: %v %v", ids, msgIDs)
		}
		seen[id] = true
	}
	if n := h.up.ResponsesCalls(); n != 1 {
		t.Fatalf("upstream calls = %d, want 1", n)
	}

	// A follow-up on the hit's id reaches the response the upstream stored.
	follow, err := client.Responses.New(ctx, responses.ResponseNewParams{
		Model: "sim-gpt", PreviousResponseID: oai.String(ids[1]),
		Input: responses.ResponseNewParamsInputUnion{OfString: oai.String("And in one word?")},
	})
	if err != nil {
		t.Fatalf("follow-up on a hit: %v", err)
	}
	if last.Header.Get("X-Semcache") != "bypass" || follow.PreviousResponseID != ids[0] {
		t.Fatalf("follow-up: X-Semcache %q, previous_response_id %q (want the original %q)",
			last.Header.Get("X-Semcache"), follow.PreviousResponseID, ids[0])
	}
}

func responsesBody(input string, extra string) string {
	b, _ := json.Marshal(input)
	return `{"model":"sim-gpt","input":` + string(b) + extra + `}`
}

func TestResponsesNeverCached(t *testing.T) {
	tests := []struct {
		name, marker, extra string
		header              string
		wantStatus          int
	}{
		{"cut stream", upstream.MarkerCut, `,"stream":true`, "miss", 200},
		{"cut json", upstream.MarkerCut, ``, "miss", 200},
		{"length stream", upstream.MarkerLength, `,"stream":true`, "miss", 200},
		{"length json", upstream.MarkerLength, ``, "miss", 200},
		{"function call", upstream.MarkerTools, `,"tools":[{"type":"function","name":"lookup","parameters":{"type":"object","properties":{}}}]`, "miss", 200},
		{"function call stream", upstream.MarkerTools, `,"stream":true,"tools":[{"type":"function","name":"lookup","parameters":{"type":"object","properties":{}}}]`, "miss", 200},
		{"error event", upstream.MarkerMidstreamError, `,"stream":true`, "miss", 200},
		{"failed", upstream.MarkerFailed, `,"stream":true`, "miss", 200},
		{"upstream 500", upstream.MarkerStatus(500), ``, "miss", 500},
		{"logprobs", "", `,"top_logprobs":2`, "bypass", 200},
		{"background", "", `,"background":true`, "bypass", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			body := responsesBody("question "+tt.marker, tt.extra)
			for i := range 2 {
				r, err := h.rawPostTo("/responses", body)
				if err == nil && (r.status != tt.wantStatus || r.header.Get("X-Semcache") != tt.header) {
					t.Fatalf("attempt %d: %d %q: %.300s", i, r.status, r.header.Get("X-Semcache"), r.body)
				}
			}
			if n := h.up.ResponsesCalls(); n != 2 {
				t.Fatalf("upstream calls = %d, want 2 (nothing cached)", n)
			}
		})
	}
}
