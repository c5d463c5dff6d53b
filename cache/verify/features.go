package verify

import (
	"slices"
	"strconv"
	"strings"
)

// WordVectors tells how related two words are (cosine of their word
// embeddings). Relatedness is not sameness: GloVe puts siblings
// ("wednesday"/"thursday" 0.99) and antonyms ("increase"/"decrease" 0.88)
// closer than synonyms ("goal"/"purpose" 0.42), so the verifier never
// pairs words up by it; it is one input of the calibrated score. The
// verifier owns this interface; embed/wordvec implements it.
type WordVectors interface {
	// Similarity returns the cosine of the two lower-case words' vectors,
	// and false when either word is unknown.
	Similarity(a, b string) (float32, bool)
}

// WordRelation is how two words (or short phrases) relate in meaning.
type WordRelation uint8

// The relations a Lexicon reports, weakest first.
const (
	RelNone     WordRelation = iota
	RelSibling               // different members of one class: "wednesday"/"thursday"
	RelHyponym               // the first is a kind of the second: "puppy"/"dog"
	RelHypernym              // the second is a kind of the first
	RelDerived               // forms of one word: "transform"/"transformation"
	RelSame                  // synonyms: "goal"/"purpose"
	RelAntonym               // opposites: "increase"/"decrease"
)

// Lexicon relates words by meaning (WordNet in semcache). The verifier
// owns this interface; cmd/semcache adapts embed/wordnet to it.
type Lexicon interface {
	Relate(a, b string) WordRelation
}

// LexiconFunc adapts a function to Lexicon.
type LexiconFunc func(a, b string) WordRelation

// Relate calls f.
func (f LexiconFunc) Relate(a, b string) WordRelation { return f(a, b) }

// Features is the evidence the verifier gathers about a pair of texts: the
// inputs of the calibrated score. Counts are of content words (live words
// that are not common words, negation cues or comparatives of a relation).
// "A" is the query, "B" the candidate.
type Features struct {
	// Veto is the rule that rejects the pair outright ("" when none).
	Veto   Reason
	Detail string

	ContentA, ContentB int
	// Matched counts the content words matched by form (stem, synonym
	// table, compound, typo) or, through the lexicon, by meaning.
	MatchedA, MatchedB int
	// General counts the words matched only as a kind of the other side's
	// word ("puppies"/"dogs").
	General int
	// Only: the content words matched neither way.
	OnlyA, OnlyB int
	// OnlyWordsA/B are those words as written (lower case).
	OnlyWordsA, OnlyWordsB []string
	// OnlyRare counts the unmatched words that are not among the most
	// frequent English words; OnlyStrong the unmatched entity-like ones
	// (proper nouns, acronyms, identifiers, code, quoted text).
	OnlyRare, OnlyStrong int
	// StrongSwap: each side has an unmatched entity-like word.
	StrongSwap bool
	// Siblings counts unmatched words whose counterpart is a sibling in
	// the lexicon ("Egypt"/"Syria"); Opposites those whose counterpart is
	// an antonym.
	Siblings, Opposites int
	// Related is the mean word-vector similarity of each unmatched word to
	// its closest content word on the other side: 1 when no word is
	// unmatched, 0 without word vectors.
	Related float32
	// Qualifier counts one-sided words that narrow a request ("video",
	// "fastest", "total", "free", "in reverse").
	Qualifier int
	// NegationDiffers: the polarities differ, in texts that differ in more
	// than that (a veto otherwise).
	NegationDiffers bool
	// NumberOneSided: a number on one side only ("the latest 3 rows" /
	// "the latest row"); numbers on both sides that differ are a veto.
	NumberOneSided bool
	// WhDiff: the texts open with question words that ask for different
	// things (see contrastingWh).
	WhDiff bool
	// Adjacency is the fraction of adjacent word pairs (at least one of
	// them a content word) that also stand next to each other in the
	// other text, averaged over both sides: low when words kept their
	// places but changed their neighbours (role swaps, moved modifiers).
	Adjacency float32
	// Order is the fraction of pairs of shared content words whose order
	// differs between the texts.
	Order float32
	// Displaced counts shared content words that share no run of two or
	// more words with the other text: words that moved on their own
	// ("born in Fort Worth, moved to Monterrey" / "born in Monterrey,
	// moved to Fort Worth").
	Displaced int
	// Request is set when either text reads as a request (a question, an
	// instruction or a short keyword query) rather than a description. In
	// a request, a word only one side has narrows or changes what is
	// asked.
	Request bool
	// FrameA and FrameB are the texts without their unmatched words and
	// one-sided numbers, for the deletion test; empty when the texts
	// differ in nothing but form.
	FrameA, FrameB string
}

