package verify

import (
	"strconv"
	"strings"
)

// relFamily groups the words that mark the same kind of ordered relation.
type relFamily uint8

const (
	famNone    relFamily = iota
	famTo                // convert A to B, from A to B, A -> B
	famVersus            // A vs B
	famThan              // A faster than B
	famCompare           // A > B
	famOrder             // A before B, B after A
	famImply             // A implies B
	famInside            // A inside B
	famPrefer            // A instead of B, prefer A over B
	famPer               // how many A in B, A per B
)

// numKey is one number of a text.
type numKey struct {
	num float64
	ver string
	// digits is the exact digit string of a long number (more significant
	// digits than a float64 keeps), so two long identifiers that differ in
	// their last digits never compare equal.
	digits string
}

func (k numKey) String() string {
	if k.ver != "" {
		return k.ver
	}
	if k.digits != "" {
		return k.digits
	}
	return strconv.FormatFloat(k.num, 'f', -1, 64)
}

func (k numKey) less(o numKey) bool {
	if k.ver != o.ver {
		return k.ver < o.ver
	}
	return k.num < o.num
}

// equal compares two numbers exactly: to 15 significant digits (what a
// decimal written with a multiplier such as "1.1 million" keeps through
// float arithmetic) and, for longer numbers, digit by digit. Order numbers,
// account numbers and other identifiers are values, not measurements: no
// relative tolerance.
func (k numKey) equal(o numKey) bool {
	if k.ver != o.ver || k.digits != o.digits {
		return false
	}
	return k.num == o.num || strconv.FormatFloat(k.num, 'g', 15, 64) == strconv.FormatFloat(o.num, 'g', 15, 64)
}

// numbers appends the numbers of a to dst, sorted. The value 1 is left
// out: "a cup" and "1 cup", "the first president" and "the president" ask
// the same thing, and "one" is as often a pronoun as a number.
func (a *analysis) numbers(dst []numKey) []numKey {
	for i := range a.toks {
		t := &a.toks[i]
		if t.kind != kNum || t.has(fDropped) {
			continue
		}
		k := numKey{num: t.num, ver: t.ver, digits: t.digits}
		if k.ver == "" && k.num == 1 && !t.has(fOrdinal) {
			continue
		}
		// Insertion sort: texts have few numbers.
		j := len(dst)
		dst = append(dst, k)
		for j > 0 && k.less(dst[j-1]) {
			dst[j] = dst[j-1]
			j--
		}
		dst[j] = k
	}
	return dst
}

// checkNumbers rejects when the multisets of numbers differ.
func checkNumbers(a, b *analysis) (string, bool) {
	var bufA, bufB [16]numKey
	na := a.numbers(bufA[:0])
	nb := b.numbers(bufB[:0])
	i, j := 0, 0
	var onlyA, onlyB []string
	for i < len(na) || j < len(nb) {
		switch {
		case i < len(na) && j < len(nb) && na[i].equal(nb[j]):
			i++
			j++
		case j >= len(nb) || (i < len(na) && na[i].less(nb[j])):
			onlyA = append(onlyA, na[i].String())
			i++
		default:
			onlyB = append(onlyB, nb[j].String())
			j++
		}
	}
	if len(onlyA) == 0 && len(onlyB) == 0 {
		return "", false
	}
	return "numbers: query has [" + strings.Join(onlyA, " ") + "], candidate has [" + strings.Join(onlyB, " ") + "]", true
}

// hasWord reports whether a has a live word whose stem or text is w.
func (a *analysis) hasWord(w string) bool { return a.words[w] }

// hasText reports whether a has a live word whose text is w, leaving out
// comparatives of a "than" relation when skipRel is set. Texts are also
// recorded as words, so without skipRel a stem equal to w counts too.
func (a *analysis) hasText(w string, skipRel bool) bool {
	if skipRel {
		return a.textsNoRel[w]
	}
	return a.words[w]
}

func (a *analysis) hasRel() bool {
	for i := range a.toks {
		if a.toks[i].has(fRel) && !a.toks[i].has(fDropped) {
			return true
		}
	}
	return false
}

