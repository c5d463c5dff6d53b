package embeddings

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
	r, err := ParseRequest([]byte(body))
	if err != nil {
		t.Fatalf("ParseRequest(%s): %v", body, err)
	}
	return r
}

func TestKeysPerInput(t *testing.T) {
	base := mustParse(t, `{"model":"e","input":["alpha","bravo"],"dimensions":8}`)
	tests := []struct {
		name, body string
		item       int
		same       bool
	}{
		{"single string", `{"model":"e","input":"alpha","dimensions":8}`, 0, true},
		{"encoding and user are transport", `{"model":"e","input":["bravo"],"dimensions":8,"encoding_format":"base64","user":"u"}`, 1, true},
		{"position does not matter", `{"dimensions":8,"input":["zulu","alpha"],"model":"e"}`, 0, false},
		{"other dimensions", `{"model":"e","input":"alpha","dimensions":16}`, 0, false},
		{"other model", `{"model":"f","input":"alpha","dimensions":8}`, 0, false},
		{"unknown field kept", `{"model":"e","input":"alpha","dimensions":8,"knob":1}`, 0, false},
		{"text is exact", `{"model":"e","input":"Alpha","dimensions":8}`, 0, false},
	}
	for _, tt := range tests {
		o := mustParse(t, tt.body)
		if got := string(o.Items()[0].Key) == string(base.Items()[tt.item].Key); got != tt.same {
			t.Errorf("%s: same key = %v, want %v\n%s\n%s", tt.name, got, tt.same, o.Items()[0].Key, base.Items()[tt.item].Key)
		}
	}
	if p := mustParse(t, `{"dimensions":8,"input":["zulu","alpha"],"model":"e"}`); string(p.Items()[1].Key) != string(base.Items()[0].Key) {
		t.Error("the same input at another position has another key")
	}
	tok := mustParse(t, `{"model":"e","input":[1,2,3]}`)
	toks := mustParse(t, `{"model":"e","input":[[1,2,3],[4]]}`)
	if len(tok.Inputs) != 1 || len(toks.Inputs) != 2 || string(tok.Items()[0].Key) != string(toks.Items()[0].Key) {
		t.Fatalf("token inputs: %v / %v", tok.Inputs, toks.Inputs)
	}
	for _, it := range base.Items() {
		if it.Prompt != "" || !it.SkipSemantic {
			t.Fatal("an embeddings input may use the similarity tier")
		}
	}
}

func TestBadRequests(t *testing.T) {
	tests := []struct{ body, param string }{
		{`{}`, "model"},
		{`{"model":"e"}`, "input"},
		{`{"model":"e","input":""}`, "input"},
		{`{"model":"e","input":[]}`, "input"},
		{`{"model":"e","input":["a",3]}`, "input"},
		{`{"model":"e","input":[["a"]]}`, "input"},
		{`{"model":"e","input":"a","encoding_format":"int8"}`, "encoding_format"},
		{`{"model":"e","input":"a","dimensions":"8"}`, "dimensions"},
		{`not json`, ""},
	}
	for _, tt := range tests {
		_, err := ParseRequest([]byte(tt.body))
		var re *wire.RequestError
		if !errors.As(err, &re) || re.Param != tt.param {
			t.Errorf("%s: err = %v, want a request error on %q", tt.body, err, tt.param)
		}
	}
}

func TestUpstreamBodyAsksForTheMissingInputs(t *testing.T) {
	r := mustParse(t, `{"model":"e","input":["a","b","c","d"],"encoding_format":"base64","dimensions":4}`)
	if b, _ := r.UpstreamBody([]int{0, 1, 2, 3}); b != nil {
		t.Fatal("a full miss rewrote the body")
	}
	b, err := r.UpstreamBody([]int{1, 3})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Input      []string `json:"input"`
		Format     string   `json:"encoding_format"`
		Dimensions int      `json:"dimensions"`
	}
	if err := json.Unmarshal(b, &got); err != nil || strings.Join(got.Input, ",") != "b,d" || got.Format != "base64" || got.Dimensions != 4 {
		t.Fatalf("subset body %s", b)
	}
}

const list = `{"object":"list","data":[{"object":"embedding","index":1,"embedding":"AACAPwAAAEA="},{"object":"embedding","index":0,"embedding":[0.5,-0.25]}],"model":"e-1","usage":{"prompt_tokens":10,"total_tokens":10}}`

