// Package lexical is a weight-free text embedder: it hashes word unigrams,
// word bigrams and character 3/4-grams of a normalised text into a fixed
// number of signed buckets (the "hashing trick") and L2-normalises the
// result. It needs no model file, no network and no cgo, runs in
// microseconds, and is semcache's zero-dependency default embedder.
//
// It captures lexical overlap, not meaning: reworded prompts that share
// words score high, synonyms do not. Pair it with the semantic tier's
// verifier, or use embed/openai for a neural model.
//
// The vectors are fully determined by the tokenisation and hashing rules in
// this package and by Dimension; ModelID ("lexical-v1-512") names both, and
// Version must change whenever a rule or weight changes.
//
// Work and memory per text are bounded: a text longer than
// Options.Clip.MaxRunes() runes (4,099 by default) is embedded from its
// head and tail (embed.Clip), so a multi-megabyte prompt costs what a
// 4 Ki-rune one does. Vectors of texts within the bound are unaffected;
// Version was not bumped for the bound, since stored vectors of texts
// within it stay comparable, and those beyond it were of prompts the
// proxy cannot afford to embed whole.
package lexical

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"

	"golang.org/x/text/unicode/norm"

	"github.com/semcache/semcache/embed"
)

// Version names the tokenisation, hashing and weighting rules. It is part of
// ModelID, so bump it whenever vectors would change for the same input.
const Version = "v1"

// DefaultDimension is used when Options.Dimension is 0. 512 separates
// paraphrases as well as 1024 on bench/testdata/pairs.jsonl (precision
// 0.980 / recall 0.546 vs 0.554 at threshold 0.60 with the verifier) at
// half the memory and half the vector-scan time.
const DefaultDimension = 512

const (
	minDimension = 64
	maxDimension = 1 << 16
)

// params are the feature weights. They are fixed per Version; they live in
// a struct rather than constants so the tuning harness can vary them.
type params struct {
	unigram  float32 // weight of one word occurrence
	bigram   float32 // weight of one adjacent-word pair
	charGram float32 // weight of one character 3- or 4-gram
	// stopWord multiplies every feature of a stop-word; a bigram touching
	// one gets the geometric mean of its two token weights.
	stopWord float32
	// number multiplies every feature of a token containing a digit:
	// numbers are specific ("3 commits" is not "1 commit").
	number float32
	// negation multiplies every feature of a negation word ("not", "no",
	// "never", "without", …), which flips a prompt's meaning.
	negation float32
	// sublinearTF damps a feature seen c times to mean weight × (1 + ln c).
	sublinearTF bool
}

// defaultParams were tuned (coarse grid, rounded towards moderate values)
// on the paraphrase / non-paraphrase pairs in bench/testdata/pairs.jsonl.
// That set is adversarial for any lexical method—its negatives are
// one-word edits, its positives rewordings—so cosine ROC AUC only rose from
// 0.25 (bigram 0.7, char 0.3, stop 0.25, number/negation 1) to 0.41: use
// this embedder to find candidates, and the verifier to decide.
var defaultParams = params{
	unigram:     1.0,
	bigram:      0.2,
	charGram:    0.5,
	stopWord:    0.1,
	number:      2.5,
	negation:    2.5,
	sublinearTF: true,
}

// minCharGramWord is the shortest word (in runes) that gets char n-grams;
// shorter words are fully described by their unigram.
const minCharGramWord = 3

// Options configures an Embedder.
type Options struct {
	// Dimension is the vector length; 0 means DefaultDimension. It must be
	// between 64 and 65536.
	Dimension int
	// Clip bounds how much of a long text is embedded (see embed.Clip);
	// the zero value means embed's defaults.
	Clip embed.ClipOptions
}

func (o Options) withDefaults() Options {
	if o.Dimension == 0 {
		o.Dimension = DefaultDimension
	}
	return o
}

func (o Options) validate() error {
	var errs []error
	if o.Dimension < minDimension || o.Dimension > maxDimension {
		errs = append(errs, fmt.Errorf("lexical: Dimension %d out of range [%d, %d]", o.Dimension, minDimension, maxDimension))
	}
	if err := o.Clip.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("lexical: %w", err))
	}
	return errors.Join(errs...)
}

// Embedder is a feature-hashing embedder. It is safe for concurrent use.
type Embedder struct {
	p       params
	dim     int
	modelID string
	clip    embed.ClipOptions
	pool    sync.Pool // *scratch
}

var _ embed.Embedder = (*Embedder)(nil)

// New returns an Embedder for opts.
func New(opts Options) (*Embedder, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	e := &Embedder{
		p:       defaultParams,
		dim:     opts.Dimension,
		modelID: fmt.Sprintf("lexical-%s-%d", Version, opts.Dimension),
		clip:    opts.Clip,
	}
	e.pool.New = func() any { return new(scratch) }
	return e, nil
}

