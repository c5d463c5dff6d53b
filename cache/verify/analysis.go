package verify

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// tokKind is what a token stands for.
type tokKind uint8

const (
	kWord   tokKind = iota // a word; text is its canonical form
	kNum                   // a number; num (or ver) is its value
	kSymbol                // a relation symbol such as ">" or "->"
)

// tokFlag is a set of token properties.
type tokFlag uint16

const (
	fStop      tokFlag = 1 << iota // a common word that carries no topic
	fStrong                        // entity-like: proper noun, acronym, identifier, code, quoted
	fNeg                           // negation cue
	fBoundary                      // a clause boundary precedes the token
	fSentStart                     // first word of a sentence
	fHyphen                        // joined to the previous token by a hyphen
	fCurrency                      // number preceded by a currency sign
	fDropped                       // merged into a neighbour or discarded
	fIdent                         // letters of an identifier that also has digits
	fNumWord                       // a word that spells a number
	fRel                           // comparative that names the relation of a "than"
	fFlip                          // comparative in the opposite direction ("slower")
	fMinus                         // number preceded by a minus sign
	fQuoted                        // inside quotation marks
	fAcronym                       // written in capitals: not stemmed, no typo matching
	fOrdinal                       // an ordinal number: "first", "2nd"
)

// token is one unit of an analysed text.
type token struct {
	surf string  // lower-case surface form
	stem string  // stem of surf, before synonyms
	text string  // canonical form (synonyms folded)
	ver  string  // version string ("3.11.2") of a number with two or more dots
	num  float64 // value of a number
	// digits holds the digits of a number with more significant digits
	// than a float64 keeps exactly (long identifiers).
	digits string
	kind   tokKind
	flags  tokFlag
	rel    relFamily // family of a relation marker, or famNone
}

func (t *token) has(f tokFlag) bool { return t.flags&f != 0 }

// analysis is a text broken into tokens. It is reused through a sync.Pool,
// so its slices keep their capacity between checks.
type analysis struct {
	toks []token
	// matched[i] is set when token i has a counterpart in the other text
	// (filled by match).
	matched []bool
	only    []int // unmatched content tokens (filled by match)
	// Sets of the live words, built by finish and reused across checks:
	// stems and canonical texts, surface forms, and the texts of words
	// other than "than" comparatives.
	words, surfs, textsNoRel map[string]bool
	// shouting is true when the text is mostly upper case, so case carries
	// no information about entities.
	shouting   bool
	negs       int // number of negation cues
	hasHowMany bool
	// questionMark is set when the text has a question mark.
	questionMark bool
	// lowerStart: the first letter is lower case; endsWithPeriod: the
	// text ends with a full stop.
	lowerStart, endsWithPeriod bool
}

func (a *analysis) reset() {
	a.toks = a.toks[:0]
	a.matched = a.matched[:0]
	if a.words == nil {
		a.words, a.surfs, a.textsNoRel = map[string]bool{}, map[string]bool{}, map[string]bool{}
	}
	clear(a.words)
	clear(a.surfs)
	clear(a.textsNoRel)
	a.shouting = false
	a.negs = 0
	a.hasHowMany = false
	a.questionMark = false
	a.lowerStart, a.endsWithPeriod = false, false
}

// pieceFlags carries what the lexer saw before a piece.
type pieceFlags struct {
	boundary, sentStart, quoted, hyphen, currency, minus bool
	cur                                                  string // currency the sign names
}