// Differs reports whether the texts have words or numbers the other lacks
// (the deletion test applies).
func (f *Features) Differs() bool { return f.FrameA != "" }

// Features analyses query and candidate and returns the evidence about
// them.
func (v *Verifier) Features(query, candidate string) Features {
	a := v.pool.Get().(*analysis)
	b := v.pool.Get().(*analysis)
	defer v.pool.Put(a)
	defer v.pool.Put(b)
	a.analyze(v, query)
	b.analyze(v, candidate)
	return v.features(a, b)
}

func (v *Verifier) features(a, b *analysis) Features {
	var f Features
	m := match(a, b)
	request := a.question() || b.question() || a.request() || b.request()
	if !request {
		// Matching by meaning helps descriptions ("Egypt freezes
		// Brotherhood funds" / "assets") but hurt requests on the tune
		// split (pairwise recall at 5% false hits 0.75 without, 0.45
		// with): a reworded request whose words all match by meaning looks
		// like a look-alike that differs in one word.
		v.lexAlign(a, b, &m, &f)
	}
	f.ContentA, f.ContentB = m.totalA, m.totalB
	f.MatchedA, f.MatchedB = m.totalA-len(m.onlyA), m.totalB-len(m.onlyB)
	f.OnlyA, f.OnlyB = len(m.onlyA), len(m.onlyB)
	strongA, strongB := 0, 0
	var related float32
	for _, side := range []struct {
		an, other *analysis
		only      []int
		words     *[]string
		strong    *int
	}{{a, b, m.onlyA, &f.OnlyWordsA, &strongA}, {b, a, m.onlyB, &f.OnlyWordsB, &strongB}} {
		for _, i := range side.only {
			t := &side.an.toks[i]
			*side.words = append(*side.words, t.surf)
			if !v.frequent[t.surf] && !v.frequent[t.stem] {
				f.OnlyRare++
			}
			if t.has(fStrong) {
				*side.strong++
			}
			if v.qualifiers[t.surf] || v.qualifiers[t.stem] {
				f.Qualifier++
			}
			related += v.bestRelated(t, side.other)
		}
	}
	f.OnlyStrong = strongA + strongB
	f.StrongSwap = strongA > 0 && strongB > 0
	f.Related = 1 // nothing unmatched: nothing unrelated
	if n := f.OnlyA + f.OnlyB; n > 0 {
		f.Related = related / float32(n)
	}

	oneSided := false
	if d, conflict, bad := numbersDiffer(a, b); bad {
		if conflict && !v.disabled[ReasonNumbers] {
			f.Veto, f.Detail = ReasonNumbers, d
		}
		oneSided = !conflict
		f.NumberOneSided = oneSided
	}
	if f.Veto == "" && oneSided && f.OnlyA+f.OnlyB == 0 && !v.disabled[ReasonNumbers] {
		// Nothing but a number tells them apart: "the latest 3 rows" /
		// "the latest row".
		f.Veto, f.Detail = ReasonNumbers, "numbers: "+strings.TrimPrefix(detail(numbersDiffer(a, b)), "numbers: ")
	}
	if f.Veto == "" {
		if d, bad := v.checkNegation(a, b); bad {
			// The words that carry the opposition ("unsafe"/"safe",
			// "encrypt"/"decrypt") do not count as further differences.
			pa, _ := prefixNegations(a, b)
			pb, _ := prefixNegations(b, a)
			rest := f.OnlyA + f.OnlyB - pa - pb - 2*f.Opposites - v.antonymWords(a, b, m.onlyA)
			if rest <= 1 && !v.disabled[ReasonNegation] {
				f.Veto, f.Detail = ReasonNegation, d
			}
			f.NegationDiffers = true
		}
	}
	if f.Veto == "" && !v.disabled[ReasonDirection] {
		if d, bad := v.checkDirection(a, b); bad {
			f.Veto, f.Detail = ReasonDirection, d
		}
	}
	if f.Veto == "" && !v.disabled[ReasonDifference] {
		if w := contrastOnly(a, b, m.onlyA); w != "" {
			f.Veto, f.Detail = ReasonDifference, "difference: the query adds a condition ("+strconv.Quote(w)+")"
		} else if w := contrastOnly(b, a, m.onlyB); w != "" {
			f.Veto, f.Detail = ReasonDifference, "difference: the candidate adds a condition ("+strconv.Quote(w)+")"
		}
	}
	if f.Veto == "" && !v.disabled[ReasonIntent] {
		if ca, cb := comparing(a), comparing(b); ca != cb {
			// One side compares two things, the other asks about one
			// ("what is deep learning" / "the difference between machine
			// learning and deep learning"), and the comparing side names
			// something the other lacks.
			switch {
			case ca && len(m.onlyA) > 0:
				f.Veto, f.Detail = ReasonIntent, "intent: the query compares, the candidate asks about one thing"
			case cb && len(m.onlyB) > 0:
				f.Veto, f.Detail = ReasonIntent, "intent: the candidate compares, the query asks about one thing"
			}
		}
	}
	wa, wb := a.openingWh(), b.openingWh()
	f.WhDiff = wa != "" && wb != "" && contrastingWh(wa, wb)
	if f.Veto == "" && f.WhDiff && f.OnlyA+f.OnlyB == 0 && !v.disabled[ReasonIntent] {
		f.Veto, f.Detail = ReasonIntent, "intent: "+strconv.Quote(wa)+" against "+strconv.Quote(wb)
	}
	f.Adjacency = (adjacency(a, b) + adjacency(b, a)) / 2
	f.Order = orderChange(a, b)
	f.Displaced = displaced(a, b)
	f.Request = request
	if f.Veto == "" && request && f.OnlyA+f.OnlyB == 0 && f.Order >= 0.6 && min(f.ContentA, f.ContentB) >= 4 &&
		!hasJoiner(a) && !hasJoiner(b) && !v.disabled[ReasonDirection] {
		// The same words in another order, most pairs of them reversed,
		// and no "and"/"or"/"vs" to make the order free: who does what
		// changed ("does iron help the body absorb vitamin C" / "does
		// vitamin C help the body absorb iron").
		f.Veto, f.Detail = ReasonDirection, "direction: the same words in other roles"
	}

	if f.OnlyA+f.OnlyB > 0 || oneSided {
		f.FrameA = frameText(a, b, m.onlyA)
		f.FrameB = frameText(b, a, m.onlyB)
	}
	return f
}