// prefixNegations counts the words of a that negate a word of b with a
// prefix or suffix: "unsafe" against "safe", "eggless" against "eggs".
func prefixNegations(a, b *analysis) (int, string) {
	n := 0
	first := ""
	for i := range a.toks {
		t := &a.toks[i]
		if t.kind != kWord || t.has(fDropped) || b.hasWord(t.stem) {
			continue
		}
		hit := false
		for _, p := range negationPrefixes {
			if strings.HasPrefix(t.stem, p.prefix) && len(t.stem)-len(p.prefix) >= p.minStem && b.hasWord(t.stem[len(p.prefix):]) {
				hit = true
				break
			}
		}
		if !hit && len(t.surf) >= 7 && strings.HasSuffix(t.surf, "less") && b.hasWord(stem(t.surf[:len(t.surf)-4])) {
			hit = true
		}
		if hit {
			n++
			if first == "" {
				first = t.surf
			}
		}
	}
	return n, first
}

// firstNeg returns the first negation cue of a.
func (a *analysis) firstNeg() string {
	for i := range a.toks {
		if t := &a.toks[i]; t.has(fNeg) && !t.has(fDropped) {
			return t.surf
		}
	}
	return ""
}

// checkNegation rejects when the polarity differs or a word meets its
// antonym.
func (v *Verifier) checkNegation(a, b *analysis) (string, bool) {
	pa, wa := prefixNegations(a, b)
	pb, wb := prefixNegations(b, a)
	if (a.negs+pa)%2 != (b.negs+pb)%2 {
		w, side := wa, "query"
		if w == "" {
			w = a.firstNeg()
		}
		if w == "" {
			w, side = wb, "candidate"
			if w == "" {
				w = b.firstNeg()
			}
		}
		return "negation: polarity differs (" + strconv.Quote(w) + " in " + side + ")", true
	}
	return v.antonymPair(a, b)
}

// antonyms finds a word of a whose antonym is in b, when neither text has
// both.
func (v *Verifier) antonymPair(a, b *analysis) (string, bool) {
	skipRel := a.hasRel() && b.hasRel()
	for i := range a.toks {
		t := &a.toks[i]
		if t.kind != kWord || t.has(fDropped) || (skipRel && t.has(fRel)) {
			continue
		}
		if b.hasText(t.text, skipRel) {
			continue
		}
		for _, o := range v.antonyms[t.text] {
			if b.hasText(o, skipRel) && !a.hasText(o, skipRel) {
				return "negation: " + strconv.Quote(t.surf) + " against its opposite " + strconv.Quote(o), true
			}
		}
		if b.oppositeByPrefix(t.stem) && !b.hasWord(t.stem) {
			return "negation: " + strconv.Quote(t.surf) + " against a word with the opposite prefix", true
		}
	}
	return "", false
}

// oppositeByPrefix reports whether a has a word that is x with the opposite
// prefix: "download" for "upload", "decrypt" for "encrypt".
func (a *analysis) oppositeByPrefix(x string) bool {
	var buf [64]byte
	for _, p := range prefixPairs {
		for k := 0; k < 2; k++ {
			p1, p2 := p[k], p[1-k]
			if !strings.HasPrefix(x, p1) || len(x)-len(p1) < 3 || len(p2)+len(x)-len(p1) > len(buf) {
				continue
			}
			y := append(append(buf[:0], p2...), x[len(p1):]...)
			if a.words[string(y)] {
				return true
			}
		}
	}
	return false
}

// spanMax is the most words a relation argument holds.
const spanMax = 5

// relation is one ordered relation of a text: left and right hold token
// indices of the words on each side.
type relation struct {
	fam         relFamily
	key         string // canonical comparative for famThan
	left, right [spanMax]int16
	nl, nr      int
}

// relations appends the ordered relations of a to dst.
func (v *Verifier) relations(a *analysis, dst []relation) []relation {
	for i := range a.toks {
		t := &a.toks[i]
		if t.rel == famNone || t.has(fDropped) {
			continue
		}
		r := relation{fam: t.rel}
		leftOf := i
		flip := t.has(fFlip)
		if t.rel == famThan {
			j := a.prevLive(i)
			for j >= 0 && !a.toks[j].has(fRel) {
				j = a.prevLive(j)
			}
			if j >= 0 {
				c := &a.toks[j]
				r.key = c.text
				flip = c.has(fFlip)
				leftOf = j
				if k := a.prevLive(j); k >= 0 && a.toks[k].has(fRel) {
					leftOf = k
				}
			}
		}
		if t.rel == famPrefer && t.surf == "instead" {
			// "X instead of Y": skip the "of".
			if j := a.nextLive(i); j >= 0 {
				i = j
			}
		}
		r.nl = v.span(a, leftOf, -1, &r.left)
		r.nr = v.span(a, i, +1, &r.right)
		if flip {
			r.left, r.right = r.right, r.left
			r.nl, r.nr = r.nr, r.nl
		}
		dst = append(dst, r)
		if len(dst) == cap(dst) {
			break
		}
	}
	return dst
}

