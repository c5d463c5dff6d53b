package budget

import (
	"cmp"
	"encoding/binary"
	"errors"
	"math"
	"slices"
)

// Buckets is the number of score buckets per kind of text.
const Buckets = 24

// maxU is the top of the bucket scale -log10(1-score): scores from
// 1-10^-maxU up share the last bucket.
const maxU = 4.0

// Classes of candidates whose errors are learned apart: the kind of text
// the verifier scored (requests and descriptions are calibrated apart)
// times what the candidate's entry has shown (its Evidence). How much the
// entry's evidence is worth at each score is thus measured, not assumed.
const (
	kindRequest = iota
	kindDescription
	kindOther
	kinds
	numKinds = kinds * int(numEvidence)
)

// KindNames are the classes in index order.
var KindNames = func() (out [numKinds]string) {
	for e, en := range evidenceNames {
		for k, kn := range [kinds]string{"request", "description", "other"} {
			out[e*kinds+k] = kn + "/" + en
		}
	}
	return out
}()

func kindIndex(kind string, ev Evidence) int {
	k := kindOther
	switch kind {
	case "request":
		k = kindRequest
	case "description":
		k = kindDescription
	}
	return int(ev)*kinds + k
}

// BucketOf is the bucket of a calibrated score.
func BucketOf(score float32) int {
	r := 1 - float64(score)
	if r < 1e-4 {
		r = 1e-4
	}
	if r > 1 || math.IsNaN(r) {
		r = 1
	}
	b := int(-math.Log10(r) / maxU * Buckets)
	return min(max(b, 0), Buckets-1)
}

// BucketFloor is the lowest score of bucket b.
func BucketFloor(b int) float32 {
	return float32(1 - math.Pow(10, -float64(b)*maxU/Buckets))
}

// cell holds the weighted counts of one (kind, bucket): candidates seen,
// label weight, wrong-label weight and the sum of squared label weights
// (for the effective sample size of weighted labels).
type cell struct {
	N, L, W, L2 float64
}

// curve is a namespace's counts.
type curve struct {
	cells [numKinds][Buckets]cell
}

// fit is what a curve says: per (kind, bucket) the estimated error and its
// standard deviation, the admitted buckets, and the risk allowance.
type fit struct {
	p, sd    [numKinds][Buckets]float64
	admitted [numKinds][Buckets]bool
	// allow is the estimated error of the last admitted block; -1 when
	// nothing is admitted.
	allow float64
	// est and ucb are the estimated error of the admitted set and its
	// upper confidence bound.
	est, ucb float64
}

// blockSlack bounds, in budgets, the upper confidence bound of the error of
// each admitted block on its own.
const blockSlack = 2

// block is a run of buckets of one kind pooled by monotonicity.
type block struct {
	kind, from, to   int // buckets [from, to]
	wrong, lab, lab2 float64
	n, p             float64
}

// fit estimates the curve's errors and chooses what to admit for budget
// eps at a one-sided normal quantile z.
func (c *curve) fit(eps, z float64) *fit {
	f := &fit{allow: -1}
	var blocks []block
	for k := range numKinds {
		for _, b := range c.kindBlocks(k, f) {
			// A block too thinly labelled to be within a few budgets on
			// its own is not admitted, however well the rest does: its
			// share of the served set would be a guess.
			if wilsonUpper(b.p, b.lab, z) <= blockSlack*eps {
				blocks = append(blocks, b)
			}
		}
	}
	slices.SortStableFunc(blocks, func(a, b block) int { return cmp.Compare(a.p, b.p) })
	// The admitted set's error is the candidates' mean of their blocks'
	// errors; its labels are pooled into an effective count (the variance
	// of that mean is about p(1-p) over it) and bounded by Wilson's score
	// interval, which stays honest when no wrong label was seen.
	var n, np, nl float64
	best := -1
	for i, b := range blocks {
		if b.n <= 0 {
			continue
		}
		n += b.n
		np += b.n * b.p
		nl += b.n * b.n / b.lab
		est := np / n
		ucb := wilsonUpper(est, n*n/nl, z)
		if ucb <= eps {
			best, f.est, f.ucb = i, est, ucb
		}
	}
	for i := 0; i <= best; i++ {
		b := blocks[i]
		for x := b.from; x <= b.to; x++ {
			f.admitted[b.kind][x] = true
		}
		f.allow = b.p
	}
	return f
}

