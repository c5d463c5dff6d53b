package eval

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/semcache/semcache/cache/verify"
)

// Embedder turns texts into vectors, one per text, in order.
type Embedder interface {
	Embed(ctx context.Context, texts []string) ([][]float32, error)
}

// Checker is a semantic-hit verifier: it decides whether the cached
// question candidate may answer query at similarity score.
// *verify.Verifier is one.
type Checker interface {
	Check(query, candidate string, score float32) verify.Verdict
}

// Metrics are the confusion counts of one configuration at one threshold
// and the rates derived from them. A "hit" is a pair predicted duplicate.
type Metrics struct {
	TP int `json:"tp"` // duplicates served as hits
	FP int `json:"fp"` // non-duplicates served as hits: false hits
	TN int `json:"tn"` // non-duplicates missed, as they should be
	FN int `json:"fn"` // duplicates missed
	// Precision is TP/(TP+FP), 1 when there are no hits at all (no hit is
	// a false hit).
	Precision float64 `json:"precision"`
	// Recall is TP/(TP+FN), 0 when there are no duplicates.
	Recall float64 `json:"recall"`
	F1     float64 `json:"f1"`
	// FalseHitRate is FP over all non-duplicates.
	FalseHitRate float64 `json:"false_hit_rate"`
}

func (m *Metrics) derive() {
	m.Precision = 1
	if m.TP+m.FP > 0 {
		m.Precision = float64(m.TP) / float64(m.TP+m.FP)
	}
	if m.TP+m.FN > 0 {
		m.Recall = float64(m.TP) / float64(m.TP+m.FN)
	}
	if m.Precision+m.Recall > 0 {
		m.F1 = 2 * m.Precision * m.Recall / (m.Precision + m.Recall)
	}
	if m.FP+m.TN > 0 {
		m.FalseHitRate = float64(m.FP) / float64(m.FP+m.TN)
	}
}

// Threshold is the outcome at one similarity threshold.
type Threshold struct {
	Threshold float32 `json:"threshold"`
	// Plain counts hits by score alone; Verified also requires the
	// verifier's OK (equal to Plain when there is no verifier).
	Plain    Metrics `json:"without_verifier"`
	Verified Metrics `json:"with_verifier"`
	// FalseHitsByKind counts false hits per pair kind.
	PlainFalseHitsByKind    map[string]int `json:"false_hits_by_kind_without_verifier"`
	VerifiedFalseHitsByKind map[string]int `json:"false_hits_by_kind_with_verifier"`
	// Rejections count, among the pairs at or above the threshold, the
	// verifier's rejections by reason: of non-duplicates (false hits
	// prevented) and of duplicates (hits lost).
	RejectedNonDuplicates map[verify.Reason]int `json:"rejected_non_duplicates"`
	RejectedDuplicates    map[verify.Reason]int `json:"rejected_duplicates"`
}

// Scored is one pair with its score and the verifier's verdict.
type Scored struct {
	Pair
	Score   float32        `json:"score"`
	Verdict verify.Verdict `json:"verdict"`
}

// Report is the outcome of an evaluation.
type Report struct {
	Pairs         int  `json:"pairs"`
	Duplicates    int  `json:"duplicates"`
	NonDuplicates int  `json:"non_duplicates"`
	Verifier      bool `json:"verifier"`
	// NonDuplicatesByKind counts the non-duplicate pairs of each kind.
	NonDuplicatesByKind map[string]int `json:"non_duplicates_by_kind"`
	// Thresholds are in ascending order.
	Thresholds []Threshold `json:"thresholds"`
	// Scored holds every pair with its score, in input order.
	Scored []Scored `json:"scored,omitempty"`
}

// embedBatch is the number of texts sent to the embedder per call.
const embedBatch = 64

// Evaluate scores pairs by the cosine of their two texts' embeddings
// (contexts are ignored), checks them with ver (nil means no verifier; B
// is the query, A the candidate, as in the cache) and tallies the outcome
// at each threshold: the threshold sweep of pairwise mode. Thresholds must be
// in [-1, 1]; they are sorted and deduplicated.
func Evaluate(ctx context.Context, pairs []Pair, emb Embedder, ver Checker, thresholds []float32) (Report, error) {
	var errs []error
	if len(pairs) == 0 {
		errs = append(errs, errors.New("eval: no pairs"))
	}
	if emb == nil {
		errs = append(errs, errors.New("eval: nil embedder"))
	}
	if len(thresholds) == 0 {
		errs = append(errs, errors.New("eval: no thresholds"))
	}
	for _, t := range thresholds {
		if !(t >= -1 && t <= 1) {
			errs = append(errs, fmt.Errorf("eval: threshold %v is outside [-1, 1]", t))
		}
	}
	if len(errs) > 0 {
		return Report{}, errors.Join(errs...)
	}
	ts := slices.Clone(thresholds)
	slices.Sort(ts)
	ts = slices.Compact(ts)

	vecs, err := embedAll(ctx, pairs, emb)
	if err != nil {
		return Report{}, err
	}
	rep := Report{Pairs: len(pairs), Verifier: ver != nil, NonDuplicatesByKind: map[string]int{}}
	rep.Scored = make([]Scored, len(pairs))
	for i, p := range pairs {
		if p.Duplicate() {
			rep.Duplicates++
		} else {
			rep.NonDuplicates++
			rep.NonDuplicatesByKind[p.Category()]++
		}
		s := Scored{Pair: p, Score: cosine(vecs[p.A], vecs[p.B]), Verdict: verify.Verdict{OK: true}}
		if ver != nil {
			// As in the cache: B is the query, A the stored candidate.
			s.Verdict = ver.Check(p.B, p.A, s.Score)
		}
		rep.Scored[i] = s
	}
	for _, t := range ts {
		rep.Thresholds = append(rep.Thresholds, tally(rep.Scored, t))
	}
	return rep, nil
}

