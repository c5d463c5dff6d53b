package verify

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// NumFeatures is the length of a feature vector (see FeatureNames).
const NumFeatures = 20

// featureNames names the elements of Features.Vector, in order.
var featureNames = [NumFeatures]string{
	"sim", "residual", "overlap", "only_frac", "only_rare", "only_strong", "strong_swap",
	"siblings", "opposites", "general", "related", "qualifier", "negation_differs",
	"number_one_sided", "wh_differs", "adjacency", "order", "displaced", "request", "request_only_frac",
}

// FeatureNames names the elements of Features.Vector, in order.
func FeatureNames() []string { return featureNames[:] }

// Vector turns the evidence about a pair into the calibrated model's
// inputs: sim is the embedding similarity of the two texts, residual the
// similarity of the texts without their differences (the deletion test;
// sim when the test did not run).
func (f *Features) Vector(sim, residual float32) [NumFeatures]float32 {
	content := float32(f.ContentA + f.ContentB)
	overlap, onlyFrac := float32(1), float32(0)
	if content > 0 {
		overlap = float32(f.MatchedA+f.MatchedB) / content
		onlyFrac = float32(f.OnlyA+f.OnlyB) / content
	}
	req := b2f(f.Request)
	return [NumFeatures]float32{
		sim, residual, overlap, onlyFrac,
		float32(min(f.OnlyRare, 4)), float32(min(f.OnlyStrong, 3)), b2f(f.StrongSwap),
		float32(min(f.Siblings, 2)), float32(min(f.Opposites, 2)), float32(min(f.General, 3)),
		f.Related, float32(min(f.Qualifier, 2)), b2f(f.NegationDiffers),
		b2f(f.NumberOneSided), b2f(f.WhDiff), f.Adjacency, f.Order, float32(min(f.Displaced, 4)),
		req, req * onlyFrac,
	}
}

func b2f(b bool) float32 {
	if b {
		return 1
	}
	return 0
}

// Model is the calibrated score: two logistic models over
// Features.Vector, one for requests (questions, instructions, short
// queries) and one for descriptions, because a word only one side has
// changes a request's answer but often not a description's. The score is
// the probability that a candidate's answer serves the query. The shipped
// models are trained by `semcache-bench train` on the tune split of the
// labelled pair data and written to model_gen.go.
type Model struct {
	// Name says what the model was trained for ("use-lite-en-0.2.0").
	Name                 string
	Request, Description Logistic
	// MinSimilarity is the candidate search's floor: below it the tune
	// split held almost no paraphrases (see semcache-bench train).
	MinSimilarity float32
	// Target is the false-hit rate a verifier keeps by default.
	Target float32
	// Cutoffs are the score cut-offs that kept the cache-level false-hit
	// rate of the tune split within each of a few targets (see
	// CutoffFor).
	Cutoffs []Cutoff
}

// Logistic is 1/(1+exp(-(Bias + Σ Weights·x))), calibrated.
type Logistic struct {
	Bias    float32
	Weights [NumFeatures]float32
	// Calibration maps the logistic's output to the score: points of
	// (raw output, share of the tune split's look-alikes, vetoed ones
	// included, that scored at least that much), raw ascending. The score
	// is one minus that share, so the score of a request and of a
	// description mean the same thing: a cut-off of 0.98 lets through
	// about 2% of either's look-alikes, pairwise.
	Calibration []CalibrationPoint
}

// CalibrationPoint is one point of a calibration curve.
type CalibrationPoint struct {
	Raw, FalseRate float32
}

// Raw is the logistic's output for x.
func (l *Logistic) Raw(x [NumFeatures]float32) float32 {
	z := float64(l.Bias)
	for i, w := range l.Weights {
		z += float64(w) * float64(x[i])
	}
	return float32(1 / (1 + math.Exp(-z)))
}

// Prob is the calibrated score of x: one minus the look-alikes' false rate
// at its raw output, interpolated linearly between calibration points (the
// raw output itself without a calibration).
func (l *Logistic) Prob(x [NumFeatures]float32) float32 {
	return l.calibrate(l.Raw(x))
}

func (l *Logistic) calibrate(raw float32) float32 {
	c := l.Calibration
	switch {
	case len(c) == 0:
		return raw
	case raw <= c[0].Raw:
		return 1 - c[0].FalseRate
	case raw >= c[len(c)-1].Raw:
		return 1 - c[len(c)-1].FalseRate
	}
	i := sort.Search(len(c), func(i int) bool { return c[i].Raw >= raw })
	lo, hi := c[i-1], c[i]
	t := (raw - lo.Raw) / (hi.Raw - lo.Raw)
	return 1 - (lo.FalseRate + t*(hi.FalseRate-lo.FalseRate))
}

// Cutoff is the pair of score cut-offs, one per half of a model, that kept
// the false-hit rate of the tune split's cache-level replay within
// FalseHitRate.
type Cutoff struct {
	FalseHitRate         float32
	Request, Description float32
}

// For returns the cut-off of a request or a description.
func (c Cutoff) For(request bool) float32 {
	if request {
		return c.Request
	}
	return c.Description
}

// Score is the calibrated probability that the pair is the same question.
func (m *Model) Score(f *Features, sim, residual float32) float32 {
	x := f.Vector(sim, residual)
	if f.Request {
		return m.Request.Prob(x)
	}
	return m.Description.Prob(x)
}

// CutoffFor returns the cut-offs for a target false-hit rate: per half,
// the lowest cut-off whose measured rate is within the target, or the
// strictest one the model knows when none is (1 when it knows none).
func (m *Model) CutoffFor(rate float32) Cutoff {
	out := Cutoff{FalseHitRate: rate, Request: -1, Description: -1}
	strict := Cutoff{Request: 1, Description: 1}
	if len(m.Cutoffs) > 0 {
		strict = Cutoff{}
	}
	for _, c := range m.Cutoffs {
		strict.Request, strict.Description = max(strict.Request, c.Request), max(strict.Description, c.Description)
		if c.FalseHitRate > rate {
			continue
		}
		if out.Request < 0 || c.Request < out.Request {
			out.Request = c.Request
		}
		if out.Description < 0 || c.Description < out.Description {
			out.Description = c.Description
		}
	}
	if out.Request < 0 {
		out.Request = strict.Request
	}
	if out.Description < 0 {
		out.Description = strict.Description
	}
	return out
}

// Validate reports a model that cannot score.
func (m *Model) Validate() error {
	var errs []error
	for _, c := range m.Cutoffs {
		if c.Request < 0 || c.Request > 1 || c.Description < 0 || c.Description > 1 {
			errs = append(errs, fmt.Errorf("verify: model %q: cut-off %+v is outside [0, 1]", m.Name, c))
		}
	}
	for _, l := range []*Logistic{&m.Request, &m.Description} {
		for i, w := range l.Weights {
			if math.IsNaN(float64(w)) || math.IsInf(float64(w), 0) {
				errs = append(errs, fmt.Errorf("verify: model %q: weight %s is %v", m.Name, featureNames[i], w))
			}
		}
	}
	return errors.Join(errs...)
}

// ModelFor returns the shipped model for an embedder's model id: the
// USE-lite model for "use-lite…" ids, the lexical model otherwise.
func ModelFor(modelID string) *Model {
	if len(modelID) >= 8 && modelID[:8] == "use-lite" {
		return USEModel
	}
	return LexicalModel
}
