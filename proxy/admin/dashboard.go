package admin

import (
	"embed"
	"fmt"
	"io/fs"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/semcache/semcache/engine"
	"github.com/semcache/semcache/httpapi"
)

// Dashboard is GET /admin/api/dashboard: everything the dashboard page
// draws, for one namespace label or all of them, over one time range.
type Dashboard struct {
	GeneratedAt time.Time `json:"generated_at"`
	// Namespace is the selected namespace label ("" for all).
	Namespace string `json:"namespace"`
	// Range is the selected time range (5m, 1h, 24h).
	Range       string  `json:"range"`
	SampleEvery float64 `json:"sample_every_seconds"`
	// PricesConfigured is false when no price table is configured: the
	// money saved is then unknown, not zero.
	PricesConfigured bool `json:"prices_configured"`
	// Totals are the counters since the process started.
	Totals Summary `json:"totals"`
	// Namespaces summarises every namespace label, busiest first.
	Namespaces []NamespaceSummary `json:"namespaces"`
	// Routes are the totals per API (chat, responses, embeddings, …) and
	// per passed-through path family, over all namespaces.
	Routes []RouteSummary `json:"routes"`
	// Charts are the time series of the range, on one time axis.
	Charts Charts `json:"charts"`
	// Latency is the server-side duration per outcome, and the upstream's
	// time to the first token (SSE) and first byte (JSON) of misses, over
	// the range (from PanelsSince).
	Latency []Latency `json:"latency"`
	// Similarity is the histogram of semantic candidates' scores over the
	// range (from PanelsSince).
	Similarity Similarity `json:"similarity"`
	// PanelsSince is where the latency and similarity panels start: the
	// history's reading nearest before the range's start (at most a
	// minute before it, 30 minutes for 24 h); absent when the process is
	// younger than the range (the panels are since start).
	PanelsSince time.Time     `json:"panels_since,omitzero"`
	Rejections  []ReasonCount `json:"rejections"`
	Cache       CacheGauges   `json:"cache"`
	TopEntries  []TopEntry    `json:"top_entries"`
	Misses      []Miss        `json:"recent_misses"`
	// Redacted is true when prompts were left out: the request did not
	// carry the admin token (or none is configured).
	Redacted bool `json:"prompts_redacted"`
}

// Latency summarises the durations of one outcome, in seconds: hit_exact,
// hit_semantic, hit_partial, miss, bypass (requests), first_token and
// first_byte (the upstream's, of misses).
type Latency struct {
	Outcome string  `json:"outcome"`
	Count   uint64  `json:"count"`
	Mean    float64 `json:"mean"`
	P50     float64 `json:"p50"`
	P95     float64 `json:"p95"`
	P99     float64 `json:"p99"`
}

// Similarity is a histogram per kind (served, rejected, shadow): Counts[i]
// holds the candidates scoring in (Bounds[i-1], Bounds[i]]; the first
// bucket starts at -1.
type Similarity struct {
	Bounds   []float64 `json:"bounds"`
	Served   []uint64  `json:"served"`
	Rejected []uint64  `json:"rejected"`
	Shadow   []uint64  `json:"shadow"`
}

// ReasonCount is a verifier rejection reason and its count.
type ReasonCount struct {
	Reason string  `json:"reason"`
	Count  float64 `json:"count"`
}

const (
	dashboardTop    = 10
	dashboardMisses = 15
)

