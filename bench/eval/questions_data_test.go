package eval

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"unicode"
)

// This file keeps bench/testdata/questions.jsonl and
// bench/testdata/distractors.txt honest: the schema of every line, the
// minimum sizes the tuning and reporting code relies on, and the cleaning
// rules (no duplicates, no pair with both labels, no distractor that is also
// a pair text). The files are read with encoding/json and bufio only, so a
// problem in the data cannot hide behind a bug in the package's own loader.

const (
	questionsPath   = "../testdata/questions.jsonl"
	distractorsPath = "../testdata/distractors.txt"
	readmePath      = "../testdata/README.md"

	questionsSource = "semcache-questions"
	questionsKind   = "question"
)

// questionTypes maps each known type to the label it must carry.
var questionTypes = map[string]int{
	// label 1: b is a rewording of a.
	"reword": 1, "synonym": 1, "keyword": 1, "informal": 1,
	"polite": 1, "abbrev": 1, "voice": 1, "reorder": 1,
	// label 0: b differs from a in one thing that changes the answer.
	"entity": 0, "qualifier": 0, "number": 0, "unit": 0, "role": 0,
	"intent": 0, "negation": 0, "antonym": 0, "prefix": 0, "scope": 0,
}

// questionPair is one line of questions.jsonl.
type questionPair struct {
	A, B   string
	Label  int
	Source string
	Kind   string
	Type   string
}

// questionLine mirrors questionPair with pointers, so a missing field is
// told apart from a zero value.
type questionLine struct {
	A      *string `json:"a"`
	B      *string `json:"b"`
	Label  *int    `json:"label"`
	Source *string `json:"source"`
	Kind   *string `json:"kind"`
	Type   *string `json:"type"`
}

// normText lowercases t, turns every run of characters that are neither
// letters nor digits into one space and trims the result, so "What's X?"
// and "whats x" compare equal.
func normText(t string) string {
	var b strings.Builder
	space := false
	for _, r := range strings.ToLower(t) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteRune(r)
			continue
		}
		space = true
	}
	return b.String()
}

// parseQuestionPairs reads questions.jsonl strictly: one JSON object per
// non-blank line with exactly the six fields, non-empty texts, a known type
// whose label matches, and the fixed source and kind. All problems are
// returned, each naming its line.
func parseQuestionPairs(r io.Reader) ([]questionPair, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	var (
		pairs []questionPair
		errs  []error
	)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		var ql questionLine
		if err := dec.Decode(&ql); err != nil {
			errs = append(errs, fmt.Errorf("line %d: %w", n, err))
			continue
		}
		if dec.More() {
			errs = append(errs, fmt.Errorf("line %d: more than one JSON value", n))
			continue
		}
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("line %d: "+format, append([]any{n}, args...)...))
		}
		if ql.A == nil || strings.TrimSpace(*ql.A) == "" {
			bad(`"a" is missing or empty`)
		}
		if ql.B == nil || strings.TrimSpace(*ql.B) == "" {
			bad(`"b" is missing or empty`)
		}
		if ql.Label == nil {
			bad(`"label" is missing`)
		} else if *ql.Label != 0 && *ql.Label != 1 {
			bad(`"label" is %d, want 0 or 1`, *ql.Label)
		}
		if ql.Source == nil || *ql.Source != questionsSource {
			bad(`"source" is not %q`, questionsSource)
		}
		if ql.Kind == nil || *ql.Kind != questionsKind {
			bad(`"kind" is not %q`, questionsKind)
		}
		if ql.Type == nil {
			bad(`"type" is missing`)
		} else if want, ok := questionTypes[*ql.Type]; !ok {
			bad(`unknown "type" %q`, *ql.Type)
		} else if ql.Label != nil && *ql.Label != want {
			bad(`"type" %q needs label %d, got %d`, *ql.Type, want, *ql.Label)
		}
		if ql.A == nil || ql.B == nil || ql.Label == nil || ql.Source == nil || ql.Kind == nil || ql.Type == nil {
			continue
		}
		pairs = append(pairs, questionPair{A: *ql.A, B: *ql.B, Label: *ql.Label, Source: *ql.Source, Kind: *ql.Kind, Type: *ql.Type})
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, err)
	}
	return pairs, errors.Join(errs...)
}