// analyze tokenises s into a. The word tables come from v.
func (a *analysis) analyze(v *Verifier, s string) {
	a.reset()
	a.shouting = isShouting(s) || isTitleCase(s)
	for _, r := range s {
		if unicode.IsLetter(r) {
			a.lowerStart = unicode.IsLower(r)
			break
		}
	}
	a.endsWithPeriod = strings.HasSuffix(strings.TrimSpace(s), ".")
	var pf pieceFlags
	pf.boundary, pf.sentStart = true, true
	quoted := false
	prevWord := false // the previous rune was part of a word
	prevSpace := true // the previous rune was white space (or there was none)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if isWordRune(r) {
			j := scanPiece(s, i)
			pf.quoted = quoted
			a.piece(v, s[i:j], pf)
			pf = pieceFlags{}
			prevWord, prevSpace = true, false
			i = j
			continue
		}
		next, _ := utf8.DecodeRuneInString(s[i+size:])
		switch r {
		case '.', '?', '!', ';', '\n', ':':
			pf.boundary, pf.sentStart = true, true
			if r == '?' {
				a.questionMark = true
			}
		case ',', '(', ')', '[', ']', '{', '}', '|':
			pf.boundary = true
		case '"', '“', '”', '«', '»', '\'', '‘', '’', '`':
			switch {
			case !quoted && isWordRune(next) && !prevWord:
				quoted = true
			case quoted && !prevSpace:
				// A closing quote follows the quoted text directly, which
				// may end in punctuation: "`len(x)`", "'a [b]'".
				quoted = false
			}
		case '$', '€', '£', '¥':
			pf.currency = true
			pf.cur = currencySymbols[r]
		case '-':
			switch {
			case prevWord && isWordRune(next):
				pf.hyphen = true
			case !prevWord && next >= '0' && next <= '9':
				pf.minus = true
			case next == '>':
				a.symbol(famTo, false)
				size++
			}
		case '→':
			a.symbol(famTo, false)
		case '=':
			if next == '>' {
				a.symbol(famTo, false)
				size++
			} else {
				// "==", "===" and "=" carry no relation; skip the run.
				for i+size < len(s) && s[i+size] == '=' {
					size++
				}
			}
		case '>':
			a.symbol(famCompare, false)
		case '<':
			a.symbol(famCompare, true)
		}
		prevWord = false
		prevSpace = unicode.IsSpace(r)
		i += size
	}
	a.finish(v)
}

// symbol appends a relation symbol; swap marks "<" (the relation reads from
// right to left).
func (a *analysis) symbol(fam relFamily, swap bool) {
	t := token{kind: kSymbol, rel: fam, flags: fBoundary}
	if swap {
		t.flags |= fFlip
	}
	a.toks = append(a.toks, t)
}

// isWordRune reports whether r can be part of a word.
func isWordRune(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
}

// scanPiece returns the end of the piece starting at i: word runes joined by
// '.', ',', ':' or an apostrophe when a word rune follows (and, for ',' and
// ':', digits on both sides).
func scanPiece(s string, i int) int {
	j := i
	var prev rune
	for j < len(s) {
		r, size := utf8.DecodeRuneInString(s[j:])
		if isWordRune(r) {
			prev = r
			j += size
			continue
		}
		next, nsize := utf8.DecodeRuneInString(s[j+size:])
		join := false
		switch r {
		case '.', '\'', '’':
			join = isWordRune(next)
		case ',', ':':
			join = isDigit(prev) && isDigit(next)
		}
		if !join {
			break
		}
		prev = next
		j += size + nsize
	}
	// "c++", "c#", "f#": keep the symbols that make the language name.
	if j-i == 1 && (s[i] == 'c' || s[i] == 'C') && strings.HasPrefix(s[j:], "++") {
		return j + 2
	}
	if j-i == 1 && (s[i] == 'c' || s[i] == 'C' || s[i] == 'f' || s[i] == 'F') && strings.HasPrefix(s[j:], "#") {
		return j + 1
	}
	return j
}

func isDigit(r rune) bool { return r >= '0' && r <= '9' }

// isTitleCase reports whether s is written in title case, like a headline
// ("Egypt Crackdown Draws Condemnation"): most of its longer words start
// with a capital, so a capital says nothing about entities.
func isTitleCase(s string) bool {
	words, capital := 0, 0
	for w := range strings.FieldsSeq(s) {
		w = strings.TrimLeft(w, "\"'“‘([")
		if utf8.RuneCountInString(w) < 4 {
			continue
		}
		words++
		if r, _ := utf8.DecodeRuneInString(w); unicode.IsUpper(r) {
			capital++
		}
	}
	return words >= 3 && capital*10 >= words*7
}

