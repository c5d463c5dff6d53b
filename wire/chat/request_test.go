package chat

import (
	"errors"
	"strings"
	"testing"

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

func TestKeyEquivalences(t *testing.T) {
	base := `{"model":"gpt-4o","messages":[{"role":"user","content":"Hi there"}],"temperature":0.2}`
	tests := []struct {
		name  string
		other string
		same  bool
	}{
		{"field order", `{"temperature":0.2,"messages":[{"content":"Hi there","role":"user"}],"model":"gpt-4o"}`, true},
		{"whitespace", "{ \"model\" : \"gpt-4o\",\n \"messages\":[ {\"role\":\"user\",\"content\":\"Hi there\"} ] ,\"temperature\": 0.2 }", true},
		{"number spelling", `{"model":"gpt-4o","messages":[{"role":"user","content":"Hi there"}],"temperature":2e-1}`, true},
		{"stream is transport", `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hi there"}],"temperature":0.2}`, true},
		{"user is bookkeeping", `{"model":"gpt-4o","user":"u1","metadata":{"a":"b"},"messages":[{"role":"user","content":"Hi there"}],"temperature":0.2}`, true},
		{"surrounding whitespace of text", `{"model":"gpt-4o","messages":[{"role":"user","content":"  Hi there\n"}],"temperature":0.2}`, true},
		{"one text part", `{"model":"gpt-4o","messages":[{"role":"user","content":[{"type":"text","text":"Hi there"}]}],"temperature":0.2}`, true},
		{"explicit defaults", `{"model":"gpt-4o","messages":[{"role":"user","content":"Hi there"}],"temperature":0.2,"top_p":1,"n":1,"presence_penalty":0,"frequency_penalty":0.0}`, true},
		{"null fields", `{"model":"gpt-4o","messages":[{"role":"user","content":"Hi there","name":null}],"temperature":0.2,"seed":null}`, true},
		{"other model", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi there"}],"temperature":0.2}`, false},
		{"other temperature", `{"model":"gpt-4o","messages":[{"role":"user","content":"Hi there"}],"temperature":0.3}`, false},
		{"other text", `{"model":"gpt-4o","messages":[{"role":"user","content":"Hi there!"}],"temperature":0.2}`, false},
		{"inner case", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi there"}],"temperature":0.2}`, false},
		{"other role", `{"model":"gpt-4o","messages":[{"role":"system","content":"Hi there"}],"temperature":0.2}`, false},
		{"seed", `{"model":"gpt-4o","messages":[{"role":"user","content":"Hi there"}],"temperature":0.2,"seed":7}`, false},
		{"max tokens", `{"model":"gpt-4o","messages":[{"role":"user","content":"Hi there"}],"temperature":0.2,"max_tokens":5}`, false},
		{"tools", `{"model":"gpt-4o","messages":[{"role":"user","content":"Hi there"}],"temperature":0.2,"tools":[{"type":"function","function":{"name":"f"}}]}`, false},
		{"response format", `{"model":"gpt-4o","messages":[{"role":"user","content":"Hi there"}],"temperature":0.2,"response_format":{"type":"json_object"}}`, false},
		{"stop", `{"model":"gpt-4o","messages":[{"role":"user","content":"Hi there"}],"temperature":0.2,"stop":["x"]}`, false},
		{"unknown field kept", `{"model":"gpt-4o","messages":[{"role":"user","content":"Hi there"}],"temperature":0.2,"vendor_knob":3}`, false},
		{"earlier turn", `{"model":"gpt-4o","messages":[{"role":"system","content":"Be terse"},{"role":"user","content":"Hi there"}],"temperature":0.2}`, false},
	}
	b := mustParse(t, base)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := mustParse(t, tt.other)
			if got := b.Key("ns") == o.Key("ns"); got != tt.same {
				t.Errorf("same key = %v, want %v\nbase:  %s\nother: %s", got, tt.same, b.Canonical(), o.Canonical())
			}
		})
	}
}