// kindBlocks pools kind k's buckets into monotone blocks (the error never
// rises with the score) and fills f's estimates. Buckets below the lowest
// labelled one are unknown (error 1); those above the highest labelled one
// join its block.
func (c *curve) kindBlocks(k int, f *fit) []block {
	cells := &c.cells[k]
	var stack []block
	for b := range Buckets {
		x := cells[b]
		if x.L <= 0 {
			continue
		}
		nb := block{kind: k, from: b, to: b, wrong: x.W, lab: x.L, lab2: x.L2}
		for len(stack) > 0 {
			top := &stack[len(stack)-1]
			if top.wrong/top.lab >= nb.wrong/nb.lab {
				break
			}
			nb = block{kind: k, from: top.from, to: nb.to, wrong: top.wrong + nb.wrong, lab: top.lab + nb.lab, lab2: top.lab2 + nb.lab2}
			stack = stack[:len(stack)-1]
		}
		stack = append(stack, nb)
	}
	for b := range Buckets {
		f.p[k][b], f.sd[k][b] = 1, 0.5
	}
	if len(stack) == 0 {
		return nil
	}
	stack[len(stack)-1].to = Buckets - 1
	for i := range stack {
		bl := &stack[i]
		if i+1 < len(stack) {
			bl.to = stack[i+1].from - 1
		}
		bl.p = bl.wrong / bl.lab
		sd := math.Sqrt((bl.p*(1-bl.p) + 1/(4*bl.lab)) / bl.lab)
		for b := bl.from; b <= bl.to; b++ {
			bl.n += cells[b].N
			f.p[k][b], f.sd[k][b] = bl.p, sd
		}
	}
	return stack
}

// add counts a labelled observation of weight w.
func (c *curve) add(k, b int, wrong bool, w float64) {
	x := &c.cells[k][b]
	x.L += w
	x.L2 += w * w
	if wrong {
		x.W += w
	}
}

// total is the candidates counted.
func (c *curve) total() float64 {
	var n float64
	for k := range numKinds {
		for b := range Buckets {
			n += c.cells[k][b].N
		}
	}
	return n
}

// halve forgets half of everything (old traffic weighs less).
func (c *curve) halve() {
	for k := range numKinds {
		for b := range Buckets {
			x := &c.cells[k][b]
			x.N, x.L, x.W, x.L2 = x.N/2, x.L/2, x.W/2, x.L2/4
		}
	}
}

const curveVersion = 1

// MarshalBinary encodes the curve.
func (c *curve) MarshalBinary() ([]byte, error) {
	out := make([]byte, 2, 2+numKinds*Buckets*32)
	out[0], out[1] = curveVersion, byte(numKinds)
	for k := range numKinds {
		for b := range Buckets {
			x := c.cells[k][b]
			for _, v := range [4]float64{x.N, x.L, x.W, x.L2} {
				out = binary.LittleEndian.AppendUint64(out, math.Float64bits(v))
			}
		}
	}
	return out, nil
}

// UnmarshalBinary decodes a curve.
func (c *curve) UnmarshalBinary(b []byte) error {
	if len(b) != 2+numKinds*Buckets*32 || b[0] != curveVersion || int(b[1]) != numKinds {
		return errors.New("budget: malformed namespace state")
	}
	b = b[2:]
	var nc curve
	for k := range numKinds {
		for i := range Buckets {
			var v [4]float64
			for j := range v {
				v[j] = math.Float64frombits(binary.LittleEndian.Uint64(b))
				b = b[8:]
				if math.IsNaN(v[j]) || math.IsInf(v[j], 0) || v[j] < 0 {
					return errors.New("budget: malformed namespace state")
				}
			}
			nc.cells[k][i] = cell{N: v[0], L: v[1], W: min(v[2], v[1]), L2: v[3]}
		}
	}
	*c = nc
	return nil
}

// wilsonUpper is the upper end of Wilson's score interval of a proportion
// p observed over n at the normal quantile z.
func wilsonUpper(p, n, z float64) float64 {
	if n <= 0 {
		return 1
	}
	d := 1 + z*z/n
	return (p + z*z/(2*n) + z*math.Sqrt(p*(1-p)/n+z*z/(4*n*n))) / d
}
