package engine

import (
	"math"
	"regexp"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestBucketRanges: each bucket set covers what it measures, and resolves
// its typical values finely enough that an interpolated quantile stays
// close to the truth.
func TestBucketRanges(t *testing.T) {
	for _, c := range []struct {
		name    string
		buckets []float64
		// lowest and highest value the set must hold inside its finite
		// buckets
		lo, hi float64
		// typical values, and the widest ratio upper/lower of the bucket
		// holding each
		typical  []float64
		maxRatio float64
	}{
		{"fast (lookups, hits)", FastBuckets, 10e-6, 1, []float64{20e-6, 150e-6, 2e-3, 30e-3}, 2.5},
		{"slow (upstream, misses)", SlowBuckets, 20e-3, 60, []float64{0.06, 0.102, 0.8, 3}, 1.34},
		{"slow, the tail", SlowBuckets, 20e-3, 60, []float64{8, 30}, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := c.buckets
			if !slices.IsSorted(b) || len(slices.Compact(slices.Clone(b))) != len(b) {
				t.Fatalf("buckets not strictly increasing: %v", b)
			}
			if b[0] > c.lo || b[len(b)-1] < c.hi {
				t.Errorf("buckets %g..%g do not span %g..%g", b[0], b[len(b)-1], c.lo, c.hi)
			}
			for _, v := range c.typical {
				i := sort.SearchFloat64s(b, v)
				if i == 0 || i == len(b) {
					t.Errorf("%g falls outside the finite buckets", v)
					continue
				}
				if r := b[i] / b[i-1]; r > c.maxRatio {
					t.Errorf("%g falls in (%g, %g]: ratio %.2f > %.2f", v, b[i-1], b[i], r, c.maxRatio)
				}
			}
		})
	}
}

// TestHistogramsSizedForWhatTheyMeasure: hits and lookups use the fast
// buckets, upstream calls and misses the slow ones, and a 102 ms miss no
// longer reads as a p50 of 172 ms.
func TestHistogramsSizedForWhatTheyMeasure(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg, 0, nil)
	m.initRoutes([]string{"chat"})
	fast := []string{"semcache_hit_duration_seconds", "semcache_lookup_duration_seconds", "semcache_upstream_inter_chunk_seconds"}
	slow := []string{"semcache_miss_duration_seconds", "semcache_passthrough_duration_seconds", "semcache_upstream_duration_seconds",
		"semcache_upstream_first_token_seconds", "semcache_upstream_first_byte_seconds"}
	for i := range 100 {
		m.observeRequest("http", "chat", "a", OutcomeMiss, 100*time.Millisecond+time.Duration(i)*40*time.Microsecond)
		m.observeRequest("http", "chat", "a", OutcomeHitExact, 20*time.Microsecond+time.Duration(i)*100*time.Nanosecond)
	}
	mfs := gather(t, reg)
	bounds := func(name string) []float64 {
		mf := mfs[name]
		if mf == nil || len(mf.GetMetric()) == 0 {
			t.Fatalf("%s has no series", name)
		}
		var out []float64
		for _, b := range mf.GetMetric()[0].GetHistogram().GetBucket() {
			out = append(out, b.GetUpperBound())
		}
		return out
	}
	for _, n := range fast {
		if got := bounds(n); !slices.Equal(got, FastBuckets) {
			t.Errorf("%s buckets %v, want the fast set", n, got)
		}
	}
	for _, n := range slow {
		if got := bounds(n); !slices.Equal(got, SlowBuckets) {
			t.Errorf("%s buckets %v, want the slow set", n, got)
		}
	}
	miss := series(mfs, "semcache_miss_duration_seconds", map[string]string{"namespace": "a", "outcome": OutcomeMiss})
	hit := series(mfs, "semcache_hit_duration_seconds", map[string]string{"namespace": "a", "tier": "exact"})
	if miss == nil || hit == nil {
		t.Fatal("the namespace's hit and miss histograms are missing")
	}
	// The true medians: 102 ms and 25 µs, both just above a bucket edge
	// (the worst case of interpolation). The set for everything read the
	// miss as 175 ms (72% off) and the hit as 500 µs.
	for _, c := range []struct {
		what     string
		h        *dto.Histogram
		want     float64
		maxError float64
	}{{"miss", miss.GetHistogram(), 0.102, 0.2}, {"hit", hit.GetHistogram(), 25e-6, 0.5}} {
		if got := interpolatedQuantile(0.5, c.h); math.Abs(got-c.want)/c.want > c.maxError {
			t.Errorf("%s p50 reads %.6f s, true %.6f s (more than %.0f%% off)", c.what, got, c.want, 100*c.maxError)
		}
	}
}