// embedAll embeds every distinct text of pairs, in batches.
func embedAll(ctx context.Context, pairs []Pair, emb Embedder) (map[string][]float32, error) {
	var texts []string
	seen := map[string]bool{}
	for _, p := range pairs {
		for _, t := range [2]string{p.A, p.B} {
			if !seen[t] {
				seen[t] = true
				texts = append(texts, t)
			}
		}
	}
	vecs := make(map[string][]float32, len(texts))
	for start := 0; start < len(texts); start += embedBatch {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("eval: %w", err)
		}
		batch := texts[start:min(start+embedBatch, len(texts))]
		out, err := emb.Embed(ctx, batch)
		if err != nil {
			return nil, fmt.Errorf("eval: embedding texts %d-%d: %w", start, start+len(batch)-1, err)
		}
		if len(out) != len(batch) {
			return nil, fmt.Errorf("eval: embedder returned %d vectors for %d texts", len(out), len(batch))
		}
		for i, t := range batch {
			vecs[t] = out[i]
		}
	}
	for _, p := range pairs {
		if len(vecs[p.A]) != len(vecs[p.B]) {
			return nil, fmt.Errorf("eval: vectors of different lengths (%d, %d) for %q and %q", len(vecs[p.A]), len(vecs[p.B]), p.A, p.B)
		}
	}
	return vecs, nil
}

// cosine is the cosine similarity of x and y (0 when either is zero).
func cosine(x, y []float32) float32 {
	var dot, nx, ny float64
	for i := range x {
		dot += float64(x[i]) * float64(y[i])
		nx += float64(x[i]) * float64(x[i])
		ny += float64(y[i]) * float64(y[i])
	}
	if nx == 0 || ny == 0 {
		return 0
	}
	c := dot / math.Sqrt(nx*ny)
	return float32(max(-1, min(1, c)))
}

// tally computes the outcome of scored pairs at threshold t.
func tally(scored []Scored, t float32) Threshold {
	r := Threshold{
		Threshold:               t,
		PlainFalseHitsByKind:    map[string]int{},
		VerifiedFalseHitsByKind: map[string]int{},
		RejectedNonDuplicates:   map[verify.Reason]int{},
		RejectedDuplicates:      map[verify.Reason]int{},
	}
	for _, s := range scored {
		above := s.Score >= t
		hit := above && s.Verdict.OK
		dup := s.Duplicate()
		count(&r.Plain, dup, above)
		count(&r.Verified, dup, hit)
		if !dup && above {
			r.PlainFalseHitsByKind[s.Category()]++
		}
		if !dup && hit {
			r.VerifiedFalseHitsByKind[s.Category()]++
		}
		if above && !s.Verdict.OK {
			if dup {
				r.RejectedDuplicates[s.Verdict.Reason]++
			} else {
				r.RejectedNonDuplicates[s.Verdict.Reason]++
			}
		}
	}
	r.Plain.derive()
	r.Verified.derive()
	return r
}

func count(m *Metrics, duplicate, hit bool) {
	switch {
	case duplicate && hit:
		m.TP++
	case duplicate:
		m.FN++
	case hit:
		m.FP++
	default:
		m.TN++
	}
}

// Best returns the lowest threshold, so the highest recall, whose precision
// with the verifier is at least minPrecision. ok is false when no threshold
// reaches it.
func (r Report) Best(minPrecision float64) (t Threshold, ok bool) {
	for _, th := range r.Thresholds {
		if th.Verified.Precision >= minPrecision {
			return th, true
		}
	}
	return Threshold{}, false
}

// Mistakes returns the pairs the cache would get wrong at threshold t with
// the verifier: false hits and missed duplicates, in input order.
func (r Report) Mistakes(t float32) (falseHits, missed []Scored) {
	for _, s := range r.Scored {
		hit := s.Score >= t && s.Verdict.OK
		switch {
		case hit && !s.Duplicate():
			falseHits = append(falseHits, s)
		case !hit && s.Duplicate():
			missed = append(missed, s)
		}
	}
	return falseHits, missed
}