// isShouting reports whether most letters of s are upper case.
func isShouting(s string) bool {
	upper, lower := 0, 0
	for _, r := range s {
		switch {
		case unicode.IsUpper(r):
			upper++
		case unicode.IsLower(r):
			lower++
		}
	}
	return upper >= 6 && upper > 2*lower
}

// piece splits one lexer piece into tokens: contractions, dotted names,
// numbers, and words with digits.
func (a *analysis) piece(v *Verifier, p string, pf pieceFlags) {
	// Contractions and possessives.
	if k := strings.IndexAny(p, "'’"); k > 0 {
		base := p[:k]
		_, asz := utf8.DecodeRuneInString(p[k:])
		suffix := p[k+asz:]
		lb := a.lower(base)
		switch ls := strings.ToLower(suffix); {
		case ls == "t" && strings.HasSuffix(lb, "n"):
			switch lb {
			case "can":
			case "won":
				lb = "will"
			case "shan":
				lb = "shall"
			case "ain":
				lb = "is"
			default:
				lb = lb[:len(lb)-1]
			}
			a.word(v, base, lb, pf)
			a.notToken()
			return
		case ls == "s" || ls == "re" || ls == "ll" || ls == "ve" || ls == "d" || ls == "m":
			a.word(v, base, lb, pf)
			return
		default:
			// "o'clock", a name like "O'Brien": drop the apostrophe.
			a.word(v, p, a.lower(base)+a.lower(suffix), pf)
			return
		}
	}
	if lp := a.lower(p); v.identifiers[strings.ReplaceAll(lp, ".", "")] {
		a.word(v, p, strings.ReplaceAll(lp, ".", ""), pf)
		a.last().flags |= fStrong | fIdent
		return
	}
	// A "v" before a version number: "v1.2.3".
	if len(p) > 1 && (p[0] == 'v' || p[0] == 'V') && isDigit(rune(p[1])) {
		p = p[1:]
	}
	// Split into runs of letters and runs of digits (with their '.', ','
	// and ':' separators).
	hasDigit, hasLetter := false, false
	for _, r := range p {
		if isDigit(r) {
			hasDigit = true
		} else if r != '.' && r != ',' && r != ':' {
			hasLetter = true
		}
	}
	if !hasDigit {
		a.dotted(v, p, pf)
		return
	}
	if !hasLetter {
		a.number(p, pf)
		return
	}
	first := true
	sawDigits := false
	for len(p) > 0 {
		r, _ := utf8.DecodeRuneInString(p)
		end := runEnd(p, isDigit(r))
		run := strings.Trim(p[:end], ".,:")
		p = p[end:]
		if run == "" {
			continue
		}
		f := pf
		if !first {
			f = pieceFlags{quoted: pf.quoted}
		}
		first = false
		if isDigit(r) {
			a.number(run, f)
			sawDigits = true
			continue
		}
		a.dotted(v, run, f)
		if !sawDigits {
			// Letters before digits name something: "ec2", "b12", "ww2".
			a.last().flags |= fIdent | fStrong
		} else if !pf.quoted {
			// Letters after digits are a unit or a suffix: "400F", "2nd".
			a.last().flags &^= fStrong | fAcronym
		}
	}
}

// runEnd returns the length of the run at the start of p: digits (with
// separators between digits) when digits is true, other runes otherwise.
func runEnd(p string, digits bool) int {
	for i, r := range p {
		d := isDigit(r)
		if r == '.' || r == ',' || r == ':' {
			if digits && i+1 < len(p) && isDigit(rune(p[i+1])) {
				continue
			}
			if !digits {
				continue
			}
			return i
		}
		if d != digits {
			return i
		}
	}
	return len(p)
}

// dotted emits a word that may contain dots: "node.js" becomes "nodejs",
// "e.g" becomes "eg".
func (a *analysis) dotted(v *Verifier, p string, pf pieceFlags) {
	if !strings.Contains(p, ".") {
		a.word(v, p, a.lower(p), pf)
		return
	}
	segs := strings.Count(p, ".") + 1
	joined := strings.ReplaceAll(p, ".", "")
	if joined == "" {
		return
	}
	a.word(v, p, a.lower(joined), pf)
	// "os.path", "node.js" are code; "e.g", "U.S" are abbreviations.
	if len(joined) > segs {
		a.last().flags |= fStrong
	}
}

