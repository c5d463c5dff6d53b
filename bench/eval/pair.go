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
)

// Message is one chat turn of a conversation's context, as in the OpenAI
// API.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Side is one half of a pair: the text a user sends, after the context
// (earlier turns) it is sent in. Statements and questions have no context.
type Side struct {
	Text    string    `json:"text"`
	Context []Message `json:"context,omitempty"`
}

// Pair is one labelled pair. Two schemas load into it:
//
//   - the data schema {"a","b","label","source","kind", "pair_type"?,
//     "type"?, "a_context"?, "b_context"?, "score"?} of /work/shared/data
//     and bench/testdata/questions.jsonl;
//   - the first schema {"a","b","duplicate","kind"} of
//     bench/testdata/pairs.jsonl, whose kind is a category ("numbers",
//     "paraphrase"): it becomes Type, with Kind "question" and Source
//     OldPairsSource.
type Pair struct {
	A string `json:"a"`
	B string `json:"b"`
	// Label is 1 when B may be answered with the cached answer to A, 0
	// when it must not.
	Label int `json:"label"`
	// Source names where the pair comes from ("paws-wiki:dev",
	// "stsb:train:headlines", ...); Family groups it.
	Source string `json:"source"`
	// Kind is the form of the texts: statement, contextual, question.
	Kind string `json:"kind"`
	// Type is how the pair was built (pair_type, type, or the first
	// schema's kind); "" when the file does not say.
	Type     string    `json:"type,omitempty"`
	AContext []Message `json:"a_context,omitempty"`
	BContext []Message `json:"b_context,omitempty"`
	// Score is the source's own similarity score (STS Benchmark), if any.
	Score *float64 `json:"score,omitempty"`
}

// OldPairsSource is the Source given to pairs of the first schema.
const OldPairsSource = "old-pairs"

// Duplicate reports whether the pair is labelled a duplicate.
func (p Pair) Duplicate() bool { return p.Label == 1 }

// SideA and SideB are the pair's two halves with their contexts.
func (p Pair) SideA() Side { return Side{Text: p.A, Context: p.AContext} }
func (p Pair) SideB() Side { return Side{Text: p.B, Context: p.BContext} }

// Family is the source family the reports group by: the source up to its
// first colon, with "paws-wiki" shortened to "paws".
func (p Pair) Family() string {
	f, _, _ := strings.Cut(p.Source, ":")
	if f == "paws-wiki" {
		return "paws"
	}
	return f
}

// Category is the pair's type when it has one, else its kind.
func (p Pair) Category() string {
	if p.Type != "" {
		return p.Type
	}
	return p.Kind
}

// pairLine mirrors both schemas with pointers, so Load can tell a missing
// field from a zero value.
type pairLine struct {
	A         *string   `json:"a"`
	B         *string   `json:"b"`
	Label     *int      `json:"label"`
	Duplicate *bool     `json:"duplicate"`
	Source    *string   `json:"source"`
	Kind      *string   `json:"kind"`
	PairType  *string   `json:"pair_type"`
	Type      *string   `json:"type"`
	AContext  []Message `json:"a_context"`
	BContext  []Message `json:"b_context"`
	Score     *float64  `json:"score"`
}

// maxLine bounds one line of a pairs file.
const maxLine = 1 << 20

// contextRoles are the roles a context message may have.
var contextRoles = map[string]bool{"system": true, "developer": true, "user": true, "assistant": true}

// Load reads pairs in JSON Lines form, in either schema (see Pair). It is
// strict: unknown fields, missing or empty texts, a label other than 0 or
// 1, a missing source or kind, fields of the other schema, and context
// messages without a known role or content are errors; blank lines are
// allowed. Errors name the line and list every problem of it.
func Load(r io.Reader) ([]Pair, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), maxLine)
	var pairs []Pair
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		var pl pairLine
		if err := dec.Decode(&pl); err != nil {
			return nil, fmt.Errorf("eval: line %d: %w", n, err)
		}
		if dec.More() {
			return nil, fmt.Errorf("eval: line %d: more than one JSON value", n)
		}
		p, err := pl.pair()
		if err != nil {
			return nil, fmt.Errorf("eval: line %d: %w", n, err)
		}
		pairs = append(pairs, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("eval: reading pairs: %w", err)
	}
	if len(pairs) == 0 {
		return nil, errors.New("eval: no pairs")
	}
	return pairs, nil
}