func (a *Admin) handleDashboard(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	rng := q.Get("range")
	if rng == "" {
		rng = "5m"
	}
	if _, ok := Ranges[rng]; !ok {
		return apiError(http.StatusBadRequest, "invalid_argument", fmt.Sprintf("range %q: want 5m, 1h or 24h", rng))
	}
	snap, err := readSnapshot(a.gatherer)
	if err != nil {
		return err
	}
	d := a.dashboard(snap, q.Get("namespace"), rng)
	if !httpapi.Authenticated(r) {
		d.redact()
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

// redact removes prompts from the dashboard's data: they are shown only
// to a request authenticated with the admin token.
func (d *Dashboard) redact() {
	d.Redacted = true
	for i := range d.TopEntries {
		d.TopEntries[i].Prompt = ""
	}
	for i := range d.Misses {
		d.Misses[i].Prompt = ""
	}
}

// dashboard assembles the page's data. The time series end with a live
// point (the history plus snap), so traffic shows at once, and share one
// "now".
func (a *Admin) dashboard(snap snapshot, scope, rng string) Dashboard {
	now := a.now()
	span := Ranges[rng]
	pts, names := a.history.window(span, now, snap)
	base, since := a.history.baseline(span, now)
	durations, sims := snap.durations, snap.similarity
	if base != nil {
		durations, sims = windowed(durations, base.durations), windowed(sims, base.similarity)
	}
	step := a.every
	if span > FineRange {
		step = a.coarseEvery
	}
	if len(pts) > 1 {
		step = max(step, pts[len(pts)-1].at.Sub(pts[len(pts)-2].at))
	}
	d := Dashboard{
		GeneratedAt:      now,
		Namespace:        scope,
		Range:            rng,
		SampleEvery:      a.every.Seconds(),
		PricesConfigured: a.hasPrices(),
		Totals:           snap.summary(scope),
		Namespaces:       snap.namespaceSummaries(),
		Routes:           snap.routeSummaries(),
		Charts:           charts(pts, names, scope, now.Add(-span), now, step),
		Latency:          latencies(durations, scope),
		Similarity:       similarity(sims, scope),
		PanelsSince:      since,
		Rejections:       rejections(snap.rejections),
		Cache:            snap.gauges,
		TopEntries:       []TopEntry{},
		Misses:           []Miss{},
	}
	if a.tracker != nil {
		d.TopEntries = a.tracker.Top(scope, dashboardTop)
		d.Misses = a.tracker.Misses(scope, dashboardMisses)
	}
	return d
}

// latencyRows are the rows of the latency chart, in order.
var latencyRows = []string{"hit_exact", "hit_semantic", engine.OutcomeHitPartial, engine.OutcomeMiss, "first_token", "first_byte", engine.OutcomeBypass}

// latencies summarises the histograms of scope ("": all namespaces).
// Pass-through durations are by route, not namespace: they show for all
// namespaces only.
func latencies(h map[histKey]*dto.Histogram, scope string) []Latency {
	out := []Latency{}
	for _, row := range latencyRows {
		what := row
		if what == "hit_exact" || what == "hit_semantic" {
			what = "hit_" + strings.TrimPrefix(row, "hit_")
		}
		var parts []*dto.Histogram
		for k, hist := range h {
			if k.what != what {
				continue
			}
			if row == engine.OutcomeBypass {
				if scope == "" {
					parts = append(parts, hist)
				}
			} else if inScope(scope, k.ns) {
				parts = append(parts, hist)
			}
		}
		hist := mergeHistograms(parts)
		n := hist.GetSampleCount()
		if n == 0 {
			continue
		}
		out = append(out, Latency{
			Outcome: row, Count: n, Mean: hist.GetSampleSum() / float64(n),
			P50: quantile(0.5, hist), P95: quantile(0.95, hist), P99: quantile(0.99, hist),
		})
	}
	return out
}

// mergeHistograms adds histograms with the same buckets.
func mergeHistograms(hs []*dto.Histogram) *dto.Histogram {
	if len(hs) == 0 {
		return nil
	}
	var count uint64
	var sum float64
	buckets := make([]*dto.Bucket, len(hs[0].GetBucket()))
	for i, b := range hs[0].GetBucket() {
		buckets[i] = &dto.Bucket{UpperBound: proto(b.GetUpperBound()), CumulativeCount: proto(uint64(0))}
	}
	for _, h := range hs {
		count += h.GetSampleCount()
		sum += h.GetSampleSum()
		for i, b := range h.GetBucket() {
			if i < len(buckets) {
				*buckets[i].CumulativeCount += b.GetCumulativeCount()
			}
		}
	}
	return &dto.Histogram{SampleCount: &count, SampleSum: &sum, Bucket: buckets}
}

func proto[T any](v T) *T { return &v }

func similarity(hs map[histKey]*dto.Histogram, scope string) Similarity {
	var s Similarity
	h := map[string]*dto.Histogram{}
	for _, kind := range []string{"served", "rejected", "shadow"} {
		var parts []*dto.Histogram
		for k, hist := range hs {
			if k.what == kind && inScope(scope, k.ns) {
				parts = append(parts, hist)
			}
		}
		if m := mergeHistograms(parts); m != nil {
			h[kind] = m
		}
	}
	for _, hist := range h {
		if len(hist.GetBucket()) > len(s.Bounds) {
			s.Bounds = s.Bounds[:0]
			for _, b := range hist.GetBucket() {
				if !math.IsInf(b.GetUpperBound(), 1) {
					s.Bounds = append(s.Bounds, b.GetUpperBound())
				}
			}
		}
	}
	counts := func(hist *dto.Histogram) []uint64 {
		out := make([]uint64, len(s.Bounds))
		var prev uint64
		for i, b := range hist.GetBucket() {
			if i >= len(out) {
				break
			}
			out[i] = b.GetCumulativeCount() - prev
			prev = b.GetCumulativeCount()
		}
		return out
	}
	s.Served, s.Rejected, s.Shadow = counts(h["served"]), counts(h["rejected"]), counts(h["shadow"])
	if s.Bounds == nil {
		s.Bounds = []float64{}
	}
	return s
}

func rejections(m map[string]float64) []ReasonCount {
	out := make([]ReasonCount, 0, len(m))
	for r, n := range m {
		out = append(out, ReasonCount{Reason: r, Count: n})
	}
	slices.SortFunc(out, func(a, b ReasonCount) int {
		if c := compareDesc(a.Count, b.Count); c != 0 {
			return c
		}
		return strings.Compare(a.Reason, b.Reason)
	})
	return out
}

//go:embed dashboard
var assets embed.FS

// dashboardHandler serves the embedded page under /dashboard/.
func dashboardHandler() http.Handler {
	sub, err := fs.Sub(assets, "dashboard")
	if err != nil {
		panic(err) // the embed directive guarantees the directory
	}
	files := http.StripPrefix("/dashboard/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-cache")
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		files.ServeHTTP(w, r)
	})
}