// lower returns s in lower case without allocating when s already is.
func (a *analysis) lower(s string) string {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 || (c >= 'A' && c <= 'Z') {
			return strings.ToLower(s)
		}
	}
	return s
}

func (a *analysis) last() *token { return &a.toks[len(a.toks)-1] }

func (a *analysis) notToken() {
	a.toks = append(a.toks, token{kind: kWord, surf: "not", stem: "not", text: "not", flags: fStop | fNeg})
}

// word appends a word token. orig is the word as written (for case), lw its
// lower-case form.
func (a *analysis) word(v *Verifier, orig, lw string, pf pieceFlags) {
	if lw == "" {
		return
	}
	if pair, ok := contractionWords[lw]; ok {
		a.word(v, orig, pair[0], pf)
		a.notToken()
		return
	}
	if pf.hyphen && len(a.toks) > 0 {
		// "non-www", "non-leap", "anti-virus": one word, so the prefix
		// stays with the word it negates wherever the word moves.
		if p := a.last(); p.kind == kWord && (p.surf == "non" || p.surf == "anti") && !p.has(fDropped) {
			p.surf += lw
			return
		}
	}
	t := token{kind: kWord, surf: lw}
	if pf.boundary {
		t.flags |= fBoundary
	}
	if pf.sentStart {
		t.flags |= fSentStart
	}
	if pf.hyphen {
		t.flags |= fHyphen
	}
	if pf.quoted {
		t.flags |= fQuoted | fStrong
	}
	if !a.shouting {
		first, _ := utf8.DecodeRuneInString(orig)
		upper, lower, letters := 0, 0, 0
		innerUpper := false
		for i, r := range orig {
			if unicode.IsLetter(r) {
				letters++
			}
			if unicode.IsUpper(r) {
				upper++
				if i > 0 {
					innerUpper = true
				}
			} else if unicode.IsLower(r) {
				lower++
			}
		}
		switch {
		case letters >= 2 && lower == 0 && upper == letters:
			t.flags |= fStrong | fAcronym // acronym: "AWS", "HTTPS"
		case innerUpper && lower > 0:
			t.flags |= fStrong // camelCase or a brand: "useEffect", "iPhone"
		case unicode.IsUpper(first) && !pf.sentStart:
			t.flags |= fStrong // a capitalised word inside a sentence
		}
	}
	if strings.Contains(lw, "_") || strings.HasSuffix(lw, "++") || strings.HasSuffix(lw, "#") {
		t.flags |= fStrong
	}
	a.toks = append(a.toks, t)
}

// number appends a number token parsed from p (digits with separators).
func (a *analysis) number(p string, pf pieceFlags) {
	t := token{kind: kNum, surf: p}
	if pf.boundary {
		t.flags |= fBoundary
	}
	if pf.currency {
		t.flags |= fCurrency
	}
	if pf.minus {
		t.flags |= fMinus
	}
	if pf.hyphen {
		t.flags |= fHyphen
	}
	switch {
	case strings.Contains(p, ":"):
		// A time of day: "9:30" is 9.5.
		h, rest, _ := strings.Cut(p, ":")
		m, _, _ := strings.Cut(rest, ":")
		hv, _ := parseDecimal(h)
		mv, _ := parseDecimal(m)
		t.num = hv + mv/60
	case strings.Count(p, ".") >= 2 && strings.Count(trimVersion(p), ".") >= 2:
		t.ver = trimVersion(p)
	default:
		p = trimVersion(p)
		if thousands(p) {
			t.num, _ = parseDecimal(p)
			t.digits = longDigits(p)
			break
		}
		// Commas that are not thousands separators split a list: "3,1,2".
		for part := range strings.SplitSeq(p, ",") {
			if part == "" {
				continue
			}
			a.number(part, pieceFlags{})
		}
		return
	}
	if pf.minus {
		t.num = -t.num
	}
	if pf.cur != "" {
		// "$100" also says "dollars"; the word is there to be matched, not
		// to be missed.
		a.toks = append(a.toks, token{kind: kWord, surf: pf.cur, stem: pf.cur, flags: fStop})
	}
	a.toks = append(a.toks, t)
}

