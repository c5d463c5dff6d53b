package eval

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// z95 is the two-sided 95% quantile of the standard normal distribution.
const z95 = 1.959963984540054

// Interval is a proportion X/N with its 95% Wilson score interval.
type Interval struct {
	X     int     `json:"x"`
	N     int     `json:"n"`
	Value float64 `json:"value"`
	Low   float64 `json:"low"`
	High  float64 `json:"high"`
}

// Wilson returns the proportion x/n with its 95% Wilson score interval
// (Wilson 1927; Newcombe 1998, method 3). With n = 0 the value is 0 and the
// interval [0, 1]: nothing is known.
func Wilson(x, n int) Interval {
	if n <= 0 {
		return Interval{X: x, N: n, Low: 0, High: 1}
	}
	p := float64(x) / float64(n)
	nf := float64(n)
	z2 := z95 * z95
	centre := (p + z2/(2*nf)) / (1 + z2/nf)
	half := z95 / (1 + z2/nf) * math.Sqrt(p*(1-p)/nf+z2/(4*nf*nf))
	return Interval{X: x, N: n, Value: p, Low: max(0, centre-half), High: min(1, centre+half)}
}

// String prints "0.912 [0.890, 0.930]", or "–" when N is 0.
func (i Interval) String() string {
	if i.N == 0 {
		return "–"
	}
	return fmt.Sprintf("%.3f [%.3f, %.3f]", i.Value, i.Low, i.High)
}

// AUC is the area under the ROC curve of scores of positives against
// negatives: the probability that a random positive scores above a random
// negative, ties counting one half (the Mann-Whitney U statistic over
// |pos|·|neg|). It is NaN when either side is empty.
func AUC(pos, neg []float64) float64 {
	if len(pos) == 0 || len(neg) == 0 {
		return math.NaN()
	}
	type scored struct {
		s   float64
		pos bool
	}
	all := make([]scored, 0, len(pos)+len(neg))
	for _, s := range pos {
		all = append(all, scored{s, true})
	}
	for _, s := range neg {
		all = append(all, scored{s, false})
	}
	slices.SortFunc(all, func(a, b scored) int { return cmp.Compare(a.s, b.s) })
	// Sum of the positives' mid-ranks (1-based).
	var rankSum float64
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].s == all[i].s {
			j++
		}
		mid := float64(i+j+1) / 2
		for k := i; k < j; k++ {
			if all[k].pos {
				rankSum += mid
			}
		}
		i = j
	}
	np, nn := float64(len(pos)), float64(len(neg))
	return (rankSum - np*(np+1)/2) / (np * nn)
}

// BootstrapAUC returns a 95% percentile interval of the AUC from iters
// stratified resamples (positives and negatives resampled separately, so
// each resample keeps the class sizes), drawn from a PRNG seeded with seed.
func BootstrapAUC(pos, neg []float64, iters int, seed uint64) (low, high float64) {
	if len(pos) == 0 || len(neg) == 0 || iters <= 0 {
		return math.NaN(), math.NaN()
	}
	rng := rand.New(rand.NewPCG(seed, 0x61756362))
	rp, rn := make([]float64, len(pos)), make([]float64, len(neg))
	aucs := make([]float64, iters)
	for it := range aucs {
		for i := range rp {
			rp[i] = pos[rng.IntN(len(pos))]
		}
		for i := range rn {
			rn[i] = neg[rng.IntN(len(neg))]
		}
		aucs[it] = AUC(rp, rn)
	}
	slices.Sort(aucs)
	return quantile(aucs, 0.025), quantile(aucs, 0.975)
}

// quantile of sorted values, linearly interpolated.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	pos := q * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(sorted)-1)
	return sorted[lo] + (sorted[hi]-sorted[lo])*(pos-float64(lo))
}

// FPRPoint is the operating point of a score at a false-positive budget.
type FPRPoint struct {
	// MaxFPR is the budget asked for.
	MaxFPR float64 `json:"max_fpr"`
	// Threshold is the lowest score threshold (a hit is score >= it) whose
	// false-positive rate stays within MaxFPR; +Inf when even the highest
	// score exceeds it.
	Threshold JSONFloat `json:"threshold"`
	// Recall and FPR are the true- and false-positive rates there.
	Recall float64 `json:"recall"`
	FPR    float64 `json:"fpr"`
	TP     int     `json:"tp"`
	FP     int     `json:"fp"`
}

// RecallAtFPR finds the lowest threshold among the observed scores whose
// false-positive rate is at most maxFPR, and the recall it reaches.
func RecallAtFPR(pos, neg []float64, maxFPR float64) FPRPoint {
	pt := FPRPoint{MaxFPR: maxFPR, Threshold: JSONFloat(math.Inf(1))}
	if len(pos) == 0 || len(neg) == 0 {
		return pt
	}
	ps, ns := slices.Clone(pos), slices.Clone(neg)
	slices.Sort(ps)
	slices.Sort(ns)
	cands := append(slices.Clone(ps), ns...)
	slices.Sort(cands)
	cands = slices.Compact(cands)
	// Walk thresholds from the highest down; FP only grows.
	for i := len(cands) - 1; i >= 0; i-- {
		t := cands[i]
		fp := len(ns) - lowerBound(ns, t)
		fpr := float64(fp) / float64(len(ns))
		if fpr > maxFPR {
			break
		}
		tp := len(ps) - lowerBound(ps, t)
		pt.Threshold, pt.TP, pt.FP = JSONFloat(t), tp, fp
		pt.Recall, pt.FPR = float64(tp)/float64(len(ps)), fpr
	}
	return pt
}

// lowerBound is the index of the first element >= t in sorted.
func lowerBound(sorted []float64, t float64) int {
	i, _ := slices.BinarySearch(sorted, t)
	return i
}

// Percentile returns the q-th quantile (0..1) of durations, nearest rank;
// 0 for none.
func Percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}
