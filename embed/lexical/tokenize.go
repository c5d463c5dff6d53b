package lexical

import (
	"context"
	"unicode"
	"unicode/utf8"
)

// Tokenisation rules (part of the model: changing any of them must bump
// Version so stored vectors are never compared across rule sets).
//
//   - Input is NFKC-normalised, then lowercased rune by rune.
//   - A word is a maximal run of letters, digits and combining marks. Every
//     other rune (spaces, punctuation, symbols, emoji) separates words.
//   - Han, Hiragana and Katakana runes are words of one rune each, so
//     unsegmented CJK text still yields unigram and bigram features.
//   - A '.' between two digits stays inside the word, so "3.14" and "1.2.3"
//     are single tokens; ',' always separates ("1,000" is "1" and "000").
//   - Apostrophes (' ’ ʼ) inside a word: the English clitics expand —
//     "n't" → "not" ("don't" → "do not", "can't" → "can not", "won't" →
//     "will not", "shan't" → "shall not", "ain't" → "is not"), "'re" → "are",
//     "'ve" → "have", "'ll" → "will", "'d" → "would", "'m" → "am", and "'s"
//     is dropped (possessive and "is"/"has" carry little meaning). Any other
//     apostrophe separates words ("o'clock" → "o" "clock", "l'eau" → "l"
//     "eau"). The apostrophe-less spellings "dont", "cannot", "isnt", …
//     expand the same way.
//   - Words made only of ASCII letters are lightly stemmed (see stem).
//   - Stop-words are kept but down-weighted. Negations ("not", "no",
//     "never"), comparison words ("than", "more", "less", "vs", "better",
//     …), question words and direction words are deliberately NOT
//     stop-words: they flip the meaning of a prompt.

// token is one word after contraction expansion. Offsets index the
// scratch word buffer.
type token struct {
	stemStart, stemEnd int32 // form used for unigram and bigram features
	rawStart, rawEnd   int32 // lowercased surface form, for char n-grams
	hash               uint64
	weight             float32
	charGrams          bool // whether char n-grams are emitted for it
}

// tokenizer appends the tokens of one normalised text to toks. Its slices
// are borrowed from a scratch and handed back by the caller.
type tokenizer struct {
	p     *params
	cur   []byte  // word being built, lowercased
	words []byte  // surface and stem forms of all tokens
	toks  []token // tokens so far
}

func isApostrophe(r rune) bool {
	return r == '\'' || r == '\u2019' || r == '\u02bc'
}

func isIdeograph(r rune) bool {
	if r < 0x2e80 {
		return false
	}
	return unicode.Is(unicode.Han, r) || unicode.Is(unicode.Hiragana, r) || unicode.Is(unicode.Katakana, r)
}

func isWordRune(r rune) bool {
	if r < utf8.RuneSelf {
		return ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9')
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.In(r, unicode.Mn, unicode.Mc)
}

func isDigit(r rune) bool { return '0' <= r && r <= '9' }

func toLower(r rune) rune {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}
	return unicode.ToLower(r)
}