// longDigits returns the significant digits of the decimal p (thousands
// commas and the dot removed, leading zeros of the integer part and trailing
// zeros of the fraction dropped) when there are more than 15 of them, and ""
// otherwise: shorter numbers are exact in a float64.
func longDigits(p string) string {
	intPart, frac, _ := strings.Cut(strings.ReplaceAll(p, ",", ""), ".")
	intPart = strings.TrimLeft(intPart, "0")
	frac = strings.TrimRight(frac, "0")
	if len(intPart)+len(frac) <= 15 {
		return ""
	}
	if frac == "" {
		return intPart
	}
	return intPart + "." + frac
}

// thousands reports whether the commas in p (if any) separate groups of
// three digits: "1,000,000".
func thousands(p string) bool {
	if !strings.Contains(p, ",") {
		return true
	}
	intPart, _, _ := strings.Cut(p, ".")
	groups := strings.Split(intPart, ",")
	if len(groups[0]) == 0 || len(groups[0]) > 3 {
		return false
	}
	for _, g := range groups[1:] {
		if len(g) != 3 {
			return false
		}
	}
	return true
}

// parseDecimal parses digits with optional thousands commas and one dot.
func parseDecimal(p string) (float64, bool) {
	var v float64
	frac := 0.0
	scale := 1.0
	ok := false
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c >= '0' && c <= '9':
			ok = true
			if frac > 0 {
				scale /= 10
				v += float64(c-'0') * scale
			} else {
				v = v*10 + float64(c-'0')
			}
		case c == '.':
			frac = 1
		case c == ',':
		default:
			return v, ok
		}
	}
	return v, ok
}

// trimVersion strips leading zeros of each segment and trailing ".0"
// segments: "3.11.0" and "3.11" are the same version.
func trimVersion(p string) string {
	for strings.HasSuffix(p, ".0") {
		p = p[:len(p)-2]
	}
	return p
}

// finish runs the passes that need the whole token list: polite edges,
// phrases, numbers, stems and synonyms, comparatives, negation.
func (a *analysis) finish(v *Verifier) {
	a.dropPoliteEdges(v)
	a.mergePhrases(v)
	a.mergeNumbers()
	for i := range a.toks {
		t := &a.toks[i]
		if t.kind != kWord || t.has(fDropped) {
			continue
		}
		if t.stem == "" {
			t.stem = t.surf
			if !t.has(fAcronym) && !v.noStem[t.surf] {
				t.stem = stem(t.surf)
			}
		}
		if t.text == "" {
			t.text = t.stem
			// "us" is the country only when written "US".
			if !v.ambiguous[t.surf] || t.has(fAcronym) {
				if c, ok := v.synonyms[t.stem]; ok {
					t.text = c
				} else if c, ok := v.synonyms[t.surf]; ok {
					t.text = c
				}
			}
		}
		if v.negations[t.surf] {
			t.flags |= fNeg
		}
		stop := v.common[t.surf] || v.common[t.stem] || v.common[t.text] || t.has(fNeg)
		if t.has(fStrong) && v.ambiguous[t.surf] && !t.has(fSentStart) {
			stop = false
		}
		if t.has(fQuoted) && !t.has(fNeg) {
			// A quoted word is what the question is about ("when do I use
			// 'that' and when 'which'"): matched exactly, never ignored.
			stop = false
		}
		if stop {
			t.flags |= fStop
			if !t.has(fIdent) && !v.ambiguous[t.surf] {
				t.flags &^= fStrong
			}
		}
	}
	a.markComparatives()
	a.markRelations(v)
	a.countNegations()
	for i := range a.toks {
		t := &a.toks[i]
		if t.kind != kWord || t.has(fDropped) {
			continue
		}
		a.words[t.stem] = true
		a.words[t.text] = true
		a.surfs[t.surf] = true
		if !t.has(fRel) {
			a.textsNoRel[t.text] = true
		}
	}
}