// lexAlign matches, through the lexicon, the content words match left
// unmatched: synonyms and derived forms count as matched, a kind of the
// other side's word as matched and general; siblings and antonyms stay
// unmatched and are counted. Words are tried on their own and as the
// two-word phrases they start ("heart rate").
func (v *Verifier) lexAlign(a, b *analysis, m *matching, f *Features) {
	if v.lexicon == nil {
		return
	}
	var siblings, opposites int
	keepA := m.onlyA[:0]
	matchedB := map[int]bool{}
	for _, i := range m.onlyA {
		t := &a.toks[i]
		best, bestJ := RelNone, -1
		for j := range b.toks {
			u := &b.toks[j]
			if !u.isContent() || u.has(fStrong) && t.has(fStrong) && u.surf != t.surf {
				// Two different names are different things, whatever a
				// lexicon says about their common-noun senses.
				if !u.isContent() {
					continue
				}
			}
			r := v.lexicon.Relate(t.surf, u.surf)
			if r == RelNone {
				if p := b.phraseAt(j); p != "" {
					r = v.lexicon.Relate(t.surf, p)
				}
			}
			if r > best {
				best, bestJ = r, j
			}
		}
		switch best {
		case RelSame, RelDerived, RelHyponym, RelHypernym:
			if t.has(fStrong) && b.toks[bestJ].has(fStrong) && best != RelSame {
				keepA = append(keepA, i)
				siblings++
				continue
			}
			a.matched[i] = true
			matchedB[bestJ] = true
			if best == RelHyponym || best == RelHypernym {
				f.General++
			}
		case RelSibling:
			keepA = append(keepA, i)
			siblings++
		case RelAntonym:
			keepA = append(keepA, i)
			opposites++
		default:
			keepA = append(keepA, i)
		}
	}
	m.onlyA = keepA
	keepB := m.onlyB[:0]
	for _, j := range m.onlyB {
		if matchedB[j] {
			b.matched[j] = true
			continue
		}
		u := &b.toks[j]
		best := RelNone
		for i := range a.toks {
			t := &a.toks[i]
			if !t.isContent() {
				continue
			}
			if r := v.lexicon.Relate(u.surf, t.surf); r > best {
				best = r
			}
			if best == RelNone {
				if p := a.phraseAt(i); p != "" {
					best = max(best, v.lexicon.Relate(u.surf, p))
				}
			}
		}
		switch best {
		case RelSame, RelDerived:
			b.matched[j] = true
		case RelHyponym, RelHypernym:
			if u.has(fStrong) {
				keepB = append(keepB, j)
				continue
			}
			b.matched[j] = true
			f.General++
		case RelAntonym:
			keepB = append(keepB, j)
		default:
			keepB = append(keepB, j)
		}
	}
	m.onlyB = keepB
	f.Siblings, f.Opposites = siblings, opposites
}

