package wordnet

import "strings"

// Morphology follows WordNet's morphy (morph.c in the WordNet 3.x
// library; see morphy(7WN)), per part of speech:
//
//   - the word itself, if it is a lemma of that part of speech;
//   - if the word is in that part of speech's exception list (noun.exc,
//     verb.exc, adj.exc, adv.exc: "mice mouse", "ran run", "better good
//     well"), its base forms; otherwise
//   - for a single word, the first detachment rule (in WordNet's order)
//     that yields a lemma: nouns -s, -ses→-s, -xes→-x, -zes→-z, -ches→-ch,
//     -shes→-sh, -men→-man, -ies→-y (not for words of two letters or
//     ending in -ss; "boxesful" → "boxful"); verbs -s, -ies→-y, -es→-e,
//     -es, -ed→-e, -ed, -ing→-e, -ing; adjectives -er, -est, -er→-e,
//     -est→-e; adverbs have no rules;
//   - for a collocation (words joined by spaces or hyphens), one word at
//     a time replaced by its exceptions or by every rule's result, and
//     the whole looked up: "heart rates" → "heart rate", "looking up" →
//     "look up". (morph.c morphs every word, each only to a form that
//     is a lemma by itself; this finds "heart rate" without needing
//     "rate".)
//
// It builds candidates in a stack buffer, so it does not allocate.

type rule struct{ suffix, ending string }

var rules = [numPOS][]rule{
	Noun: {{"s", ""}, {"ses", "s"}, {"xes", "x"}, {"zes", "z"}, {"ches", "ch"}, {"shes", "sh"}, {"men", "man"}, {"ies", "y"}},
	Verb: {{"s", ""}, {"ies", "y"}, {"es", "e"}, {"es", ""}, {"ed", "e"}, {"ed", ""}, {"ing", "e"}, {"ing", ""}},
	Adj:  {{"er", ""}, {"est", ""}, {"er", "e"}, {"est", "e"}},
}

// maxLemmas bounds the base forms of one word for one part of speech.
const maxLemmas = 8

// lemmaSet is morph's output: string ids of lemmas with senses of the
// part of speech asked for.
type lemmaSet struct {
	n   int
	ids [maxLemmas]uint32
}

func (l *lemmaSet) add(id uint32) {
	for _, x := range l.ids[:l.n] {
		if x == id {
			return
		}
	}
	if l.n < maxLemmas {
		l.ids[l.n] = id
		l.n++
	}
}

// hasSenses reports whether the string has a sense of part of speech p.
func (w *WordNet) hasSenses(id uint32, p POS) bool {
	n, _ := w.senses(id, p)
	return n > 0
}

// exceptions calls f with each base form the string's exception entries
// give for p, until f returns false.
func (w *WordNet) exceptions(id uint32, p POS, f func(base uint32) bool) (any bool) {
	lo, hi := w.entryRange(int(id))
	for k := lo; k < hi; k++ {
		e := w.entry(k)
		if e&excBit == 0 {
			continue // a sense; the exceptions follow them
		}
		if POS(e>>excPOSShift&3) == p {
			any = true
			if !f(e & idMask) {
				return
			}
		}
	}
	return
}

// morph puts the lemmas of word (lower case, or folded while looking up)
// for part of speech p into out.
func (w *WordNet) morph(word string, p POS, out *lemmaSet) {
	out.n = 0
	if len(word) == 0 || len(word) > maxStringLen {
		return
	}
	var lowered [maxStringLen]byte
	for i := 0; i < len(word); i++ {
		if c := word[i]; c >= 'A' && c <= 'Z' {
			n := copy(lowered[:], word)
			for j := i; j < n; j++ {
				lowered[j] = lower(lowered[j])
			}
			word = unsafeString(lowered[:n]) // morph keeps nothing of it
			break
		}
	}
	id, found := lookup(w, word)
	if found && w.hasSenses(id, p) {
		out.add(id)
	}
	if found && w.exceptions(id, p, func(base uint32) bool { out.add(base); return true }) {
		return
	}
	if !isCollocation(word) {
		var buf [maxStringLen + 8]byte
		if base, ok := w.morphWord(word, p, buf[:0]); ok {
			if bid, ok := lookup(w, base); ok {
				out.add(bid)
			}
		}
		return
	}
	// A collocation: morph one word at a time (its exceptions and every
	// rule), keeping the others and the separators, and look the whole
	// up: "heart rates" → "heart rate", "looking up" → "look up".
	var buf [maxStringLen + 8]byte
	for start := 0; start < len(word); {
		end := start
		for end < len(word) && word[end] != ' ' && word[end] != '-' {
			end++
		}
		w.morphPart(word, start, end, p, buf[:0], out)
		start = end + 1
	}
}