// LoadFile loads one pairs file; errors name it.
func LoadFile(path string) ([]Pair, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	defer f.Close()
	pairs, err := Load(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return pairs, nil
}

// LoadFiles loads several pairs files, in order.
func LoadFiles(paths []string) ([]Pair, error) {
	var all []Pair
	for _, p := range paths {
		pairs, err := LoadFile(p)
		if err != nil {
			return nil, err
		}
		all = append(all, pairs...)
	}
	return all, nil
}

func emptyString(s *string) bool { return s == nil || strings.TrimSpace(*s) == "" }

// pair validates a decoded line and converts it.
func (pl *pairLine) pair() (Pair, error) {
	var errs []error
	if emptyString(pl.A) {
		errs = append(errs, errors.New(`"a" is missing or empty`))
	}
	if emptyString(pl.B) {
		errs = append(errs, errors.New(`"b" is missing or empty`))
	}
	if emptyString(pl.Kind) {
		errs = append(errs, errors.New(`"kind" is missing or empty`))
	}
	if pl.Duplicate != nil { // the first schema
		others := []struct {
			name    string
			present bool
		}{
			{"label", pl.Label != nil}, {"source", pl.Source != nil}, {"pair_type", pl.PairType != nil}, {"type", pl.Type != nil},
			{"a_context", pl.AContext != nil}, {"b_context", pl.BContext != nil}, {"score", pl.Score != nil},
		}
		for _, o := range others {
			if o.present {
				errs = append(errs, fmt.Errorf(`"duplicate" (first schema) and %q (data schema) in one line`, o.name))
			}
		}
		if err := errors.Join(errs...); err != nil {
			return Pair{}, err
		}
		label := 0
		if *pl.Duplicate {
			label = 1
		}
		return Pair{A: *pl.A, B: *pl.B, Label: label, Source: OldPairsSource, Kind: "question", Type: *pl.Kind}, nil
	}
	switch {
	case pl.Label == nil:
		errs = append(errs, errors.New(`"label" (or "duplicate") is missing`))
	case *pl.Label != 0 && *pl.Label != 1:
		errs = append(errs, fmt.Errorf(`"label" is %d, want 0 or 1`, *pl.Label))
	}
	if emptyString(pl.Source) {
		errs = append(errs, errors.New(`"source" is missing or empty`))
	}
	if pl.PairType != nil && pl.Type != nil {
		errs = append(errs, errors.New(`both "pair_type" and "type"`))
	}
	typ := ""
	for _, t := range []*string{pl.PairType, pl.Type} {
		if t == nil {
			continue
		}
		if strings.TrimSpace(*t) == "" {
			errs = append(errs, errors.New(`"pair_type"/"type" is empty`))
		}
		typ = *t
	}
	for _, c := range []struct {
		name string
		msgs []Message
	}{{"a_context", pl.AContext}, {"b_context", pl.BContext}} {
		for i, m := range c.msgs {
			name := c.name
			if !contextRoles[m.Role] {
				errs = append(errs, fmt.Errorf("%s[%d]: role %q is not system, developer, user or assistant", name, i, m.Role))
			}
			if strings.TrimSpace(m.Content) == "" {
				errs = append(errs, fmt.Errorf("%s[%d]: empty content", name, i))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Pair{}, err
	}
	return Pair{A: *pl.A, B: *pl.B, Label: *pl.Label, Source: *pl.Source, Kind: *pl.Kind, Type: typ,
		AContext: pl.AContext, BContext: pl.BContext, Score: pl.Score}, nil
}

// Normalize lowercases s, collapses runs of white space into one space and
// trims it: the form texts are compared in for splitting and classes.
func Normalize(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(s)), " ")
}

// Key identifies a side for splitting, classes and the oracle: the
// normalised user turns of its context followed by its normalised text,
// one per line. Assistant and system turns do not count.
func (s Side) Key() string {
	var b strings.Builder
	for _, m := range s.Context {
		if m.Role != "user" {
			continue
		}
		b.WriteString(Normalize(m.Content))
		b.WriteByte('\n')
	}
	b.WriteString(Normalize(s.Text))
	return b.String()
}

// Messages returns the side as a chat request's messages: the context,
// then the text as a user message.
func (s Side) Messages() []Message {
	msgs := make([]Message, 0, len(s.Context)+1)
	msgs = append(msgs, s.Context...)
	return append(msgs, Message{Role: "user", Content: s.Text})
}

// SideOf is the inverse of Messages: the last user message is the text,
// everything before it the context (messages after it are ignored). ok is
// false when there is no user message.
func SideOf(msgs []Message) (s Side, ok bool) {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == "user" {
			return Side{Text: msgs[i].Content, Context: msgs[:i:i]}, true
		}
	}
	return Side{}, false
}