// contrastOnly returns the contrast word ("but", "except", "unless") of a
// clause of a that o lacks and that holds an unmatched word of a: "I can
// log in but can't see my orders" asks more than "I can't log in".
func contrastOnly(a, o *analysis, only []int) string {
	for i := range a.toks {
		t := &a.toks[i]
		if t.has(fDropped) || t.kind != kWord || !contrastWords[t.surf] || o.hasWord(t.surf) {
			continue
		}
		for _, j := range only {
			if j > i {
				return t.surf
			}
		}
	}
	return ""
}

// detail returns the first result of numbersDiffer.
func detail(d string, _, _ bool) string { return d }

// antonymWords counts the unmatched tokens only of a that meet their
// antonym (from the shipped table, or by an opposite prefix) in b, twice
// (once for each side of the pair).
func (v *Verifier) antonymWords(a, b *analysis, only []int) int {
	n := 0
	for _, i := range only {
		t := &a.toks[i]
		for _, o := range v.antonyms[t.text] {
			if b.hasWord(o) {
				n += 2
				break
			}
		}
		if b.oppositeByPrefix(t.stem) {
			n += 2
		}
	}
	return n
}

// phraseAt returns the two-word phrase that starts at content token j
// ("heart rate"), or "" when the next live token is not a word.
func (a *analysis) phraseAt(j int) string {
	k := a.nextLive(j)
	if k < 0 || a.toks[k].kind != kWord {
		return ""
	}
	return a.toks[j].surf + " " + a.toks[k].surf
}

// bestRelated is the highest word-vector similarity of t to a content
// word of o.
func (v *Verifier) bestRelated(t *token, o *analysis) float32 {
	if v.wordVecs == nil {
		return 0
	}
	best := float32(0)
	for j := range o.toks {
		u := &o.toks[j]
		if !u.isContent() {
			continue
		}
		if s, ok := v.wordVecs.Similarity(t.surf, u.surf); ok && s > best {
			best = s
		}
	}
	return best
}