// morphPart adds the lemmas of p that word becomes when its part
// word[start:end] is replaced by one of that part's base forms.
func (w *WordNet) morphPart(word string, start, end int, p POS, buf []byte, out *lemmaSet) {
	part := word[start:end]
	try := func(base []byte, stem, ending string) { // base or stem, then ending
		b := append(buf[:0], word[:start]...)
		b = append(b, base...)
		b = append(b, stem...)
		b = append(b, ending...)
		b = append(b, word[end:]...)
		if len(b) > maxStringLen {
			return
		}
		if id, ok := lookup(w, b); ok && w.hasSenses(id, p) {
			out.add(id)
		}
	}
	if id, ok := lookup(w, part); ok {
		if w.exceptions(id, p, func(b uint32) bool { try(w.str(int(b)), "", ""); return true }) {
			return
		}
	}
	if p == Noun && (len(part) <= 2 || strings.HasSuffix(part, "ss")) {
		return
	}
	for _, r := range rules[p] {
		if len(part) > len(r.suffix) && strings.HasSuffix(part, r.suffix) {
			try(nil, part[:len(part)-len(r.suffix)], r.ending)
		}
	}
}

func isCollocation(word string) bool {
	for i := 0; i < len(word); i++ {
		if word[i] == ' ' || word[i] == '-' {
			return true
		}
	}
	return false
}

// morphWord appends to dst the base form of one word for p (morph.c's
// morphword): its first exception, else the first rule result that is a
// lemma of p. ok is false when there is none.
func (w *WordNet) morphWord(word string, p POS, dst []byte) ([]byte, bool) {
	if len(word) == 0 || len(word) > maxStringLen {
		return dst, false
	}
	if id, ok := lookup(w, word); ok {
		var base uint32
		if w.exceptions(id, p, func(b uint32) bool { base = b; return false }) {
			return append(dst, w.str(int(base))...), true
		}
	}
	end := ""
	stem := word
	if p == Noun {
		switch {
		case len(word) > 3 && word[len(word)-3:] == "ful":
			stem, end = word[:len(word)-3], "ful"
		case len(word) <= 2 || word[len(word)-2:] == "ss":
			return dst, false
		}
	}
	for _, r := range rules[p] {
		if len(stem) <= len(r.suffix) || stem[len(stem)-len(r.suffix):] != r.suffix {
			continue
		}
		n := len(dst)
		cand := append(dst, stem[:len(stem)-len(r.suffix)]...)
		cand = append(cand, r.ending...)
		cand = append(cand, end...)
		for i := n; i < len(cand); i++ {
			cand[i] = lower(cand[i])
		}
		if len(cand)-n > maxStringLen {
			continue
		}
		if id, ok := lookup(w, cand[n:]); ok && w.hasSenses(id, p) {
			return cand, true
		}
		dst = cand[:n]
	}
	return dst, false
}

// Lemmas returns the WordNet lemmas a word or phrase can be an inflection
// of (morphy's output over all parts of speech, nouns first; the word
// itself when it is a lemma). It allocates; Relate and Known do not.
func (w *WordNet) Lemmas(word string) []string {
	var out []string
	var ls lemmaSet
	for p := range numPOS {
		w.morph(word, p, &ls)
	next:
		for _, id := range ls.ids[:ls.n] {
			s := string(w.str(int(id)))
			for _, o := range out {
				if o == s {
					continue next
				}
			}
			out = append(out, s)
		}
	}
	return out
}

// Known reports whether a word or phrase (case-insensitive, words joined
// by single spaces) is, or is an inflection of, a WordNet lemma.
func (w *WordNet) Known(word string) bool {
	var ls lemmaSet
	for p := range numPOS {
		if w.morph(word, p, &ls); ls.n > 0 {
			return true
		}
	}
	return false
}

// MaxPhrase is the most words Phrase folds into one unit.
const MaxPhrase = 4

// Phrase finds the longest known unit starting at words[0]: n words
// (1..MaxPhrase) that, joined by spaces, are a WordNet lemma or an
// inflection of one ("northern lights", "heart rates", "aurora
// borealis"). n is 1 when no collocation starts at words[0] but the word
// itself is known; ok is false, and n 0, when not even words[0] is. A
// caller folds words[:n] into one unit when n > 1 before comparing texts.
// It does not allocate.
func (w *WordNet) Phrase(words []string) (n int, ok bool) {
	var buf [MaxPhrase * (maxStringLen + 1)]byte
	for n = min(len(words), MaxPhrase); n > 0; n-- {
		b := buf[:0]
		for i, s := range words[:n] {
			if i > 0 {
				b = append(b, ' ')
			}
			b = append(b, s...)
		}
		if len(b) > maxStringLen {
			continue
		}
		if w.Known(unsafeString(b)) {
			return n, true
		}
	}
	return 0, false
}
