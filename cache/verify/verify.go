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
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Reason names the rule that rejected a candidate.
type Reason string

// The reasons a candidate can be rejected for.
const (
	ReasonNumbers   Reason = "numbers"
	ReasonNegation  Reason = "negation"
	ReasonDirection Reason = "direction"
	// ReasonIntent: the texts ask a different kind of question about the
	// same words ("how do cats purr" / "why do cats purr").
	ReasonIntent Reason = "intent"
	// ReasonDifference: in a request, the texts are the same once a few
	// words are left out, and the deletion test shows those words carry
	// the difference ("record a call" / "record a video call").
	ReasonDifference Reason = "difference"
	// ReasonScore: no rule vetoed the pair but its calibrated score is
	// below the cut-off.
	ReasonScore Reason = "score"
	// ReasonOutranked: the candidate was not tested further because a
	// better-scored one passed (the cache serves one).
	ReasonOutranked Reason = "outranked"
)

// Reasons lists every reason, in the order the rules run. Metrics use it to
// pre-register their label values.
func Reasons() []Reason {
	return []Reason{ReasonNumbers, ReasonNegation, ReasonDirection, ReasonIntent, ReasonDifference, ReasonScore, ReasonOutranked}
}

// Verdict is the outcome of one check. Reason and Detail are empty when OK.
type Verdict struct {
	OK     bool
	Reason Reason
	// Score is the calibrated probability that the candidate's answer
	// serves the query (0 when a rule rejected the pair).
	Score float32
	// Request reports which half of the model scored the pair: the
	// request half, or the description half.
	Request bool
	// Detail says what differed, for logs and debugging: "numbers: 3.11 vs
	// 3.12".
	Detail string
}

// DefaultDifferenceMin is the default of Options.DifferenceMin.
const DefaultDifferenceMin = 0.95

// MaxDeletionWords bounds the deletion test to pairs that differ in at
// most this many words: texts that differ more are never nearly the same
// without their differences (on the tune split, 99% of the pairs the test
// rejected differed in 6 words or fewer), and the test costs two
// embeddings.
const MaxDeletionWords = 6

// Options configure a Verifier. The zero value is valid and selects the
// defaults.
type Options struct {
	// Disable switches rules off.
	Disable []Reason
	// SymmetricVersus accepts "A vs B" for "B vs A". By default the order
	// of a "vs" comparison counts, like every other ordered relation.
	SymmetricVersus bool
	// Synonyms are extra groups of interchangeable single words, added to
	// the shipped table. The first word of a group is its canonical form.
	Synonyms [][]string
	// Lexicon, when set, matches words that differ in form but not in
	// meaning ("goal"/"purpose", "bacteria"/"bacterium") and tells
	// siblings ("Egypt"/"Syria") and opposites apart.
	Lexicon Lexicon
	// WordVectors, when set, measures how related the unmatched words are
	// (an input of the score, never a match).
	WordVectors WordVectors
	// Encoder, when set, runs the deletion test: in a request whose texts
	// differ in a few words, both texts are embedded without those words;
	// when they are then nearly the same (DifferenceMin), the differing
	// words carry what distinguishes the questions and the pair is
	// rejected. Use the similarity tier's embedder.
	Encoder Encoder
	// DifferenceMin is the similarity of the texts without their
	// differences from which the deletion test rejects (0 selects
	// DefaultDifferenceMin).
	DifferenceMin float32
	// Model scores the pairs no rule rejects; nil selects the shipped
	// model for the lexical embedder.
	Model *Model
	// MinScore, when positive, is the lowest calibrated score accepted, for
	// requests and descriptions alike; otherwise the model's cut-offs for
	// MaxFalseHitRate apply.
	MinScore float32
	// MaxFalseHitRate picks the model's cut-offs (0: the model's Target).
	MaxFalseHitRate float32
}

// Encoder embeds texts; the deletion test uses it.
type Encoder interface {
	Embed(ctx context.Context, texts []string) ([][]float32, error)
}

