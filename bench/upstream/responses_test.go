package upstream

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// namedEvent is one SSE event of a Responses stream.
type namedEvent struct {
	name string
	data string
}

// eventData is the union of the event fields the tests read.
type eventData struct {
	Type           string          `json:"type"`
	SequenceNumber *int            `json:"sequence_number"`
	Response       *wireResponse   `json:"response"`
	OutputIndex    *int            `json:"output_index"`
	ContentIndex   *int            `json:"content_index"`
	ItemID         string          `json:"item_id"`
	Item           *wireItem       `json:"item"`
	Part           *wirePart       `json:"part"`
	Delta          *string         `json:"delta"`
	Text           *string         `json:"text"`
	Arguments      *string         `json:"arguments"`
	Logprobs       json.RawMessage `json:"logprobs"`
	Obfuscation    *string         `json:"obfuscation"`
	Error          *struct {
		Type    string  `json:"type"`
		Code    string  `json:"code"`
		Message string  `json:"message"`
		Param   *string `json:"param"`
	} `json:"error"`
}

// wireResponse is the response object as a client decodes it.
type wireResponse struct {
	ID                string                   `json:"id"`
	Object            string                   `json:"object"`
	CreatedAt         int64                    `json:"created_at"`
	Status            string                   `json:"status"`
	CompletedAt       *int64                   `json:"completed_at"`
	Error             *responseError           `json:"error"`
	IncompleteDetails *struct{ Reason string } `json:"incomplete_details"`
	Instructions      *string                  `json:"instructions"`
	Model             string                   `json:"model"`
	Output            []wireItem               `json:"output"`
	PreviousID        *string                  `json:"previous_response_id"`
	Store             bool                     `json:"store"`
	Temperature       float64                  `json:"temperature"`
	Tools             json.RawMessage          `json:"tools"`
	ToolChoice        json.RawMessage          `json:"tool_choice"`
	Text              json.RawMessage          `json:"text"`
	Metadata          json.RawMessage          `json:"metadata"`
	Usage             *responseUsage           `json:"usage"`
}

type wireItem struct {
	ID        string     `json:"id"`
	Type      string     `json:"type"`
	Status    string     `json:"status"`
	Role      string     `json:"role"`
	Content   []wirePart `json:"content"`
	CallID    string     `json:"call_id"`
	Name      string     `json:"name"`
	Arguments *string    `json:"arguments"`
}

type wirePart struct {
	Type        string          `json:"type"`
	Text        string          `json:"text"`
	Annotations json.RawMessage `json:"annotations"`
}

// text is the concatenated output_text of every message item.
func (r *wireResponse) text() string {
	var b strings.Builder
	for _, it := range r.Output {
		for _, c := range it.Content {
			b.WriteString(c.Text)
		}
	}
	return b.String()
}

// respStream is a parsed Responses SSE body.
type respStream struct {
	status int
	header http.Header
	events []namedEvent
	data   []eventData
}

// postResponsesStream posts body and parses the named events.
func postResponsesStream(t *testing.T, base, body string) respStream {
	t.Helper()
	resp, err := http.Post(base+"/responses", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	res := respStream{status: resp.StatusCode, header: resp.Header}
	if resp.StatusCode != http.StatusOK {
		return res
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var cur namedEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.data != "" {
				res.events = append(res.events, cur)
				var d eventData
				if err := json.Unmarshal([]byte(cur.data), &d); err != nil {
					t.Fatalf("event %q data %q: %v", cur.name, cur.data, err)
				}
				res.data = append(res.data, d)
			}
			cur = namedEvent{}
		case strings.HasPrefix(line, "event: "):
			cur.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			cur.data = strings.TrimPrefix(line, "data: ")
		default:
			t.Fatalf("unexpected SSE line %q", line)
		}
	}
	return res
}

func (s respStream) types() []string {
	out := make([]string, len(s.data))
	for i, d := range s.data {
		out[i] = d.Type
	}
	return out
}

// deltaText concatenates the output_text deltas.
func (s respStream) deltaText() (string, int) {
	var b strings.Builder
	n := 0
	for _, d := range s.data {
		if d.Type == "response.output_text.delta" {
			b.WriteString(*d.Delta)
			n++
		}
	}
	return b.String(), n
}

func (s respStream) last() eventData {
	if len(s.data) == 0 {
		return eventData{}
	}
	return s.data[len(s.data)-1]
}

// textEvents is the exact event sequence of a streamed text answer of n
// deltas ending in terminal.
func textEvents(n int, terminal string) []string {
	out := []string{"response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"}
	for range n {
		out = append(out, "response.output_text.delta")
	}
	return append(out, "response.output_text.done", "response.content_part.done", "response.output_item.done", terminal)
}

func postResponses(t *testing.T, base, body string) (int, wireResponse) {
	t.Helper()
	var r wireResponse
	status := postJSON(t, base+"/responses", body, &r)
	return status, r
}

