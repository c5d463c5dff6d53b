package completions

import (
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

func TestKeyAndBypass(t *testing.T) {
	base := mustParse(t, `{"model":"m","prompt":"Once upon","max_tokens":16}`)
	tests := []struct {
		name, body string
		same       bool
		bypass     string
	}{
		{"transport", `{"prompt":"Once upon","model":"m","max_tokens":16,"stream":true,"user":"u","temperature":1,"n":1}`, true, ""},
		{"one-prompt array", `{"model":"m","prompt":["Once upon"],"max_tokens":16}`, true, ""},
		{"suffix", `{"model":"m","prompt":"Once upon","max_tokens":16,"suffix":"end"}`, false, ""},
		{"echo", `{"model":"m","prompt":"Once upon","max_tokens":16,"echo":true}`, false, ""},
		{"n", `{"model":"m","prompt":"Once upon","n":2}`, false, "n>1"},
		{"best_of", `{"model":"m","prompt":"Once upon","best_of":3}`, false, "best_of>1"},
		{"logprobs", `{"model":"m","prompt":"Once upon","logprobs":2}`, false, "logprobs"},
		{"batch", `{"model":"m","prompt":["a","b"]}`, false, "several prompts"},
		{"tokens", `{"model":"m","prompt":[1,2,3]}`, false, ""},
	}
	for _, tt := range tests {
		o := mustParse(t, tt.body)
		if same := string(o.Items()[0].Key) == string(base.Items()[0].Key); same != tt.same || o.Bypass() != tt.bypass {
			t.Errorf("%s: same = %v bypass %q, want %v %q", tt.name, same, o.Bypass(), tt.same, tt.bypass)
		}
	}
	for _, bad := range []string{`{"prompt":"x"}`, `{"model":"m"}`, `{"model":"m","prompt":3}`, `{"model":"m","prompt":"x","stream":1}`} {
		var re *wire.RequestError
		if _, err := ParseRequest([]byte(bad)); !errors.As(err, &re) {
			t.Errorf("%s: err = %v", bad, err)
		}
	}
}

const (
	jsonAnswer = `{"id":"cmpl-1","object":"text_completion","created":1,"model":"m-1","choices":[{"text":" a time","index":0,"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":2,"completion_tokens":2,"total_tokens":4}}`
	chunk1     = `data: {"id":"cmpl-1","object":"text_completion","created":1,"model":"m-1","choices":[{"text":" a","index":0,"logprobs":null,"finish_reason":null}]}` + "\n\n"
	chunk2     = `data: {"id":"cmpl-1","object":"text_completion","created":1,"model":"m-1","choices":[{"text":" time","index":0,"logprobs":null,"finish_reason":"stop"}]}` + "\n\n"
	lengthCut  = `data: {"id":"cmpl-1","object":"text_completion","created":1,"model":"m-1","choices":[{"text":" time","index":0,"logprobs":null,"finish_reason":"length"}]}` + "\n\n"
)

func TestAssembleRenderRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stream bool
		body   string
		want   string
	}{
		{"json", false, jsonAnswer, ""},
		{"stream", true, chunk1 + chunk2 + "data: [DONE]\n\n", ""},
		{"length", true, chunk1 + lengthCut + "data: [DONE]\n\n", "length"},
		{"cut", true, chunk1, "incomplete"},
		{"two choices", false, strings.Replace(jsonAnswer, `"choices":[`, `"choices":[{"text":"x","index":1,"finish_reason":"stop"},`, 1), "one choice"},
		{"empty", false, strings.Replace(jsonAnswer, `" a time"`, `""`, 1), "empty answer"},
		{"filtered", false, strings.Replace(jsonAnswer, `"finish_reason":"stop"`, `"finish_reason":"stop","content_filter_results":{"hate":{"filtered":true,"severity":"high"}}`, 1), "filtered"},
	} {
		r := mustParse(t, `{"model":"m","prompt":"Once upon","stream_options":{"include_usage":true}}`)
		a := r.Assembler(tc.stream, nil)
		_, _ = a.Write([]byte(tc.body))
		ans, err := a.Answers(true)
		if tc.want != "" {
			if !errors.Is(err, wire.ErrNotCacheable) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
			}
			continue
		}
		if err != nil || ans[0].Text != " a time" || ans[0].Model != "m-1" {
			t.Fatalf("%s: %+v %v", tc.name, ans, err)
		}
		for _, stream := range []bool{false, true} {
			q := mustParse(t, `{"model":"m","prompt":"Once upon","stream":`+map[bool]string{true: "true", false: "false"}[stream]+`,"stream_options":{"include_usage":true}}`)
			_, out, err := q.Render([]*cache.Answer{&ans[0]}, wire.RenderOptions{Now: time.Now()})
			if err != nil {
				t.Fatal(err)
			}
			back := q.Assembler(stream, nil)
			_, _ = back.Write(out)
			again, err := back.Answers(true)
			if err != nil || again[0].Text != " a time" || !strings.Contains(string(out), `"cmpl-sc`) {
				t.Fatalf("%s: replay (stream %v) %+v %v\n%s", tc.name, stream, again, err, out)
			}
		}
	}
}