// numbersDiffer compares the numbers of a and b. bad is set when their
// multisets differ; conflict when each side has a number the other lacks
// ("3 items" / "4 items"), as opposed to a number on one side only.
func numbersDiffer(a, b *analysis) (detail string, conflict, bad bool) {
	d, bad := checkNumbers(a, b)
	if !bad {
		return "", false, false
	}
	var bufA, bufB [16]numKey
	na, nb := a.numbers(bufA[:0]), b.numbers(bufB[:0])
	onlyA, onlyB := 0, 0
	for _, x := range na {
		if !slices.ContainsFunc(nb, x.equal) {
			onlyA++
		}
	}
	for _, y := range nb {
		if !slices.ContainsFunc(na, y.equal) {
			onlyB++
		}
	}
	return d, onlyA > 0 && onlyB > 0, true
}

// frameText is a's text without the unmatched content tokens skip and
// without the numbers o lacks: what remains when the differences are left
// out.
func frameText(a, o *analysis, skip []int) string {
	var bufO [16]numKey
	no := o.numbers(bufO[:0])
	// A removed word takes the function words that attach it with it:
	// "install Docker on Ubuntu" without "Ubuntu" is "install Docker".
	drop := make(map[int]bool, 2*len(skip))
	for _, i := range skip {
		drop[i] = true
		if k := a.nextLive(i); k >= 0 && (a.toks[k].isContent() || a.toks[k].kind == kNum) && !slices.Contains(skip, k) {
			continue // a modifier: "in decaf coffee" keeps its "in"
		}
		for j, n := a.prevLive(i), 0; j >= 0 && n < 2; j, n = a.prevLive(j), n+1 {
			t := &a.toks[j]
			if t.kind != kWord || !attachingWords[t.surf] || drop[j] {
				break
			}
			drop[j] = true
		}
	}
	var sb strings.Builder
	for i := range a.toks {
		t := &a.toks[i]
		if t.has(fDropped) || t.kind == kSymbol || drop[i] {
			continue
		}
		if t.kind == kNum {
			k := numKey{t.num, t.ver, t.digits}
			if !(k.ver == "" && k.num == 1) && !slices.ContainsFunc(no, k.equal) {
				continue
			}
		}
		if sb.Len() > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(t.surfOrNum())
	}
	return sb.String()
}

// adjacency is the fraction of a's adjacent live word pairs (at least one
// of them a content word) whose two words also stand next to each other,
// in the same order, in b.
func adjacency(a, b *analysis) float32 {
	pairs := map[[2]string]bool{}
	prev := ""
	for i := range b.toks {
		t := &b.toks[i]
		if t.has(fDropped) || t.kind == kSymbol {
			continue
		}
		w := t.key()
		if prev != "" {
			pairs[[2]string{prev, w}] = true
		}
		prev = w
	}
	total, kept := 0, 0
	prev, prevContent := "", false
	for i := range a.toks {
		t := &a.toks[i]
		if t.has(fDropped) || t.kind == kSymbol {
			continue
		}
		w := t.key()
		content := t.isContent() || t.kind == kNum
		if prev != "" && (content || prevContent) {
			total++
			if pairs[[2]string{prev, w}] {
				kept++
			}
		}
		prev, prevContent = w, content
	}
	if total == 0 {
		return 1
	}
	return float32(kept) / float32(total)
}

// key is the form two tokens share when they are the same word or number.
func (t *token) key() string {
	if t.kind == kNum {
		return numKey{t.num, t.ver, t.digits}.String()
	}
	return t.stem
}

// contentKeys lists the keys of a's content words and numbers.
func contentKeys(a *analysis) []string {
	var out []string
	for i := range a.toks {
		t := &a.toks[i]
		if t.isContent() || (t.kind == kNum && !t.has(fDropped)) {
			out = append(out, t.key())
		}
	}
	return out
}