// run tokenises b (already NFKC-normalised, not yet lowercased). It
// reports false when ctx ended.
func (t *tokenizer) run(ctx context.Context, b []byte) bool {
	t.cur = t.cur[:0]
	next := checkEvery
	for i := 0; i < len(b); {
		if i >= next {
			if ctx.Err() != nil {
				return false
			}
			next = i + checkEvery
		}
		r, size := rune(b[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRune(b[i:])
		}
		switch {
		case isApostrophe(r):
			i += size
			if len(t.cur) == 0 {
				continue
			}
			if n := t.contraction(b[i:]); n > 0 {
				i += n
				continue
			}
			t.flush()
			continue
		case isIdeograph(r):
			t.flush()
			t.cur = utf8.AppendRune(t.cur, r)
			t.flush()
		case isWordRune(r):
			t.cur = utf8.AppendRune(t.cur, toLower(r))
		case r == '.' && len(t.cur) > 0 && isDigit(rune(t.cur[len(t.cur)-1])) &&
			i+1 < len(b) && isDigit(rune(b[i+1])):
			t.cur = append(t.cur, '.')
		default:
			t.flush()
		}
		i += size
	}
	t.flush()
	return true
}

// contraction handles the letters following an apostrophe that follows
// t.cur. It returns how many bytes of rest it consumed, or 0 when the
// apostrophe is an ordinary separator.
func (t *tokenizer) contraction(rest []byte) int {
	// Read the clitic: up to 3 ASCII letters followed by a non-word rune.
	var clitic [3]byte
	n := 0
	for n < len(rest) && n <= len(clitic) {
		c := rest[n]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c < 'a' || c > 'z' {
			break
		}
		if n == len(clitic) {
			return 0 // longer than any clitic
		}
		clitic[n] = c
		n++
	}
	if n == 0 {
		return 0
	}
	if n < len(rest) {
		if r, _ := utf8.DecodeRune(rest[n:]); isWordRune(r) {
			return 0
		}
	}
	switch string(clitic[:n]) {
	case "t":
		if t.cur[len(t.cur)-1] != 'n' {
			return 0
		}
		base := t.cur[:len(t.cur)-1]
		switch string(base) {
		case "ca":
			base = append(base, 'n')
		case "wo":
			base = append(base[:0], "will"...)
		case "sha":
			base = append(base[:0], "shall"...)
		case "ai":
			base = append(base[:0], "is"...)
		}
		t.cur = base
		t.flush()
		t.emitLiteral("not")
	case "s":
		t.flush()
	case "re":
		t.flush()
		t.emitLiteral("are")
	case "ve":
		t.flush()
		t.emitLiteral("have")
	case "ll":
		t.flush()
		t.emitLiteral("will")
	case "d":
		t.flush()
		t.emitLiteral("would")
	case "m":
		t.flush()
		t.emitLiteral("am")
	default:
		return 0
	}
	return n
}

func (t *tokenizer) emitLiteral(w string) {
	t.cur = append(t.cur[:0], w...)
	t.flush()
}

// flush emits t.cur as a word (expanding apostrophe-less contractions) and
// clears it.
func (t *tokenizer) flush() {
	if len(t.cur) == 0 {
		return
	}
	info := lexicon[string(t.cur)]
	if info.expand != nil {
		for _, w := range info.expand {
			t.emit([]byte(w), lexicon[w].class)
		}
	} else {
		t.emit(t.cur, info.class)
	}
	t.cur = t.cur[:0]
}

// emit appends one token with surface form raw.
func (t *tokenizer) emit(raw []byte, class wordClass) {
	rawStart := int32(len(t.words))
	t.words = append(t.words, raw...)
	rawEnd := int32(len(t.words))
	tok := token{rawStart: rawStart, rawEnd: rawEnd, stemStart: rawStart, stemEnd: rawEnd, weight: 1}

	asciiLetters, hasDigit := true, false
	for _, c := range raw {
		switch {
		case 'a' <= c && c <= 'z':
		case '0' <= c && c <= '9', c == '.':
			hasDigit = true
			asciiLetters = false
		default:
			asciiLetters = false
		}
	}
	switch {
	case class == classStop:
		tok.weight = t.p.stopWord
	case hasDigit:
		tok.weight = t.p.number
	case class == classNegation:
		tok.weight = t.p.negation
	case asciiLetters:
		t.words = stem(t.words, int(rawStart))
		if st := t.words[rawEnd:]; len(st) > 0 {
			tok.stemStart, tok.stemEnd = rawEnd, int32(len(t.words))
		}
	}
	tok.charGrams = class != classStop && !hasDigit && utf8.RuneCount(raw) >= minCharGramWord
	tok.hash = fnv1a(fnvOffset, t.words[tok.stemStart:tok.stemEnd])
	t.toks = append(t.toks, tok)
}

// stem appends a lightly stemmed copy of buf[start:] to buf when stemming
// changes the word, and returns buf unchanged (no copy) otherwise. It only
// strips plural "-s"/"-es"/"-ies", "-ing" and "-ed", undoubles a final
// consonant left by them ("running" → "run"; "-ing"/"-ed" are only
// stripped when a vowel remains, so "string" stays), and drops a final silent 'e'
// ("make"/"making" → "mak"), so inflections of one word meet. Comparative
// and superlative endings are kept on purpose.
func stem(buf []byte, start int) []byte {
	w := buf[start:]
	n := len(w)
	end := n // length of the stem within w
	undouble := false
	switch {
	case n > 4 && hasSuffix(w, "ies"), n > 4 && hasSuffix(w, "ied"):
		// "studies"/"studied" → "study"
		out := append(buf, w[:n-3]...)
		return append(out, 'y')
	case n > 4 && hasSuffix(w, "sses"):
		end = n - 2
	case n > 3 && hasSuffix(w, "ss"), n > 3 && hasSuffix(w, "us"), n > 3 && hasSuffix(w, "is"):
		// "class", "status", "analysis": not plurals.
	case n > 4 && (hasSuffix(w, "shes") || hasSuffix(w, "ches")):
		end = n - 2
	case n > 3 && (hasSuffix(w, "xes") || hasSuffix(w, "zes")):
		end = n - 2
	case n > 3 && w[n-1] == 's':
		end = n - 1
	case n > 5 && hasSuffix(w, "ing"):
		end = n - 3
		undouble = true
	case n > 4 && hasSuffix(w, "ed"):
		end = n - 2
		undouble = true
	}
	if undouble && !hasVowel(w[:end]) {
		return buf // "string", "red": the suffix is part of the word
	}
	if undouble && end >= 3 && w[end-1] == w[end-2] && isDoublable(w[end-1]) {
		end--
	}
	if end > 3 && w[end-1] == 'e' && w[end-2] != 'e' {
		end--
	}
	if end == n {
		return buf
	}
	return append(buf, w[:end]...)
}

func hasVowel(w []byte) bool {
	for _, c := range w {
		switch c {
		case 'a', 'e', 'i', 'o', 'u', 'y':
			return true
		}
	}
	return false
}

func isDoublable(c byte) bool {
	switch c {
	case 'a', 'e', 'i', 'o', 'u', 'l', 's', 'z':
		return false
	}
	return true
}

func hasSuffix(w []byte, suf string) bool {
	return len(w) >= len(suf) && string(w[len(w)-len(suf):]) == suf
}

type wordClass uint8

const (
	classContent wordClass = iota
	classStop
	classNegation
)

// lexiconEntry is what the tokenizer knows about a word: its class and, for
// a contraction typed without apostrophe, its expansion.
type lexiconEntry struct {
	class  wordClass
	expand []string
}

// lexicon merges stopWords, negations and bareContractions so the
// tokenizer needs a single map lookup per word.
var lexicon = buildLexicon()

func buildLexicon() map[string]lexiconEntry {
	m := make(map[string]lexiconEntry, len(stopWords)+len(negations)+len(bareContractions))
	for w := range stopWords {
		m[w] = lexiconEntry{class: classStop}
	}
	for _, w := range negations {
		m[w] = lexiconEntry{class: classNegation}
	}
	for w, exp := range bareContractions {
		m[w] = lexiconEntry{expand: exp}
	}
	return m
}

// negations are up-weighted (params.negation).
var negations = []string{"not", "no", "nor", "never", "none", "neither", "without", "nothing", "nobody"}

// bareContractions expands contractions typed without the apostrophe.
// "whats", "hows", "thats" lose their "s" like "what's" does.
var bareContractions = map[string][]string{
	"dont": {"do", "not"}, "doesnt": {"does", "not"}, "didnt": {"did", "not"},
	"isnt": {"is", "not"}, "arent": {"are", "not"}, "wasnt": {"was", "not"},
	"werent": {"were", "not"}, "havent": {"have", "not"}, "hasnt": {"has", "not"},
	"hadnt": {"had", "not"}, "wouldnt": {"would", "not"}, "shouldnt": {"should", "not"},
	"couldnt": {"could", "not"}, "cannot": {"can", "not"}, "cant": {"can", "not"},
	"wont": {"will", "not"}, "whats": {"what"}, "hows": {"how"}, "thats": {"that"},
	"wheres": {"where"}, "whos": {"who"}, "im": {"i", "am"}, "ive": {"i", "have"},
}

// stopWords are down-weighted (never dropped). Deliberately absent:
// negations (not, no, nor, never, none, neither, without), comparison words
// (than, more, most, less, least, vs, versus, better, worse, best, worst,
// same, different, against), question words (what, which, who, whom, whose,
// when, where, why, how) and direction/position words (up, down, in, out,
// on, off, over, under, above, below, before, after).
var stopWords = map[string]struct{}{
	"a": {}, "an": {}, "the": {}, "and": {}, "or": {}, "but": {}, "if": {}, "then": {},
	"so": {}, "of": {}, "to": {}, "for": {}, "with": {}, "at": {}, "by": {}, "from": {},
	"as": {}, "into": {}, "about": {}, "is": {}, "are": {}, "was": {}, "were": {}, "be": {},
	"been": {}, "being": {}, "am": {}, "do": {}, "does": {}, "did": {}, "doing": {},
	"have": {}, "has": {}, "had": {}, "having": {}, "will": {}, "would": {}, "shall": {},
	"should": {}, "can": {}, "could": {}, "may": {}, "might": {}, "must": {},
	"i": {}, "me": {}, "my": {}, "mine": {}, "myself": {}, "we": {}, "us": {}, "our": {},
	"ours": {}, "you": {}, "your": {}, "yours": {}, "he": {}, "him": {}, "his": {},
	"she": {}, "her": {}, "hers": {}, "it": {}, "its": {}, "they": {}, "them": {},
	"their": {}, "theirs": {}, "this": {}, "that": {}, "these": {}, "those": {},
	"there": {}, "here": {}, "some": {}, "any": {}, "each": {}, "such": {}, "own": {},
	"just": {}, "also": {}, "very": {}, "too": {}, "please": {}, "s": {}, "t": {},
	"let": {}, "lets": {}, "tell": {}, "give": {}, "get": {}, "hi": {}, "hello": {},
	"hey": {}, "thanks": {}, "thank": {}, "really": {}, "quite": {}, "kindly": {},
}