// span collects up to spanMax content tokens from i in direction dir,
// stopping at a clause boundary or another relation marker.
func (v *Verifier) span(a *analysis, i, dir int, out *[spanMax]int16) int {
	n := 0
	for j := i + dir; j >= 0 && j < len(a.toks) && n < spanMax; j += dir {
		t := &a.toks[j]
		if t.has(fDropped) {
			continue
		}
		if dir > 0 && t.has(fBoundary) {
			break
		}
		if t.rel != famNone || t.kind == kSymbol || (t.kind == kWord && v.clause[t.surf]) {
			break
		}
		if t.kind == kNum || (t.kind == kWord && !t.has(fStop)) {
			out[n] = int16(j)
			n++
		}
		if dir < 0 && t.has(fBoundary) {
			break
		}
	}
	return n
}

// sameItem reports whether token i of a and token j of b are the same word
// or number.
func sameItem(a *analysis, i int16, b *analysis, j int16) bool {
	x, y := &a.toks[i], &b.toks[j]
	if x.kind != y.kind {
		return false
	}
	if x.kind == kNum {
		return numKey{x.num, x.ver, x.digits}.equal(numKey{y.num, y.ver, y.digits})
	}
	return x.text == y.text || x.stem == y.stem
}

func inSpan(a *analysis, i int16, b *analysis, span []int16) bool {
	for _, j := range span {
		if sameItem(a, i, b, j) {
			return true
		}
	}
	return false
}

// moved counts the items of from (a span of a) that sit in to (a span of
// b) and in neither a's other span nor b's own counterpart of from. near
// is set when a moved item is the word next to the relation in either
// text: a relation's arguments are its nearest words, the farther ones
// are often just the rest of the question.
func moved(a *analysis, from, aOther []int16, b *analysis, to, bSame []int16) (n int, first int16, near bool) {
	first = -1
	for p, i := range from {
		if !inSpan(a, i, a, aOther) && !inSpan(a, i, b, bSame) {
			for q, j := range to {
				if sameItem(a, i, b, j) {
					n++
					if first < 0 {
						first = i
					}
					if p == 0 || q == 0 {
						near = true
					}
					break
				}
			}
		}
	}
	return n, first, near
}

// symmetricJoiners are the words that may stand between two swapped words
// without changing the question ("Python and Java", "tea or coffee").
var symmetricJoiners = map[string]bool{"and": true, "or": true, "with": true, "&": true, "plus": true, "nor": true}

// swapped reports whether a and b are the same sequence of words except
// for two content words that changed places ("Is every square a
// rectangle?" / "Is every rectangle a square?"), and the swap is not
// across a symmetric joiner or inside "between X and Y".
func (v *Verifier) swapped(a, b *analysis) (string, bool) {
	i, j := 0, 0
	diff := [3][2]int{}
	nd := 0
	for {
		for i < len(a.toks) && (a.toks[i].has(fDropped) || a.toks[i].kind == kSymbol) {
			i++
		}
		for j < len(b.toks) && (b.toks[j].has(fDropped) || b.toks[j].kind == kSymbol) {
			j++
		}
		if i >= len(a.toks) || j >= len(b.toks) {
			break
		}
		if a.toks[i].has(fRel) && b.toks[j].has(fRel) && a.toks[i].has(fFlip) != b.toks[j].has(fFlip) {
			// "A faster than B" / "B slower than A": a mirrored comparison,
			// the relations decide.
			return "", false
		}
		if !sameItem(a, int16(i), b, int16(j)) {
			if nd == len(diff) {
				return "", false
			}
			diff[nd] = [2]int{i, j}
			nd++
		}
		i++
		j++
	}
	if i < len(a.toks) || j < len(b.toks) || nd != 2 {
		return "", false
	}
	x, y := diff[0], diff[1]
	if !a.toks[x[0]].isContent() && a.toks[x[0]].kind != kNum {
		return "", false
	}
	if !sameItem(a, int16(x[0]), b, int16(y[1])) || !sameItem(a, int16(y[0]), b, int16(x[1])) {
		return "", false
	}
	symmetric := true
	for k := x[0] + 1; k < y[0]; k++ {
		t := &a.toks[k]
		if !t.has(fDropped) && !symmetricJoiners[t.surf] && !(v.symVersus && t.rel == famVersus) && !(t.isContent() && (sameItem(a, int16(k), a, int16(x[0])) || sameItem(a, int16(k), a, int16(y[0])))) {
			// Words other than joiners between the two: ordered, unless the
			// words between are the shared head of both ("brown rice and
			// white rice" has "rice and").
			symmetric = false
			break
		}
	}
	if p := a.prevLive(x[0]); p >= 0 && a.toks[p].surf == "between" {
		symmetric = true
	}
	if symmetric {
		return "", false
	}
	return "direction: " + strconv.Quote(a.toks[x[0]].surfOrNum()) + " and " + strconv.Quote(a.toks[y[0]].surfOrNum()) + " changed places", true
}

