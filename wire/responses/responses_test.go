package responses

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/wire"
)

func mustParse(t *testing.T, body string) *Request {
	t.Helper()
	r, err := ParseRequest([]byte(body), wire.PromptLastMessage)
	if err != nil {
		t.Fatalf("ParseRequest(%s): %v", body, err)
	}
	return r
}

func key(r *Request) string { return string(r.Canonical()) }

func TestKeyEquivalences(t *testing.T) {
	base := `{"model":"gpt-4o","instructions":"Be brief.","input":"Hi there","temperature":0.2}`
	tests := []struct {
		name, other string
		same        bool
	}{
		{"field order", `{"temperature":0.2,"input":"Hi there","instructions":"Be brief.","model":"gpt-4o"}`, true},
		{"string is one user message", `{"model":"gpt-4o","instructions":"Be brief.","input":[{"role":"user","content":"Hi there"}],"temperature":0.2}`, true},
		{"explicit message type and text part", `{"model":"gpt-4o","instructions":"Be brief.","input":[{"type":"message","role":"user","content":[{"type":"input_text","text":" Hi there "}]}],"temperature":0.2}`, true},
		{"transport and bookkeeping", `{"model":"gpt-4o","instructions":"Be brief.","input":"Hi there","temperature":0.2,"stream":true,"user":"u","metadata":{"a":"b"},"prompt_cache_key":"k","safety_identifier":"s","service_tier":"flex"}`, true},
		{"explicit defaults", `{"model":"gpt-4o","instructions":"Be brief.","input":"Hi there","temperature":0.2,"top_p":1,"truncation":"disabled","parallel_tool_calls":true,"tool_choice":"auto","text":{"format":{"type":"text"}}}`, true},
		{"store absent equals true", `{"model":"gpt-4o","instructions":"Be brief.","input":"Hi there","temperature":0.2,"store":true}`, true},
		{"store false is another answer", `{"model":"gpt-4o","instructions":"Be brief.","input":"Hi there","temperature":0.2,"store":false}`, false},
		{"other instructions", `{"model":"gpt-4o","instructions":"Be verbose.","input":"Hi there","temperature":0.2}`, false},
		{"other model", `{"model":"gpt-4o-mini","instructions":"Be brief.","input":"Hi there","temperature":0.2}`, false},
		{"max output tokens", `{"model":"gpt-4o","instructions":"Be brief.","input":"Hi there","temperature":0.2,"max_output_tokens":64}`, false},
		{"text format", `{"model":"gpt-4o","instructions":"Be brief.","input":"Hi there","temperature":0.2,"text":{"format":{"type":"json_object"}}}`, false},
		{"reasoning", `{"model":"gpt-4o","instructions":"Be brief.","input":"Hi there","temperature":0.2,"reasoning":{"effort":"high"}}`, false},
		{"tools", `{"model":"gpt-4o","instructions":"Be brief.","input":"Hi there","temperature":0.2,"tools":[{"type":"function","name":"f"}]}`, false},
		{"tool choice", `{"model":"gpt-4o","instructions":"Be brief.","input":"Hi there","temperature":0.2,"tool_choice":"none"}`, false},
		{"unknown field kept", `{"model":"gpt-4o","instructions":"Be brief.","input":"Hi there","temperature":0.2,"vendor_knob":1}`, false},
		{"other role", `{"model":"gpt-4o","instructions":"Be brief.","input":[{"role":"developer","content":"Hi there"}],"temperature":0.2}`, false},
	}
	b := mustParse(t, base)
	for _, tt := range tests {
		o := mustParse(t, tt.other)
		if got := key(b) == key(o); got != tt.same {
			t.Errorf("%s: same key = %v, want %v\nbase:  %s\nother: %s", tt.name, got, tt.same, key(b), key(o))
		}
	}
}