// Dimension implements embed.Embedder.
func (e *Embedder) Dimension() int { return e.dim }

// ModelID implements embed.Embedder; it is "lexical-<Version>-<Dimension>".
func (e *Embedder) ModelID() string { return e.modelID }

// Embed implements embed.Embedder. Texts with no word characters (empty,
// whitespace or punctuation only) all map to the first basis vector
// [1, 0, 0, …]. Long texts are clipped (Options.Clip). It fails only when
// ctx ends, which it checks between texts and every few thousand bytes,
// tokens and features within one: the error wraps embed.ErrEmbed and the
// context's cause.
func (e *Embedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	s := e.pool.Get().(*scratch)
	defer func() {
		s.release()
		e.pool.Put(s)
	}()
	for i, t := range texts {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("lexical: %w: %w", embed.ErrEmbed, context.Cause(ctx))
		}
		t, _ = embed.Clip(t, e.clip)
		out[i] = make([]float32, e.dim)
		if !s.embed(ctx, &e.p, t, out[i]) {
			return nil, fmt.Errorf("lexical: %w: %w", embed.ErrEmbed, context.Cause(ctx))
		}
	}
	return out, nil
}

// checkEvery is how many bytes, tokens or features pass between checks of
// the context within one text.
const checkEvery = 4096

// scratch holds the reusable buffers of one Embed call.
type scratch struct {
	norm    []byte    // NFKC form of the text
	cur     []byte    // word being built by the tokenizer
	words   []byte    // surface and stem forms of all tokens
	toks    []token   // tokens of the text
	feats   []feature // hashed features before tf damping
	table   []slot    // merges repeated features, see scatterDamped
	seen    []uint64  // bitset of touched buckets
	touched []int32   // touched buckets, each once
	runes   []int32   // rune offsets of one word, for char n-grams
}

// maxPooledBytes bounds what a scratch keeps between calls so one huge
// document does not pin megabytes in the pool.
const maxPooledBytes = 1 << 20

func (s *scratch) release() {
	if cap(s.norm) > maxPooledBytes || cap(s.words) > maxPooledBytes || cap(s.feats)*16 > maxPooledBytes || cap(s.table)*16 > maxPooledBytes || cap(s.touched)*4 > maxPooledBytes {
		*s = scratch{}
	}
}

// embed writes the unit vector for text into v (len(v) = dimension,
// zeroed). It reports false, leaving v unspecified, when ctx ended.
//
// The work happens on a stack copy of s: the many slice-header updates then
// need no GC write barriers, which otherwise cost ~10% while the GC runs.
func (s *scratch) embed(ctx context.Context, p *params, text string, v []float32) bool {
	w := *s
	defer func() { *s = w }()
	w.norm = appendNormalized(w.norm[:0], text)
	tz := tokenizer{p: p, cur: w.cur[:0], words: w.words[:0], toks: w.toks[:0]}
	ok := tz.run(ctx, w.norm)
	w.cur, w.words, w.toks = tz.cur, tz.words, tz.toks
	if !ok {
		return false
	}
	w.feats = w.feats[:0]
	if !w.features(ctx, p) {
		return false
	}
	if !w.scatter(v, p.sublinearTF) {
		clear(v)
		v[0] = 1
	}
	return true
}

// appendNormalized appends the NFKC form of text to dst. ASCII is already
// NFKC, which is the common case and skips the normaliser.
func appendNormalized(dst []byte, text string) []byte {
	for i := 0; i < len(text); i++ {
		if text[i] >= 0x80 {
			return norm.NFKC.AppendString(dst, text)
		}
	}
	return append(dst, text...)
}

// scatter hashes the features into v and L2-normalises v. It reports
// false when there was nothing to embed.
func (s *scratch) scatter(v []float32, sublinearTF bool) bool {
	if len(s.feats) == 0 {
		return false
	}
	words := (len(v) + 63) / 64
	if cap(s.seen) < words {
		s.seen = make([]uint64, words)
	}
	s.seen = s.seen[:words]
	clear(s.seen)
	s.touched = s.touched[:0]
	if sublinearTF {
		s.scatterDamped(v)
	} else {
		for _, f := range s.feats {
			s.add(v, f.hash, f.weight)
		}
	}
	var sum float64
	for _, i := range s.touched {
		x := float64(v[i])
		sum += x * x
	}
	if sum == 0 || math.IsInf(sum, 0) || math.IsNaN(sum) {
		return false
	}
	inv := float32(1 / math.Sqrt(sum))
	for _, i := range s.touched {
		v[i] *= inv
	}
	return true
}