// checkDirection rejects when a relation of a appears reversed in b, or
// when two words changed places.
func (v *Verifier) checkDirection(a, b *analysis) (string, bool) {
	if d, bad := v.swapped(a, b); bad {
		return d, true
	}
	if d, bad := personSwap(a, b); bad {
		return d, true
	}
	var bufA, bufB [8]relation
	ra := v.relations(a, bufA[:0])
	if len(ra) == 0 {
		return "", false
	}
	rb := v.relations(b, bufB[:0])
	for x := range ra {
		p := &ra[x]
		if p.fam == famVersus && v.symVersus {
			continue
		}
		for y := range rb {
			q := &rb[y]
			if p.fam != q.fam || p.key != q.key {
				continue
			}
			pl, pr := p.left[:p.nl], p.right[:p.nr]
			ql, qr := q.left[:q.nl], q.right[:q.nr]
			m1, w1, near1 := moved(a, pl, pr, b, qr, ql)
			m2, w2, near2 := moved(a, pr, pl, b, ql, qr)
			reversed := m1 > 0 && m2 > 0 && (near1 || near2)
			if !reversed && (near1 || near2) && (p.nl == 0 || p.nr == 0) && (q.nl == 0 || q.nr == 0) {
				reversed = true
			}
			if reversed {
				w := w1
				if w < 0 {
					w = w2
				}
				return "direction: relation around " + strconv.Quote(a.relWord(p)) + " is reversed (" + strconv.Quote(a.toks[w].surfOrNum()) + " changed sides)", true
			}
		}
	}
	return "", false
}

func (a *analysis) relWord(r *relation) string {
	if r.key != "" {
		return r.key + " than"
	}
	for i := range a.toks {
		if a.toks[i].rel == r.fam {
			if a.toks[i].kind == kSymbol {
				return "symbol"
			}
			return a.toks[i].surf
		}
	}
	return ""
}

func (t *token) surfOrNum() string {
	if t.kind == kNum {
		return numKey{t.num, t.ver, t.digits}.String()
	}
	return t.surf
}

// matching is the content-word correspondence between two texts.
type matching struct {
	a, b               *analysis
	totalA, totalB     int
	matchedA, matchedB int
	onlyA, onlyB       []int // unmatched content tokens
	strongA, strongB   int   // unmatched entity-like tokens
}

// isContent reports whether t is a content word: a live word that is not a
// common word, a negation cue or a relation comparative.
func (t *token) isContent() bool {
	return t.kind == kWord && !t.has(fDropped|fStop|fNeg)
}