func TestPromptPartitionAndEarlierTurns(t *testing.T) {
	turn := func(first string) string {
		return `{"model":"m","input":[{"role":"user","content":"` + first + `"},{"role":"assistant","id":"msg_1","status":"completed","content":[{"type":"output_text","text":"Yes.","annotations":[]}]},{"role":"user","content":"And tomorrow?"}]}`
	}
	a, b := mustParse(t, turn("Is it sunny in Oslo?")), mustParse(t, turn("Is it sunny in Rome?"))
	if a.Prompt != "And tomorrow?" || a.Context != "" {
		t.Fatalf("prompt %q context %q", a.Prompt, a.Context)
	}
	if string(a.contextCanon) == string(b.contextCanon) {
		t.Fatal("last mode: a follow-up in another conversation shares a partition")
	}
	// Context mode: the earlier user turns travel as the prompt's context
	// (embedded and verified with it) instead of splitting the partition.
	ca, err := ParseRequest([]byte(turn("Is it sunny in Oslo?")), wire.PromptContext)
	if err != nil {
		t.Fatal(err)
	}
	cb, _ := ParseRequest([]byte(turn("Is it sunny in Rome?")), wire.PromptContext)
	if ca.Prompt != "And tomorrow?" || ca.Context != "Is it sunny in Oslo?" || ca.Lookup().Context != ca.Context {
		t.Fatalf("context mode: prompt %q context %q", ca.Prompt, ca.Context)
	}
	if string(ca.contextCanon) != string(cb.contextCanon) || key(ca) == key(cb) {
		t.Fatal("context mode: the earlier turns must leave the partition, not the key")
	}
	// The id and status of an earlier output item are references, not content.
	c := mustParse(t, strings.Replace(turn("Is it sunny in Oslo?"), `"id":"msg_1","status":"completed",`, `"id":"msg_2",`, 1))
	if key(a) != key(c) {
		t.Fatalf("item ids change the key:\n%s\n%s", key(a), key(c))
	}
	if r := mustParse(t, `{"model":"m","input":[{"role":"user","content":[{"type":"input_image","image_url":"x"}]}]}`); r.Prompt != "" {
		t.Fatalf("an image was embedded as text: %q", r.Prompt)
	}
}

func TestBypassReasons(t *testing.T) {
	tests := []struct{ body, want string }{
		{`{"model":"m","input":"hi"}`, ""},
		{`{"model":"m","input":"hi","store":false}`, ""},
		{`{"model":"m","input":"hi","previous_response_id":"resp_1"}`, "previous_response_id"},
		{`{"model":"m","input":"hi","conversation":"conv_1"}`, "conversation"},
		{`{"model":"m","prompt":{"id":"pmpt_1"}}`, "prompt template"},
		{`{"model":"m","input":"hi","background":true}`, "background"},
		{`{"model":"m","input":"hi","top_logprobs":3}`, "logprobs"},
		{`{"model":"m","input":"hi","include":["message.output_text.logprobs"]}`, "logprobs"},
		{`{"model":"m","input":[{"type":"item_reference","id":"msg_1"},{"role":"user","content":"hi"}]}`, "item_reference"},
		{`{"model":"m"}`, "no input"},
	}
	for _, tt := range tests {
		if got := mustParse(t, tt.body).BypassReason; got != tt.want {
			t.Errorf("%s: bypass %q, want %q", tt.body, got, tt.want)
		}
	}
}

func TestBadRequests(t *testing.T) {
	tests := []struct{ body, param string }{
		{``, ""},
		{`[]`, ""},
		{`{"input":"hi"}`, "model"},
		{`{"model":3,"input":"hi"}`, "model"},
		{`{"model":"m","input":3}`, "input"},
		{`{"model":"m","input":[3]}`, "input[0]"},
		{`{"model":"m","input":[{"role":"wizard","content":"x"}]}`, "input[0].role"},
		{`{"model":"m","input":[{"role":"user","content":5}]}`, "input[0].content"},
		{`{"model":"m","input":"hi","stream":"yes"}`, "stream"},
		{`{"model":"m","input":"hi","temperature":"hot"}`, "temperature"},
		{`{"model":"m","input":"hi","instructions":7}`, "instructions"},
	}
	for _, tt := range tests {
		_, err := ParseRequest([]byte(tt.body), wire.PromptLastMessage)
		var re *wire.RequestError
		if !errors.As(err, &re) || re.Param != tt.param || re.Message == "" {
			t.Errorf("%q: err = %v, want a request error on %q", tt.body, err, tt.param)
		}
	}
}

