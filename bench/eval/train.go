package eval

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/semcache/semcache/cache/verify"
)

// Example is one labelled pair as the verifier sees it: the query is the B
// side, the cached candidate the A side.
type Example struct {
	Pair     Pair
	Features verify.Features
	// Sim is the embedding similarity of the two texts; Residual the
	// similarity of the texts without their differences (Sim when they
	// differ in nothing but form).
	Sim, Residual float32
	// Vetoed names the rule that rejects the pair before any score ("" when
	// none): a veto of the verifier, or the deletion test.
	Vetoed verify.Reason
}

// ExampleOptions configure Examples.
type ExampleOptions struct {
	// Verifier computes the features (its lexicon and word vectors are
	// used; its model is not).
	Verifier *verify.Verifier
	// Embedder embeds the texts and the deletion test's texts.
	Embedder Embedder
	// DifferenceMin is the deletion test's cut (0: the verifier default).
	DifferenceMin float32
}

// Examples computes the verifier's evidence for every pair, embedding in
// batches.
func Examples(ctx context.Context, pairs []Pair, opts ExampleOptions) ([]Example, error) {
	if opts.Verifier == nil || opts.Embedder == nil {
		return nil, errors.New("eval: examples need a verifier and an embedder")
	}
	diffMin := opts.DifferenceMin
	if diffMin == 0 {
		diffMin = verify.DefaultDifferenceMin
	}
	ex := make([]Example, len(pairs))
	texts := make([]string, 0, 4*len(pairs))
	for i, p := range pairs {
		f := opts.Verifier.Features(p.B, p.A)
		ex[i] = Example{Pair: p, Features: f, Vetoed: f.Veto}
		texts = append(texts, p.A, p.B, f.FrameA, f.FrameB)
	}
	vecs, err := embedTexts(ctx, opts.Embedder, texts)
	if err != nil {
		return nil, err
	}
	for i := range ex {
		e := &ex[i]
		e.Sim = dot32(vecs[4*i], vecs[4*i+1])
		e.Residual = e.Sim
		if e.Features.Differs() && e.Features.OnlyA+e.Features.OnlyB <= verify.MaxDeletionWords {
			e.Residual = dot32(vecs[4*i+2], vecs[4*i+3])
		}
		if e.Vetoed == "" && e.Features.Request && e.Features.Differs() && e.Residual >= diffMin {
			e.Vetoed = verify.ReasonDifference
		}
	}
	return ex, nil
}

