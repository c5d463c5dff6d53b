package eval

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestLoadBothSchemas(t *testing.T) {
	in := `{"a":"x?","b":"y?","duplicate":true,"kind":"paraphrase"}

{"a": "It rains.", "b": "It is raining.", "label": 1, "source": "stsb:train:headlines", "kind": "statement", "score": 4.2}
{"a": "Can you expand on that?", "b": "Can you expand on that?", "label": 0, "source": "meancache-ctx:u0", "kind": "contextual", "pair_type": "same-followup-different-context", "a_context": [{"role": "user", "content": "Solo travel?"}], "b_context": [{"role": "user", "content": "Cricket fitness?"}, {"role": "assistant", "content": "They train."}]}
{"a":"How do I exit vim?","b":"How do I quit vim?","label":1,"source":"semcache-questions","kind":"question","type":"synonym"}
`
	pairs, err := Load(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	score := 4.2
	want := []Pair{
		{A: "x?", B: "y?", Label: 1, Source: OldPairsSource, Kind: "question", Type: "paraphrase"},
		{A: "It rains.", B: "It is raining.", Label: 1, Source: "stsb:train:headlines", Kind: "statement", Score: &score},
		{A: "Can you expand on that?", B: "Can you expand on that?", Label: 0, Source: "meancache-ctx:u0", Kind: "contextual",
			Type:     "same-followup-different-context",
			AContext: []Message{{"user", "Solo travel?"}},
			BContext: []Message{{"user", "Cricket fitness?"}, {"assistant", "They train."}}},
		{A: "How do I exit vim?", B: "How do I quit vim?", Label: 1, Source: "semcache-questions", Kind: "question", Type: "synonym"},
	}
	if !reflect.DeepEqual(pairs, want) {
		t.Fatalf("Load =\n%+v\nwant\n%+v", pairs, want)
	}
	fams := []string{"old-pairs", "stsb", "meancache-ctx", "semcache-questions"}
	cats := []string{"paraphrase", "statement", "same-followup-different-context", "synonym"}
	for i, p := range pairs {
		if p.Family() != fams[i] || p.Category() != cats[i] {
			t.Errorf("pair %d: family %q category %q, want %q %q", i, p.Family(), p.Category(), fams[i], cats[i])
		}
	}
	if got := (Pair{Source: "paws-wiki:dev"}).Family(); got != "paws" {
		t.Errorf("paws family = %q", got)
	}
}

func TestLoadErrors(t *testing.T) {
	const okNew = `{"a":"x","b":"y","label":1,"source":"s","kind":"k"}`
	tests := []struct{ name, in, want string }{
		{"not json", okNew + "\nnot json\n", "line 2"},
		{"unknown field", `{"a":"x","b":"y","label":1,"source":"s","kind":"k","extra":1}`, `line 1: json: unknown field "extra"`},
		{"old and new fields mixed", `{"a":"x","b":"y","duplicate":true,"kind":"k","score":1}`, `"duplicate" (first schema) and "score"`},
		{"no label", `{"a":"x","b":"y","kind":"k","source":"s"}`, `line 1: "label" (or "duplicate") is missing`},
		{"label 2", `{"a":"x","b":"y","label":2,"source":"s","kind":"k"}`, `"label" is 2, want 0 or 1`},
		{"no source", `{"a":"x","b":"y","label":0,"kind":"k"}`, `"source" is missing or empty`},
		{"empty a and kind", `{"a":" ","b":"y","duplicate":false,"kind":""}`, `"a" is missing or empty`},
		{"both types", `{"a":"x","b":"y","label":1,"source":"s","kind":"k","type":"t","pair_type":"p"}`, `both "pair_type" and "type"`},
		{"bad role", `{"a":"x","b":"y","label":1,"source":"s","kind":"k","a_context":[{"role":"bot","content":"c"}]}`, `a_context[0]: role "bot"`},
		{"empty context content", `{"a":"x","b":"y","label":1,"source":"s","kind":"k","b_context":[{"role":"user","content":" "}]}`, `b_context[0]: empty content`},
		{"unknown message field", `{"a":"x","b":"y","label":1,"source":"s","kind":"k","b_context":[{"role":"user","content":"c","name":"n"}]}`, `unknown field "name"`},
		{"two values", okNew + ` {}`, "line 1: more than one JSON value"},
		{"wrong type", `{"a":"x","b":"y","duplicate":"yes","kind":"k"}`, "line 1"},
		{"empty", "\n\n", "no pairs"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(strings.NewReader(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	_, err := Load(strings.NewReader(`{"a":" ","b":"y","duplicate":false,"kind":""}`))
	if err == nil || !strings.Contains(err.Error(), `"kind" is missing or empty`) || !strings.Contains(err.Error(), `"a" is missing`) {
		t.Errorf("all problems of a line are reported, got %v", err)
	}
}

func TestLoadFileNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.jsonl")
	if err := os.WriteFile(path, []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(path); err == nil || !strings.Contains(err.Error(), "bad.jsonl: eval: line 1") {
		t.Errorf("LoadFile error = %v", err)
	}
	if _, err := LoadFiles([]string{"testdata/fixture.jsonl", path}); err == nil {
		t.Error("LoadFiles accepted a bad file")
	}
}

func TestSideKeyAndMessages(t *testing.T) {
	s := Side{Text: "  Who   INVENTED it? ", Context: []Message{
		{"system", "Be brief."}, {"user", "The  Printing press"}, {"assistant", "A machine."}}}
	if got, want := s.Key(), "the printing press\nwho invented it?"; got != want {
		t.Errorf("Key = %q, want %q", got, want)
	}
	msgs := s.Messages()
	if len(msgs) != 4 || msgs[3] != (Message{"user", s.Text}) {
		t.Errorf("Messages = %+v", msgs)
	}
	back, ok := SideOf(append(msgs, Message{"assistant", "trailing"}))
	if !ok || back.Text != s.Text || !reflect.DeepEqual(back.Context, s.Context) {
		t.Errorf("SideOf(Messages) = %+v, %v", back, ok)
	}
	if _, ok := SideOf([]Message{{"system", "x"}}); ok {
		t.Error("SideOf without a user message")
	}
	// Context assistant turns do not change the key.
	other := Side{Text: "who invented it?", Context: []Message{{"user", "the printing press"}}}
	if other.Key() != s.Key() {
		t.Errorf("keys differ: %q vs %q", other.Key(), s.Key())
	}
}

// FuzzLoad checks that Load never panics and that what it accepts is
// valid.
func FuzzLoad(f *testing.F) {
	for _, seed := range []string{
		`{"a":"x?","b":"y?","duplicate":true,"kind":"paraphrase"}`,
		`{"a":"x","b":"y","label":1,"source":"s","kind":"k","type":"t"}`,
		`{"a":"x","b":"y","label":0,"source":"s","kind":"contextual","pair_type":"p","a_context":[{"role":"user","content":"c"}],"b_context":[{"role":"assistant","content":"d"}],"score":1.5}`,
		"\n\n",
		`{"a":"x","b":"y","label":2}`,
		`[]`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pairs, err := Load(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, p := range pairs {
			if strings.TrimSpace(p.A) == "" || strings.TrimSpace(p.B) == "" || (p.Label != 0 && p.Label != 1) || p.Source == "" || p.Kind == "" {
				t.Fatalf("accepted an invalid pair %+v", p)
			}
			for _, m := range append(slices.Clone(p.AContext), p.BContext...) {
				if !contextRoles[m.Role] || strings.TrimSpace(m.Content) == "" {
					t.Fatalf("accepted an invalid context message %+v", m)
				}
			}
			_ = p.SideA().Key() + p.SideB().Key()
		}
		_ = SplitPairs(pairs)
		_ = Classes(pairs)
	})
}