// dropPoliteEdges drops greetings and thanks that open or close the text.
func (a *analysis) dropPoliteEdges(v *Verifier) {
	for i := range a.toks {
		t := &a.toks[i]
		if t.kind != kWord || !v.polite[t.surf] {
			break
		}
		t.flags |= fDropped
		if t.surf == "thank" && i+1 < len(a.toks) && a.toks[i+1].surf == "you" {
			a.toks[i+1].flags |= fDropped
		}
	}
	// Trailing "thanks", "thank you", "thanks a lot", "thank you so much",
	// "please": find the last polite head followed only by filler.
	for i := len(a.toks) - 1; i >= 0; i-- {
		t := &a.toks[i]
		if t.kind != kWord {
			return
		}
		if v.polite[t.surf] {
			for j := i; j < len(a.toks); j++ {
				a.toks[j].flags |= fDropped
			}
			continue
		}
		switch t.surf {
		case "you", "a", "lot", "so", "much", "very", "in", "advance", "again":
			continue
		}
		return
	}
}

// mergePhrases folds the multi-word expressions of the phrase table into
// their first token.
func (a *analysis) mergePhrases(v *Verifier) {
	for i := 0; i+1 < len(a.toks); i++ {
		t := &a.toks[i]
		if t.has(fDropped) {
			continue
		}
		j := a.nextLive(i)
		if j < 0 {
			return
		}
		if k := a.nextLive(j); k >= 0 {
			if c, ok := v.phrases3[[3]string{t.surf, a.toks[j].surf, a.toks[k].surf}]; ok {
				a.fold(i, c, j, k)
				continue
			}
		}
		if c, ok := v.phrases2[[2]string{t.surf, a.toks[j].surf}]; ok {
			a.fold(i, c, j)
		}
	}
}

func (a *analysis) fold(i int, canon string, rest ...int) {
	t := &a.toks[i]
	if t.kind == kNum {
		// "401 k": the phrase names a word, not a number.
		t.kind = kWord
	}
	t.surf, t.stem, t.text = canon, canon, ""
	for _, j := range rest {
		if a.toks[j].has(fStrong) {
			t.flags |= fStrong
		}
		a.toks[j].flags |= fDropped
	}
}

// nextLive returns the index of the next token after i that is not
// dropped, or -1.
func (a *analysis) nextLive(i int) int {
	for j := i + 1; j < len(a.toks); j++ {
		if !a.toks[j].has(fDropped) {
			return j
		}
	}
	return -1
}

// prevLive returns the index of the previous token before i that is not
// dropped, or -1.
func (a *analysis) prevLive(i int) int {
	for j := i - 1; j >= 0; j-- {
		if !a.toks[j].has(fDropped) {
			return j
		}
	}
	return -1
}

// mergeNumbers turns number words into numbers ("twenty-five" is 25, "3
// million" is 3e6), applies unit suffixes that change the value ("9pm",
// "$10k") and drops ordinal suffixes ("2nd").
func (a *analysis) mergeNumbers() {
	for i := 0; i < len(a.toks); i++ {
		t := &a.toks[i]
		if t.has(fDropped) {
			continue
		}
		if t.kind == kWord {
			if _, ok := numberWords[t.surf]; ok {
				a.numberPhrase(i)
				continue
			}
			if m, ok := numberMultipliers[t.surf]; ok {
				// "hundred" alone, or after "a": 100.
				t.kind, t.num = kNum, m
				t.flags |= fNumWord
				a.numberPhrase(i)
				continue
			}
			continue
		}
		if t.kind != kNum || t.ver != "" {
			continue
		}
		j := a.nextLive(i)
		if j < 0 {
			continue
		}
		n := &a.toks[j]
		if n.kind != kWord {
			continue
		}
		switch n.surf {
		case "st", "nd", "rd", "th":
			n.flags |= fDropped
			t.flags |= fOrdinal
		case "am":
			if t.num == 12 {
				t.num = 0
			}
			n.flags |= fDropped
		case "pm":
			if t.num < 12 {
				t.num += 12
			}
			n.flags |= fDropped
		case "k":
			if t.has(fCurrency) {
				t.num *= 1e3
				t.digits = ""
				n.flags |= fDropped
			}
		case "m", "mm", "mn":
			if t.has(fCurrency) {
				t.num *= 1e6
				t.digits = ""
				n.flags |= fDropped
			}
		case "b", "bn":
			if t.has(fCurrency) {
				t.num *= 1e9
				t.digits = ""
				n.flags |= fDropped
			}
		default:
			if m, ok := numberMultipliers[n.surf]; ok {
				t.num *= m
				t.digits = ""
				n.flags |= fDropped
			}
		}
	}
}

