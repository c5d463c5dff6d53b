package admin

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/semcache/semcache/cache"
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
		m.Similarity.WithLabelValues("a", "served").Observe(v)
	}
	m.Similarity.WithLabelValues("b", "rejected").Observe(0.91)
	m.VerifierRejects.WithLabelValues("b", "numbers").Inc()

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
	if sim := similarity(snap.similarity, "a"); !slices.Equal(sim.Rejected, make([]uint64, 13)) {
		t.Errorf("namespace a shows b's rejection: %+v", sim)
	}
	sim := similarity(snap.similarity, "")
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

// counts builds a sample's counters of namespaces a and b.
func sample(at int, exact, sem, miss, bypass float64) histPoint {
	return histPoint{at: time.Unix(int64(at), 0), ns: []nsCounts{
		{exact: exact, semantic: sem, miss: miss, bypass: bypass, upstream: miss, upstreamFailed: bypass / 7},
		{miss: miss},
	}}
}

func TestCharts(t *testing.T) {
	names := []string{"a", "b"}
	pts := []histPoint{
		sample(0, 0, 0, 0, 0),
		sample(5, 3, 1, 4, 7),  // a: 4 hits of 8 lookups
		sample(10, 3, 1, 4, 9), // bypasses only: the hit-rate lines break
		sample(15, 4, 3, 4, 9), // a: 3 hits of 3
		sample(20, 4, 3, 6, 9), // a: 0 hits of 2
	}
	from, to := time.Unix(-280, 0), time.Unix(20, 0)
	c := charts(pts, names, "a", from, to, 5*time.Second)
	want := [][]Point{
		{{5000, 0.5, false}, {15000, 1, true}, {20000, 0, false}},
		{{5000, 3.0 / 8, false}, {15000, 1.0 / 3, true}, {20000, 0, false}},
		{{5000, 1.0 / 8, false}, {15000, 2.0 / 3, true}, {20000, 0, false}},
	}
	for i, s := range c.HitRate {
		if !slices.Equal(s.Points, want[i]) {
			t.Errorf("%s: %v, want %v", s.Name, s.Points, want[i])
		}
	}
	if c.From != from.UnixMilli() || c.To != to.UnixMilli() || c.Step != 5000 {
		t.Errorf("axis %d..%d step %d", c.From, c.To, c.Step)
	}
	// Pass-through traffic: 7 then 2 bypasses in 5 s.
	if p := c.Traffic[1].Points; len(p) != 4 || p[0].V != 7.0/5 || p[1].V != 2.0/5 || p[2].V != 0 {
		t.Errorf("pass-through %v", p)
	}
	// Upstream errors: 1 failed of 4 calls, then no calls (a break).
	if p := c.UpstreamErrors[0].Points; len(p) != 2 || p[0].V != 0.25 || !p[1].Break {
		t.Errorf("upstream errors %v", p)
	}
	// All namespaces: b's misses count as lookups.
	if all := charts(pts, names, "", from, to, 5*time.Second); all.HitRate[0].Points[0].V != 4.0/12 {
		t.Errorf("all namespaces: %v", all.HitRate[0].Points)
	}
}

func TestHistoryRanges(t *testing.T) {
	h := newHistory(5*time.Second, 2*time.Minute)
	start := time.Unix(1_000_000, 0)
	var at time.Time
	// 25 hours of samples every 5 s.
	for i := range 25 * 720 {
		at = start.Add(time.Duration(i) * 5 * time.Second)
		h.add(snapshot{counts: map[string]nsCounts{"a": {miss: float64(i)}}}, at)
	}
	if n := len(h.fine.all()); n != 721 {
		t.Errorf("fine ring holds %d samples, want 721 (an hour)", n)
	}
	if n := len(h.coarse.all()); n != 721 {
		t.Errorf("coarse ring holds %d samples, want 721 (a day)", n)
	}
	now := at.Add(time.Second)
	for _, c := range []struct {
		rng       time.Duration
		maxPoints int
		minSpan   time.Duration
	}{{5 * time.Minute, 61, 4 * time.Minute}, {time.Hour, MaxChartPoints, 55 * time.Minute}, {24 * time.Hour, MaxChartPoints, 23 * time.Hour}} {
		pts, names := h.window(c.rng, now, snapshot{counts: map[string]nsCounts{"a": {miss: 1e9}}})
		if len(pts) > c.maxPoints || len(pts) < 2 || len(names) != 1 {
			t.Errorf("%v: %d points (max %d)", c.rng, len(pts), c.maxPoints)
			continue
		}
		if span := pts[len(pts)-1].at.Sub(pts[0].at); span < c.minSpan || span > c.rng {
			t.Errorf("%v: the points span %v", c.rng, span)
		}
		if !pts[len(pts)-1].at.Equal(now) || pts[len(pts)-1].ns[0].miss != 1e9 {
			t.Errorf("%v: the last point is not the live one", c.rng)
		}
		if !slices.IsSortedFunc(pts, func(a, b histPoint) int { return a.at.Compare(b.at) }) {
			t.Errorf("%v: points out of order", c.rng)
		}
	}
}

func TestDownsampleKeepsTheLast(t *testing.T) {
	var pts []histPoint
	for i := range 1000 {
		pts = append(pts, histPoint{at: time.Unix(int64(i), 0)})
	}
	got := downsample(pts, 360)
	if len(got) > 360 || got[len(got)-1].at.Unix() != 999 {
		t.Fatalf("%d points, last %d", len(got), got[len(got)-1].at.Unix())
	}
}

// TestDashboardReadsRegisteredMetrics: every metric the dashboard reads is
// one semcache registers (with its series created at 0 before traffic).
func TestDashboardReadsRegisteredMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := engine.NewMetrics(reg, 10, nil)
	c, err := cache.Open(cache.Options{MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m.WatchCache(c)
	// Series known once an engine lists its APIs and the verifier its
	// reasons (engine.New, semcache serve).
	m.PassDuration.WithLabelValues("models")
	m.Requests.WithLabelValues("http", "chat", "_other", engine.OutcomeMiss)
	m.PreRegisterReasons([]string{"numbers"})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, mf := range mfs {
		have[mf.GetName()] = true
	}
	for _, name := range readMetrics {
		if !have[name] {
			t.Errorf("the dashboard reads %s, which the registry does not have", name)
		}
	}
}
