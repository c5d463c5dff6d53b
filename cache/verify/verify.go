// Package verify decides whether a cached question may answer a new one.
//
// The similarity tier of semcache finds cached questions whose embedding is
// close to the new question's. Closeness is not sameness: "capital of
// France" and "capital of Germany", "convert a string to an int" and
// "convert an int to a string", "Python 3.11" and "Python 3.12" all embed
// close together, and serving one's answer for the other is worse than a
// cache miss. A Verifier looks at the two texts (and the similarity score)
// and rejects a candidate for one of five reasons:
//
//   - numbers: the numbers differ ("5 minutes" / "15 minutes"), after
//     normalising "1,000" = "1000", "five" = 5, "2nd" = 2, "3.0" = 3, "9pm" =
//     21 and dates, times, percentages and versions;
//   - negation: the polarity differs ("not", "without", "never", "n't",
//     "neither ... nor", "unsafe"/"safe", "illegal"/"legal") or a word meets
//     its antonym ("encrypt"/"decrypt", "largest"/"smallest", "before"/"after");
//   - direction: an ordered relation is reversed ("convert A to B" / "B to
//     A", "A faster than B" / "B faster than A", "A vs B" / "B vs A",
//     "A > B", "from X to Y", "A implies B"), while "difference between A and
//     B" stays symmetric and "A slower than B" equals "B faster than A";
//   - entities: a named entity, acronym, identifier, code token or quoted
//     string appears on one side only, or each side has a topic word the
//     other lacks ("Kotlin"/"Scala", "eggs"/"potatoes", "sort"/"reverse");
//   - overlap: the score is high but the texts share implausibly few
//     content words.
//
// Rules are precise rather than clever: casing, punctuation, plurals,
// contractions, politeness, word order, small typos and a shipped synonym
// table are tolerated, everything else that changes the topic is not. A
// Verifier is safe for concurrent use.
package verify

import (
	"errors"
	"fmt"
	"strings"
	"sync"
)

// Reason names the rule that rejected a candidate.
type Reason string

// The reasons a candidate can be rejected for.
const (
	ReasonNumbers   Reason = "numbers"
	ReasonNegation  Reason = "negation"
	ReasonEntities  Reason = "entities"
	ReasonDirection Reason = "direction"
	ReasonOverlap   Reason = "overlap"
)

// Reasons lists every reason, in the order the rules run. Metrics use it to
// pre-register their label values.
func Reasons() []Reason {
	return []Reason{ReasonNumbers, ReasonNegation, ReasonDirection, ReasonEntities, ReasonOverlap}
}

// Verdict is the outcome of one check. Reason and Detail are empty when OK.
type Verdict struct {
	OK     bool
	Reason Reason
	// Detail says what differed, for logs and debugging: "numbers: 3.11 vs
	// 3.12".
	Detail string
}

// Defaults for Options.
const (
	DefaultMinOverlap      = 0.2
	DefaultOverlapMinScore = 0.9
)

// Options configure a Verifier. The zero value is valid and selects the
// defaults.
type Options struct {
	// MinOverlap is the lowest content-word overlap (Jaccard index of the
	// two texts' content words, after synonyms, plurals and typos) accepted
	// when the score is at least OverlapMinScore. 0 selects
	// DefaultMinOverlap; it must be in [0, 1].
	MinOverlap float64
	// OverlapMinScore is the score from which the overlap rule applies.
	// 0 selects DefaultOverlapMinScore; it must be in [-1, 1].
	OverlapMinScore float32
	// Disable switches rules off.
	Disable []Reason
	// SymmetricVersus accepts "A vs B" for "B vs A". By default the order
	// of a "vs" comparison counts, like every other ordered relation.
	SymmetricVersus bool
	// StrictAdditions rejects a candidate when either text has any topic
	// word the other lacks, even a frequent one ("flu" / "flu shot"). By
	// default a word added on one side only is rejected when it is rare
	// (not among the most frequent English words: "coffee" / "decaf
	// coffee") or entity-like, and a swap (each side has a topic word the
	// other lacks) is always rejected.
	StrictAdditions bool
	// AllowRareAdditions accepts one-sided rare words ("pancakes" /
	// "homemade pancakes"); only entity-like additions and swaps are then
	// rejected. Ignored when StrictAdditions is set.
	AllowRareAdditions bool
	// Synonyms are extra groups of interchangeable single words, added to
	// the shipped table. The first word of a group is its canonical form.
	Synonyms [][]string
}

// Verifier checks candidate hits. Create one with New.
type Verifier struct {
	minOverlap      float64
	overlapMinScore float32
	disabled        map[Reason]bool
	symVersus       bool
	strictAdd       bool
	allowRare       bool

	common, negations, polite, ambiguous, identifiers, preferVerbs, clause, noStem map[string]bool
	// frequent holds the most frequent English words and their stems.
	frequent map[string]bool
	synonyms map[string]string
	phrases2 map[[2]string]string
	phrases3 map[[3]string]string
	antonyms map[string][]string

	pool sync.Pool
}