func TestMaxTokensAlias(t *testing.T) {
	a := mustParse(t, `{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":10}`)
	b := mustParse(t, `{"model":"m","messages":[{"role":"user","content":"x"}],"max_completion_tokens":10}`)
	if a.Key("n") != b.Key("n") {
		t.Fatalf("max_tokens and max_completion_tokens should share a key: %s vs %s", a.Canonical(), b.Canonical())
	}
}

func TestNamespaceSeparatesKeys(t *testing.T) {
	r := mustParse(t, `{"model":"m","messages":[{"role":"user","content":"x"}]}`)
	if r.Key("a") == r.Key("b") {
		t.Fatal("two namespaces produced the same key")
	}
	if r.Partition("a") == r.Partition("b") {
		t.Fatal("two namespaces produced the same partition")
	}
}

func TestPartitionAndPrompt(t *testing.T) {
	conv := func(sys, q string) string {
		return `{"model":"m","messages":[{"role":"system","content":"` + sys + `"},{"role":"user","content":"Who wrote Hamlet?"},{"role":"assistant","content":"Shakespeare."},{"role":"user","content":"` + q + `"}]}`
	}
	a := mustParse(t, conv("S", "How old was he?"))
	b := mustParse(t, conv("S", "What age did he reach?"))
	c := mustParse(t, conv("T", "How old was he?"))
	if a.Prompt != "How old was he?" {
		t.Fatalf("prompt = %q", a.Prompt)
	}
	if a.Partition("n") != b.Partition("n") {
		t.Error("same prefix, different last question: partitions differ")
	}
	if a.Partition("n") == c.Partition("n") {
		t.Error("different system prompt: partitions equal")
	}
	single := mustParse(t, `{"model":"m","messages":[{"role":"user","content":"How old was he?"}]}`)
	if single.Partition("n") == a.Partition("n") {
		t.Error("a follow-up without its conversation shares a partition with it")
	}

	conv2, err := ParseRequest([]byte(conv("S", "How old was he?")), wire.PromptConversation)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(conv2.Prompt, "Who wrote Hamlet?") || !strings.Contains(conv2.Prompt, "How old was he?") {
		t.Errorf("conversation prompt = %q", conv2.Prompt)
	}
}

func TestSemanticAndBypassReasons(t *testing.T) {
	tests := []struct {
		body           string
		semantic, pass bool
	}{
		{`{"model":"m","messages":[{"role":"user","content":"hello"}]}`, true, true},
		{`{"model":"m","messages":[{"role":"user","content":"hello"},{"role":"assistant","content":"x"}]}`, false, true},
		{`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"what is this"},{"type":"image_url","image_url":{"url":"data:x"}}]}]}`, false, true},
		{`{"model":"m","messages":[{"role":"user","content":"   "}]}`, false, true},
		{`{"model":"m","n":2,"messages":[{"role":"user","content":"hello"}]}`, true, false},
		{`{"model":"m","logprobs":true,"messages":[{"role":"user","content":"hello"}]}`, true, false},
	}
	for _, tt := range tests {
		r := mustParse(t, tt.body)
		if (r.SemanticReason == "") != tt.semantic {
			t.Errorf("%s: SemanticReason = %q", tt.body, r.SemanticReason)
		}
		if (r.BypassReason == "") != tt.pass {
			t.Errorf("%s: BypassReason = %q", tt.body, r.BypassReason)
		}
	}
}

