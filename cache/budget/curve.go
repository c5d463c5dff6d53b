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
// the verifier scored (requests and descriptions are calibrated apart; a
// candidate that matched through an alias is its own kind, right only when
// the hit that made the alias was) times what the candidate's entry has
// shown (its Evidence). How much the entry's evidence is worth at each
// score is thus measured, not assumed.
const (
	kindRequest = iota
	kindDescription
	kindOther
	kindAlias
	kinds
	numKinds = kinds * int(numEvidence)
)

// KindNames are the classes in index order.
var KindNames = func() (out [numKinds]string) {
	for e, en := range evidenceNames {
		for k, kn := range [kinds]string{"request", "description", "other", "alias"} {
			out[e*kinds+k] = kn + "/" + en
		}
	}
	return out
}()

func kindIndex(kind string, alias bool, ev Evidence) int {
	k := kindOther
	switch {
	case alias:
		k = kindAlias
	case kind == "request":
		k = kindRequest
	case kind == "description":
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
	p, sd [numKinds][Buckets]float64
	// lab is the labels behind each bucket's estimate (its block's).
	lab      [numKinds][Buckets]float64
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
const blockSlack = 5

// block is a run of buckets of one kind pooled by monotonicity.
type block struct {
	kind, from, to   int // buckets [from, to]
	wrong, lab, lab2 float64
	n, p             float64
	// u is an upper confidence bound of the error of every bucket of the
	// block (see monotoneBounds).
	u float64
}

// fit estimates the curve's errors and chooses what to admit for budget
// eps: a block already admitted by prev (nil: none) stays admitted while
// the bound at the one-sided normal quantile z holds; a block not admitted
// yet needs the bound at the stricter zAdmit.
//
// Blocks are admitted most surely safe first (by their upper bound u, so
// a block that looks perfect on three labels waits for more), as long as
// the upper bound of the error of everything admitted — the wrong share
// of the served set — stays within eps, and each block's own bound is
// within blockSlack budgets.
//
// Why two confidences: the counts are tested again at every refit, and a
// block whose true error is a little over what the budget allows passes a
// 95% bound now and then, when its labels have had a lucky run; if that
// were enough to be admitted, the hits served would be those of lucky
// runs, over budget. Admission at zAdmit makes such runs rare, and a
// block admitted keeps being tested at z.
func (c *curve) fit(eps, z, zAdmit float64, prev *fit) *fit {
	f := &fit{allow: -1}
	var blocks []block
	for k := range numKinds {
		u := c.monotoneBounds(k, z)
		for _, b := range c.kindBlocks(k, f) {
			b.u = u[b.from]
			if b.u <= blockSlack*eps {
				blocks = append(blocks, b)
			}
		}
	}
	slices.SortStableFunc(blocks, func(a, b block) int { return cmp.Compare(a.u, b.u) })
	best := -1
	var admitted [numKinds]int // per kind, the lowest admitted bucket (Buckets: none)
	for k := range admitted {
		admitted[k] = Buckets
	}
	fresh := false // the set holds a bucket prev did not admit
	for i, b := range blocks {
		admitted[b.kind] = min(admitted[b.kind], b.from)
		for x := b.from; x <= b.to && !fresh; x++ {
			fresh = prev == nil || !prev.admitted[b.kind][x]
		}
		est, ucb, ok := c.setBound(&admitted, f, z)
		if !ok || ucb > eps {
			continue
		}
		if fresh {
			if _, strict, _ := c.setBound(&admitted, f, zAdmit); strict > eps {
				continue
			}
		}
		best, f.est, f.ucb = i, est, ucb
	}
	for i := 0; i <= best; i++ {
		b := blocks[i]
		for x := b.from; x <= b.to; x++ {
			f.admitted[b.kind][x] = true
		}
		f.allow = max(f.allow, b.p)
	}
	return f
}

// monotoneBounds is, for each bucket b of kind k, an upper confidence
// bound of its error that uses monotonicity: the error at b is at most
// the mean error of any run of buckets [j, b] below it, so the smallest
// Wilson bound over those runs' pooled labels bounds it. A bucket near
// the top, whose own labels are few, borrows the labels of the buckets
// below it. Unlabelled runs bound nothing (1).
func (c *curve) monotoneBounds(k int, z float64) [Buckets]float64 {
	var u [Buckets]float64
	cells := &c.cells[k]
	for b := range Buckets {
		u[b] = 1
		var w, l, l2 float64
		for j := b; j >= 0; j-- {
			w += cells[j].W
			l += cells[j].L
			l2 += cells[j].L2
			if l > 0 {
				u[b] = min(u[b], wilsonUpper(w/l, effective(l, l2), z))
			}
		}
	}
	return u
}

// setBound estimates the error of serving, per kind k, the buckets from
// lowest[k] up, and its upper confidence bound, the smaller of two:
//
//   - stratified: each bucket's monotone estimate (its block's rate, see
//     kindBlocks) weighted by its candidates, with the variance of that
//     mean over the blocks' labels;
//   - pooled, for the kinds whose admitted labels sit no higher in score
//     than their candidates (at every bucket, the share of labels below it
//     is at least the share of candidates: with an error that falls with
//     the score, their pooled wrong share then errs on the high side):
//     the kind's labels pooled, which lets the top buckets, labelled only
//     by explorations, borrow the labels of those below.
//
// The kinds' estimates are weighted by their candidates and bounded with
// Wilson's interval over the effective label count. ok is false when an
// admitted kind has no labels.
func (c *curve) setBound(lowest *[numKinds]int, f *fit, z float64) (est, ucb float64, ok bool) {
	var n, np, nl, pn, pnp, pnl float64
	for k, lo := range lowest {
		if lo >= Buckets {
			continue
		}
		cells := &c.cells[k]
		var cn, cl, cw, cl2 float64
		for b := lo; b < Buckets; b++ {
			cn += cells[b].N
			cl += cells[b].L
			cw += cells[b].W
			cl2 += cells[b].L2
		}
		if cl <= 0 {
			return 0, 1, false
		}
		if cn <= 0 {
			continue
		}
		// stratified
		var kn, knp, knl float64
		for b := lo; b < Buckets; b++ {
			x := cells[b]
			if x.N <= 0 {
				continue
			}
			if f.lab[k][b] <= 0 {
				return 0, 1, false
			}
			kn += x.N
			knp += x.N * f.p[k][b]
			knl += x.N * x.N / f.lab[k][b]
		}
		n, np, nl = n+kn, np+knp, nl+knl
		// pooled where the labels sit low enough
		pooled := true
		var sn, sl float64
		for b := lo; b < Buckets-1; b++ {
			sn += cells[b].N
			sl += cells[b].L
			if sl/cl < sn/cn-1e-12 {
				pooled = false
				break
			}
		}
		if pooled {
			pn, pnp, pnl = pn+cn, pnp+cw/cl*cn, pnl+cn*cn/effective(cl, cl2)
		} else {
			pn, pnp, pnl = pn+kn, pnp+knp, pnl+knl
		}
	}
	if n <= 0 {
		return 0, 1, false
	}
	est, ucb = np/n, wilsonUpper(np/n, n*n/nl, z)
	if pu := wilsonUpper(pnp/pn, pn*pn/pnl, z); pu < ucb {
		est, ucb = pnp/pn, pu
	}
	return est, ucb, true
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
		ne := effective(bl.lab, bl.lab2)
		sd := math.Sqrt((bl.p*(1-bl.p) + 1/(4*ne)) / ne)
		for b := bl.from; b <= bl.to; b++ {
			bl.n += cells[b].N
			f.p[k][b], f.sd[k][b], f.lab[k][b] = bl.p, sd, effective(bl.lab, bl.lab2)
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

// labels is the label weight counted.
func (c *curve) labels() float64 {
	var n float64
	for k := range numKinds {
		for b := range Buckets {
			n += c.cells[k][b].L
		}
	}
	return n
}

// scale multiplies every count by f in (0, 1]: old traffic weighs less.
func (c *curve) scale(f float64) {
	for k := range numKinds {
		for b := range Buckets {
			x := &c.cells[k][b]
			x.N, x.L, x.W, x.L2 = x.N*f, x.L*f, x.W*f, x.L2*f*f
		}
	}
}

const curveVersion = 2

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

// effective is the effective number of weighted labels of total weight l
// and total squared weight l2.
func effective(l, l2 float64) float64 {
	if l2 <= 0 {
		return l
	}
	return l * l / l2
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