// checkQuestionSet applies the cleaning rules across lines: no pair whose two
// texts are equal after normalising, no pair twice (in either order), and no
// pair with both labels.
func checkQuestionSet(pairs []questionPair) error {
	var errs []error
	type key [2]string
	seen := map[key]int{} // unordered normalised pair -> label
	for _, p := range pairs {
		a, b := normText(p.A), normText(p.B)
		if a == b {
			errs = append(errs, fmt.Errorf("pair %q / %q: the texts are the same after normalising", p.A, p.B))
			continue
		}
		k := key{a, b}
		if b < a {
			k = key{b, a}
		}
		if label, ok := seen[k]; ok {
			if label != p.Label {
				errs = append(errs, fmt.Errorf("pair %q / %q appears with both labels", p.A, p.B))
			} else {
				errs = append(errs, fmt.Errorf("pair %q / %q appears twice", p.A, p.B))
			}
			continue
		}
		seen[k] = p.Label
	}
	return errors.Join(errs...)
}

// parseDistractors reads one question per line. Blank lines, duplicates
// (after normalising) and lines with no letters are errors.
func parseDistractors(r io.Reader) ([]string, error) {
	sc := bufio.NewScanner(r)
	var (
		out  []string
		errs []error
	)
	seen := map[string]int{}
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		norm := normText(line)
		switch {
		case line == "":
			errs = append(errs, fmt.Errorf("distractors line %d: blank", n))
			continue
		case norm == "":
			errs = append(errs, fmt.Errorf("distractors line %d: %q has no words", n, line))
			continue
		}
		if first, ok := seen[norm]; ok {
			errs = append(errs, fmt.Errorf("distractors line %d: %q repeats line %d", n, line, first))
			continue
		}
		seen[norm] = n
		out = append(out, line)
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}

// checkDistractors reports every distractor that equals (after normalising)
// a text of some pair: a cache hit on it would be counted as a miss.
func checkDistractors(pairs []questionPair, distractors []string) error {
	texts := map[string]bool{}
	for _, p := range pairs {
		texts[normText(p.A)] = true
		texts[normText(p.B)] = true
	}
	var errs []error
	for _, d := range distractors {
		if texts[normText(d)] {
			errs = append(errs, fmt.Errorf("distractor %q is also a pair text", d))
		}
	}
	return errors.Join(errs...)
}

func TestQuestionsDataChecksReject(t *testing.T) {
	line := func(a, b string, label int, typ string) string {
		return fmt.Sprintf(`{"a":%q,"b":%q,"label":%d,"source":"semcache-questions","kind":"question","type":%q}`, a, b, label, typ)
	}
	good := line("How do I boil rice?", "rice boiling how to", 1, "keyword")
	cases := []struct {
		name        string
		pairs       string
		distractors string
		want        string
	}{
		{name: "unknown field", pairs: `{"a":"x","b":"y","label":1,"source":"semcache-questions","kind":"question","type":"reword","extra":1}`, want: "unknown field"},
		{name: "missing b", pairs: `{"a":"x","label":1,"source":"semcache-questions","kind":"question","type":"reword"}`, want: `"b" is missing or empty`},
		{name: "empty a", pairs: line(" ", "y", 1, "reword"), want: `"a" is missing or empty`},
		{name: "missing label", pairs: `{"a":"x","b":"y","source":"semcache-questions","kind":"question","type":"reword"}`, want: `"label" is missing`},
		{name: "label 2", pairs: line("x", "y", 2, "reword"), want: "want 0 or 1"},
		{name: "wrong source", pairs: `{"a":"x","b":"y","label":1,"source":"paws","kind":"question","type":"reword"}`, want: `"source" is not`},
		{name: "wrong kind", pairs: `{"a":"x","b":"y","label":1,"source":"semcache-questions","kind":"statement","type":"reword"}`, want: `"kind" is not`},
		{name: "unknown type", pairs: line("x", "y", 0, "paraphrase"), want: `unknown "type"`},
		{name: "type and label disagree", pairs: line("x", "y", 1, "entity"), want: `needs label 0`},
		{name: "two values on a line", pairs: good + good, want: "more than one JSON value"},
		{name: "same text after normalising", pairs: line("What is up?", "what IS up", 1, "informal"), want: "same after normalising"},
		{name: "duplicate pair", pairs: good + "\n" + line("rice boiling how to", "How do I boil rice", 1, "keyword"), want: "appears twice"},
		{name: "both labels", pairs: good + "\n" + line("How do I boil rice?", "Rice boiling: how to?", 0, "scope"), want: "both labels"},
		{name: "blank distractor", pairs: good, distractors: "Why is the sky dark at night?\n\nWhat is rain?", want: "blank"},
		{name: "duplicate distractor", pairs: good, distractors: "What is rain?\nwhat is RAIN", want: "repeats line 1"},
		{name: "distractor is a pair text", pairs: good, distractors: "how do i boil rice", want: "is also a pair text"},
	}
	for _, tc := range cases {
		pairs, err := parseQuestionPairs(strings.NewReader(tc.pairs))
		if err == nil {
			err = checkQuestionSet(pairs)
		}
		if err == nil && tc.distractors != "" {
			var ds []string
			ds, err = parseDistractors(strings.NewReader(tc.distractors))
			if err == nil {
				err = checkDistractors(pairs, ds)
			}
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error = %v, want it to contain %q", tc.name, err, tc.want)
		}
	}

	// The same checks accept a clean set.
	pairs, err := parseQuestionPairs(strings.NewReader(good + "\n\n" + line("How do I boil rice?", "How do I fry rice?", 0, "entity")))
	if err != nil || len(pairs) != 2 {
		t.Fatalf("clean set: %d pairs, error %v", len(pairs), err)
	}
	if err := checkQuestionSet(pairs); err != nil {
		t.Errorf("clean set: %v", err)
	}
	ds, err := parseDistractors(strings.NewReader("What is rain?\nWhy is snow white?\n"))
	if err != nil || len(ds) != 2 {
		t.Fatalf("clean distractors: %v, error %v", ds, err)
	}
	if err := checkDistractors(pairs, ds); err != nil {
		t.Errorf("clean distractors: %v", err)
	}
}

