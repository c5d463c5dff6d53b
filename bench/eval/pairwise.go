package eval

import (
	"context"
	"errors"
	"fmt"
	"github.com/semcache/semcache/cache/verify"
	"math"
	"slices"
)

// Scorer scores how likely b may be answered with the answer to a: higher
// means more alike. Scores of one scorer must be comparable across pairs;
// they need not lie in [0, 1].
type Scorer interface {
	Score(ctx context.Context, a, b Side) (float64, error)
}

// Preparer is an optional capability of a Scorer: Prepare sees every side
// before scoring starts, so the scorer can batch its work (embed all texts
// in a few calls, for instance).
type Preparer interface {
	Prepare(ctx context.Context, sides []Side) error
}

// Column is one named score of the pairwise report.
type Column struct {
	Name   string
	Scorer Scorer
}

// Cosine scores a pair by the cosine of its two texts' embeddings
// (contexts are ignored: it is the similarity tier's first signal).
type Cosine struct {
	emb Embedder
	// vecs caches vectors by text; Prepare fills it in batches.
	vecs map[string][]float32
}

// NewCosine returns a cosine scorer over emb.
func NewCosine(emb Embedder) *Cosine {
	return &Cosine{emb: emb, vecs: map[string][]float32{}}
}

var (
	_ Scorer   = (*Cosine)(nil)
	_ Preparer = (*Cosine)(nil)
)

// Prepare embeds the texts of sides in batches.
func (c *Cosine) Prepare(ctx context.Context, sides []Side) error {
	var texts []string
	for _, s := range sides {
		if _, ok := c.vecs[s.Text]; !ok {
			c.vecs[s.Text] = nil
			texts = append(texts, s.Text)
		}
	}
	return c.embed(ctx, texts)
}

func (c *Cosine) embed(ctx context.Context, texts []string) error {
	for start := 0; start < len(texts); start += embedBatch {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("eval: %w", err)
		}
		batch := texts[start:min(start+embedBatch, len(texts))]
		out, err := c.emb.Embed(ctx, batch)
		if err != nil {
			return fmt.Errorf("eval: embedding %d texts: %w", len(batch), err)
		}
		if len(out) != len(batch) {
			return fmt.Errorf("eval: embedder returned %d vectors for %d texts", len(out), len(batch))
		}
		for i, t := range batch {
			c.vecs[t] = out[i]
		}
	}
	return nil
}

// Score is the cosine of the two texts' embeddings.
func (c *Cosine) Score(ctx context.Context, a, b Side) (float64, error) {
	var missing []string
	for _, t := range []string{a.Text, b.Text} {
		if c.vecs[t] == nil && !slices.Contains(missing, t) {
			missing = append(missing, t)
		}
	}
	if err := c.embed(ctx, missing); err != nil {
		return 0, err
	}
	va, vb := c.vecs[a.Text], c.vecs[b.Text]
	if len(va) != len(vb) {
		return 0, fmt.Errorf("eval: vectors of different lengths (%d, %d)", len(va), len(vb))
	}
	return float64(cosine(va, vb)), nil
}

// Gated is a score gated by the verifier: the inner score when the
// verifier accepts b (the query) for a (the candidate) at that score, and
// -GatePenalty when it rejects. Rejected pairs thus all tie below every
// accepted one, whatever their inner score (the cache never serves a
// rejected candidate, however close), and a threshold above -GatePenalty on
// the gated score is a threshold on the inner score with the verifier in
// front, as in the cache.
type Gated struct {
	Inner   Scorer
	Checker Checker
}

// GatePenalty sets the score of a rejected pair, -GatePenalty: below the
// range of a cosine, so rejected pairs sort below accepted ones.
const GatePenalty = 4

var _ Scorer = Gated{}

// Prepare passes the sides on to the inner scorer.
func (g Gated) Prepare(ctx context.Context, sides []Side) error {
	if p, ok := g.Inner.(Preparer); ok {
		return p.Prepare(ctx, sides)
	}
	return nil
}