func TestAssembleAndRender(t *testing.T) {
	r := mustParse(t, `{"model":"e","input":["a longer first input","b"]}`)
	a := r.Assembler(false, []int{0, 1})
	_, _ = a.Write([]byte(list))
	ans, err := a.Answers(true)
	if err != nil || len(ans) != 2 {
		t.Fatalf("answers %+v, %v", ans, err)
	}
	if ans[0].Usage.PromptTokens+ans[1].Usage.PromptTokens != 10 || ans[0].Usage.PromptTokens <= ans[1].Usage.PromptTokens {
		t.Fatalf("token shares %d + %d", ans[0].Usage.PromptTokens, ans[1].Usage.PromptTokens)
	}
	if ans[0].Text != "a longer first input" || ans[1].Model != "e-1" {
		t.Fatalf("answers %+v", ans)
	}
	for _, tc := range []struct{ format, want string }{
		{"float", `"embedding":[0.5,-0.25]},{"object":"embedding","index":1,"embedding":[1,2]}`},
		{"base64", `"embedding":"AAAAPwAAgL4="},{"object":"embedding","index":1,"embedding":"AACAPwAAAEA="}`},
	} {
		q := mustParse(t, `{"model":"e","input":["a longer first input","b"],"encoding_format":"`+tc.format+`"}`)
		ct, body, err := q.Render([]*cache.Answer{&ans[0], &ans[1]}, wire.RenderOptions{Now: time.Now()})
		if err != nil || ct != "application/json" || !strings.Contains(string(body), tc.want) ||
			!strings.HasSuffix(string(body), `"model":"e-1","usage":{"prompt_tokens":10,"total_tokens":10}}`) {
			t.Fatalf("%s: %s %v", tc.format, body, err)
		}
		// What we render reads back as the same answers.
		back := q.Assembler(false, []int{0, 1})
		_, _ = back.Write(body)
		again, err := back.Answers(true)
		if err != nil || string(again[0].Payload) != string(ans[0].Payload) || string(again[1].Payload) != string(ans[1].Payload) {
			t.Fatalf("%s: round trip %+v, %v", tc.format, again, err)
		}
	}
}

func TestNotCacheable(t *testing.T) {
	r := mustParse(t, `{"model":"e","input":["a","b"]}`)
	tests := []struct {
		name, body string
		clean      bool
	}{
		{"too few", `{"data":[{"index":0,"embedding":[1]}]}`, true},
		{"cut", list[:40], false},
		{"malformed", `{"data":`, true},
		{"error", `{"error":{"message":"x"}}`, true},
		{"duplicate index", `{"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[1]}]}`, true},
		{"bad base64", `{"data":[{"index":0,"embedding":"!!"},{"index":1,"embedding":[1]}]}`, true},
		{"NaN", `{"data":[{"index":0,"embedding":"AADAfw=="},{"index":1,"embedding":[1]}]}`, true},
	}
	for _, tt := range tests {
		a := r.Assembler(false, []int{0, 1})
		_, _ = a.Write([]byte(tt.body))
		if _, err := a.Answers(tt.clean); !errors.Is(err, wire.ErrNotCacheable) {
			t.Errorf("%s: err = %v, want not cacheable", tt.name, err)
		}
	}
}

func TestTokenShares(t *testing.T) {
	r := mustParse(t, `{"model":"e","input":[[1,2,3,4],"abc","abcdef",[5]]}`)
	a := &Assembler{r: r, missing: []int{0, 1, 2, 3}}
	got := a.shares(14) // 4 + 1 token ids, 9 tokens for the two strings
	if got[0] != 4 || got[3] != 1 || got[1]+got[2] != 9 || got[2] < got[1] {
		t.Fatalf("shares %v", got)
	}
}

// FuzzParseRequest checks that parsing never panics, errors are request
// errors, and every input has a key.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{`{"model":"e","input":"a"}`, `{"model":"e","input":[[1,2],[3]],"dimensions":4}`,
		`{"model":"e","input":["a","b"],"encoding_format":"base64"}`, `{"model":"e","input":[1e3]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseRequest(body)
		if err != nil {
			if !errors.Is(err, wire.ErrBadRequest) {
				t.Fatalf("error does not wrap ErrBadRequest: %v", err)
			}
			return
		}
		if len(r.Items()) != len(r.Inputs) || len(r.Inputs) == 0 {
			t.Fatalf("%d items for %d inputs", len(r.Items()), len(r.Inputs))
		}
		if _, err := r.UpstreamBody([]int{0}); err != nil {
			t.Fatal(err)
		}
	})
}