// New validates opts and builds a Verifier.
func New(opts Options) (*Verifier, error) {
	var errs []error
	if opts.MinOverlap < 0 || opts.MinOverlap > 1 {
		errs = append(errs, fmt.Errorf("verify: MinOverlap %v is outside [0, 1]", opts.MinOverlap))
	}
	if opts.OverlapMinScore < -1 || opts.OverlapMinScore > 1 {
		errs = append(errs, fmt.Errorf("verify: OverlapMinScore %v is outside [-1, 1]", opts.OverlapMinScore))
	}
	known := map[Reason]bool{}
	for _, r := range Reasons() {
		known[r] = true
	}
	disabled := map[Reason]bool{}
	for _, r := range opts.Disable {
		if !known[r] {
			errs = append(errs, fmt.Errorf("verify: cannot disable unknown reason %q", r))
			continue
		}
		disabled[r] = true
	}
	for i, g := range opts.Synonyms {
		if len(g) < 2 {
			errs = append(errs, fmt.Errorf("verify: synonym group %d has %d words, want at least 2", i, len(g)))
		}
		for _, w := range g {
			if w == "" || strings.ContainsFunc(w, func(r rune) bool { return !isWordRune(r) }) {
				errs = append(errs, fmt.Errorf("verify: synonym group %d: %q is not a single word", i, w))
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	v := &Verifier{
		minOverlap:      opts.MinOverlap,
		overlapMinScore: opts.OverlapMinScore,
		disabled:        disabled,
		symVersus:       opts.SymmetricVersus,
		strictAdd:       opts.StrictAdditions,
		allowRare:       opts.AllowRareAdditions,
	}
	if v.minOverlap == 0 {
		v.minOverlap = DefaultMinOverlap
	}
	if v.overlapMinScore == 0 {
		v.overlapMinScore = DefaultOverlapMinScore
	}
	v.buildTables(opts.Synonyms)
	v.pool.New = func() any { return &analysis{} }
	return v, nil
}

// wordSet splits a whitespace-separated list into a set.
func wordSet(list string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(list) {
		m[w] = true
	}
	return m
}

func (v *Verifier) buildTables(extra [][]string) {
	v.common = wordSet(commonWords)
	for w := range wordSet(commonWords) {
		if s := stem(w); len(s) >= 3 {
			v.common[s] = true
		}
	}
	v.negations = wordSet(negationWords)
	v.polite = wordSet(politeEdges)
	v.ambiguous = wordSet(ambiguousAcronyms)
	v.identifiers = wordSet(identifierWords)
	v.preferVerbs = wordSet(preferVerbs)
	v.clause = wordSet(clauseWords)
	v.noStem = wordSet(noStem)
	v.frequent = map[string]bool{}
	for _, w := range strings.Fields(frequentWords) {
		v.frequent[w] = true
		v.frequent[stem(w)] = true
	}

	v.synonyms = map[string]string{}
	groups := append(append([][]string{}, synonymGroups...), extra...)
	for _, g := range groups {
		canon := stem(strings.ToLower(g[0]))
		for _, w := range g {
			lw := strings.ToLower(w)
			v.synonyms[lw] = canon
			v.synonyms[stem(lw)] = canon
		}
	}
	v.phrases2 = map[[2]string]string{}
	v.phrases3 = map[[3]string]string{}
	for k, c := range phrases {
		f := strings.Fields(k)
		switch len(f) {
		case 2:
			v.phrases2[[2]string{f[0], f[1]}] = c
		case 3:
			v.phrases3[[3]string{f[0], f[1], f[2]}] = c
		}
	}
	v.antonyms = map[string][]string{}
	for _, p := range antonymPairs {
		x, y := v.canonical(p[0]), v.canonical(p[1])
		if x == y {
			continue
		}
		v.antonyms[x] = append(v.antonyms[x], y)
		v.antonyms[y] = append(v.antonyms[y], x)
	}
}

// canonical is the text a single lower-case word gets from the analyser.
func (v *Verifier) canonical(w string) string {
	s := stem(w)
	if c, ok := v.synonyms[s]; ok {
		return c
	}
	if c, ok := v.synonyms[w]; ok {
		return c
	}
	return s
}

// Check decides whether the cached question candidate may answer query;
// score is their embedding similarity.
func (v *Verifier) Check(query, candidate string, score float32) Verdict {
	a := v.pool.Get().(*analysis)
	b := v.pool.Get().(*analysis)
	defer v.pool.Put(a)
	defer v.pool.Put(b)
	a.analyze(v, query)
	b.analyze(v, candidate)

	if !v.disabled[ReasonNumbers] {
		if d, bad := checkNumbers(a, b); bad {
			return Verdict{Reason: ReasonNumbers, Detail: d}
		}
	}
	if !v.disabled[ReasonNegation] {
		if d, bad := v.checkNegation(a, b); bad {
			return Verdict{Reason: ReasonNegation, Detail: d}
		}
	}
	if !v.disabled[ReasonDirection] {
		if d, bad := v.checkDirection(a, b); bad {
			return Verdict{Reason: ReasonDirection, Detail: d}
		}
	}
	if v.disabled[ReasonEntities] && (v.disabled[ReasonOverlap] || score < v.overlapMinScore) {
		return Verdict{OK: true}
	}
	m := match(a, b)
	if !v.disabled[ReasonEntities] {
		if d, bad := v.checkEntities(&m); bad {
			return Verdict{Reason: ReasonEntities, Detail: d}
		}
	}
	if !v.disabled[ReasonOverlap] && score >= v.overlapMinScore {
		if o := m.overlap(); o < v.minOverlap {
			return Verdict{Reason: ReasonOverlap, Detail: fmt.Sprintf("overlap: %.2f of content words shared at score %.2f, want at least %.2f", o, score, v.minOverlap)}
		}
	}
	return Verdict{OK: true}
}