// orderChange is the fraction of pairs of content words found on both
// sides (first occurrences) whose order differs.
func orderChange(a, b *analysis) float32 {
	posB := map[string]int{}
	for n, k := range contentKeys(b) {
		if _, ok := posB[k]; !ok {
			posB[k] = n
		}
	}
	var seq []int
	seen := map[string]bool{}
	for _, k := range contentKeys(a) {
		if seen[k] {
			continue
		}
		seen[k] = true
		if p, ok := posB[k]; ok {
			seq = append(seq, p)
		}
	}
	total, disc := 0, 0
	for i := range seq {
		for j := i + 1; j < len(seq); j++ {
			total++
			if seq[i] > seq[j] {
				disc++
			}
		}
	}
	if total == 0 {
		return 0
	}
	return float32(disc) / float32(total)
}

// displaced runs greedy string tiling over the live tokens of a and b (it
// repeatedly marks the longest run of tokens the two share, unmarked on
// both sides, until no run of two or more is left) and counts the content
// words present on both sides outside every run.
func displaced(a, b *analysis) int {
	ka, ca := liveKeys(a)
	kb, _ := liveKeys(b)
	if len(ka) == 0 || len(kb) == 0 || len(ka) > 128 || len(kb) > 128 {
		return 0
	}
	ma := make([]bool, len(ka))
	mb := make([]bool, len(kb))
	for {
		best, bi, bj := 0, 0, 0
		for i := range ka {
			if ma[i] {
				continue
			}
			for j := range kb {
				n := 0
				for i+n < len(ka) && j+n < len(kb) && !ma[i+n] && !mb[j+n] && ka[i+n] == kb[j+n] {
					n++
				}
				if n > best {
					best, bi, bj = n, i, j
				}
			}
		}
		if best < 2 {
			break
		}
		for n := range best {
			ma[bi+n], mb[bj+n] = true, true
		}
	}
	n := 0
	for i, k := range ka {
		if !ma[i] && ca[i] && slices.Contains(kb, k) {
			n++
		}
	}
	return n
}

// liveKeys lists the keys of a's live tokens and whether each is a content
// word or number.
func liveKeys(a *analysis) ([]string, []bool) {
	var keys []string
	var content []bool
	for i := range a.toks {
		t := &a.toks[i]
		if t.has(fDropped) || t.kind == kSymbol {
			continue
		}
		keys = append(keys, t.key())
		content = append(content, t.isContent() || t.kind == kNum)
	}
	return keys, content
}

// openingWh names the kind of question a text opens with ("" when its
// first word is not a question word): "which" is "what", "whom" and
// "whose" are "who", "how come" is "why", and "how many", "how much",
// "how long", "how often", "how old", "how far" are kinds of their own.
func (a *analysis) openingWh() string {
	for i := range a.toks {
		t := &a.toks[i]
		if t.has(fDropped) || t.kind != kWord {
			continue
		}
		switch t.surf {
		case "what", "which":
			return "what"
		case "who", "whom", "whose":
			return "who"
		case "when", "where", "why":
			return t.surf
		case "how":
			if j := a.nextLive(i); j >= 0 {
				switch w := a.toks[j].surf; w {
				case "many", "much":
					return "howmany"
				case "long", "often", "old", "far":
					return "how" + w
				case "come":
					return "why"
				}
			}
			return "how"
		}
		return ""
	}
	return ""
}

// contrastingWh reports whether two question kinds ask for different
// things: a way and a reason, a time and a person, a place and a time.
// "What" is left out: "what causes X" asks why, "what is the way to X"
// asks how.
func contrastingWh(x, y string) bool {
	if x == "what" || y == "what" {
		return false
	}
	return x != y
}

// attachingWords attach a word to the rest of a sentence: articles and
// prepositions. The deletion test removes them with the word they attach.
var attachingWords = map[string]bool{
	"a": true, "an": true, "the": true, "of": true, "in": true, "on": true, "at": true, "for": true,
	"with": true, "by": true, "about": true, "into": true, "onto": true, "my": true, "your": true,
}