// match pairs the content words of a and b: equal canonical forms or stems,
// compounds written in one or two words ("wifi"/"wi-fi"), and one-edit
// typos (a transposition, a missing or an extra letter).
func match(a, b *analysis) matching {
	m := matching{a: a, b: b, onlyA: a.only[:0], onlyB: b.only[:0]}
	a.matched = resize(a.matched, len(a.toks))
	b.matched = resize(b.matched, len(b.toks))
	for i := range a.toks {
		t := &a.toks[i]
		if t.isContent() && (b.words[t.text] || b.words[t.stem] || b.surfs[t.surf]) {
			a.matched[i] = true
		}
	}
	for j := range b.toks {
		u := &b.toks[j]
		if u.isContent() && (a.words[u.text] || a.words[u.stem] || a.surfs[u.surf]) {
			b.matched[j] = true
		}
	}
	compounds(a, b)
	compounds(b, a)
	initials(a, b)
	initials(b, a)
	lessWords(a, b)
	lessWords(b, a)
	typos(a, b)
	m.totalA, m.matchedA, m.onlyA, m.strongA = tally(a, m.onlyA)
	m.totalB, m.matchedB, m.onlyB, m.strongB = tally(b, m.onlyB)
	a.only, b.only = m.onlyA, m.onlyB
	return m
}

// contrastWords open a clause that adds a condition: "I can log in but
// can't see my orders". A word the other text lacks inside such a clause
// counts like an entity.
var contrastWords = map[string]bool{"but": true, "except": true, "although": true, "though": true, "however": true, "unless": true}

// tally counts a's content words, appends the unmatched ones to only and
// counts the unmatched entity-like ones.
func tally(a *analysis, only []int) (total, matched int, _ []int, strong int) {
	contrast := false
	for i := range a.toks {
		t := &a.toks[i]
		if t.kind == kWord && contrastWords[t.surf] && !t.has(fDropped) {
			contrast = true
		}
		if !t.isContent() {
			continue
		}
		total++
		if a.matched[i] {
			matched++
			continue
		}
		only = append(only, i)
		if t.has(fStrong) || contrast {
			strong++
		}
	}
	return total, matched, only, strong
}

func resize(s []bool, n int) []bool {
	if cap(s) < n {
		return make([]bool, n)
	}
	s = s[:n]
	clear(s)
	return s
}

// compounds matches an unmatched word of a with two adjacent words of b
// that spell it: "pushups" and "push ups", "wifi" and "wi-fi".
func compounds(a, b *analysis) {
	tried := 0
	for i := range a.toks {
		t := &a.toks[i]
		if !t.isContent() || a.matched[i] {
			continue
		}
		// Long texts that differ a lot gain nothing from more tries.
		if tried++; tried > maxPairwise {
			return
		}
		for j := range b.toks {
			u := &b.toks[j]
			if u.kind != kWord || u.has(fDropped) {
				continue
			}
			k := b.nextLive(j)
			if k < 0 || b.toks[k].kind != kWord {
				continue
			}
			w := &b.toks[k]
			if spells(t.surf, u.surf, w.surf) || spells(t.stem, u.surf, w.stem) {
				a.matched[i] = true
				b.matched[j] = true
				b.matched[k] = true
				break
			}
			// Three words: "NullPointerException", "null pointer exception".
			l := b.nextLive(k)
			if l < 0 || b.toks[l].kind != kWord || !strings.HasPrefix(t.surf, u.surf) {
				continue
			}
			x := &b.toks[l]
			if rest := t.surf[len(u.surf):]; spells(rest, w.surf, x.surf) || spells(t.stem[min(len(u.surf), len(t.stem)):], w.surf, x.stem) {
				a.matched[i] = true
				b.matched[j] = true
				b.matched[k] = true
				b.matched[l] = true
				break
			}
		}
	}
}

// initials matches an unmatched acronym of a ("NYC", "BMI", "SC") with a
// run of unmatched words of b whose initials spell it ("New York City",
// "body mass index", "Supreme Court"); "of", "and" and "for" inside the
// run may be skipped ("PTO", "paid time off"; "ETA", "estimated time of
// arrival").
func initials(a, b *analysis) {
	for i := range a.toks {
		t := &a.toks[i]
		n := len(t.surf)
		if !t.isContent() || a.matched[i] || n < 2 || n > 6 || !asciiLetters(t.surf) || !(t.has(fAcronym) || t.has(fStrong) || n <= 4) {
			continue
		}
		for j := range b.toks {
			if b.matched[j] || !b.toks[j].isContent() || b.toks[j].surf[0] != t.surf[0] {
				continue
			}
			var run []int
			k := 0
			for x := j; x >= 0 && x < len(b.toks) && k < n; x = b.nextLive(x) {
				u := &b.toks[x]
				if u.kind != kWord {
					break
				}
				if u.surf[0] == t.surf[k] && (u.isContent() || u.surf == "of") {
					run = append(run, x)
					k++
					continue
				}
				if u.surf == "of" || u.surf == "and" || u.surf == "for" || u.surf == "the" {
					continue
				}
				break
			}
			if k == n && len(run) >= 2 {
				a.matched[i] = true
				for _, x := range run {
					b.matched[x] = true
				}
				break
			}
		}
	}
}

