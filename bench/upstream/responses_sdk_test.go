package upstream

import (
	"errors"
	"strings"
	"testing"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/param"
	"github.com/openai/openai-go/v3/packages/ssestream"
	"github.com/openai/openai-go/v3/responses"
)

// TestResponsesOfficialClient drives /v1/responses with openai-go v3:
// Responses.New and Responses.NewStreaming must parse every answer, and the
// accumulated stream must equal the non-stream response.
func TestResponsesOfficialClient(t *testing.T) {
	const words = 10
	sim, base := newTestServer(t, Options{AnswerTokens: words})
	off := officialClient(base)
	ctx := t.Context()

	for _, prompt := range []string{
		"What is a semantic cache?",
		"Ünïcödé prompt — with dashes and emoji 🚀",
	} {
		t.Run(prompt, func(t *testing.T) {
			params := responses.ResponseNewParams{
				Model:        "sim-gpt",
				Instructions: oai.String("You are terse."),
				Input:        responses.ResponseNewParamsInputUnion{OfString: oai.String(prompt)},
			}
			resp, err := off.Responses.New(ctx, params)
			if err != nil {
				t.Fatalf("Responses.New: %v", err)
			}
			want := resp.OutputText()
			if !strings.HasPrefix(want, "Answer-") || len(strings.Fields(want)) != words {
				t.Fatalf("OutputText %q", want)
			}
			if resp.Status != responses.ResponseStatusCompleted || resp.Object != "response" || resp.Model != "sim-gpt" ||
				resp.Instructions.OfString != "You are terse." || resp.JSON.Error.Raw() != "null" || resp.JSON.IncompleteDetails.Raw() != "null" {
				t.Errorf("envelope status=%q object=%q model=%q instructions=%+v", resp.Status, resp.Object, resp.Model, resp.Instructions)
			}
			wantInput := int64(len(strings.Fields("You are terse.")) + len(strings.Fields(prompt)))
			if u := resp.Usage; u.InputTokens != wantInput || u.OutputTokens != words || u.TotalTokens != wantInput+words ||
				!u.InputTokensDetails.JSON.CachedTokens.Valid() || !u.OutputTokensDetails.JSON.ReasoningTokens.Valid() {
				t.Errorf("usage %+v, want input %d output %d", u, wantInput, words)
			}
			msg := resp.Output[0].AsMessage()
			if msg.Type != "message" || msg.Role != "assistant" || msg.Status != "completed" || msg.Content[0].Type != "output_text" {
				t.Errorf("output item %+v", msg)
			}

			stream := off.Responses.NewStreaming(ctx, params)
			var text strings.Builder
			var deltas int
			var completed *responses.Response
			var seq []int64
			for stream.Next() {
				ev := stream.Current()
				seq = append(seq, ev.SequenceNumber)
				switch ev.Type {
				case "response.output_text.delta":
					text.WriteString(ev.AsResponseOutputTextDelta().Delta)
					deltas++
				case "response.completed":
					r := ev.AsResponseCompleted().Response
					completed = &r
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("NewStreaming: %v", err)
			}
			if text.String() != want || deltas != words {
				t.Errorf("%d deltas %q, want %d deltas %q", deltas, text.String(), words, want)
			}
			for i, n := range seq {
				if n != int64(i) {
					t.Fatalf("sequence numbers %v", seq)
				}
			}
			if completed == nil || completed.OutputText() != want || completed.Usage.TotalTokens != resp.Usage.TotalTokens ||
				completed.Status != responses.ResponseStatusCompleted {
				t.Errorf("completed event %+v", completed)
			}
		})
	}
	if got := sim.ResponsesCalls(); got != 4 {
		t.Errorf("ResponsesCalls = %d, want 4", got)
	}
}

// TestResponsesOfficialClientTools runs a function-call turn and its
// follow-up through openai-go, once with previous_response_id.
func TestResponsesOfficialClientTools(t *testing.T) {
	_, base := newTestServer(t, Options{})
	off := officialClient(base)
	ctx := t.Context()
	tools := []responses.ToolUnionParam{responses.ToolParamOfFunction("get_weather",
		map[string]any{"type": "object", "properties": map[string]any{"query": map[string]any{"type": "string"}}}, false)}
	params := responses.ResponseNewParams{
		Model: "sim-gpt",
		Input: responses.ResponseNewParamsInputUnion{OfString: oai.String("weather in Paris " + MarkerTools)},
		Tools: tools,
	}
	resp, err := off.Responses.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	call := resp.Output[0].AsFunctionCall()
	if resp.Output[0].Type != "function_call" || call.Name != "get_weather" || call.CallID == "" || !strings.Contains(call.Arguments, "weather in Paris") {
		t.Fatalf("function call %+v", call)
	}

	stream := off.Responses.NewStreaming(ctx, params)
	var args strings.Builder
	var doneArgs string
	for stream.Next() {
		ev := stream.Current()
		switch ev.Type {
		case "response.function_call_arguments.delta":
			args.WriteString(ev.AsResponseFunctionCallArgumentsDelta().Delta)
		case "response.function_call_arguments.done":
			doneArgs = ev.AsResponseFunctionCallArgumentsDone().Arguments
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if args.String() != call.Arguments || doneArgs != call.Arguments {
		t.Errorf("streamed arguments %q / %q, want %q", args.String(), doneArgs, call.Arguments)
	}

	out := responses.ResponseInputItemParamOfFunctionCallOutput(`{"temp":21}`)
	out.OfFunctionCallOutput.CallID = param.NewOpt(call.CallID)
	follow, err := off.Responses.New(ctx, responses.ResponseNewParams{
		Model:              "sim-gpt",
		PreviousResponseID: oai.String(resp.ID),
		Input:              responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{out}},
		Tools:              tools,
	})
	if err != nil {
		t.Fatal(err)
	}
	if follow.Output[0].Type != "message" || !strings.HasPrefix(follow.OutputText(), "Answer-") {
		t.Errorf("follow-up %s", follow.RawJSON())
	}
}

// TestResponsesOfficialClientErrors checks that openai-go surfaces each
// failure mode the way it would from api.openai.com.
func TestResponsesOfficialClientErrors(t *testing.T) {
	_, base := newTestServer(t, Options{AnswerTokens: 8})
	off := officialClient(base)
	newParams := func(prompt string) responses.ResponseNewParams {
		return responses.ResponseNewParams{Model: "sim-gpt", Input: responses.ResponseNewParamsInputUnion{OfString: oai.String(prompt)}}
	}

	t.Run("400 non-stream", func(t *testing.T) {
		p := newParams("x")
		p.MaxOutputTokens = oai.Int(3)
		_, err := off.Responses.New(t.Context(), p)
		apiErr, ok := errors.AsType[*oai.Error](err)
		if !ok || apiErr.StatusCode != 400 || apiErr.Param != "max_output_tokens" || apiErr.Code != "integer_below_min_value" {
			t.Errorf("error %v", err)
		}
	})
	t.Run("length", func(t *testing.T) {
		resp, err := off.Responses.New(t.Context(), newParams("x "+MarkerLength))
		if err != nil || resp.Status != responses.ResponseStatusIncomplete || resp.IncompleteDetails.Reason != "max_output_tokens" {
			t.Errorf("response %+v err %v", resp, err)
		}
	})
	tests := []struct {
		name       string
		prompt     string
		wantStatus int    // HTTP status of an *oai.Error, or 0
		wantEvent  string // last event type when the stream ends without error
	}{
		{"status 429", "q " + MarkerStatus(429), 429, ""},
		{"midstream error", "q " + MarkerMidstreamError, 0, ""},
		{"cut", "q " + MarkerCut, 0, ""},
		{"failed", "q " + MarkerFailed, 0, "response.failed"},
		{"length", "q " + MarkerLength, 0, "response.incomplete"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" stream", func(t *testing.T) {
			stream := off.Responses.NewStreaming(t.Context(), newParams(tt.prompt))
			var last responses.ResponseStreamEventUnion
			for stream.Next() {
				last = stream.Current()
				if last.Type == "response.completed" {
					t.Errorf("response.completed on a failing stream")
				}
			}
			err := stream.Err()
			switch {
			case tt.wantEvent != "":
				if err != nil || last.Type != tt.wantEvent {
					t.Errorf("err %v last event %q, want a clean end at %s", err, last.Type, tt.wantEvent)
				}
				if tt.wantEvent == "response.failed" && last.AsResponseFailed().Response.Error.Code != "server_error" {
					t.Errorf("failed event %s", last.RawJSON())
				}
			case err == nil:
				t.Fatalf("stream ended cleanly at %q, want an error", last.Type)
			case tt.wantStatus != 0:
				if apiErr, ok := errors.AsType[*oai.Error](err); !ok || apiErr.StatusCode != tt.wantStatus {
					t.Errorf("error %v, want status %d", err, tt.wantStatus)
				}
			case tt.name == "midstream error":
				if se, ok := errors.AsType[*ssestream.StreamError](err); !ok || se.Event.Type != "error" || !strings.Contains(se.Message, "simulated") {
					t.Errorf("error %v, want the simulated error event", err)
				}
			}
		})
	}
}
