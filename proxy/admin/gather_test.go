package admin

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/semcache/semcache/engine"
)

func hist(counts map[float64]uint64, total uint64) *dto.Histogram {
	bounds := make([]float64, 0, len(counts))
	for b := range counts {
		bounds = append(bounds, b)
	}
	slices.Sort(bounds)
	h := &dto.Histogram{SampleCount: &total}
	for _, b := range bounds {
		h.Bucket = append(h.Bucket, &dto.Bucket{UpperBound: &b, CumulativeCount: new(counts[b])})
	}
	return h
}

func TestQuantile(t *testing.T) {
	// 10 samples ≤ 1, 10 more ≤ 2, 20 more ≤ 4 (cumulative 10, 20, 40).
	h := hist(map[float64]uint64{1: 10, 2: 20, 4: 40}, 40)
	tests := []struct {
		q, want float64
	}{
		{0.25, 1},   // rank 10: the top of the first bucket
		{0.125, .5}, // rank 5: half-way into [0, 1]
		{0.5, 2},    // rank 20
		{0.75, 3},   // rank 30: half-way into (2, 4]
		{1, 4},
	}
	for _, tt := range tests {
		if got := quantile(tt.q, h); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("quantile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	// Samples above the last bound: the highest finite bound.
	if got := quantile(0.99, hist(map[float64]uint64{1: 1}, 10)); got != 1 {
		t.Errorf("rank in +Inf: %v, want 1", got)
	}
	if got := quantile(0.5, &dto.Histogram{}); got != 0 {
		t.Errorf("empty histogram: %v", got)
	}
}

func TestSnapshotFromRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := engine.NewMetrics(reg, 10, nil)
	for _, r := range []struct {
		ns, outcome string
		n           int
	}{{"a", engine.OutcomeHitExact, 3}, {"a", engine.OutcomeHitSemantic, 1}, {"a", engine.OutcomeMiss, 4}, {"a", engine.OutcomeBypass, 2}, {"b", engine.OutcomeMiss, 1}} {
		for range r.n {
			m.Requests.WithLabelValues("http", "chat", r.ns, r.outcome).Inc()
		}
	}
	m.Requests.WithLabelValues("extproc", "embeddings", "a", engine.OutcomeHitExact).Inc() // fronts and routes add up
	m.TokensSaved.WithLabelValues("a", "prompt").Add(100)
	m.TokensSaved.WithLabelValues("a", "completion").Add(50)
	m.CostSaved.WithLabelValues("a").Add(0.25)
	for _, v := range []float64{0.55, 0.93, 0.94, 0.96} {
		m.Similarity.WithLabelValues("served").Observe(v)
	}
	m.Similarity.WithLabelValues("rejected").Observe(0.91)
	m.VerifierRejects.WithLabelValues("numbers").Inc()

	snap, err := readSnapshot(reg)
	if err != nil {
		t.Fatal(err)
	}
	a := snap.summary("a")
	want := Summary{Requests: 11, HitsExact: 4, HitsSemantic: 1, Misses: 4, Bypassed: 2, HitRate: 5.0 / 9,
		TokensSavedPrompt: 100, TokensSavedCompletion: 50, CostSavedUSD: 0.25}
	if a != want {
		t.Errorf("summary a = %+v\nwant        %+v", a, want)
	}
	if all := snap.summary(""); all.Requests != 12 || all.HitRate != 5.0/10 {
		t.Errorf("summary all = %+v", all)
	}
	ns := snap.namespaceSummaries()
	if len(ns) != 2 || ns[0].Namespace != "a" || ns[1].Namespace != "b" {
		t.Errorf("namespaces %+v", ns)
	}
	sim := similarity(snap.similarity)
	// Buckets .5 .6 .7 .75 .8 .85 .875 .9 .925 .95 .975 .99 1.
	wantServed := []uint64{0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 1, 0, 0}
	wantRejected := []uint64{0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0}
	if len(sim.Bounds) != 13 || !slices.Equal(sim.Served, wantServed) || !slices.Equal(sim.Rejected, wantRejected) || !slices.Equal(sim.Shadow, make([]uint64, 13)) {
		t.Errorf("similarity %+v", sim)
	}
	if r := rejections(snap.rejections); len(r) != 1 || r[0] != (ReasonCount{"numbers", 1}) {
		t.Errorf("rejections %+v", r)
	}
}

func TestHitRateSeries(t *testing.T) {
	at := func(s int) time.Time { return time.Unix(int64(s), 0) }
	req := func(exact, sem, miss, bypass float64) map[nsOutcome]float64 {
		return map[nsOutcome]float64{
			{"a", engine.OutcomeHitExact}: exact, {"a", engine.OutcomeHitSemantic}: sem,
			{"a", engine.OutcomeMiss}: miss, {"a", engine.OutcomeBypass}: bypass,
			{"b", engine.OutcomeMiss}: miss,
		}
	}
	pts := []histPoint{
		{at: at(0), requests: req(0, 0, 0, 0)},
		{at: at(5), requests: req(3, 1, 4, 7)},  // a: 4 hits of 8 lookups
		{at: at(10), requests: req(3, 1, 4, 9)}, // bypasses only: no point
		{at: at(15), requests: req(4, 3, 4, 9)}, // a: 3 hits of 3
	}
	got := hitRateSeries(pts, "a")
	want := [][]Point{
		{{5000, 0.5}, {15000, 1}},
		{{5000, 3.0 / 8}, {15000, 1.0 / 3}},
		{{5000, 1.0 / 8}, {15000, 2.0 / 3}},
	}
	for i, s := range got {
		if !slices.Equal(s.Points, want[i]) {
			t.Errorf("%s: %v, want %v", s.Name, s.Points, want[i])
		}
	}
	// All namespaces: b's misses count as lookups.
	if all := hitRateSeries(pts, ""); all[0].Points[0].V != 4.0/12 {
		t.Errorf("all namespaces: %v", all[0].Points)
	}
}

func TestHistoryRing(t *testing.T) {
	h := newHistory(3)
	for i := range 5 {
		h.add(histPoint{at: time.Unix(int64(i), 0)})
	}
	var got []int64
	for _, p := range h.points() {
		got = append(got, p.at.Unix())
	}
	if !slices.Equal(got, []int64{2, 3, 4}) {
		t.Fatalf("ring = %v, want the last 3 oldest first", got)
	}
}