func TestNormText(t *testing.T) {
	cases := []struct{ in, want string }{
		{"What's the ETA?", "what s the eta"},
		{"  2>&1   vs 1>&2 ", "2 1 vs 1 2"},
		{"180°C", "180 c"},
		{"Ça va?", "ça va"},
		{"?!", ""},
	}
	for _, tc := range cases {
		if got := normText(tc.in); got != tc.want {
			t.Errorf("normText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// loadShippedQuestions parses the shipped files or fails the test.
func loadShippedQuestions(t *testing.T) ([]questionPair, []string) {
	t.Helper()
	qf, err := os.Open(questionsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer qf.Close()
	pairs, err := parseQuestionPairs(qf)
	if err != nil {
		t.Fatalf("%s: %v", questionsPath, err)
	}
	df, err := os.Open(distractorsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer df.Close()
	ds, err := parseDistractors(df)
	if err != nil {
		t.Fatalf("%s: %v", distractorsPath, err)
	}
	return pairs, ds
}

func TestQuestionsDataShipped(t *testing.T) {
	pairs, ds := loadShippedQuestions(t)
	if err := checkQuestionSet(pairs); err != nil {
		t.Errorf("%s: %v", questionsPath, err)
	}
	if err := checkDistractors(pairs, ds); err != nil {
		t.Errorf("%s: %v", distractorsPath, err)
	}

	perType := map[string]int{}
	labels := [2]int{}
	originals := map[string]bool{}
	for _, p := range pairs {
		perType[p.Type]++
		labels[p.Label]++
		originals[p.A] = true
	}
	wordChanging := perType["reword"] + perType["synonym"] + perType["voice"]

	minimums := []struct {
		what      string
		got, want int
	}{
		{"pairs", len(pairs), 560},
		{"label-1 pairs", labels[1], 250},
		{"label-0 pairs", labels[0], 310},
		{"distinct originals (a)", len(originals), 200},
		{"distractors", len(ds), 1200},
		// At least 40% of the paraphrases change the content words.
		{"reword+synonym+voice pairs (x10)", 10 * wordChanging, 4 * labels[1]},
	}
	for _, m := range minimums {
		if m.got < m.want {
			t.Errorf("%s: %d, want at least %d", m.what, m.got, m.want)
		}
	}
	for typ := range questionTypes {
		if perType[typ] < 15 {
			t.Errorf("type %q: %d pairs, want at least 15", typ, perType[typ])
		}
	}
	t.Logf("%d pairs (%d label 1, %d label 0), %d originals, %d distractors, per type %v",
		len(pairs), labels[1], labels[0], len(originals), len(ds), perType)
}

// TestQuestionsReadmeCounts keeps the per-type table in
// bench/testdata/README.md in step with the data.
func TestQuestionsReadmeCounts(t *testing.T) {
	pairs, ds := loadShippedQuestions(t)
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	perType := map[string]int{}
	for _, p := range pairs {
		perType[p.Type]++
	}
	for typ, label := range questionTypes {
		row := fmt.Sprintf("| `%s` | %d | %d |", typ, label, perType[typ])
		if !bytes.Contains(readme, []byte(row)) {
			t.Errorf("README has no row starting %q", row)
		}
	}
	for _, s := range []string{
		fmt.Sprintf("%d pairs", len(pairs)),
		fmt.Sprintf("%d distractors", len(ds)),
	} {
		if !bytes.Contains(readme, []byte(s)) {
			t.Errorf("README does not say %q", s)
		}
	}
}