// TestResponsesJSON checks the non-stream response object field by field.
func TestResponsesJSON(t *testing.T) {
	sim, base := newTestServer(t, Options{AnswerTokens: 9})
	body := `{"model":"sim-gpt","instructions":"Be brief.","input":"What is a semantic cache?","metadata":{"k":"v"},"temperature":0.5}`
	resp, err := http.Post(base+"/responses", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" || resp.StatusCode != 200 {
		t.Fatalf("status %d Content-Type %q", resp.StatusCode, ct)
	}
	var raw map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"object": `"response"`, "status": `"completed"`, "error": `null`, "incomplete_details": `null`,
		"instructions": `"Be brief."`, "model": `"sim-gpt"`, "metadata": `{"k":"v"}`, "temperature": `0.5`,
		"top_p": `1`, "tools": `[]`, "tool_choice": `"auto"`, "parallel_tool_calls": `true`, "store": `true`,
		"previous_response_id": `null`, "max_output_tokens": `null`, "background": `false`,
		"text": `{"format":{"type":"text"},"verbosity":"medium"}`, "truncation": `"disabled"`,
		"reasoning": `{"effort":null,"summary":null}`, "user": `null`, "service_tier": `"default"`,
		"created_at": fmt.Sprint(fixedNow().Unix()), "completed_at": fmt.Sprint(fixedNow().Unix()),
	}
	for k, v := range want {
		if got := string(raw[k]); got != v {
			t.Errorf("%s = %s, want %s", k, got, v)
		}
	}
	var id string
	if err := json.Unmarshal(raw["id"], &id); err != nil || !strings.HasPrefix(id, "resp_") {
		t.Errorf("id %s", raw["id"])
	}
	var output []map[string]json.RawMessage
	if err := json.Unmarshal(raw["output"], &output); err != nil || len(output) != 1 {
		t.Fatalf("output %s", raw["output"])
	}
	item := output[0]
	for k, v := range map[string]string{"type": `"message"`, "status": `"completed"`, "role": `"assistant"`} {
		if string(item[k]) != v {
			t.Errorf("output[0].%s = %s, want %s", k, item[k], v)
		}
	}
	if !strings.HasPrefix(string(item["id"]), `"msg_`) {
		t.Errorf("output[0].id %s", item["id"])
	}
	var content []map[string]json.RawMessage
	if err := json.Unmarshal(item["content"], &content); err != nil || len(content) != 1 {
		t.Fatalf("content %s", item["content"])
	}
	if string(content[0]["type"]) != `"output_text"` || string(content[0]["annotations"]) != `[]` || string(content[0]["logprobs"]) != `[]` {
		t.Errorf("content part %v", content[0])
	}
	var text string
	if err := json.Unmarshal(content[0]["text"], &text); err != nil || !strings.HasPrefix(text, "Answer-") || len(strings.Fields(text)) != 9 ||
		!strings.Contains(text, "about What is a semantic cache?") {
		t.Errorf("text %q", text)
	}
	// input 5 words + instructions 2 words, 9 answer words.
	wantUsage := `{"input_tokens":7,"input_tokens_details":{"cached_tokens":0},"output_tokens":9,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":16}`
	if got := string(raw["usage"]); got != wantUsage {
		t.Errorf("usage %s, want %s", got, wantUsage)
	}
	if sim.ResponsesCalls() != 1 || sim.ChatCalls() != 0 {
		t.Errorf("calls: responses %d chat %d", sim.ResponsesCalls(), sim.ChatCalls())
	}
	if got := string(sim.LastRequestTo(PathResponses)); got != body {
		t.Errorf("LastRequestTo(responses) = %s", got)
	}
}

