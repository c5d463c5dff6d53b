package rag

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func compiled(t *testing.T, c Collection) *collection {
	t.Helper()
	if c.Name == "" {
		c.Name = "docs"
	}
	if c.Namespaces == nil {
		c.Namespaces = []string{"*"}
	}
	cc, err := c.compile()
	if err != nil {
		t.Fatal(err)
	}
	return cc
}

var twoPassages = []Passage{
	{ID: "docs/a#0", Title: "A", Text: "Alpha text.", Score: 0.9},
	{ID: "docs/b#1", Title: "B", Text: "Beta text.", Score: 0.8},
}

func TestInjectPlacement(t *testing.T) {
	tmpl := "CTX{{range .Passages}} {{.ID}}{{end}}"
	ctxMsg := `{"role":"system","content":"CTX docs/a#0 docs/b#1"}`
	tests := []struct {
		name string
		coll Collection
		body string
		want string
	}{
		{
			"system first when there is none",
			Collection{Template: tmpl},
			`{"model":"m","messages":[{"role":"user","content":"q"}]}`,
			`{"model":"m","messages":[` + ctxMsg + `,{"role":"user","content":"q"}]}`,
		},
		{
			"after the leading system and developer messages, other bytes kept",
			Collection{Template: tmpl},
			"{\"model\": \"m\",\n \"temperature\": 0.50,\n \"messages\": [ {\"role\":\"system\",\"content\":\"be brief\"} ,\n  {\"role\":\"developer\", \"content\":\"x\"}, {\"role\":\"user\",\"content\":\"q\"} ], \"seed\": 7}",
			"{\"model\": \"m\",\n \"temperature\": 0.50,\n \"messages\": [ {\"role\":\"system\",\"content\":\"be brief\"} ,\n  {\"role\":\"developer\", \"content\":\"x\"}, " + ctxMsg + `,{"role":"user","content":"q"} ], "seed": 7}`,
		},
		{
			"before the last user message",
			Collection{Template: tmpl, Placement: PlaceBeforeLastUser},
			`{"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":"1"},{"role":"assistant","content":"2"},{"role":"user","content":"3"}]}`,
			`{"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":"1"},{"role":"assistant","content":"2"},` + ctxMsg + `,{"role":"user","content":"3"}]}`,
		},
		{
			"custom role at the end when every message is a system one",
			Collection{Template: tmpl, Role: "developer"},
			`{"model":"m","messages":[{"role":"system","content":"s"}]}`,
			`{"model":"m","messages":[{"role":"system","content":"s"},{"role":"developer","content":"CTX docs/a#0 docs/b#1"}]}`,
		},
		{
			"the last of duplicate messages fields",
			Collection{Template: tmpl},
			`{"messages":[],"model":"m","messages":[{"role":"user","content":"q"}]}`,
			`{"messages":[],"model":"m","messages":[` + ctxMsg + `,{"role":"user","content":"q"}]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := request(t, tt.body)
			body, used, err := inject(req, compiled(t, tt.coll), TemplateData{Passages: twoPassages, Query: req.Prompt})
			if err != nil {
				t.Fatal(err)
			}
			if string(body) != tt.want {
				t.Errorf("body\n got %s\nwant %s", body, tt.want)
			}
			if len(used) != 2 {
				t.Errorf("used %d passages", len(used))
			}
		})
	}
}

func TestRenderBudget(t *testing.T) {
	long := strings.Repeat("word ", 100) // 500 chars
	tests := []struct {
		name     string
		coll     Collection
		passages []Passage
		wantUsed int
		check    func(string) bool
	}{
		{
			"default template names ids, titles and text",
			Collection{},
			twoPassages, 2,
			func(s string) bool {
				return strings.HasPrefix(s, "Use the following context") && strings.Contains(s, "[docs/a#0] A\nAlpha text.") &&
					strings.Index(s, "Alpha") < strings.Index(s, "Beta")
			},
		},
		{
			"passages that do not fit are left out",
			Collection{MaxChars: 700},
			[]Passage{{ID: "x#0", Text: long}, {ID: "y#0", Text: long}}, 1,
			func(s string) bool { return utf8.RuneCountInString(s) <= 700 && !strings.Contains(s, "y#0") },
		},
		{
			"a lone passage is shortened",
			Collection{MaxChars: 300},
			[]Passage{{ID: "x#0", Text: long}}, 1,
			func(s string) bool { return utf8.RuneCountInString(s) <= 300 && strings.HasSuffix(s, "word…") },
		},
		{
			"token budget",
			Collection{MaxTokens: 30, Template: "{{range .Passages}}{{.Text}}\n{{end}}"},
			[]Passage{{ID: "x#0", Text: strings.Repeat("abcd ", 30)}, {ID: "y#0", Text: "more"}}, 1,
			func(s string) bool { return len(s) < 200 },
		},
		{
			"nothing fits",
			Collection{MaxChars: 100, Template: "{{range .Passages}}" + strings.Repeat("=", 120) + "{{.Text}}{{end}}"},
			twoPassages, 0,
			func(s string) bool { return s == "" },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text, used, err := render(compiled(t, tt.coll), TemplateData{Passages: tt.passages})
			if err != nil {
				t.Fatal(err)
			}
			if len(used) != tt.wantUsed || !tt.check(text) {
				t.Errorf("used %d (want %d), text %q", len(used), tt.wantUsed, text)
			}
		})
	}
}

func TestCollectionValidation(t *testing.T) {
	tests := []struct {
		name string
		c    []Collection
		want []string
	}{
		{"ok", []Collection{{Name: "a-b_1", Namespaces: []string{"*"}}}, nil},
		{"everything wrong", []Collection{{Name: "Bad", K: 99, MinScore: f32(2), Placement: "top", Role: "tool",
			MaxChars: 5, MaxTokens: 3, Template: "{{.Nope"}}, []string{"name", "namespaces", "k 99", "min_score", "placement", "role", "max_chars", "max_tokens", "template"}},
		{"unknown template field", []Collection{{Name: "a", Namespaces: []string{"*"}, Template: "{{.Missing}}"}}, []string{"template"}},
		{"duplicate", []Collection{{Name: "a", Namespaces: []string{"x"}}, {Name: "a", Namespaces: []string{"y"}}}, []string{"twice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateCollections(tt.c)
			if (err == nil) != (tt.want == nil) {
				t.Fatalf("err = %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestChunkIDEscapes(t *testing.T) {
	tests := map[string]string{
		"docs/intro.md": "c/docs/intro.md#3",
		"a,b c#d%":      "c/a%2Cb%20c%23d%25#3",
		"über":          "c/über#3",
	}
	for id, want := range tests {
		if got := ChunkID("c", id, 3); got != want {
			t.Errorf("ChunkID(%q) = %q, want %q", id, got, want)
		}
	}
}