// Score is the gated score.
func (g Gated) Score(ctx context.Context, a, b Side) (float64, error) {
	s, err := g.Inner.Score(ctx, a, b)
	if err != nil {
		return 0, err
	}
	if !g.Checker.Check(b.Text, a.Text, float32(s)).OK {
		return -GatePenalty, nil
	}
	return s, nil
}

// PairwiseOptions configure Pairwise.
type PairwiseOptions struct {
	// Bootstrap resamples for the AUC interval (0: DefaultBootstrap).
	Bootstrap int
	// Seed seeds the bootstrap.
	Seed uint64
	// FPRs are the false-positive budgets to report recall at (nil:
	// DefaultFPRs).
	FPRs []float64
}

// Defaults of PairwiseOptions.
const DefaultBootstrap = 1000

// DefaultFPRs are the false-positive budgets of the pairwise report.
var DefaultFPRs = []float64{0.01, 0.02}

// ColumnStats are one score's figures on one group of pairs.
type ColumnStats struct {
	Name string `json:"name"`
	// AUC with its 95% bootstrap interval (NaN without positives or
	// negatives; JSON null then).
	AUC     JSONFloat  `json:"auc"`
	AUCLow  JSONFloat  `json:"auc_low"`
	AUCHigh JSONFloat  `json:"auc_high"`
	AtFPR   []FPRPoint `json:"at_fpr"`
}

// GroupStats are the figures of one group of pairs ("all", a source family
// or a kind/type).
type GroupStats struct {
	// Group is "all", "family=<f>" or "type=<t>".
	Group     string        `json:"group"`
	Positives int           `json:"positives"`
	Negatives int           `json:"negatives"`
	Columns   []ColumnStats `json:"columns"`
}

// PairScores are one pair's scores, one per column.
type PairScores struct {
	Pair   Pair      `json:"pair"`
	Scores []float64 `json:"scores"`
}

// PairwiseReport is the outcome of Pairwise.
type PairwiseReport struct {
	Columns []string     `json:"columns"`
	Groups  []GroupStats `json:"groups"`
	// Scored holds every pair's scores, in input order.
	Scored []PairScores `json:"scored,omitempty"`
}