// TestResponsesStreamWireFormat checks framing, event order, sequence
// numbers, ids and that the stream agrees with the non-stream answer.
func TestResponsesStreamWireFormat(t *testing.T) {
	const words = 7
	_, base := newTestServer(t, Options{AnswerTokens: words})
	tests := []struct {
		name       string
		body       string
		obfuscated bool
	}{
		{"default", `{"model":"m","stream":true,"input":"hi there"}`, true},
		{"no obfuscation", `{"model":"m","stream":true,"stream_options":{"include_obfuscation":false},"input":"hi there"}`, false},
		{"items input", `{"model":"m","stream":true,"input":[{"role":"user","content":[{"type":"input_text","text":"hi there"}]}]}`, true},
	}
	_, plain := postResponses(t, base, `{"model":"m","input":"hi there"}`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := postResponsesStream(t, base, tt.body)
			if ct := res.header.Get("Content-Type"); ct != "text/event-stream" || res.status != 200 {
				t.Fatalf("status %d Content-Type %q", res.status, ct)
			}
			if got, want := res.types(), textEvents(words, "response.completed"); !slices.Equal(got, want) {
				t.Fatalf("events\n%v\nwant\n%v", got, want)
			}
			var respID, itemID string
			for i, d := range res.data {
				if res.events[i].name != d.Type {
					t.Errorf("event %d named %q carries type %q", i, res.events[i].name, d.Type)
				}
				if d.SequenceNumber == nil || *d.SequenceNumber != i {
					t.Errorf("event %d (%s) sequence_number %v", i, d.Type, d.SequenceNumber)
				}
				if d.Response != nil {
					if respID == "" {
						respID = d.Response.ID
					}
					if d.Response.ID != respID || d.Response.Object != "response" {
						t.Errorf("event %d response id %q object %q, want %q", i, d.Response.ID, d.Response.Object, respID)
					}
				}
				if d.Item != nil && itemID == "" {
					itemID = d.Item.ID
				}
				if d.OutputIndex != nil && *d.OutputIndex != 0 {
					t.Errorf("event %d output_index %d", i, *d.OutputIndex)
				}
				if strings.HasPrefix(d.Type, "response.output_text.") || strings.HasPrefix(d.Type, "response.content_part.") {
					if d.ItemID != itemID || d.ContentIndex == nil || *d.ContentIndex != 0 || d.OutputIndex == nil {
						t.Errorf("event %d %s: item_id %q (want %q) content_index %v", i, d.Type, d.ItemID, itemID, d.ContentIndex)
					}
				}
				if d.Type == "response.output_text.delta" {
					if string(d.Logprobs) != "[]" {
						t.Errorf("delta %d logprobs %s", i, d.Logprobs)
					}
					switch {
					case tt.obfuscated && (d.Obfuscation == nil || (len(*d.Delta)+len(*d.Obfuscation))%16 != 0):
						t.Errorf("delta %d obfuscation %v does not pad %q to 16 bytes", i, d.Obfuscation, *d.Delta)
					case !tt.obfuscated && d.Obfuscation != nil:
						t.Errorf("delta %d has obfuscation without include_obfuscation", i)
					}
				}
			}
			created, inProgress := res.data[0].Response, res.data[1].Response
			for _, r := range []*wireResponse{created, inProgress} {
				if r.Status != "in_progress" || len(r.Output) != 0 || r.Usage != nil || r.CompletedAt != nil {
					t.Errorf("early response %+v", r)
				}
			}
			added := res.data[2].Item
			if added.Type != "message" || added.Status != "in_progress" || added.Role != "assistant" || added.Content == nil || len(added.Content) != 0 {
				t.Errorf("output_item.added item %+v", added)
			}
			if p := res.data[3].Part; p.Type != "output_text" || p.Text != "" || string(p.Annotations) != "[]" {
				t.Errorf("content_part.added part %+v", p)
			}
			text, n := res.deltaText()
			if n != words || text != plain.text() {
				t.Errorf("%d deltas %q, want %d deltas %q", n, text, words, plain.text())
			}
			done := res.data[len(res.data)-4]
			if *done.Text != text {
				t.Errorf("output_text.done text %q", *done.Text)
			}
			if p := res.data[len(res.data)-3].Part; p.Text != text {
				t.Errorf("content_part.done %q", p.Text)
			}
			if it := res.data[len(res.data)-2].Item; it.Status != "completed" || it.ID != itemID || it.Content[0].Text != text {
				t.Errorf("output_item.done %+v", it)
			}
			final := res.last().Response
			if final.Status != "completed" || final.text() != text || final.Usage == nil || *final.Usage != *plain.Usage || final.CompletedAt == nil {
				t.Errorf("completed response %+v usage %+v, want usage %+v", final, final.Usage, plain.Usage)
			}
		})
	}
}

func TestResponsesDeterminism(t *testing.T) {
	_, base := newTestServer(t, Options{})
	answer := func(body string) string {
		t.Helper()
		status, r := postResponses(t, base, body)
		if status != 200 {
			t.Fatalf("status %d for %s", status, body)
		}
		return r.text()
	}
	ref := answer(`{"model":"m","input":"How do I reverse a list in Go?"}`)
	same := []string{
		`{"model":"m","input":"How do I reverse a list in Go?"}`,
		`{"model":"m","input":[{"role":"user","content":"How do I reverse a list in Go?"}]}`,
		`{"model":"m","input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"How do I reverse a list in Go?"}]}]}`,
		`{"model":"m","stream":false,"store":false,"max_output_tokens":1000,"metadata":{"a":"b"},"input":"How do I reverse a list in Go?"}`,
	}
	for _, body := range same {
		if got := answer(body); got != ref {
			t.Errorf("%s: %q, want %q", body, got, ref)
		}
	}
	different := []string{
		`{"model":"m","input":"How do I reverse a map in Go?"}`,
		`{"model":"m2","input":"How do I reverse a list in Go?"}`,
		`{"model":"m","temperature":0.3,"input":"How do I reverse a list in Go?"}`,
		`{"model":"m","instructions":"Be brief.","input":"How do I reverse a list in Go?"}`,
		`{"model":"m","input":[{"role":"developer","content":"Be brief."},{"role":"user","content":"How do I reverse a list in Go?"}]}`,
		`{"model":"m","text":{"format":{"type":"json_object"}},"input":"How do I reverse a list in Go?"}`,
	}
	for _, body := range different {
		if got := answer(body); got == ref {
			t.Errorf("%s: same answer %q", body, got)
		}
	}
	var chat struct {
		Choices []struct{ Message struct{ Content string } } `json:"choices"`
	}
	postJSON(t, base+"/chat/completions", `{"model":"m","messages":[{"role":"user","content":"How do I reverse a list in Go?"}]}`, &chat)
	if chat.Choices[0].Message.Content == ref {
		t.Error("chat and responses give the same answer for the same prompt")
	}
}