// hasJoiner reports whether a has a word that makes the order of its
// items free ("and", "or", "vs", "between").
func hasJoiner(a *analysis) bool {
	for i := range a.toks {
		t := &a.toks[i]
		if !t.has(fDropped) && (symmetricJoiners[t.surf] || t.rel == famVersus || t.surf == "between") {
			return true
		}
	}
	return false
}

// comparing reports whether a asks to compare things: "A vs B", "the
// difference between A and B", "compare A and B".
func comparing(a *analysis) bool {
	between, difference := false, false
	for i := range a.toks {
		t := &a.toks[i]
		if t.has(fDropped) {
			continue
		}
		switch t.surf {
		case "compare", "compared", "comparing", "comparison":
			return true
		case "between":
			between = true
		case "difference", "differences", "differ":
			difference = true
		}
		if t.rel == famVersus {
			return true
		}
	}
	return between && difference
}

// requestVerbs open an instruction ("explain recursion", "convert 5 km to
// miles", "sort the list in descending order").
var requestVerbs = map[string]bool{
	"explain": true, "describe": true, "write": true, "list": true, "give": true, "show": true, "tell": true,
	"convert": true, "compare": true, "find": true, "make": true, "create": true, "generate": true,
	"summarize": true, "summarise": true, "translate": true, "calculate": true, "recommend": true,
	"suggest": true, "help": true, "define": true, "fix": true, "solve": true, "name": true, "please": true,
	"sort": true, "reverse": true, "install": true, "uninstall": true, "remove": true, "delete": true,
	"add": true, "set": true, "reset": true, "compute": true, "count": true, "check": true, "print": true,
	"parse": true, "format": true, "merge": true, "split": true, "join": true, "read": true, "open": true,
	"run": true, "start": true, "stop": true, "update": true, "upgrade": true, "enable": true,
	"disable": true, "configure": true, "build": true, "deploy": true, "draft": true, "rewrite": true,
	"edit": true, "proofread": true, "plan": true, "outline": true, "design": true, "implement": true,
	"refactor": true, "debug": true, "optimize": true, "optimise": true, "estimate": true, "predict": true,
	"classify": true, "extract": true, "identify": true, "analyze": true, "analyse": true, "evaluate": true,
	"review": true, "rank": true, "simplify": true, "expand": true, "shorten": true, "paraphrase": true,
	"rephrase": true, "continue": true, "complete": true, "answer": true, "recommendations": true,
	"tips": true, "ideas": true, "best": true, "difference": true, "symptoms": true, "causes": true,
	"benefits": true, "pros": true, "cost": true, "price": true, "meaning": true, "definition": true,
	"steps": true, "ways": true, "examples": true, "alternatives": true,
}

// questionOpeners open a question.
var questionOpeners = map[string]bool{
	"what": true, "which": true, "who": true, "whom": true, "whose": true, "when": true, "where": true,
	"why": true, "how": true, "is": true, "are": true, "do": true, "does": true, "did": true, "can": true,
	"could": true, "should": true, "would": true, "will": true, "was": true, "were": true,
}

// question reports whether a reads as a question: it has a question mark
// or opens with a question word or an auxiliary.
func (a *analysis) question() bool {
	if a.questionMark {
		return true
	}
	for i := range a.toks {
		t := &a.toks[i]
		if !t.has(fDropped) {
			return t.kind == kWord && questionOpeners[t.surf]
		}
	}
	return false
}

// request reports whether a reads as an instruction ("sort the list in
// descending order") or a keyword query ("python reverse list",
// "symptoms of vitamin D deficiency"): it opens with a request verb or a
// request noun, has at most four words, or is typed like a query (a
// lower-case start, no full stop, a dozen words at most). Questions are
// told apart by question.
func (a *analysis) request() bool {
	words := 0
	first := ""
	for i := range a.toks {
		t := &a.toks[i]
		if t.has(fDropped) || t.kind == kSymbol {
			continue
		}
		if first == "" {
			first = t.surf
			if t.kind == kNum {
				first = "2"
			}
		}
		words++
	}
	return requestVerbs[first] || (words > 0 && words <= 4) || (a.lowerStart && words <= 12 && !a.endsWithPeriod)
}