// lessWords matches "eggless" with "eggs": the negation rule has already
// checked that the other text says "without".
func lessWords(a, b *analysis) {
	for i := range a.toks {
		t := &a.toks[i]
		if !t.isContent() || a.matched[i] || len(t.surf) < 7 || !strings.HasSuffix(t.surf, "less") {
			continue
		}
		base := stem(t.surf[:len(t.surf)-4])
		if !b.words[base] {
			continue
		}
		a.matched[i] = true
		for j := range b.toks {
			if u := &b.toks[j]; u.kind == kWord && !u.has(fDropped) && u.stem == base {
				b.matched[j] = true
			}
		}
	}
}

// maxPairwise bounds the unmatched words of one text that the pairwise
// passes (compounds, typos) look at, keeping long texts linear.
const maxPairwise = 32

func spells(whole, x, y string) bool {
	return len(whole) == len(x)+len(y) && strings.HasPrefix(whole, x) && whole[len(x):] == y
}

// typos matches remaining unmatched words that are one transposition,
// insertion or deletion apart. Substitutions are not typos here: they turn
// "Iceland" into "Ireland". Every word with such a counterpart is matched,
// whatever the order, so the result does not depend on which text is the
// query.
func typos(a, b *analysis) {
	var hitA, hitB [64]bool
	for i := range a.toks {
		t := &a.toks[i]
		if i >= len(hitA) || !t.isContent() || a.matched[i] || t.has(fAcronym) {
			continue
		}
		for j := range b.toks {
			u := &b.toks[j]
			if j >= len(hitB) || !u.isContent() || b.matched[j] || u.has(fAcronym) {
				continue
			}
			if oneEdit(t.surf, u.surf) {
				hitA[i], hitB[j] = true, true
			}
		}
	}
	for i := range min(len(a.toks), len(hitA)) {
		a.matched[i] = a.matched[i] || hitA[i]
	}
	for j := range min(len(b.toks), len(hitB)) {
		b.matched[j] = b.matched[j] || hitB[j]
	}
}

// oneEdit reports whether x and y (lower-case ASCII letters, the shorter
// at least 5 long) differ by one adjacent transposition or one inserted
// letter.
func oneEdit(x, y string) bool {
	if len(x) > len(y) {
		x, y = y, x
	}
	if len(x) < 5 || len(y)-len(x) > 1 || !asciiLetters(x) || !asciiLetters(y) {
		return false
	}
	if len(x) == len(y) {
		i := 0
		for i < len(x) && x[i] == y[i] {
			i++
		}
		if i >= len(x)-1 {
			return false // equal, or differ in the last letter only
		}
		return x[i] == y[i+1] && x[i+1] == y[i] && x[i+2:] == y[i+2:]
	}
	i := 0
	for i < len(x) && x[i] == y[i] {
		i++
	}
	return x[i:] == y[i+1:]
}

func asciiLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// describe lists the unmatched words of both sides.
func (m *matching) describe(strongOnly bool) string {
	var sb strings.Builder
	list := func(side string, x *analysis, idx []int) {
		sb.WriteString(side)
		sb.WriteString(" [")
		n := 0
		for _, i := range idx {
			if strongOnly && !x.toks[i].has(fStrong) && !afterContrast(x, i) {
				continue
			}
			if n > 0 {
				sb.WriteByte(' ')
			}
			sb.WriteString(x.toks[i].surf)
			n++
		}
		sb.WriteByte(']')
	}
	list("query only", m.a, m.onlyA)
	sb.WriteString(", ")
	list("candidate only", m.b, m.onlyB)
	return sb.String()
}

func afterContrast(a *analysis, i int) bool {
	for k := i - 1; k >= 0; k-- {
		if contrastWords[a.toks[k].surf] {
			return true
		}
	}
	return false
}