// Verifier checks candidate hits. Create one with New.
type Verifier struct {
	disabled  map[Reason]bool
	symVersus bool

	common, negations, polite, ambiguous, identifiers, preferVerbs, clause, noStem, qualifiers map[string]bool
	wordVecs                                                                                   WordVectors
	lexicon                                                                                    Lexicon
	encoder                                                                                    Encoder
	diffMin                                                                                    float32
	model                                                                                      *Model
	cutoff                                                                                     Cutoff
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
	if opts.DifferenceMin < 0 || opts.DifferenceMin > 1 {
		errs = append(errs, fmt.Errorf("verify: DifferenceMin %v is outside [0, 1]", opts.DifferenceMin))
	}
	if opts.MinScore < 0 || opts.MinScore > 1 {
		errs = append(errs, fmt.Errorf("verify: MinScore %v is outside [0, 1]", opts.MinScore))
	}
	if opts.MaxFalseHitRate < 0 || opts.MaxFalseHitRate > 1 {
		errs = append(errs, fmt.Errorf("verify: MaxFalseHitRate %v is outside [0, 1]", opts.MaxFalseHitRate))
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
		disabled:  disabled,
		symVersus: opts.SymmetricVersus,
		wordVecs:  opts.WordVectors,
		lexicon:   opts.Lexicon,
		encoder:   opts.Encoder,
		diffMin:   opts.DifferenceMin,
		model:     opts.Model,
	}
	if v.diffMin == 0 {
		v.diffMin = DefaultDifferenceMin
	}
	if v.model == nil {
		v.model = LexicalModel
	}
	switch {
	case opts.MinScore > 0:
		v.cutoff = Cutoff{Request: opts.MinScore, Description: opts.MinScore}
	case opts.MaxFalseHitRate > 0:
		v.cutoff = v.model.CutoffFor(opts.MaxFalseHitRate)
	default:
		v.cutoff = v.model.CutoffFor(v.model.Target)
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
	v.qualifiers = map[string]bool{}
	for w := range wordSet(qualifierWords) {
		v.qualifiers[w] = true
		v.qualifiers[stem(w)] = true
	}
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
// sim is their embedding similarity. It is CheckContext without a
// deadline.
func (v *Verifier) Check(query, candidate string, sim float32) Verdict {
	return v.CheckContext(context.Background(), query, candidate, sim)
}

// CheckContext decides whether the cached question candidate may answer
// query; sim is their embedding similarity. The context bounds the
// deletion test's embedding; when it fails, the test is skipped.
func (v *Verifier) CheckContext(ctx context.Context, query, candidate string, sim float32) Verdict {
	return v.CheckAll(ctx, query, []Candidate{{Text: candidate, Similarity: sim}})[0]
}

// Cutoff returns the score cut-offs the verifier applies (per candidate,
// Candidate.MinScore replaces them).
func (v *Verifier) Cutoff() Cutoff { return v.cutoff }

// Candidate is one cached prompt to check against a query.
type Candidate struct {
	Text       string
	Similarity float32
	// RulesOnly checks the rules alone (the deletion test included),
	// whatever the score: the verdict is OK unless a rule rejects.
	RulesOnly bool
	// MinScore, when positive, replaces the verifier's cut-off for this
	// candidate (an error-budget learner decides above it).
	MinScore float32
}

// CheckAll checks several candidates against one query. The verdicts are
// in the order of cands.
//
// The deletion test costs two embeddings per candidate, so it runs only
// where it can change the outcome: for descriptions, whose score uses its
// result, in one batch; for requests, where it can only reject, on the
// candidates whose score reaches the cut-off, best first, until one passes.
// The requests below that one are not tested: they are rejected as
// outranked (the cache serves one candidate).
func (v *Verifier) CheckAll(ctx context.Context, query string, cands []Candidate) []Verdict {
	out := make([]Verdict, len(cands))
	feats := make([]Features, len(cands))
	residual := make([]float32, len(cands))
	testable := func(f *Features) bool {
		return f.Veto == "" && f.Differs() && f.OnlyA+f.OnlyB <= MaxDeletionWords && v.encoder != nil
	}
	var descs []int
	v.featuresAll(query, cands, feats)
	for i, c := range cands {
		f := &feats[i]
		if f.Veto != "" && v.disabled[f.Veto] {
			f.Veto, f.Detail = "", ""
		}
		residual[i] = c.Similarity
		if testable(f) && !f.Request {
			descs = append(descs, i)
		}
	}
	v.deletionTest(ctx, feats, descs, residual)

	var pending []int // requests that reach the cut-off and await the test
	for i, c := range cands {
		f := &feats[i]
		if f.Veto != "" {
			out[i] = Verdict{Reason: f.Veto, Detail: f.Detail}
			continue
		}
		score := v.model.Score(f, c.Similarity, residual[i])
		if c.RulesOnly {
			out[i] = Verdict{OK: true, Score: score, Request: f.Request}
			if f.Request && testable(f) && !v.disabled[ReasonDifference] && v.deletionTest(ctx, feats, []int{i}, residual) && residual[i] >= v.diffMin {
				out[i] = Verdict{Reason: ReasonDifference, Request: true, Detail: fmt.Sprintf("difference: the texts are %.2f alike without %s", residual[i], f.describeOnly())}
			}
			continue
		}
		cut := v.cutoff.For(f.Request)
		if c.MinScore > 0 {
			cut = c.MinScore
		}
		if score < cut && !v.disabled[ReasonScore] {
			out[i] = Verdict{Reason: ReasonScore, Score: score, Request: f.Request, Detail: fmt.Sprintf("score: %.3f below %.3f (%s)", score, cut, f.describeOnly())}
			continue
		}
		out[i] = Verdict{OK: true, Score: score, Request: f.Request}
		if f.Request && testable(f) && !v.disabled[ReasonDifference] {
			pending = append(pending, i)
		}
	}
	slices.SortStableFunc(pending, func(x, y int) int { return cmp.Compare(out[y].Score, out[x].Score) })
	passed := false
	for _, i := range pending {
		if passed {
			out[i] = Verdict{Reason: ReasonOutranked, Score: out[i].Score, Request: true, Detail: "outranked: a better candidate passed"}
			continue
		}
		if !v.deletionTest(ctx, feats, []int{i}, residual) {
			passed = true // the test could not run: the score stands
			continue
		}
		if residual[i] >= v.diffMin {
			out[i] = Verdict{Reason: ReasonDifference, Request: true, Detail: fmt.Sprintf("difference: the texts are %.2f alike without %s", residual[i], feats[i].describeOnly())}
			continue
		}
		passed = true
	}
	return out
}

// deletionTest embeds the texts of the candidates idx without their
// differences and stores their similarity in residual. It reports whether
// it ran (false when the encoder failed: the residuals stay the
// similarities).
func (v *Verifier) deletionTest(ctx context.Context, feats []Features, idx []int, residual []float32) bool {
	if len(idx) == 0 {
		return true
	}
	texts := make([]string, 0, 2*len(idx))
	for _, i := range idx {
		texts = append(texts, feats[i].FrameA, feats[i].FrameB)
	}
	vecs, err := v.encoder.Embed(ctx, texts)
	if err != nil || len(vecs) != len(texts) {
		return false
	}
	for k, i := range idx {
		residual[i] = cosine(vecs[2*k], vecs[2*k+1])
	}
	return true
}

// describeOnly lists the unmatched words of both sides.
func (f *Features) describeOnly() string {
	return "query only [" + strings.Join(f.OnlyWordsA, " ") + "], candidate only [" + strings.Join(f.OnlyWordsB, " ") + "]"
}

func cosine(a, b []float32) float32 {
	if len(a) != len(b) {
		return 0
	}
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// featuresAll sets out[i] to Features(query, cands[i].Text), analysing the
// query once for all candidates: a pair's own state (matched, only) is
// reset by match, and the rest of an analysis is only read.
func (v *Verifier) featuresAll(query string, cands []Candidate, out []Features) {
	qa := v.pool.Get().(*analysis)
	ca := v.pool.Get().(*analysis)
	defer v.pool.Put(qa)
	defer v.pool.Put(ca)
	qa.analyze(v, query)
	for i, c := range cands {
		ca.analyze(v, c.Text)
		out[i] = v.features(qa, ca)
	}
}