// TestSeriesInitialisedAtZero: before any traffic, every labelled counter
// and histogram has its series for the known label values, at 0.
func TestSeriesInitialisedAtZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg, 2, nil)
	m.PreRegisterReasons([]string{"numbers", "negation"})
	m.initRoutes([]string{"chat", "embeddings"})
	m.InitFront("http")
	m.Namespace("tenant-a") // first sight of a namespace creates its series

	mfs := gather(t, reg)
	for _, c := range m.collectors() {
		for _, name := range describedNames(c) {
			if mf := mfs[name]; mf == nil || len(mf.GetMetric()) == 0 {
				t.Errorf("%s has no series before any traffic", name)
			}
		}
	}
	want := []struct {
		name   string
		labels map[string]string
	}{
		{"semcache_requests_total", map[string]string{"front": "http", "route": "chat", "namespace": "tenant-a", "outcome": OutcomeError}},
		{"semcache_requests_total", map[string]string{"front": "http", "route": "embeddings", "namespace": OtherLabel, "outcome": OutcomeHitExact}},
		{"semcache_items_total", map[string]string{"route": "embeddings", "outcome": "miss"}},
		{"semcache_hit_duration_seconds", map[string]string{"namespace": "tenant-a", "tier": "semantic"}},
		{"semcache_miss_duration_seconds", map[string]string{"namespace": "tenant-a", "outcome": OutcomeError}},
		{"semcache_passthrough_duration_seconds", map[string]string{"route": "chat"}},
		{"semcache_lookup_duration_seconds", map[string]string{"namespace": "tenant-a", "step": "search"}},
		{"semcache_upstream_first_token_seconds", map[string]string{"namespace": "tenant-a"}},
		{"semcache_upstream_first_byte_seconds", map[string]string{"namespace": OtherLabel}},
		{"semcache_upstream_responses_total", map[string]string{"namespace": "tenant-a", "class": "5xx"}},
		{"semcache_upstream_errors_total", map[string]string{"namespace": "tenant-a", "kind": "broken_stream"}},
		{"semcache_verifier_rejections_total", map[string]string{"namespace": "tenant-a", "reason": "negation"}},
		{"semcache_saved_tokens_total", map[string]string{"namespace": "tenant-a", "kind": "completion"}},
		{"semcache_saved_cost_usd_total", map[string]string{"namespace": "tenant-a"}},
		{"semcache_writeback_skipped_total", map[string]string{"reason": "upstream_no_store"}},
		{"semcache_coalesced_requests_total", map[string]string{"namespace": "tenant-a"}},
		{"semcache_degraded_lookups_total", map[string]string{"namespace": "tenant-a", "cause": "store"}},
		{"semcache_semantic_skipped_total", map[string]string{"namespace": OtherLabel, "reason": "too_long"}},
		{"semcache_refused_requests_total", map[string]string{"reason": RefusedOverloaded}},
		{"semcache_rag_retrievals_total", map[string]string{"outcome": "error"}},
		{"semcache_similarity_score", map[string]string{"namespace": "tenant-a", "kind": "shadow"}},
	}
	for _, w := range want {
		s := series(mfs, w.name, w.labels)
		if s == nil {
			t.Errorf("%s%v is not initialised", w.name, w.labels)
			continue
		}
		if v := s.GetCounter().GetValue() + float64(s.GetHistogram().GetSampleCount()); v != 0 {
			t.Errorf("%s%v = %v before any traffic", w.name, w.labels, v)
		}
	}
	// A front announced after the namespaces gets their series too, and a
	// namespace past the bound folds into _other without new series.
	m.InitFront("extproc")
	m.Namespace("tenant-b")
	if got := m.Namespace("tenant-c"); got != OtherLabel {
		t.Fatalf("third namespace with a bound of 2 labelled %q", got)
	}
	mfs = gather(t, reg)
	if series(mfs, "semcache_requests_total", map[string]string{"front": "extproc", "route": "chat", "namespace": "tenant-a", "outcome": OutcomeMiss}) == nil {
		t.Error("a later front has no series for a known namespace")
	}
	for _, m := range mfs["semcache_requests_total"].GetMetric() {
		if labelOf(m, "namespace") == "tenant-c" {
			t.Fatal("a namespace past the bound got its own series")
		}
	}
	build := mfs["semcache_build_info"]
	if build == nil || len(build.GetMetric()) != 1 || build.GetMetric()[0].GetGauge().GetValue() != 1 ||
		labelOf(build.GetMetric()[0], "goversion") == "" {
		t.Fatalf("semcache_build_info: %v", build)
	}
}

// TestStatusClass maps upstream statuses to the class label.
func TestStatusClass(t *testing.T) {
	for status, want := range map[int]string{200: "2xx", 204: "2xx", 304: "3xx", 404: "4xx", 429: "4xx", 500: "5xx", 503: "5xx"} {
		if got := statusClass(status); got != want {
			t.Errorf("statusClass(%d) = %q, want %q", status, got, want)
		}
	}
}

func gather(t *testing.T, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	list, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range list {
		out[mf.GetName()] = mf
	}
	return out
}

func labelOf(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// series finds the series of family name whose labels include want.
func series(mfs map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	for _, m := range mfs[name].GetMetric() {
		ok := true
		for k, v := range want {
			if labelOf(m, k) != v {
				ok = false
			}
		}
		if ok {
			return m
		}
	}
	return nil
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// describedNames are the metric names collector c describes.
func describedNames(c prometheus.Collector) []string {
	ch := make(chan *prometheus.Desc, 64)
	go func() {
		c.Describe(ch)
		close(ch)
	}()
	var out []string
	for d := range ch {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			out = append(out, m[1])
		}
	}
	return out
}

// interpolatedQuantile is PromQL's histogram_quantile on one histogram.
func interpolatedQuantile(q float64, h *dto.Histogram) float64 {
	rank := q * float64(h.GetSampleCount())
	lower, prev := 0.0, 0.0
	for _, b := range h.GetBucket() {
		upper, n := b.GetUpperBound(), float64(b.GetCumulativeCount())
		if n >= rank {
			return lower + (upper-lower)*(rank-prev)/(n-prev)
		}
		lower, prev = upper, n
	}
	return lower
}