// numberPhrase folds the run of number words starting at i into token i.
func (a *analysis) numberPhrase(i int) {
	total, current := 0.0, 0.0
	started := false
	last := i
	for j := i; j >= 0 && j < len(a.toks); {
		t := &a.toks[j]
		var val float64
		isMult := false
		switch {
		case t.kind == kNum && t.has(fNumWord) && j == i:
			val, isMult = t.num, true
		case t.kind == kWord:
			if v, ok := numberWords[t.surf]; ok {
				val = v
			} else if m, ok := numberMultipliers[t.surf]; ok {
				val, isMult = m, true
			} else if t.surf == "and" && started {
				// "one hundred and five": continue only into a number word.
				k := a.nextLive(j)
				if k < 0 {
					j = -1
					continue
				}
				if _, ok := numberWords[a.toks[k].surf]; !ok {
					j = -1
					continue
				}
				j = k
				continue
			} else {
				j = -1
				continue
			}
		default:
			j = -1
			continue
		}
		switch {
		case isMult && val == 100:
			if current == 0 {
				current = 1
			}
			current *= 100
		case isMult:
			if current == 0 {
				current = 1
			}
			total += current * val
			current = 0
		case !started:
			current = val
		case val < 10 && current >= 20 && int(current)%10 == 0 && int(current)%100 != 0:
			current += val // "twenty five"
		case val < 100 && current >= 100 && int(current)%100 == 0:
			current += val // "hundred five"
		default:
			j = -1 // "two three": two numbers
			continue
		}
		started = true
		last = j
		j = a.nextLive(j)
	}
	t := &a.toks[i]
	if ordinalWords[t.surf] {
		t.flags |= fOrdinal
	}
	t.kind = kNum
	t.num = total + current
	t.flags |= fNumWord
	t.text = ""
	for j := i + 1; j <= last; j++ {
		a.toks[j].flags |= fDropped
	}
}

// markComparatives finds "X <comparative> than Y" and gives the
// comparative its canonical form, so "Java is slower than Python" and
// "Python is faster than Java" carry the same words.
func (a *analysis) markComparatives() {
	for i := range a.toks {
		t := &a.toks[i]
		if t.kind != kWord || t.surf != "than" || t.has(fDropped) {
			continue
		}
		j := a.prevLive(i)
		for j >= 0 && (a.toks[j].surf == "much" || a.toks[j].surf == "even" || a.toks[j].surf == "far" || a.toks[j].surf == "lot" || a.toks[j].surf == "way") {
			j = a.prevLive(j)
		}
		if j < 0 || a.toks[j].kind != kWord {
			continue
		}
		c := &a.toks[j]
		c.flags |= fRel
		if cmp, ok := comparatives[c.surf]; ok {
			c.text = cmp.canon
			if cmp.flip {
				c.flags |= fFlip
			}
		}
		// "more expensive than", "less expensive than".
		if k := a.prevLive(j); k >= 0 {
			if m := &a.toks[k]; m.surf == "more" || m.surf == "less" || m.surf == "fewer" {
				m.flags |= fRel
				if m.surf != "more" {
					c.flags ^= fFlip
				}
				m.text = "more"
			}
		}
	}
}