// FuzzParseRequest checks that parsing never panics, that errors are
// request errors, and that a rendered hit reassembles to its answer.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","input":"hi","temperature":0.2}`,
		`{"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":"a"}]}],"tools":[]}`,
		`{"model":"m","input":[{"type":"function_call","call_id":"c","name":"f","arguments":"{}"}],"store":false}`,
		`{}`, `{"model":"m","input":[{"id":"msg_sc0123456789abcdef_abc","role":"assistant","content":"x"}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseRequest(body, wire.PromptLastMessage)
		if err != nil {
			if !errors.Is(err, wire.ErrBadRequest) {
				t.Fatalf("error does not wrap ErrBadRequest: %v", err)
			}
			return
		}
		if _, err := r.UpstreamBody(nil); err != nil {
			t.Fatalf("upstream body: %v", err)
		}
	})
}

// completedObject is a response object as the API returns it.
func completedObject(id, msgID, text string, store bool) string {
	t, _ := json.Marshal(text)
	s := "true"
	if !store {
		s = "false"
	}
	return `{"id":"` + id + `","object":"response","created_at":1,"status":"completed","error":null,"incomplete_details":null,` +
		`"model":"m-1","output":[{"id":"` + msgID + `","type":"message","status":"completed","role":"assistant",` +
		`"content":[{"type":"output_text","annotations":[],"logprobs":[],"text":` + string(t) + `}]}],"store":` + s + `,` +
		`"metadata":{},"user":null,"usage":{"input_tokens":5,"input_tokens_details":{"cached_tokens":0},"output_tokens":3,` +
		`"output_tokens_details":{"reasoning_tokens":0},"total_tokens":8}}`
}

func TestAssembleJSON(t *testing.T) {
	ok := completedObject("resp_1", "msg_1", "Hello world", true)
	tests := []struct {
		name, body string
		clean      bool
		wantErr    string
	}{
		{"ok", ok, true, ""},
		{"truncated", ok[:60], false, "incomplete"},
		{"malformed", ok[:60], true, "malformed"},
		{"incomplete", strings.Replace(strings.Replace(ok, `"status":"completed","error"`, `"status":"incomplete","error"`, 1), `"incomplete_details":null`, `"incomplete_details":{"reason":"max_output_tokens"}`, 1), true, "incomplete"},
		{"function call", strings.Replace(ok, `"type":"message"`, `"type":"function_call"`, 1), true, "function_call"},
		{"annotations", strings.Replace(ok, `"annotations":[]`, `"annotations":[{"type":"url_citation"}]`, 1), true, "annotated"},
		{"refusal", strings.Replace(ok, `"type":"output_text"`, `"type":"refusal"`, 1), true, "refusal"},
		{"empty text", strings.Replace(ok, `"Hello world"`, `""`, 1), true, "empty answer"},
		{"error", strings.Replace(ok, `"error":null`, `"error":{"code":"server_error","message":"x"}`, 1), true, "error"},
	}
	for _, tt := range tests {
		a := NewAssembler(false)
		_, _ = a.Write([]byte(tt.body))
		ans, err := a.Answers(tt.clean)
		if tt.wantErr != "" {
			if !errors.Is(err, wire.ErrNotCacheable) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: err = %v, want not cacheable: %s", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil || len(ans) != 1 || ans[0].Text != "Hello world" || ans[0].Model != "m-1" || ans[0].Usage.TotalTokens != 8 {
			t.Errorf("%s: %+v, %v", tt.name, ans, err)
		}
	}
}

// TestRenderRoundTrip replays a stored answer as JSON and as a stream,
// reassembles both with the same assembler that judges upstream answers,
// and checks ids, sequence numbers and the events.
func TestRenderRoundTrip(t *testing.T) {
	for _, store := range []bool{true, false} {
		a := NewAssembler(false)
		_, _ = a.Write([]byte(completedObject("resp_abc", "msg_def", strings.Repeat("héllo wörld ", 20), store)))
		ans, err := a.Answers(true)
		if err != nil {
			t.Fatal(err)
		}
		for _, stream := range []bool{false, true} {
			body := `{"model":"m","input":"hi","metadata":{"app":"x"}`
			if stream {
				body += `,"stream":true`
			}
			if !store {
				body += `,"store":false`
			}
			req := mustParse(t, body+`}`)
			ct, out, err := req.Render([]*cache.Answer{&ans[0]}, wire.RenderOptions{Now: time.Unix(1_800_000_000, 0)})
			if err != nil {
				t.Fatal(err)
			}
			back := NewAssembler(stream)
			_, _ = back.Write(out)
			got, err := back.Answers(true)
			if err != nil || got[0].Text != ans[0].Text || got[0].Usage.TotalTokens != 8 {
				t.Fatalf("store=%v stream=%v: replay reassembles to %+v, %v\n%s", store, stream, got, err, out)
			}
			var obj struct {
				ID        string            `json:"id"`
				CreatedAt int64             `json:"created_at"`
				Store     bool              `json:"store"`
				Metadata  map[string]string `json:"metadata"`
				Output    []struct{ ID string }
			}
			_ = json.Unmarshal(got[0].Payload, &obj)
			orig, minted := original(obj.ID)
			morig, mminted := original(obj.Output[0].ID)
			wantOrig, wantMsg := "", ""
			if store {
				wantOrig, wantMsg = "resp_abc", "msg_def"
			}
			if !minted || !mminted || orig != wantOrig || morig != wantMsg || obj.CreatedAt != 1_800_000_000 ||
				obj.Store != store || obj.Metadata["app"] != "x" {
				t.Fatalf("store=%v stream=%v: replayed object %+v (original %q %q)", store, stream, obj, orig, morig)
			}
			if stream != (ct == "text/event-stream") {
				t.Fatalf("content type %q", ct)
			}
			if stream {
				checkEvents(t, string(out))
			}
		}
	}
}

// checkEvents checks a replayed stream's event names and numbering.
func checkEvents(t *testing.T, s string) {
	t.Helper()
	var types []string
	seq := 0
	for _, block := range strings.Split(strings.TrimSpace(s), "\n\n") {
		lines := strings.SplitN(block, "\n", 2)
		name := strings.TrimPrefix(lines[0], "event: ")
		var ev struct {
			Type string `json:"type"`
			Seq  int    `json:"sequence_number"`
		}
		if err := json.Unmarshal([]byte(strings.TrimPrefix(lines[1], "data: ")), &ev); err != nil || ev.Type != name || ev.Seq != seq {
			t.Fatalf("event %d: %q / %+v (%v)", seq, name, ev, err)
		}
		seq++
		if len(types) == 0 || types[len(types)-1] != name {
			types = append(types, name)
		}
	}
	want := "response.created,response.in_progress,response.output_item.added,response.content_part.added," +
		"response.output_text.delta,response.output_text.done,response.content_part.done,response.output_item.done,response.completed"
	if strings.Join(types, ",") != want {
		t.Fatalf("events %v", types)
	}
}

func TestAssembleStreamFailures(t *testing.T) {
	a := NewAssembler(false)
	_, _ = a.Write([]byte(completedObject("resp_1", "msg_1", "Hello world", false)))
	ans, _ := a.Answers(true)
	_, full, _ := mustParse(t, `{"model":"m","input":"x","stream":true,"store":false}`).Render([]*cache.Answer{&ans[0]}, wire.RenderOptions{Now: time.Now()})
	cut := string(full[:strings.Index(string(full), "event: response.completed")])
	tests := []struct{ name, body, want string }{
		{"cut before completed", cut, "incomplete"},
		{"error event", cut + "event: error\ndata: {\"type\":\"error\",\"sequence_number\":99,\"message\":\"x\"}\n\n", "error"},
		{"failed", cut + "event: response.failed\ndata: {\"type\":\"response.failed\",\"sequence_number\":99,\"response\":{}}\n\n", "failed"},
		{"junk", "event: response.created\ndata: {not json\n\n", "malformed"},
	}
	for _, tt := range tests {
		a := NewAssembler(true)
		_, _ = a.Write([]byte(tt.body))
		if _, err := a.Answers(true); !errors.Is(err, wire.ErrNotCacheable) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestMintedIDsTranslate(t *testing.T) {
	stored, plain := mint("resp_abc123", true), mint("msg_xyz", false)
	if o, ok := original(stored); !ok || o != "resp_abc123" {
		t.Fatalf("original(%q) = %q, %v", stored, o, ok)
	}
	if o, ok := original(plain); !ok || o != "" || !strings.HasPrefix(plain, "msg_sc") {
		t.Fatalf("original(%q) = %q, %v", plain, o, ok)
	}
	if again := mint(stored, true); again == stored {
		t.Fatal("a replay of a replay reused the id")
	} else if o, _ := original(again); o != "resp_abc123" {
		t.Fatalf("re-minted id lost its original: %q", o)
	}
	for _, id := range []string{"resp_abc", "resp_sc123", "resp_scxyzxyzxyzxyzxyzx", "msg_", "plain"} {
		if _, ok := original(id); ok {
			t.Errorf("%q taken for a minted id", id)
		}
	}
	r := mustParse(t, `{"model":"m","previous_response_id":"`+stored+`","input":[{"type":"item_reference","id":"`+mint("msg_orig", true)+`"},{"role":"assistant","id":"`+plain+`","content":"x"},{"role":"user","content":"y"}]}`)
	b, err := r.UpstreamBody(nil)
	if err != nil || b == nil {
		t.Fatalf("no translated body: %v", err)
	}
	var got struct {
		Prev  string           `json:"previous_response_id"`
		Input []map[string]any `json:"input"`
	}
	_ = json.Unmarshal(b, &got)
	if got.Prev != "resp_abc123" || got.Input[0]["id"] != "msg_orig" || got.Input[1]["id"] != nil || got.Input[2]["content"] != "y" {
		t.Fatalf("translated body %s", b)
	}
	if b, _ := mustParse(t, `{"model":"m","input":"hi"}`).UpstreamBody(nil); b != nil {
		t.Fatal("a body without minted ids was rewritten")
	}
}

// TestContextAnswers: in context mode the earlier assistant messages are
// fingerprinted (the same long answer after two openings gives the same
// fingerprint; a short one none).
func TestContextAnswers(t *testing.T) {
	const long = "Oslo will be mostly sunny this afternoon with a light breeze from the south west, a high of nineteen degrees and no rain expected before the weekend."
	turn := func(first, answer string) string {
		return `{"model":"m","input":[{"role":"user","content":"` + first + `"},{"role":"assistant","content":[{"type":"output_text","text":"` + answer + `","annotations":[]}]},{"role":"user","content":"And tomorrow?"}]}`
	}
	fp := func(body string) string {
		r, err := ParseRequest([]byte(body), wire.PromptContext)
		if err != nil {
			t.Fatal(err)
		}
		if r.Lookup().ContextAnswers != r.ContextAnswers {
			t.Fatal("the lookup lost the fingerprint")
		}
		return r.ContextAnswers
	}
	a, b := fp(turn("Is it sunny in Oslo?", long)), fp(turn("Will Oslo be sunny today?", long))
	if a == "" || a != b {
		t.Fatalf("the same answer: %q, %q", a, b)
	}
	if c := fp(turn("Is it sunny in Oslo?", "Yes.")); c == "" || cache.ContextAnswersVouch(c) || !cache.ContextAnswersVouch(a) {
		t.Fatalf("a short answer: %q", c)
	}
}