// Pairwise scores every pair with every column and reports, for all pairs,
// per source family and per kind/type, the ROC AUC with a bootstrap
// interval and the recall at each false-positive budget.
func Pairwise(ctx context.Context, pairs []Pair, cols []Column, opts PairwiseOptions) (PairwiseReport, error) {
	var errs []error
	if len(pairs) == 0 {
		errs = append(errs, errors.New("eval: no pairs"))
	}
	if len(cols) == 0 {
		errs = append(errs, errors.New("eval: no score columns"))
	}
	for _, f := range opts.FPRs {
		if !(f >= 0 && f <= 1) {
			errs = append(errs, fmt.Errorf("eval: false-positive budget %v is outside [0, 1]", f))
		}
	}
	if opts.Bootstrap < 0 {
		errs = append(errs, fmt.Errorf("eval: %d bootstrap resamples", opts.Bootstrap))
	}
	if err := errors.Join(errs...); err != nil {
		return PairwiseReport{}, err
	}
	if opts.Bootstrap == 0 {
		opts.Bootstrap = DefaultBootstrap
	}
	if opts.FPRs == nil {
		opts.FPRs = DefaultFPRs
	}
	sides := make([]Side, 0, 2*len(pairs))
	for _, p := range pairs {
		sides = append(sides, p.SideA(), p.SideB())
	}
	rep := PairwiseReport{Scored: make([]PairScores, len(pairs))}
	for i := range pairs {
		rep.Scored[i] = PairScores{Pair: pairs[i], Scores: make([]float64, len(cols))}
	}
	for c, col := range cols {
		rep.Columns = append(rep.Columns, col.Name)
		if p, ok := col.Scorer.(Preparer); ok {
			if err := p.Prepare(ctx, sides); err != nil {
				return PairwiseReport{}, fmt.Errorf("eval: %s: %w", col.Name, err)
			}
		}
		for i, p := range pairs {
			s, err := col.Scorer.Score(ctx, p.SideA(), p.SideB())
			if err != nil {
				return PairwiseReport{}, fmt.Errorf("eval: %s: pair %d: %w", col.Name, i, err)
			}
			rep.Scored[i].Scores[c] = s
		}
	}
	for _, g := range groupsOf(pairs) {
		gs := GroupStats{Group: g.name}
		for c, name := range rep.Columns {
			var pos, neg []float64
			for _, i := range g.members {
				if pairs[i].Duplicate() {
					pos = append(pos, rep.Scored[i].Scores[c])
				} else {
					neg = append(neg, rep.Scored[i].Scores[c])
				}
			}
			gs.Positives, gs.Negatives = len(pos), len(neg)
			cs := ColumnStats{Name: name, AUC: JSONFloat(AUC(pos, neg))}
			lo, hi := BootstrapAUC(pos, neg, opts.Bootstrap, opts.Seed)
			cs.AUCLow, cs.AUCHigh = JSONFloat(lo), JSONFloat(hi)
			for _, f := range opts.FPRs {
				cs.AtFPR = append(cs.AtFPR, RecallAtFPR(pos, neg, f))
			}
			gs.Columns = append(gs.Columns, cs)
		}
		rep.Groups = append(rep.Groups, gs)
	}
	return rep, nil
}

// group is a named set of pair indices.
type group struct {
	name    string
	members []int
}

// groupsOf returns "all", then each source family, then each kind/type
// (Category), in sorted order within each kind of group.
func groupsOf(pairs []Pair) []group {
	all := group{name: "all"}
	fam, cat := map[string][]int{}, map[string][]int{}
	for i, p := range pairs {
		all.members = append(all.members, i)
		fam[p.Family()] = append(fam[p.Family()], i)
		cat[p.Category()] = append(cat[p.Category()], i)
	}
	out := []group{all}
	for _, k := range sortedMapKeys(fam) {
		out = append(out, group{name: "family=" + k, members: fam[k]})
	}
	for _, k := range sortedMapKeys(cat) {
		out = append(out, group{name: "type=" + k, members: cat[k]})
	}
	return out
}

func sortedMapKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// JSONFloat is a float64 that encodes NaN and infinities as null (JSON has
// no literal for them).
type JSONFloat float64

// MarshalJSON writes null for NaN and infinities.
func (f JSONFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte("null"), nil
	}
	return []byte(fmt.Sprintf("%g", v)), nil
}

// Calibrated scores a pair with the verifier's calibrated score (what the
// cache compares with its cut-off): 0 when a rule rejects the pair, its
// score otherwise. The inner scorer gives the similarity the verifier
// needs.
type Calibrated struct {
	Inner    Scorer
	Verifier *verify.Verifier
}

var _ Scorer = Calibrated{}

// Prepare passes the sides on to the inner scorer.
func (c Calibrated) Prepare(ctx context.Context, sides []Side) error {
	if p, ok := c.Inner.(Preparer); ok {
		return p.Prepare(ctx, sides)
	}
	return nil
}

// Score is the calibrated score.
func (c Calibrated) Score(ctx context.Context, a, b Side) (float64, error) {
	s, err := c.Inner.Score(ctx, a, b)
	if err != nil {
		return 0, err
	}
	v := c.Verifier.CheckAll(ctx, b.Text, []verify.Candidate{{Text: a.Text, Similarity: float32(s)}})[0]
	if !v.OK && v.Reason != verify.ReasonScore {
		return 0, nil
	}
	return float64(v.Score), nil
}