// markRelations sets rel on the words that mark an ordered relation.
func (a *analysis) markRelations(v *Verifier) {
	preferSeen := false
	for i := range a.toks {
		t := &a.toks[i]
		if t.kind != kWord || t.has(fDropped) {
			continue
		}
		if t.surf == "many" || t.surf == "much" {
			if j := a.prevLive(i); j >= 0 && a.toks[j].surf == "how" {
				a.hasHowMany = true
			}
		}
		if v.preferVerbs[t.surf] {
			preferSeen = true
		}
		fam, ok := directionWords[t.surf]
		if !ok {
			continue
		}
		switch fam {
		case famPer:
			if t.surf == "in" && !a.hasHowMany {
				continue
			}
		case famPrefer:
			if t.surf == "over" && !preferSeen {
				continue
			}
			if t.surf == "instead" {
				j := a.nextLive(i)
				if j < 0 || a.toks[j].surf != "of" {
					continue
				}
			}
		case famVersus:
			if t.surf == "v" && t.has(fStrong) {
				continue
			}
		}
		t.rel = fam
		if t.surf == "after" || t.surf == "from" {
			t.flags |= fFlip
		}
	}
}

// countNegations counts the negation cues; "neither ... nor" counts once.
func (a *analysis) countNegations() {
	neither := false
	for i := range a.toks {
		t := &a.toks[i]
		if t.has(fDropped) || !t.has(fNeg) {
			continue
		}
		switch t.surf {
		case "neither":
			neither = true
		case "nor":
			if neither {
				continue
			}
		case "no":
			// "No, I meant ...": an interjection that answers, not a
			// negation of what follows.
			if j := a.nextLive(i); t.has(fSentStart) && (j < 0 || a.toks[j].has(fBoundary)) {
				t.flags &^= fNeg
				continue
			}
		}
		a.negs++
	}
	// "dairy-free" is "without dairy".
	for i := range a.toks {
		t := &a.toks[i]
		if t.surf == "free" && t.has(fHyphen) && !t.has(fDropped) {
			t.flags |= fNeg | fStop
			a.negs++
		}
	}
}

// stem reduces an ASCII lower-case word to a prefix of itself that its
// inflections share: "eggs", "boiling", "boiled" become "egg", "boil",
// "boil"; "cities" and "city" become "cit". It never allocates.
func stem(w string) string {
	for i := 0; i < len(w); i++ {
		if c := w[i]; c < 'a' || c > 'z' {
			return w
		}
	}
	if len(w) == 3 && w[2] == 'y' && !isVowel(w[1]) {
		return w[:2] // "fly", "try", "dry" meet "flies", "tries", "dries"
	}
	if len(w) < 4 {
		return w
	}
	// Plurals and third person.
	switch {
	case strings.HasSuffix(w, "ies") || strings.HasSuffix(w, "ied"):
		if len(w) > 4 {
			w = w[:len(w)-3]
		}
	case strings.HasSuffix(w, "sses"):
		w = w[:len(w)-2]
	case strings.HasSuffix(w, "ss") || strings.HasSuffix(w, "us") || strings.HasSuffix(w, "is"):
	case strings.HasSuffix(w, "s"):
		w = w[:len(w)-1]
	}
	// Verb endings, when a vowel is left in the stem, and adverbs.
	switch {
	case strings.HasSuffix(w, "ly") && len(w) >= 6 && strings.IndexByte("eurlstndckhmw", w[len(w)-3]) >= 0:
		w = w[:len(w)-2]
	case strings.HasSuffix(w, "ing") && len(w) >= 6 && hasVowel(w[:len(w)-3]):
		w = w[:len(w)-3]
	case strings.HasSuffix(w, "ed") && len(w) >= 5 && hasVowel(w[:len(w)-2]):
		w = w[:len(w)-2]
	}
	if len(w) >= 4 {
		switch last := w[len(w)-1]; {
		case last == 'e':
			w = w[:len(w)-1]
		case last == 'y' && !isVowel(w[len(w)-2]):
			w = w[:len(w)-1]
		}
	}
	if n := len(w); n >= 4 && w[n-1] == w[n-2] && !isVowel(w[n-1]) && w[n-1] != 's' {
		w = w[:n-1]
	}
	return w
}

func isVowel(c byte) bool {
	return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u'
}

func hasVowel(s string) bool {
	for i := 0; i < len(s); i++ {
		if isVowel(s[i]) || s[i] == 'y' {
			return true
		}
	}
	return false
}
