package eval

import (
	"slices"
	"strings"
	"testing"

	"github.com/semcache/semcache/bench/upstream"
)

func TestClassesClosure(t *testing.T) {
	ctx := func(open string) []Message { return []Message{{"user", open}} }
	pairs := []Pair{
		// a ~ b ~ c transitively (through b, in another case and spacing).
		{A: "How do I exit vim?", B: "How do I quit vim?", Label: 1},
		{A: "how do i  QUIT vim?", B: "Exiting vim: how?", Label: 1},
		// A non-duplicate of a stays apart, even if it is linked to b.
		{A: "How do I exit nano?", B: "How do I quit vim?", Label: 0},
		{A: "How do I exit nano?", B: "How to leave nano?", Label: 1},
		// The same follow-up after different openings: different keys.
		{A: "when was it built", AContext: ctx("Eiffel Tower?"), B: "when was it built", BContext: ctx("Golden Gate?"), Label: 0},
		{A: "when was it built", AContext: ctx("Eiffel Tower?"), B: "when was it constructed", BContext: ctx("eiffel  tower?"), Label: 1},
	}
	m := Classes(pairs)
	class := func(text string, context ...Message) ClassID { return m.Of(Side{Text: text, Context: context}.Key()) }

	vim := class("How do I exit vim?")
	for _, s := range []string{"How do I quit vim?", "how do i quit vim?", "Exiting vim: how?"} {
		if class(s) != vim {
			t.Errorf("%q is not in the class of %q", s, "How do I exit vim?")
		}
	}
	nano := class("How do I exit nano?")
	if nano == vim || class("How to leave nano?") != nano {
		t.Errorf("nano class %s, vim class %s, leave-nano %s", nano, vim, class("How to leave nano?"))
	}
	eiffel := class("when was it built", Message{"user", "Eiffel Tower?"})
	if class("when was it constructed", Message{"user", "Eiffel Tower?"}) != eiffel {
		t.Error("the paraphrased follow-up after the same opening is not in the class")
	}
	if class("when was it built", Message{"user", "Golden Gate?"}) == eiffel {
		t.Error("the same follow-up after another opening shares the class")
	}
	if class("when was it built") == eiffel {
		t.Error("the follow-up without context shares the class")
	}
	// Every text of every pair is known; the number of classes is exact.
	distinct := map[ClassID]bool{}
	for _, id := range m {
		distinct[id] = true
	}
	if len(m) != 8 || len(distinct) != 4 {
		t.Errorf("%d keys in %d classes, want 8 keys in 4 (vim 3, nano 2, Eiffel 2, Golden Gate 1)", len(m), len(distinct))
	}
	// Ids are the same whatever the order of the pairs.
	rev := slices.Clone(pairs)
	slices.Reverse(rev)
	m2 := Classes(rev)
	for k, id := range m {
		if m2[k] != id {
			t.Errorf("class of %q differs with the order of the pairs", k)
		}
	}
	// An unknown key is its own class, stable, and not a known one.
	unknown := class("What is the capital of France?")
	if unknown != class("what is the capital of   france?") || distinct[unknown] || m.Known("what is the capital of france?") {
		t.Errorf("unknown class %s", unknown)
	}
}

func TestAnswers(t *testing.T) {
	m := Classes([]Pair{{A: "How do I exit vim?", B: "How do I quit vim?", Label: 1}})
	known := Side{Text: "how do I QUIT vim?"}
	ans := m.Answer(known)
	id, ok := ParseAnswer(ans)
	if !ok || id != m.Of(known.Key()) || ans != AnswerContent(id) {
		t.Errorf("Answer %q parses to %q, %v; want the class %q", ans, id, ok, m.Of(known.Key()))
	}
	other := Side{Text: "What is Go?"}
	ans = m.Answer(other)
	id, ok = ParseAnswer(ans)
	if !ok || id != m.Of(other.Key()) || ans != "class:unknown:"+string(id) {
		t.Errorf("unknown answer %q parses to %q, %v", ans, id, ok)
	}
	for _, bad := range []string{"", "Answer-12ab about vim", "class:", "class:unknown:", "class:a b"} {
		if _, ok := ParseAnswer(bad); ok {
			t.Errorf("ParseAnswer(%q) accepted", bad)
		}
	}
}

func TestOracle(t *testing.T) {
	m := Classes([]Pair{{A: "when was it built", AContext: []Message{{"user", "Eiffel Tower?"}}, B: "when was it constructed",
		BContext: []Message{{"user", "Eiffel Tower?"}}, Label: 1}})
	o := Oracle(m)
	got := o.Answer([]upstream.Message{{Role: "system", Text: "Be brief."}, {Role: "user", Text: "eiffel tower?"},
		{Role: "assistant", Text: "A tower."}, {Role: "user", Text: "When was it constructed"}})
	want := m.Answer(Side{Text: "when was it built", Context: []Message{{"user", "Eiffel Tower?"}}})
	if got != want || !strings.HasPrefix(got, "class:") || strings.Contains(got, "unknown") {
		t.Errorf("oracle answered %q, want %q", got, want)
	}
	if got := o.Answer([]upstream.Message{{Role: "user", Text: "when was it built"}}); !strings.HasPrefix(got, "class:unknown:") {
		t.Errorf("the follow-up without its context: %q", got)
	}
	if got := o.Answer([]upstream.Message{{Role: "system", Text: "x"}}); !strings.HasPrefix(got, "class:unknown:") {
		t.Errorf("no user message: %q", got)
	}
}
