package eval

import (
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/semcache/semcache/bench/upstream"
)

// ClassID names an equivalence class of texts: every text of a class may be
// answered with the answer to any other. It is derived from the class's
// smallest key, so the same class gets the same id in every process that
// loads the same pairs (the oracle upstream and the evaluation agree
// without talking).
type ClassID string

// ClassMap maps a side's Key to its class.
type ClassMap map[string]ClassID

// classIDOf is the id of a class whose smallest key is key: FNV-1a (64 bit)
// in hex.
func classIDOf(key string) ClassID {
	h := fnv.New64a()
	h.Write([]byte(key))
	return ClassID(fmt.Sprintf("%016x", h.Sum64()))
}

// Classes builds the equivalence classes of the oracle: duplicates
// (label 1) are joined transitively over their sides' keys (context user
// turns + text, normalised); every other text is its own class.
func Classes(pairs []Pair) ClassMap {
	k := newKeyIDs()
	for _, p := range pairs {
		a, b := k.id(p.SideA().Key()), k.id(p.SideB().Key())
		if p.Duplicate() {
			k.uf.union(a, b)
		}
	}
	smallest := map[int]string{}
	for id, key := range k.keys {
		r := k.uf.find(id)
		if s, ok := smallest[r]; !ok || key < s {
			smallest[r] = key
		}
	}
	m := make(ClassMap, len(k.keys))
	for id, key := range k.keys {
		m[key] = classIDOf(smallest[k.uf.find(id)])
	}
	return m
}

// Of returns the class of a key: its class in m, or, for a key m does not
// know (a distractor, an unknown prompt), a class of its own.
func (m ClassMap) Of(key string) ClassID {
	if id, ok := m[key]; ok {
		return id
	}
	return classIDOf(key)
}

// Known reports whether m has the key (from a loaded pair).
func (m ClassMap) Known(key string) bool {
	_, ok := m[key]
	return ok
}

// Answer is the oracle's answer to a side: "class:<id>" for a known key,
// "class:unknown:<id>" for an unknown one (its own class).
func (m ClassMap) Answer(s Side) string {
	key := s.Key()
	if id, ok := m[key]; ok {
		return AnswerPrefix + string(id)
	}
	return AnswerPrefix + unknownPrefix + string(classIDOf(key))
}

// AnswerPrefix starts every oracle answer.
const (
	AnswerPrefix  = "class:"
	unknownPrefix = "unknown:"
)

// AnswerContent is the synthetic answer stored for a class (cache mode
// stores what the oracle would have answered).
func AnswerContent(id ClassID) string { return AnswerPrefix + string(id) }

// ParseAnswer reads the class out of an oracle answer; ok is false when
// content is not one.
func ParseAnswer(content string) (id ClassID, ok bool) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(content), AnswerPrefix)
	if !ok {
		return "", false
	}
	rest = strings.TrimPrefix(rest, unknownPrefix)
	if rest == "" || strings.ContainsAny(rest, " \t\n:") {
		return "", false
	}
	return ClassID(rest), true
}

// Oracle is the answerer of the oracle upstream (bench/upstream): it
// answers each chat request with Answer of its side, the last user message
// after its context.
func Oracle(m ClassMap) upstream.Answerer {
	return upstream.AnswerFunc(func(msgs []upstream.Message) string {
		conv := make([]Message, len(msgs))
		for i, msg := range msgs {
			conv[i] = Message{Role: msg.Role, Content: msg.Text}
		}
		s, _ := SideOf(conv) // no user message: the empty side, its own class
		return m.Answer(s)
	})
}
