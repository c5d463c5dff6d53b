package admin

import (
	"embed"
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
// draws, for one namespace label or all of them.
type Dashboard struct {
	GeneratedAt time.Time `json:"generated_at"`
	// Namespace is the selected namespace label ("" for all).
	Namespace   string  `json:"namespace"`
	SampleEvery float64 `json:"sample_every_seconds"`
	// Totals are the counters since the process started.
	Totals Summary `json:"totals"`
	// Namespaces summarises every namespace label, busiest first.
	Namespaces []NamespaceSummary `json:"namespaces"`
	// Routes are the totals per API (chat, responses, embeddings, …) and
	// per passed-through path family, over all namespaces.
	Routes []RouteSummary `json:"routes"`
	// HitRate is the hit rate per sampling interval: all hits, the exact
	// tier and the semantic tier.
	HitRate []Series `json:"hit_rate"`
	// Savings are the cumulative USD and tokens saved.
	Savings []Series `json:"savings"`
	// Latency is the server-side duration per outcome (all namespaces).
	Latency []Latency `json:"latency"`
	// Similarity is the histogram of semantic candidates' scores (all
	// namespaces).
	Similarity Similarity    `json:"similarity"`
	Rejections []ReasonCount `json:"rejections"`
	Cache      CacheGauges   `json:"cache"`
	TopEntries []TopEntry    `json:"top_entries"`
	Misses     []Miss        `json:"recent_misses"`
	// Redacted is true when prompts were left out: the request did not
	// carry the admin token (or none is configured).
	Redacted bool `json:"prompts_redacted"`
}

// Latency summarises the request durations of one outcome, in seconds.
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
	snap, err := readSnapshot(a.gatherer)
	if err != nil {
		return err
	}
	d := a.dashboard(snap, r.URL.Query().Get("namespace"))
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
// point (the history plus snap), so traffic shows at once.
func (a *Admin) dashboard(snap snapshot, scope string) Dashboard {
	now := a.now()
	pts := append(a.history.points(), snap.point(now))
	d := Dashboard{
		GeneratedAt: now,
		Namespace:   scope,
		SampleEvery: a.every.Seconds(),
		Totals:      snap.summary(scope),
		Namespaces:  snap.namespaceSummaries(),
		Routes:      snap.routeSummaries(),
		HitRate:     hitRateSeries(pts, scope),
		Savings:     savingsSeries(pts, scope),
		Latency:     latencies(snap.durations),
		Similarity:  similarity(snap.similarity),
		Rejections:  rejections(snap.rejections),
		Cache:       snap.gauges,
		TopEntries:  []TopEntry{},
		Misses:      []Miss{},
	}
	if a.tracker != nil {
		d.TopEntries = a.tracker.Top(scope, dashboardTop)
		d.Misses = a.tracker.Misses(scope, dashboardMisses)
	}
	return d
}

func latencies(h map[string]*dto.Histogram) []Latency {
	out := []Latency{}
	for _, outcome := range []string{engine.OutcomeHitExact, engine.OutcomeHitSemantic, engine.OutcomeHitPartial, engine.OutcomeMiss, engine.OutcomeBypass} {
		hist := h[outcome]
		n := hist.GetSampleCount()
		if n == 0 {
			continue
		}
		out = append(out, Latency{
			Outcome: outcome, Count: n, Mean: hist.GetSampleSum() / float64(n),
			P50: quantile(0.5, hist), P95: quantile(0.95, hist), P99: quantile(0.99, hist),
		})
	}
	return out
}

func similarity(h map[string]*dto.Histogram) Similarity {
	var s Similarity
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