// embedTexts embeds texts in chunks, skipping empty ones (their vector is
// nil).
func embedTexts(ctx context.Context, emb Embedder, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	const chunk = 256
	var batch []string
	var owners []int
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		vecs, err := emb.Embed(ctx, batch)
		if err != nil {
			return fmt.Errorf("eval: embed: %w", err)
		}
		if len(vecs) != len(batch) {
			return fmt.Errorf("eval: embedder returned %d vectors for %d texts", len(vecs), len(batch))
		}
		for k, i := range owners {
			out[i] = vecs[k]
		}
		batch, owners = batch[:0], owners[:0]
		return nil
	}
	for i, t := range texts {
		if t == "" {
			continue
		}
		batch = append(batch, t)
		owners = append(owners, i)
		if len(batch) == chunk {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

func dot32(a, b []float32) float32 {
	if len(a) != len(b) {
		return 0
	}
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// Signs constrain the direction of each feature's weight: +1 may only
// raise the score, -1 only lower it, 0 is free. They keep the model from
// learning artefacts of adversarially built data ("near-identical texts are
// different questions") that would be wrong on real traffic.
var Signs = map[string]int{
	"sim": +1, "residual": +1, "overlap": +1, "only_frac": -1, "only_rare": -1, "only_strong": -1,
	"strong_swap": -1, "siblings": -1, "opposites": -1, "qualifier": -1, "negation_differs": -1,
	"number_one_sided": -1, "wh_differs": -1, "adjacency": +1, "order": -1, "displaced": -1,
	"request_only_frac": -1,
}

// FitOptions configure Fit.
type FitOptions struct {
	// L2 is the ridge penalty on the standardised weights (0: 1e-3).
	L2 float64
	// Iterations of full-batch gradient descent (0: 2000).
	Iterations int
	// Signs constrain weights by feature name (nil: Signs).
	Signs map[string]int
}

// Fit trains a logistic model on the examples no rule vetoes: full-batch
// gradient descent on standardised features with a ridge penalty, weights
// projected onto their allowed sign after every step. The result is in
// raw feature units.
func Fit(ex []Example, opts FitOptions) (verify.Logistic, error) {
	if opts.L2 == 0 {
		opts.L2 = 1e-3
	}
	if opts.Iterations == 0 {
		opts.Iterations = 2000
	}
	if opts.Signs == nil {
		opts.Signs = Signs
	}
	var xs [][verify.NumFeatures]float64
	var ys []float64
	pos := 0
	for _, e := range ex {
		if e.Vetoed != "" {
			continue
		}
		v := e.Features.Vector(e.Sim, e.Residual)
		var x [verify.NumFeatures]float64
		for j := range v {
			x[j] = float64(v[j])
		}
		xs = append(xs, x)
		y := 0.0
		if e.Pair.Label == 1 {
			y, pos = 1, pos+1
		}
		ys = append(ys, y)
	}
	if pos == 0 || pos == len(xs) {
		return verify.Logistic{}, fmt.Errorf("eval: fit: %d examples, %d positive: need both labels", len(xs), pos)
	}
	n := float64(len(xs))
	var mu, sd [verify.NumFeatures]float64
	for _, x := range xs {
		for j := range x {
			mu[j] += x[j] / n
		}
	}
	for _, x := range xs {
		for j := range x {
			sd[j] += (x[j] - mu[j]) * (x[j] - mu[j]) / n
		}
	}
	for j := range sd {
		sd[j] = math.Sqrt(sd[j])
		if sd[j] < 1e-6 {
			sd[j] = 0 // constant over the examples: carries nothing
		}
	}
	names := verify.FeatureNames()
	var w [verify.NumFeatures]float64
	var b float64
	const rate = 0.5
	for range opts.Iterations {
		var g [verify.NumFeatures]float64
		var gb float64
		for i, x := range xs {
			z := b
			for j := range x {
				if sd[j] > 0 {
					z += w[j] * (x[j] - mu[j]) / sd[j]
				}
			}
			e := 1/(1+math.Exp(-z)) - ys[i]
			for j := range x {
				if sd[j] > 0 {
					g[j] += e * (x[j] - mu[j]) / sd[j]
				}
			}
			gb += e
		}
		for j := range w {
			w[j] -= rate * (g[j]/n + opts.L2*w[j])
			switch opts.Signs[names[j]] {
			case +1:
				w[j] = max(w[j], 0)
			case -1:
				w[j] = min(w[j], 0)
			}
		}
		b -= rate * gb / n
	}
	var out verify.Logistic
	bias := b
	for j := range w {
		if sd[j] > 0 {
			out.Weights[j] = float32(w[j] / sd[j])
			bias -= w[j] * mu[j] / sd[j]
		}
	}
	out.Bias = float32(bias)
	return out, nil
}

// FitModel trains and calibrates the request and description halves of a
// model.
func FitModel(name string, ex []Example, opts FitOptions) (*verify.Model, error) {
	var req, desc []Example
	for _, e := range ex {
		if e.Features.Request {
			req = append(req, e)
		} else {
			desc = append(desc, e)
		}
	}
	m := &verify.Model{Name: name}
	var err error
	if m.Request, err = Fit(req, opts); err != nil {
		return nil, fmt.Errorf("eval: request model: %w", err)
	}
	m.Request.Calibration = Calibrate(&m.Request, req)
	if m.Description, err = Fit(desc, opts); err != nil {
		return nil, fmt.Errorf("eval: description model: %w", err)
	}
	m.Description.Calibration = Calibrate(&m.Description, desc)
	return m, nil
}

// calibrationPoints bounds the points of a calibration curve.
const calibrationPoints = 40

// Calibrate computes l's calibration over the examples: for raw outputs
// at the quantiles of the look-alikes' (label 0) outputs, the share of
// look-alikes scoring at least that much. Vetoed look-alikes count as
// scoring 0 (no cut-off lets them through).
func Calibrate(l *verify.Logistic, ex []Example) []verify.CalibrationPoint {
	var neg []float32
	for _, e := range ex {
		if e.Pair.Label != 0 {
			continue
		}
		raw := float32(0)
		if e.Vetoed == "" {
			raw = l.Raw(e.Features.Vector(e.Sim, e.Residual))
		}
		neg = append(neg, raw)
	}
	if len(neg) == 0 {
		return nil
	}
	slices.Sort(neg)
	n := float32(len(neg))
	rateAt := func(r float32) float32 {
		i, _ := slices.BinarySearch(neg, r)
		return float32(len(neg)-i) / n
	}
	var pts []verify.CalibrationPoint
	add := func(r float32) {
		if len(pts) > 0 && r <= pts[len(pts)-1].Raw {
			return
		}
		pts = append(pts, verify.CalibrationPoint{Raw: r, FalseRate: rateAt(r)})
	}
	add(0)
	// Dense at the top, where cut-offs live.
	for k := 1; k < calibrationPoints; k++ {
		q := 1 - math.Pow(0.5, float64(k)/4)
		add(neg[min(len(neg)-1, int(q*float64(len(neg))))])
	}
	add(neg[len(neg)-1])
	add(1)
	return pts
}

// CutoffPoint is the replay's outcome at one score cut-off of one kind of
// hit.
type CutoffPoint struct {
	Kind     string
	MinScore float32
	// FalseHitRate is the worst over the families of the false hits this
	// kind of hit causes; Families has each.
	FalseHitRate float64
	// Recall is the share of all paraphrases served right by this kind.
	Recall   float64
	Families map[string]CutoffFamily
}

// CutoffFamily is one family's rates at a cut-off.
type CutoffFamily struct {
	FalseHitRate, Recall float64
	Negatives, Positives int
}

// SweepCutoffs reads a replay run with every unvetoed candidate accepted
// (a cut-off near 0: the cache serves the best-scored one) and derives,
// for the semantic hits the judge scored as kind, what each cut-off would
// have done: such a hit stays a hit when its score is at or above the
// cut-off. Write-backs of the misses a higher cut-off adds are not
// replayed, so the figures are estimates for choosing cut-offs; report
// figures come from a replay at the chosen cut-offs.
func SweepCutoffs(records []QueryRecord, kind string, cutoffs []float32) []CutoffPoint {
	out := make([]CutoffPoint, 0, len(cutoffs))
	for _, c := range cutoffs {
		p := CutoffPoint{Kind: kind, MinScore: c, Families: map[string]CutoffFamily{}}
		type tally struct{ neg, fh, pos, tp int }
		by := map[string]*tally{}
		all := &tally{}
		for _, r := range records {
			t := by[r.Family]
			if t == nil {
				t = &tally{}
				by[r.Family] = t
			}
			hit := r.Outcome.Tier == TierSemantic && r.Outcome.ScoreKind == kind && r.Outcome.Score >= c
			for _, x := range []*tally{t, all} {
				if r.Label == 0 {
					x.neg++
					if hit && !r.Correct() {
						x.fh++
					}
				} else {
					x.pos++
					if hit && r.Correct() {
						x.tp++
					}
				}
			}
		}
		for fam, t := range by {
			f := CutoffFamily{Negatives: t.neg, Positives: t.pos}
			if t.neg > 0 {
				f.FalseHitRate = float64(t.fh) / float64(t.neg)
			}
			if t.pos > 0 {
				f.Recall = float64(t.tp) / float64(t.pos)
			}
			p.Families[fam] = f
			p.FalseHitRate = max(p.FalseHitRate, f.FalseHitRate)
		}
		if all.pos > 0 {
			p.Recall = float64(all.tp) / float64(all.pos)
		}
		out = append(out, p)
	}
	return out
}

// ChooseCutoff returns the lowest cut-off of the sweep whose worst family
// stays within target (1 when none does).
func ChooseCutoff(points []CutoffPoint, target float64) float32 {
	best := float32(1)
	for _, p := range points {
		if p.FalseHitRate <= target && p.MinScore < best {
			best = p.MinScore
		}
	}
	return best
}

// MineOptions configure MineNegatives.
type MineOptions struct {
	// Embedder embeds the queries and the pool.
	Embedder Embedder
	// Classes tell which pool texts are the query's own class.
	Classes ClassMap
	// Pool is what a cache holds besides the pairs' originals
	// (distractors).
	Pool []Side
	// PerQuery is how many mined negatives each query gets (the cache
	// judges its top candidates); Floor the lowest similarity kept.
	PerQuery int
	Floor    float32
}

// MineNegatives returns, for the B side of every pair, its most similar
// texts among the pairs' A sides and the pool that are not of its class,
// as label-0 pairs of type "mined". Hard negatives written by hand are
// look-alikes; a cache mostly judges candidates that are merely close (a
// question about the same product, another question of the same form),
// and a model that never saw those cannot tell them from a reworded
// paraphrase.
func MineNegatives(ctx context.Context, pairs []Pair, opts MineOptions) ([]Pair, error) {
	if opts.Embedder == nil || opts.Classes == nil || opts.PerQuery <= 0 {
		return nil, errors.New("eval: mining needs an embedder, classes and a positive PerQuery")
	}
	var cands []Side
	seen := map[string]bool{}
	for _, p := range pairs {
		if s := p.SideA(); !seen[s.Key()] {
			seen[s.Key()] = true
			cands = append(cands, s)
		}
	}
	for _, s := range opts.Pool {
		if !seen[s.Key()] {
			seen[s.Key()] = true
			cands = append(cands, s)
		}
	}
	texts := make([]string, 0, len(cands)+len(pairs))
	for _, c := range cands {
		texts = append(texts, c.Text)
	}
	for _, p := range pairs {
		texts = append(texts, p.B)
	}
	vecs, err := embedTexts(ctx, opts.Embedder, texts)
	if err != nil {
		return nil, err
	}
	cv, qv := vecs[:len(cands)], vecs[len(cands):]
	var out []Pair
	type scored struct {
		i int
		s float32
	}
	for qi, p := range pairs {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("eval: %w", err)
		}
		class := opts.Classes.Of(p.SideB().Key())
		var top []scored
		for ci, c := range cands {
			s := dot32(qv[qi], cv[ci])
			if s < opts.Floor || opts.Classes.Of(c.Key()) == class || Normalize(c.Text) == Normalize(p.B) {
				continue
			}
			top = append(top, scored{ci, s})
		}
		slices.SortFunc(top, func(x, y scored) int {
			switch {
			case x.s > y.s:
				return -1
			case x.s < y.s:
				return 1
			}
			return x.i - y.i
		})
		for _, t := range top[:min(len(top), opts.PerQuery)] {
			c := cands[t.i]
			out = append(out, Pair{A: c.Text, AContext: c.Context, B: p.B, BContext: p.BContext, Label: 0,
				Source: p.Source, Kind: p.Kind, Type: "mined"})
		}
	}
	return out, nil
}
