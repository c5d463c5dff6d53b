package eval

import (
	"encoding/json"
	"math"
	"testing"
	"time"
)

func TestWilson(t *testing.T) {
	// Reference values: Newcombe (1998), "Two-sided confidence intervals
	// for the single proportion", Table I, method 3 (Wilson score).
	tests := []struct {
		x, n      int
		low, high float64
	}{
		{81, 263, 0.2553, 0.3662},
		{15, 148, 0.0624, 0.1605},
		{0, 20, 0, 0.1611},
		{1, 29, 0.0061, 0.1718},
		{29, 29, 0.8830, 1},
	}
	for _, tc := range tests {
		got := Wilson(tc.x, tc.n)
		if math.Abs(got.Low-tc.low) > 5e-5 || math.Abs(got.High-tc.high) > 5e-5 {
			t.Errorf("Wilson(%d, %d) = [%.4f, %.4f], want [%.4f, %.4f]", tc.x, tc.n, got.Low, got.High, tc.low, tc.high)
		}
		if got.Value != float64(tc.x)/float64(tc.n) || got.X != tc.x || got.N != tc.n {
			t.Errorf("Wilson(%d, %d) = %+v", tc.x, tc.n, got)
		}
	}
	if e := Wilson(0, 0); e.Low != 0 || e.High != 1 || e.String() != "–" {
		t.Errorf("Wilson(0, 0) = %+v %q", e, e.String())
	}
	if s := Wilson(81, 263).String(); s != "0.308 [0.255, 0.366]" {
		t.Errorf("String = %q", s)
	}
}

func TestAUC(t *testing.T) {
	// Nine pairs: 0.9 beats all 3 negatives, 0.8 beats all 3, 0.4 beats
	// 0.1 and ties 0.4 (one half): 7.5 / 9.
	pos := []float64{0.9, 0.8, 0.4}
	neg := []float64{0.7, 0.4, 0.1}
	if got := AUC(pos, neg); math.Abs(got-7.5/9) > 1e-12 {
		t.Errorf("AUC = %v, want %v", got, 7.5/9)
	}
	if got := AUC([]float64{1, 2}, []float64{0}); got != 1 {
		t.Errorf("separable AUC = %v", got)
	}
	if got := AUC([]float64{0}, []float64{1, 2}); got != 0 {
		t.Errorf("inverted AUC = %v", got)
	}
	if got := AUC([]float64{0.5, 0.5}, []float64{0.5}); got != 0.5 {
		t.Errorf("all ties AUC = %v", got)
	}
	if !math.IsNaN(AUC(nil, neg)) {
		t.Error("AUC without positives is not NaN")
	}
	lo, hi := BootstrapAUC(pos, neg, 500, 1)
	lo2, hi2 := BootstrapAUC(pos, neg, 500, 1)
	if lo != lo2 || hi != hi2 {
		t.Error("bootstrap differs with the same seed")
	}
	if !(lo <= 7.5/9 && 7.5/9 <= hi) || lo < 0 || hi > 1 || lo == hi {
		t.Errorf("bootstrap interval [%v, %v] around %v", lo, hi, 7.5/9)
	}
}

func TestRecallAtFPR(t *testing.T) {
	// 100 negatives at 0.00..0.99; positives at 0.5, 0.985, 0.995, 1.2.
	var neg []float64
	for i := range 100 {
		neg = append(neg, float64(i)/100)
	}
	pos := []float64{0.5, 0.985, 0.995, 1.2}
	// 1%: one negative (0.99) may pass: lowest threshold with FP <= 1 is
	// 0.99 (0.985 would admit 0.99 only, but it is a positive's score:
	// scores >= 0.985 include negative 0.99 only -> FP 1, allowed).
	pt := RecallAtFPR(pos, neg, 0.01)
	if float64(pt.Threshold) != 0.985 || pt.FP != 1 || pt.TP != 3 || pt.Recall != 0.75 || pt.FPR != 0.01 {
		t.Errorf("at 1%%: %+v", pt)
	}
	// 0%: no negative may pass: threshold 0.995.
	pt = RecallAtFPR(pos, neg, 0)
	if float64(pt.Threshold) != 0.995 || pt.FP != 0 || pt.TP != 2 {
		t.Errorf("at 0%%: %+v", pt)
	}
	// Impossible budget: nothing above every negative.
	pt = RecallAtFPR([]float64{0.1}, []float64{0.9}, 0)
	if !math.IsInf(float64(pt.Threshold), 1) || pt.Recall != 0 {
		t.Errorf("unreachable: %+v", pt)
	}
	if b, err := json.Marshal(pt); err != nil || string(b) != `{"max_fpr":0,"threshold":null,"recall":0,"fpr":0,"tp":0,"fp":0}` {
		t.Errorf("JSON %s, %v", b, err)
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(101-i)*time.Millisecond)
	}
	if p := Percentile(ds, 0.5); p != 50*time.Millisecond {
		t.Errorf("p50 = %v", p)
	}
	if p := Percentile(ds, 0.99); p != 99*time.Millisecond {
		t.Errorf("p99 = %v", p)
	}
	if Percentile(nil, 0.5) != 0 {
		t.Error("empty percentile")
	}
}