func TestBadRequests(t *testing.T) {
	tests := []struct {
		body, param string
	}{
		{``, ""},
		{`[]`, ""},
		{`null`, ""},
		{`{"model":`, ""},
		{"\xff\xfe", ""},
		{`{"messages":[{"role":"user","content":"x"}]}`, "model"},
		{`{"model":3,"messages":[{"role":"user","content":"x"}]}`, "model"},
		{`{"model":"","messages":[{"role":"user","content":"x"}]}`, "model"},
		{`{"model":"m"}`, "messages"},
		{`{"model":"m","messages":"hi"}`, "messages"},
		{`{"model":"m","messages":[]}`, "messages"},
		{`{"model":"m","messages":[3]}`, "messages[0]"},
		{`{"model":"m","messages":[{"content":"x"}]}`, "messages[0].role"},
		{`{"model":"m","messages":[{"role":"wizard","content":"x"}]}`, "messages[0].role"},
		{`{"model":"m","messages":[{"role":"user","content":5}]}`, "messages[0].content"},
		{`{"model":"m","messages":[{"role":"user","content":"x"}],"stream":"yes"}`, "stream"},
		{`{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":"hot"}`, "temperature"},
		{`{"model":"m","messages":[{"role":"user","content":"x"}],"n":0}`, "n"},
		{`{"model":"m","messages":[{"role":"user","content":"x"}],"stream_options":3}`, "stream_options"},
	}
	for _, tt := range tests {
		_, err := ParseRequest([]byte(tt.body), wire.PromptLastMessage)
		var re *wire.RequestError
		if !errors.As(err, &re) || !errors.Is(err, wire.ErrBadRequest) {
			t.Errorf("%q: err = %v, want *RequestError", tt.body, err)
			continue
		}
		if re.Param != tt.param {
			t.Errorf("%q: param = %q, want %q", tt.body, re.Param, tt.param)
		}
		if re.Message == "" {
			t.Errorf("%q: empty message", tt.body)
		}
	}
}

// FuzzParseRequest checks that parsing never panics and that the canonical
// form is a fixed point: parsing it again gives the same key.
func FuzzParseRequest(f *testing.F) {
	seeds := []string{
		`{"model":"gpt-4o","messages":[{"role":"user","content":"Hi"}],"temperature":0.2}`,
		`{"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":" a "}]}],"max_completion_tokens":5,"top_p":1.0,"seed":1e3}`,
		`{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"b":1,"a":[1.50,2]}}}]}`,
		`{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[]}]}`,
		`{"model":"m","messages":[{"role":"user","content":"\u00e9\n\t\"q\""}],"stop":null,"n":1}`,
		`{}`, `[`, `{"model":"m","messages":[{"role":"user","content":"x"}],"seed":123456789012345678901234567890}`,
	}
	for _, s := range seeds {
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
		again, err := ParseRequest(r.Canonical(), wire.PromptLastMessage)
		if err != nil {
			t.Fatalf("canonical form does not parse: %v\n%s", err, r.Canonical())
		}
		if again.Key("ns") != r.Key("ns") {
			t.Fatalf("canonical form is not a fixed point:\n%s\n%s", r.Canonical(), again.Canonical())
		}
		if again.Partition("ns") != r.Partition("ns") || again.Prompt != r.Prompt {
			t.Fatalf("partition or prompt changed after canonicalisation")
		}
	})
}