func TestResponsesMarkers(t *testing.T) {
	const words = 20
	_, base := newTestServer(t, Options{AnswerTokens: words})
	_, ref := postResponses(t, base, `{"model":"m","input":"plain question"}`)
	if ref.Status != "completed" || len(strings.Fields(ref.text())) != words {
		t.Fatalf("reference %+v", ref)
	}
	type check func(t *testing.T, status int, r wireResponse, s respStream)
	incomplete := func(reason string, nWords int) check {
		return func(t *testing.T, status int, r wireResponse, s respStream) {
			if s.status != 0 {
				if got, want := s.types(), textEvents(nWords, "response.incomplete"); !slices.Equal(got, want) {
					t.Fatalf("events %v, want %v", got, want)
				}
				r, status = *s.last().Response, s.status
				if it := s.data[len(s.data)-2].Item; it.Status != "incomplete" {
					t.Errorf("output_item.done status %q", it.Status)
				}
			}
			if status != 200 || r.Status != "incomplete" || r.IncompleteDetails == nil || r.IncompleteDetails.Reason != reason {
				t.Errorf("status %d response %q details %+v, want incomplete %s", status, r.Status, r.IncompleteDetails, reason)
			}
			if n := len(strings.Fields(r.text())); n != nWords || r.Output[0].Status != "incomplete" || r.Usage.OutputTokens != nWords {
				t.Errorf("%d words (item %q, usage %+v), want %d", n, r.Output[0].Status, r.Usage, nWords)
			}
			if r.CompletedAt != nil {
				t.Errorf("completed_at %d on an incomplete response", *r.CompletedAt)
			}
		}
	}
	httpError := func(want int) check {
		return func(t *testing.T, status int, _ wireResponse, s respStream) {
			if s.status != 0 {
				status = s.status
			}
			if status != want {
				t.Errorf("status %d, want %d", status, want)
			}
		}
	}
	tests := []struct {
		name   string
		body   string // %s is the prompt's marker
		marker string
		stream bool
		check  check
	}{
		{"length", `{"model":"m","input":"q %s"}`, MarkerLength, false, incomplete("max_output_tokens", words)},
		{"length stream", `{"model":"m","input":"q %s"}`, MarkerLength, true, incomplete("max_output_tokens", words)},
		{"max_output_tokens", `{"model":"m","max_output_tokens":16,"input":"q%s"}`, "", false, incomplete("max_output_tokens", 16)},
		{"max_output_tokens stream", `{"model":"m","max_output_tokens":16,"input":"q%s"}`, "", true, incomplete("max_output_tokens", 16)},
		{"filter", `{"model":"m","input":"q %s"}`, MarkerFilter, false, incomplete("content_filter", words/2)},
		{"filter stream", `{"model":"m","input":"q %s"}`, MarkerFilter, true, incomplete("content_filter", words/2)},
		{"status 429", `{"model":"m","input":"q %s"}`, MarkerStatus(429), false, httpError(429)},
		{"status 503 stream", `{"model":"m","input":"q %s"}`, MarkerStatus(503), true, httpError(503)},
		{"midstream error non-stream", `{"model":"m","input":"q %s"}`, MarkerMidstreamError, false, httpError(500)},
		{"failed non-stream", `{"model":"m","input":"q %s"}`, MarkerFailed, false, httpError(500)},
		{"midstream error", `{"model":"m","input":"q %s"}`, MarkerMidstreamError, true, func(t *testing.T, _ int, _ wireResponse, s respStream) {
			want := textEvents(3, "")[:7]
			want = append(want, "error")
			if got := s.types(); !slices.Equal(got, want) {
				t.Fatalf("events %v, want %v", got, want)
			}
			e := s.last()
			if s.events[len(s.events)-1].name != "error" || e.Error == nil || e.Error.Type != "server_error" || e.Error.Code != "server_error" ||
				!strings.Contains(e.Error.Message, "simulated") || e.Error.Param != nil || *e.SequenceNumber != 7 {
				t.Errorf("error event %s", s.events[len(s.events)-1].data)
			}
		}},
		{"failed", `{"model":"m","input":"q %s"}`, MarkerFailed, true, func(t *testing.T, _ int, _ wireResponse, s respStream) {
			want := append(textEvents(3, "")[:7], "response.failed")
			if got := s.types(); !slices.Equal(got, want) {
				t.Fatalf("events %v, want %v", got, want)
			}
			r := s.last().Response
			if r.Status != "failed" || r.Error == nil || r.Error.Code != "server_error" || r.Usage != nil || len(r.Output) != 0 {
				t.Errorf("failed response %+v", r)
			}
		}},
		{"cut stream", `{"model":"m","input":"q %s"}`, MarkerCut, true, func(t *testing.T, _ int, _ wireResponse, s respStream) {
			want := textEvents(words/2, "")[:4+words/2]
			if got := s.types(); !slices.Equal(got, want) {
				t.Fatalf("events %v, want %v", got, want)
			}
		}},
		{"echo", `{"model":"m","instructions":"Use <doc>x</doc>","input":[ {"role":"user", "content":"q %s"} ]}`, MarkerEcho, false,
			func(t *testing.T, _ int, r wireResponse, _ respStream) {
				want := `{"instructions":"Use <doc>x</doc>","input":[{"role":"user","content":"q ` + MarkerEcho + `"}]}`
				if r.text() != want {
					t.Errorf("echo %q, want %q", r.text(), want)
				}
			}},
		{"echo stream", `{"model":"m","input":"q %s"}`, MarkerEcho, true, func(t *testing.T, _ int, _ wireResponse, s respStream) {
			if text, _ := s.deltaText(); text != `{"instructions":null,"input":"q `+MarkerEcho+`"}` {
				t.Errorf("echo %q", text)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := fmt.Sprintf(tt.body, tt.marker)
			if !tt.stream {
				status, r := postResponses(t, base, body)
				tt.check(t, status, r, respStream{})
				return
			}
			body = strings.Replace(body, `{"model":"m",`, `{"model":"m","stream":true,`, 1)
			tt.check(t, 0, wireResponse{}, postResponsesStream(t, base, body))
		})
	}

	t.Run("cut non-stream", func(t *testing.T) {
		resp, err := http.Post(base+"/responses", "application/json", strings.NewReader(`{"model":"m","input":"q `+MarkerCut+`"}`))
		if err != nil {
			return // the transport noticed the abort
		}
		defer resp.Body.Close()
		var r wireResponse
		if err := json.NewDecoder(resp.Body).Decode(&r); err == nil {
			t.Errorf("cut body decoded: %+v", r)
		}
	})
}

// TestResponsesToolCalls covers the function_call item, its stream events
// and the follow-up turn with the tool's output.
func TestResponsesToolCalls(t *testing.T) {
	_, base := newTestServer(t, Options{AnswerTokens: 8})
	tools := `"tools":[{"type":"function","name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}]`
	body := `{"model":"m",` + tools + `,"input":"weather in Paris ` + MarkerTools + `"}`
	status, r := postResponses(t, base, body)
	if status != 200 || r.Status != "completed" || len(r.Output) != 1 {
		t.Fatalf("status %d response %+v", status, r)
	}
	call := r.Output[0]
	if call.Type != "function_call" || call.Name != "get_weather" || call.Status != "completed" ||
		!strings.HasPrefix(call.CallID, "call_") || !strings.HasPrefix(call.ID, "fc_") || call.Arguments == nil {
		t.Fatalf("function_call item %+v", call)
	}
	var args0 toolArguments
	if err := json.Unmarshal([]byte(*call.Arguments), &args0); err != nil || args0.Query != "weather in Paris" || len(args0.Ref) != 8 {
		t.Errorf("arguments %q: %+v %v", *call.Arguments, args0, err)
	}
	if !strings.Contains(string(r.Tools), `"get_weather"`) {
		t.Errorf("tools not echoed: %s", r.Tools)
	}

	s := postResponsesStream(t, base, strings.Replace(body, `{"model":"m",`, `{"model":"m","stream":true,`, 1))
	want := []string{"response.created", "response.in_progress", "response.output_item.added",
		"response.function_call_arguments.delta", "response.function_call_arguments.delta", "response.function_call_arguments.delta",
		"response.function_call_arguments.done", "response.output_item.done", "response.completed"}
	if got := s.types(); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	added := s.data[2].Item
	if added.Type != "function_call" || added.Status != "in_progress" || added.Arguments == nil || *added.Arguments != "" || added.CallID != call.CallID {
		t.Errorf("added item %+v", added)
	}
	var args strings.Builder
	for _, d := range s.data[3:6] {
		if d.ItemID != call.ID || d.ContentIndex != nil {
			t.Errorf("arguments delta %+v", d)
		}
		args.WriteString(*d.Delta)
	}
	if args.String() != *call.Arguments || *s.data[6].Arguments != *call.Arguments || *s.last().Response.Output[0].Arguments != *call.Arguments {
		t.Errorf("streamed arguments %q, want %q", args.String(), *call.Arguments)
	}

	// Second turn, with the whole history and with previous_response_id.
	output := `{"type":"function_call_output","call_id":"` + call.CallID + `","output":"{\"temp\":21}"}`
	history := `{"type":"function_call","call_id":"` + call.CallID + `","name":"get_weather","arguments":` + mustJSON(t, *call.Arguments) + `}`
	for name, follow := range map[string]string{
		"history":              `{"model":"m",` + tools + `,"input":[{"role":"user","content":"weather in Paris ` + MarkerTools + `"},` + history + `,` + output + `]}`,
		"previous_response_id": `{"model":"m",` + tools + `,"previous_response_id":"` + r.ID + `","input":[` + output + `]}`,
	} {
		t.Run(name, func(t *testing.T) {
			status, r2 := postResponses(t, base, follow)
			if status != 200 || r2.Status != "completed" || len(r2.Output) != 1 || r2.Output[0].Type != "message" ||
				!strings.HasPrefix(r2.text(), "Answer-") {
				t.Errorf("status %d follow-up %+v", status, r2)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestResponsesPreviousResponseID(t *testing.T) {
	sim, base := newTestServer(t, Options{})
	_, first := postResponses(t, base, `{"model":"m","input":"My name is Ada."}`)
	_, alone := postResponses(t, base, `{"model":"m","input":"What is my name?"}`)
	status, follow := postResponses(t, base, `{"model":"m","previous_response_id":"`+first.ID+`","input":"What is my name?"}`)
	if status != 200 || follow.PreviousID == nil || *follow.PreviousID != first.ID {
		t.Fatalf("status %d follow-up %+v", status, follow)
	}
	if follow.text() == alone.text() {
		t.Error("previous_response_id did not change the answer")
	}
	// The history counts as input tokens: 4 + 24 answer words + 4.
	if follow.Usage.InputTokens != 4+defaultAnswerTokens+4 {
		t.Errorf("input_tokens %d", follow.Usage.InputTokens)
	}
	// The same continuation again gives the same answer.
	if _, again := postResponses(t, base, `{"model":"m","previous_response_id":"`+first.ID+`","input":"What is my name?"}`); again.text() != follow.text() {
		t.Errorf("continuation not deterministic: %q vs %q", again.text(), follow.text())
	}
	// Chains: a third turn continues the second.
	if status, third := postResponses(t, base, `{"model":"m","previous_response_id":"`+follow.ID+`","input":"And again?"}`); status != 200 || third.Usage.InputTokens != follow.Usage.InputTokens+defaultAnswerTokens+2 {
		t.Errorf("status %d third turn usage %+v", status, third.Usage)
	}

	_, unstored := postResponses(t, base, `{"model":"m","store":false,"input":"Forget me."}`)
	if unstored.Store {
		t.Error("store:false not echoed")
	}
	for name, id := range map[string]string{"unknown": "resp_nope", "store false": unstored.ID} {
		t.Run(name, func(t *testing.T) {
			var e apiError
			status := postJSON(t, base+"/responses", `{"model":"m","previous_response_id":"`+id+`","input":"x"}`, &e)
			if status != 400 || e.Error.Code == nil || *e.Error.Code != "previous_response_not_found" || *e.Error.Param != "previous_response_id" ||
				!strings.Contains(e.Error.Message, id) {
				t.Errorf("status %d error %+v", status, e.Error)
			}
		})
	}
	sim.Reset()
	var e apiError
	if status := postJSON(t, base+"/responses", `{"model":"m","previous_response_id":"`+first.ID+`","input":"x"}`, &e); status != 400 {
		t.Errorf("Reset kept stored responses: status %d", status)
	}
}

func TestResponsesBadRequests(t *testing.T) {
	_, base := newTestServer(t, Options{})
	tests := []struct {
		name, body, param, code string
	}{
		{"malformed json", `{"model":`, "", ""},
		{"not an object", `[1,2]`, "", ""},
		{"unknown parameter", `{"model":"m","input":"x","messages":[]}`, "messages", "unknown_parameter"},
		{"missing model", `{"input":"x"}`, "model", "missing_required_parameter"},
		{"model not a string", `{"model":5,"input":"x"}`, "model", "invalid_type"},
		{"missing input", `{"model":"m"}`, "input", "missing_required_parameter"},
		{"input object", `{"model":"m","input":{"role":"user"}}`, "input", "invalid_type"},
		{"input number", `{"model":"m","input":5}`, "input", "invalid_type"},
		{"empty input array", `{"model":"m","input":[]}`, "input", "empty_array"},
		{"item not an object", `{"model":"m","input":["hi"]}`, "input[0]", "invalid_type"},
		{"missing role", `{"model":"m","input":[{"content":"x"}]}`, "input[0].role", "missing_required_parameter"},
		{"bad role", `{"model":"m","input":[{"role":"bot","content":"x"}]}`, "input[0].role", "invalid_value"},
		{"missing content", `{"model":"m","input":[{"role":"user"}]}`, "input[0].content", "missing_required_parameter"},
		{"numeric content", `{"model":"m","input":[{"role":"user","content":5}]}`, "input[0].content", "invalid_type"},
		{"chat-style part", `{"model":"m","input":[{"role":"user","content":[{"type":"text","text":"x"}]}]}`, "input[0].content[0].type", "invalid_value"},
		{"input_text from assistant", `{"model":"m","input":[{"role":"assistant","content":[{"type":"input_text","text":"x"}]}]}`, "input[0].content[0].type", "invalid_value"},
		{"unknown item type", `{"model":"m","input":[{"type":"frobnicate"}]}`, "input[0].type", "invalid_value"},
		{"item_reference", `{"model":"m","input":[{"type":"item_reference","id":"msg_1"}]}`, "input[0].type", "unsupported_value"},
		{"function_call without call_id", `{"model":"m","input":[{"type":"function_call","name":"f","arguments":"{}"}]}`, "input[0].call_id", "missing_required_parameter"},
		{"function_call_output without output", `{"model":"m","input":[{"type":"function_call_output","call_id":"c"}]}`, "input[0].output", "missing_required_parameter"},
		{"orphan function_call_output", `{"model":"m","input":[{"role":"user","content":"x"},{"type":"function_call_output","call_id":"call_9","output":"r"}]}`, "input", "invalid_value"},
		{"max_output_tokens too small", `{"model":"m","input":"x","max_output_tokens":15}`, "max_output_tokens", "integer_below_min_value"},
		{"temperature too high", `{"model":"m","input":"x","temperature":2.5}`, "temperature", "decimal_above_max_value"},
		{"top_p negative", `{"model":"m","input":"x","top_p":-0.1}`, "top_p", "decimal_below_min_value"},
		{"stream not a bool", `{"model":"m","input":"x","stream":"yes"}`, "stream", "invalid_type"},
		{"tool without type", `{"model":"m","input":"x","tools":[{"name":"f"}]}`, "tools[0].type", "missing_required_parameter"},
		{"function tool without name", `{"model":"m","input":"x","tools":[{"type":"function"}]}`, "tools[0].name", "missing_required_parameter"},
		{"function tool bad name", `{"model":"m","input":"x","tools":[{"type":"function","name":"get weather"}]}`, "tools[0].name", "invalid_value"},
		{"bad text format", `{"model":"m","input":"x","text":{"format":{"type":"xml"}}}`, "text.format.type", "invalid_value"},
		{"json_schema without name", `{"model":"m","input":"x","text":{"format":{"type":"json_schema","schema":{}}}}`, "text.format.name", "missing_required_parameter"},
		{"too much metadata", `{"model":"m","input":"x","metadata":{` + manyKeys(17) + `}}`, "metadata", "object_above_max_properties"},
		{"metadata not strings", `{"model":"m","input":"x","metadata":{"a":1}}`, "metadata", "invalid_type"},
		{"background", `{"model":"m","input":"x","background":true}`, "background", "unsupported_parameter"},
		{"conversation", `{"model":"m","input":"x","conversation":"conv_1"}`, "conversation", "unsupported_parameter"},
		{"empty previous_response_id", `{"model":"m","input":"x","previous_response_id":""}`, "previous_response_id", "invalid_value"},
		{"unknown marker", `{"model":"m","input":"x [[sim:nope]]"}`, "input", "invalid_sim_marker"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got apiError
			status := postJSON(t, base+"/responses", tt.body, &got)
			param, code := "", ""
			if got.Error.Param != nil {
				param = *got.Error.Param
			}
			if got.Error.Code != nil {
				code = *got.Error.Code
			}
			if status != 400 || got.Error.Type != "invalid_request_error" || got.Error.Message == "" || param != tt.param || code != tt.code {
				t.Errorf("status %d error %+v (param %q code %q), want 400 param %q code %q", status, got.Error, param, code, tt.param, tt.code)
			}
		})
	}
	t.Run("GET", func(t *testing.T) {
		resp, err := http.Get(base + "/responses")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != http.MethodPost {
			t.Errorf("status %d Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
		}
	})
}

func manyKeys(n int) string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf(`"k%d":"v"`, i)
	}
	return strings.Join(keys, ",")
}

// TestResponsesInputItems accepts every item shape clients send.
func TestResponsesInputItems(t *testing.T) {
	_, base := newTestServer(t, Options{})
	body := `{"model":"m","input":[
		{"role":"system","content":"Be brief."},
		{"role":"developer","content":[{"type":"input_text","text":"Cite."}]},
		{"type":"message","role":"user","content":[{"type":"input_text","text":"look"},{"type":"input_image","image_url":"data:,"}]},
		{"type":"reasoning","id":"rs_1","summary":[]},
		{"type":"message","role":"assistant","id":"msg_1","status":"completed","content":[{"type":"output_text","text":"ok","annotations":[]}]},
		{"type":"function_call","id":"fc_1","call_id":"call_1","name":"f","arguments":"{}","status":"completed"},
		{"type":"function_call_output","call_id":"call_1","output":[{"type":"input_text","text":"result"}]},
		{"role":"user","content":"and now?"}]}`
	status, r := postResponses(t, base, body)
	if status != 200 || r.Status != "completed" {
		t.Fatalf("status %d response %+v", status, r)
	}
	// Words: 2 + 1 + 1 + 1 + 1 + 2 (+0 for the function call and reasoning).
	if r.Usage.InputTokens != 8 || !strings.Contains(r.text(), "about and now?") {
		t.Errorf("usage %+v text %q", r.Usage, r.text())
	}
}

func TestResponsesCancellation(t *testing.T) {
	tests := []struct {
		name   string
		opts   Options
		prompt string
		stream bool
	}{
		{"hold stream", Options{}, "wait " + MarkerHold(time.Minute), true},
		{"hold non-stream", Options{}, "wait " + MarkerHold(time.Minute), false},
		{"ttft stream", Options{TTFT: time.Minute}, "wait", true},
		{"slow stream", Options{}, "wait " + MarkerSlow(time.Minute), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, base := newTestServer(t, tt.opts)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			body := fmt.Sprintf(`{"model":"m","stream":%v,"input":%q}`, tt.stream, tt.prompt)
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/responses", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					_, err = bufio.NewReader(resp.Body).ReadString(0) // until the cancel ends the body
					resp.Body.Close()
				}
				done <- err
			}()
			eventually(t, "the request to arrive", func() bool { return sim.ResponsesCalls() == 1 })
			cancel()
			if err := <-done; err == nil {
				t.Error("request succeeded, want a cancellation error")
			}
			eventually(t, "Canceled() == 1", func() bool { return sim.Canceled() == 1 })
		})
	}
}

// TestResponsesPacing asserts only lower bounds on time.
func TestResponsesPacing(t *testing.T) {
	const ttft = 100 * time.Millisecond
	_, base := newTestServer(t, Options{TTFT: ttft, TokensPerSecond: 50, AnswerTokens: 6})
	start := time.Now()
	resp, err := http.Post(base+"/responses", "application/json", strings.NewReader(`{"model":"m","stream":true,"input":"q"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	var created, firstDelta time.Duration
	for sc.Scan() {
		switch sc.Text() {
		case "event: response.created":
			created = time.Since(start)
		case "event: response.output_text.delta":
			if firstDelta == 0 {
				firstDelta = time.Since(start)
			}
		}
	}
	total := time.Since(start)
	if created == 0 || firstDelta < ttft || firstDelta < created {
		t.Errorf("created after %v, first delta after %v, want the delta >= %v", created, firstDelta, ttft)
	}
	if min := ttft + 5*20*time.Millisecond; total < min {
		t.Errorf("stream took %v, want >= %v", total, min)
	}
}

func TestErrorRateAppliesToResponses(t *testing.T) {
	_, base := newTestServer(t, Options{ErrorRate: 1})
	var e apiError
	if status := postJSON(t, base+"/responses", `{"model":"m","input":"x"}`, &e); status != 500 || e.Error.Type != "server_error" {
		t.Errorf("status %d error %+v", status, e.Error)
	}
}

func TestStoredResponsesEvictOldest(t *testing.T) {
	st := newStoredResponses(2)
	for _, id := range []string{"a", "b", "c"} {
		st.put(id, []convItem{{Kind: "message", Text: id}})
	}
	if _, ok := st.get("a"); ok {
		t.Error("oldest entry kept past the limit")
	}
	for _, id := range []string{"b", "c"} {
		if conv, ok := st.get(id); !ok || conv[0].Text != id {
			t.Errorf("entry %s: %v %v", id, conv, ok)
		}
	}
}

func FuzzParseResponses(f *testing.F) {
	for _, seed := range []string{
		`{"model":"m","input":"hi"}`,
		`{"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":"x"}]}],"stream":true}`,
		`{"model":"m","input":[{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":"r"}]}`,
		`{"model":"m","input":"x","tools":[{"type":"function","name":"f"}],"text":{"format":{"type":"json_schema","name":"n","schema":{}}}}`,
		`{"model":"m","input":[{"role":"assistant","content":[{"type":"output_text","text":"x"}]}],"max_output_tokens":16}`,
		`{"model":"m","input":[{"content":null}]}`,
		`{"model":"m","input":[{"type":"function_call_output","call_id":"c","output":[]}]}`,
		`{"model":"m","input":[{"type":"function_call_output","call_id":"c","output":5}]}`,
		`{"input":{}}`, `[]`, `null`, `"x"`, `{`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		turn, rerr := parseResponses(body)
		if rerr != nil {
			if rerr.status != http.StatusBadRequest || rerr.message == "" {
				t.Fatalf("bad error %+v", rerr)
			}
			return
		}
		if turn.req.Model == "" {
			t.Fatalf("accepted a request without model: %s", body)
		}
		_ = checkCallOutputs(nil, turn.items)
	})
}