// rolePronouns are the first- and second-person pronouns that name a role
// in a sentence (possessives such as "my" do not), by person.
var rolePronouns = map[string]int8{
	"i": 1, "me": 1, "we": 1, "us": 1, "myself": 1, "ourselves": 1,
	"you": 2, "yourself": 2, "yourselves": 2,
}

// pivotSkip are words too common to anchor who does what around them.
var pivotSkip = map[string]bool{
	"the": true, "a": true, "an": true, "to": true, "of": true, "in": true, "on": true, "at": true, "for": true,
	"is": true, "are": true, "was": true, "were": true, "be": true, "been": true, "do": true, "does": true,
	"did": true, "have": true, "has": true, "had": true, "how": true, "what": true, "why": true, "when": true,
	"much": true, "many": true, "can": true, "could": true, "should": true, "will": true, "would": true,
	"and": true, "or": true, "my": true, "your": true, "our": true, "it": true, "that": true, "this": true,
	"who": true, "whom": true, "which": true, "where": true,
}

// personSwap reports whether a person and a thing exchanged roles around
// the same word: "How much notice does my landlord have to give me?" /
// "How much notice do I have to give my landlord?" (the landlord moves
// from before "give" to after it, the first person the other way). Words
// that are the same on both sides in another order are what the other
// direction checks look at; this one reads the pronouns they skip. A
// passive ("fired by my employer") names its agent after the verb
// without swapping roles, so an agent "by" leaves the pair alone.
func personSwap(a, b *analysis) (string, bool) {
	if !a.question() && !a.request() || !b.question() && !b.request() || a.surfs["by"] || b.surfs["by"] {
		// Statements name their persons in the third person; their
		// "I" and "us" are as often "World War I" and "U.S.".
		return "", false
	}
	for i := range a.toks {
		p := &a.toks[i]
		if p.has(fDropped) || p.kind != kWord || pivotSkip[p.surf] || rolePronouns[p.surf] != 0 {
			continue
		}
		j := onlyMatch(a, i, b)
		if j < 0 {
			continue
		}
		// Where each person stands relative to the pivot: -1 before,
		// +1 after, 0 absent or on both sides.
		var sideA, sideB [3]int8
		personSides(a, i, &sideA)
		personSides(b, j, &sideB)
		moved := int8(0)
		for person := 1; person <= 2; person++ {
			if sideA[person] != 0 && sideB[person] == -sideA[person] {
				moved = sideA[person]
			}
		}
		if moved == 0 {
			continue
		}
		for k := range a.toks {
			x := &a.toks[k]
			if k == i || x.has(fDropped) || !x.isContent() {
				continue
			}
			l := onlyMatch(a, k, b)
			if l < 0 {
				continue
			}
			xa, xb := side(k, i), side(l, j)
			// The thing moved the other way round the pivot.
			if xa == -moved && xb == moved {
				return "direction: " + strconv.Quote(x.surf) + " and the person exchanged roles around " + strconv.Quote(p.surf), true
			}
		}
	}
	return "", false
}

func side(k, pivot int) int8 {
	if k < pivot {
		return -1
	}
	return 1
}

// personSides sets out[person] to the side of the pivot the person's role
// pronouns stand on (-1, +1), or 0 when on both sides.
func personSides(a *analysis, pivot int, out *[3]int8) {
	var seen [3]bool
	for k := range a.toks {
		t := &a.toks[k]
		person := rolePronouns[t.surf]
		if person == 0 || t.has(fDropped) || t.has(fStrong) {
			// A strong "us" is "U.S." or "US".
			continue
		}
		s := side(k, pivot)
		switch {
		case !seen[person]:
			out[person], seen[person] = s, true
		case out[person] != s:
			out[person] = 0
		}
	}
}

// onlyMatch returns the index of the one live token of b that is the
// same item as a.toks[i] when each text has exactly one such token, else
// -1.
func onlyMatch(a *analysis, i int, b *analysis) int {
	for k := range a.toks {
		if k != i && !a.toks[k].has(fDropped) && sameItem(a, int16(k), a, int16(i)) {
			return -1
		}
	}
	found := -1
	for j := range b.toks {
		if !b.toks[j].has(fDropped) && sameItem(a, int16(i), b, int16(j)) {
			if found >= 0 {
				return -1
			}
			found = j
		}
	}
	return found
}