// TestContextMode: in context mode the earlier user turns leave the
// partition and become the prompt's context (the cache embeds and
// verifies both); last mode keeps them in the partition.
func TestContextMode(t *testing.T) {
	conv := func(opening, followup string) string {
		return `{"model":"m","messages":[{"role":"user","content":"` + opening + `"},{"role":"assistant","content":"..."},{"role":"user","content":"` + followup + `"}]}`
	}
	parse := func(body string, mode wire.PromptMode) *Request {
		r, err := ParseRequest([]byte(body), mode)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a := parse(conv("What is the significance of DNA?", "what does it stand for"), wire.PromptContext)
	b := parse(conv("What is the significance of RNA?", "what does it stand for"), wire.PromptContext)
	if a.Prompt != "what does it stand for" || a.Context != "What is the significance of DNA?" || a.Lookup().Context != a.Context {
		t.Fatalf("prompt %q, context %q", a.Prompt, a.Context)
	}
	if a.Partition("ns") != b.Partition("ns") {
		t.Error("the earlier turns are still in the partition")
	}
	if a.Key("ns") == b.Key("ns") {
		t.Error("two conversations share an exact key")
	}
	last := parse(conv("What is the significance of DNA?", "what does it stand for"), wire.PromptLastMessage)
	if last.Context != "" || last.Partition("ns") == a.Partition("ns") {
		t.Error("last mode changed")
	}
}

// TestEchoedAnswer: an earlier answer echoed back with the openai SDKs'
// empty extras ("refusal": null, "annotations": []) is the same turn as
// the bare one, for the key and the context-answers fingerprint; real
// annotations are not.
func TestEchoedAnswer(t *testing.T) {
	conv := func(answer string) string {
		return `{"model":"m","messages":[{"role":"user","content":"What is DNA?"},` + answer + `,{"role":"user","content":"what does it stand for"}]}`
	}
	const text = `"DNA is the molecule that carries the genetic instructions of every known organism, from bacteria to people, in a double helix of four bases."`
	parse := func(body string) *Request {
		r, err := ParseRequest([]byte(body), wire.PromptContext)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	bare := parse(conv(`{"role":"assistant","content":` + text + `}`))
	for _, tt := range []struct {
		name, answer string
		same         bool
	}{
		{"SDK extras", `{"role":"assistant","content":` + text + `,"refusal":null,"annotations":[]}`, true},
		{"real annotations", `{"role":"assistant","content":` + text + `,"annotations":[{"type":"url_citation","url_citation":{"url":"https://example.com"}}]}`, false},
	} {
		o := parse(conv(tt.answer))
		if (o.Key("ns") == bare.Key("ns")) != tt.same || (o.ContextAnswers == bare.ContextAnswers) != tt.same {
			t.Errorf("%s: same key %v, same fingerprint %v, want %v", tt.name, o.Key("ns") == bare.Key("ns"), o.ContextAnswers == bare.ContextAnswers, tt.same)
		}
	}
}

// TestContextAnswers: in context mode the earlier assistant turns are
// fingerprinted, so a conversation continued after the same answer is
// recognised; too short an answer, or another mode, gives none.
func TestContextAnswers(t *testing.T) {
	const long = "DNA, deoxyribonucleic acid, carries the genetic instructions for the development, functioning, growth and reproduction of every known organism and many viruses."
	conv := func(opening, answer string) string {
		return `{"model":"m","messages":[{"role":"user","content":"` + opening + `"},{"role":"assistant","content":"` + answer + `"},{"role":"user","content":"what does it stand for"}]}`
	}
	fp := func(body string, mode wire.PromptMode) string {
		r, err := ParseRequest([]byte(body), mode)
		if err != nil {
			t.Fatal(err)
		}
		if r.Lookup().ContextAnswers != r.ContextAnswers {
			t.Fatal("the lookup lost the fingerprint")
		}
		return r.ContextAnswers
	}
	a := fp(conv("What is the significance of DNA?", long), wire.PromptContext)
	b := fp(conv("Why does DNA matter?", long), wire.PromptContext)
	if a == "" || a != b {
		t.Errorf("the same answer after two openings: %q, %q", a, b)
	}
	if c := fp(conv("Why does DNA matter?", long+" It is a double helix."), wire.PromptContext); c == a || c == "" {
		t.Errorf("another answer: %q", c)
	}
	if s := fp(conv("Is DNA a molecule?", "Yes, it is."), wire.PromptContext); s == "" || cache.ContextAnswersVouch(s) || !cache.ContextAnswersVouch(a) {
		t.Errorf("a short answer: %q (vouches %v), a long one vouches %v", s, cache.ContextAnswersVouch(s), cache.ContextAnswersVouch(a))
	}
	// Tool results are part of what happened: the same answer text after
	// other results is another conversation.
	tool := func(result string) string {
		return `{"model":"m","messages":[{"role":"user","content":"weather in Paris?"},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"weather","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c1","content":"` + result + `"},{"role":"assistant","content":"` + long + `"},{"role":"user","content":"should I take an umbrella"}]}`
	}
	if x, y := fp(tool("15C sunny"), wire.PromptContext), fp(tool("10C rain"), wire.PromptContext); x == y || x == "" {
		t.Errorf("other tool results, same fingerprint %q", x)
	}
	if n := fp(`{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"user","content":"what does it stand for"}]}`, wire.PromptContext); n != "" {
		t.Errorf("no answer yet, fingerprint %q", n)
	}
	if l := fp(conv("What is the significance of DNA?", long), wire.PromptLastMessage); l != "" {
		t.Errorf("last mode fingerprinted: %q", l)
	}
}
