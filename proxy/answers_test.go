package proxy

import (
	"encoding/json"
	"strings"
	"testing"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"github.com/semcache/semcache/wire"
)

// markerOf decodes the "semcache" member the SDK kept as an extra field.
func markerOf(t *testing.T, raw string) wire.Marker {
	t.Helper()
	var m wire.Marker
	if raw == "" || json.Unmarshal([]byte(raw), &m) != nil {
		t.Fatalf("no semcache member in the SDK's extra fields: %q", raw)
	}
	return m
}

// TestOpenAIGoHitMarker: the official Go SDK reads hits with the marker
// and zero usage asked for by request headers — chat completions and
// responses, JSON and streamed — and keeps the marker as an extra field;
// the streams come in several content deltas, the marker on the last
// chunk (chat) and on response.completed (responses) only.
func TestOpenAIGoHitMarker(t *testing.T) {
	h := newHarness(t)
	client := oai.NewClient(option.WithBaseURL(h.baseURL), option.WithAPIKey("sk-go"), option.WithMaxRetries(0),
		option.WithHeader("X-Semcache-Hit-Marker", "true"), option.WithHeader("X-Semcache-Hit-Usage", "zero"))
	ctx := t.Context()

	chat := oai.ChatCompletionNewParams{
		Model:         "sim-gpt",
		Messages:      []oai.ChatCompletionMessageParamUnion{oai.UserMessage("What does a hit marker say? Two sentences.")},
		StreamOptions: oai.ChatCompletionStreamOptionsParam{IncludeUsage: oai.Bool(true)},
	}
	miss, err := client.Chat.Completions.New(ctx, chat)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := miss.JSON.ExtraFields["semcache"]; ok || miss.Usage.TotalTokens == 0 {
		t.Fatalf("miss: marker present or usage %+v", miss.Usage)
	}
	hit, err := client.Chat.Completions.New(ctx, chat)
	if err != nil {
		t.Fatal(err)
	}
	m := markerOf(t, hit.JSON.ExtraFields["semcache"].Raw())
	var saved oai.CompletionUsage
	if m.Hit != "exact" || json.Unmarshal(m.SavedUsage, &saved) != nil || saved.TotalTokens != miss.Usage.TotalTokens {
		t.Fatalf("marker %+v, miss usage %+v", m, miss.Usage)
	}
	if hit.Usage.TotalTokens != 0 || hit.Choices[0].Message.Content != miss.Choices[0].Message.Content {
		t.Fatalf("hit usage %+v content %q", hit.Usage, hit.Choices[0].Message.Content)
	}

	stream := client.Chat.Completions.NewStreaming(ctx, chat)
	var acc oai.ChatCompletionAccumulator
	deltas, markers := 0, 0
	for stream.Next() {
		chunk := stream.Current()
		if !acc.AddChunk(chunk) {
			t.Fatalf("accumulator rejected chunk %s", chunk.RawJSON())
		}
		if len(chunk.Choices) > 0 && chunk.Choices[0].Delta.Content != "" {
			deltas++
		}
		if f, ok := chunk.JSON.ExtraFields["semcache"]; ok {
			markers++
			if markerOf(t, f.Raw()).Hit != "exact" || chunk.Usage.CompletionTokens != 0 || len(chunk.Choices) != 0 {
				t.Fatalf("marker on chunk %s", chunk.RawJSON())
			}
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if deltas < 2 || markers != 1 || acc.Choices[0].Message.Content != miss.Choices[0].Message.Content || acc.Usage.TotalTokens != 0 {
		t.Fatalf("stream hit: %d deltas, %d markers, content %q, usage %+v", deltas, markers, acc.Choices[0].Message.Content, acc.Usage)
	}

	rp := responses.ResponseNewParams{
		Model: "sim-gpt",
		Input: responses.ResponseNewParamsInputUnion{OfString: oai.String("What does a hit marker say? Two sentences.")},
	}
	rmiss, err := client.Responses.New(ctx, rp)
	if err != nil {
		t.Fatal(err)
	}
	rhit, err := client.Responses.New(ctx, rp)
	if err != nil {
		t.Fatal(err)
	}
	if m := markerOf(t, rhit.JSON.ExtraFields["semcache"].Raw()); m.Hit != "exact" || len(m.SavedUsage) == 0 ||
		rhit.Usage.TotalTokens != 0 || rmiss.Usage.TotalTokens == 0 {
		t.Fatalf("responses hit: marker %+v usage %+v (miss %+v)", m, rhit.Usage, rmiss.Usage)
	}
	rs := client.Responses.NewStreaming(ctx, rp)
	var text strings.Builder
	deltas, markers = 0, 0
	for rs.Next() {
		ev := rs.Current()
		switch ev.Type {
		case "response.output_text.delta":
			text.WriteString(ev.AsResponseOutputTextDelta().Delta)
			deltas++
		case "response.completed":
			r := ev.AsResponseCompleted().Response
			if f, ok := r.JSON.ExtraFields["semcache"]; ok && markerOf(t, f.Raw()).Hit == "exact" && r.Usage.TotalTokens == 0 {
				markers++
			}
		}
		if strings.Contains(ev.RawJSON(), `"semcache"`) && ev.Type != "response.completed" {
			t.Fatalf("marker on %s", ev.Type)
		}
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	if deltas < 2 || markers != 1 || text.String() != rmiss.OutputText() {
		t.Fatalf("responses stream hit: %d deltas, %d markers, text %q", deltas, markers, text.String())
	}
}
