package admin

import (
	"sync"
	"time"
)

// The dashboard's time ranges. The history keeps two rings of samples: a
// fine one (every SampleEvery, reaching back an hour) for the 5 m and 1 h
// ranges, and a coarse one (every CoarseEvery, reaching back a day) for
// 24 h. Both are bounded by points, so the memory a history holds is
// (fine + coarse points) × (namespace labels × 88 B + 80 B): at the
// defaults (721 + 721 points, 5 s and 2 min) about 13 MB with 101
// namespace labels, 0.2 MB with one.
const (
	// MaxRange is the longest range the dashboard shows.
	MaxRange = 24 * time.Hour
	// FineRange is how far back the fine ring reaches.
	FineRange = time.Hour
	// MaxChartPoints bounds the points of a series the API returns: a
	// longer range is downsampled by keeping every n-th sample (the
	// counters are cumulative, so the intervals between kept samples are
	// exact, only longer).
	MaxChartPoints = 360
)

// Ranges are the time ranges the dashboard offers, by name.
var Ranges = map[string]time.Duration{"5m": 5 * time.Minute, "1h": time.Hour, "24h": MaxRange}

// nsCounts are the cumulative counters of one namespace label in a sample.
type nsCounts struct {
	exact, semantic, partial, miss, bypass, errors float64
	promptTokens, completionTokens, usd            float64
	// upstream counts upstream responses and unreachable upstreams;
	// upstreamFailed the 5xx responses, unreachable upstreams and broken
	// streams among them.
	upstream, upstreamFailed float64
}

func (c *nsCounts) addTo(o nsCounts) {
	c.exact += o.exact
	c.semantic += o.semantic
	c.partial += o.partial
	c.miss += o.miss
	c.bypass += o.bypass
	c.errors += o.errors
	c.promptTokens += o.promptTokens
	c.completionTokens += o.completionTokens
	c.usd += o.usd
	c.upstream += o.upstream
	c.upstreamFailed += o.upstreamFailed
}

func (c nsCounts) minus(o nsCounts) nsCounts {
	return nsCounts{
		exact: c.exact - o.exact, semantic: c.semantic - o.semantic, partial: c.partial - o.partial,
		miss: c.miss - o.miss, bypass: c.bypass - o.bypass, errors: c.errors - o.errors,
		promptTokens: c.promptTokens - o.promptTokens, completionTokens: c.completionTokens - o.completionTokens, usd: c.usd - o.usd,
		upstream: c.upstream - o.upstream, upstreamFailed: c.upstreamFailed - o.upstreamFailed,
	}
}

// histPoint is one sample of the counters the time series are built from.
type histPoint struct {
	at time.Time
	// ns holds the counters per namespace label, indexed as the
	// history's names (a sample taken before a label appeared is shorter).
	ns []nsCounts
	// hotBytes, maxBytes: the hot tier's size and budget; evictions: the
	// budget's evictions (cumulative).
	hotBytes, maxBytes, evictions float64
	// hists is a reading of the latency and similarity histograms (nil on
	// most samples; see window.go).
	hists *histReading
}

// ring is a fixed-size ring of samples.
type ring struct {
	pts  []histPoint
	next int
	full bool
}

func newRing(n int) *ring { return &ring{pts: make([]histPoint, max(n, 2))} }

func (r *ring) add(p histPoint) {
	r.pts[r.next] = p
	r.next = (r.next + 1) % len(r.pts)
	if r.next == 0 {
		r.full = true
	}
}

// all returns the samples, oldest first.
func (r *ring) all() []histPoint {
	if !r.full {
		return append([]histPoint(nil), r.pts[:r.next]...)
	}
	out := make([]histPoint, 0, len(r.pts))
	out = append(out, r.pts[r.next:]...)
	return append(out, r.pts[:r.next]...)
}

// history keeps the fine and the coarse ring.
type history struct {
	mu          sync.Mutex
	names       []string
	index       map[string]int
	fine        *ring
	coarse      *ring
	coarseEvery time.Duration
	lastCoarse  time.Time
	// lastHist and lastCoarseHist are the times of the last samples of
	// each ring that carry histogram readings.
	lastHist, lastCoarseHist time.Time
}

func newHistory(every, coarseEvery time.Duration) *history {
	return &history{
		index:       map[string]int{},
		fine:        newRing(int(FineRange/every) + 1),
		coarse:      newRing(int(MaxRange/coarseEvery) + 1),
		coarseEvery: coarseEvery,
	}
}

// point turns a snapshot into a sample, registering new namespace labels.
func (h *history) point(s snapshot, at time.Time) histPoint {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.pointLocked(s, at)
}

func (h *history) pointLocked(s snapshot, at time.Time) histPoint {
	for ns := range s.counts {
		if _, ok := h.index[ns]; !ok {
			h.index[ns] = len(h.names)
			h.names = append(h.names, ns)
		}
	}
	p := histPoint{at: at, ns: make([]nsCounts, len(h.names)),
		hotBytes: s.gauges.HotBytes, maxBytes: s.gauges.HotMaxBytes, evictions: s.gauges.Evictions}
	for ns, c := range s.counts {
		p.ns[h.index[ns]] = c
	}
	return p
}

// add records a snapshot taken at at.
func (h *history) add(s snapshot, at time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.pointLocked(s, at)
	if h.lastHist.IsZero() || at.Sub(h.lastHist) >= HistEvery {
		p.hists = readHists(s)
		h.lastHist = at
	}
	h.fine.add(p)
	if h.lastCoarse.IsZero() || at.Sub(h.lastCoarse) >= h.coarseEvery {
		c := p
		c.hists = nil
		if h.lastCoarseHist.IsZero() || at.Sub(h.lastCoarseHist) >= CoarseHistEvery {
			c.hists = p.hists
			if c.hists == nil {
				c.hists = readHists(s)
			}
			h.lastCoarseHist = at
		}
		h.coarse.add(c)
		h.lastCoarse = at
	}
}

// window returns the samples of the last rng before now, oldest first,
// from the ring that reaches back far enough, then live (a sample of now),
// downsampled to at most MaxChartPoints; and the names the samples index.
func (h *history) window(rng time.Duration, now time.Time, live snapshot) ([]histPoint, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	src := h.ringFor(rng)
	var pts []histPoint
	from := now.Add(-rng)
	for _, p := range src.all() {
		if !p.at.Before(from) && p.at.Before(now) {
			pts = append(pts, p)
		}
	}
	pts = append(pts, h.pointLocked(live, now))
	return downsample(pts, MaxChartPoints), append([]string(nil), h.names...)
}

// ringFor is the ring that reaches back far enough for a range of rng.
func (h *history) ringFor(rng time.Duration) *ring {
	if rng > FineRange {
		return h.coarse
	}
	return h.fine
}

// downsample keeps at most n of pts, evenly strided, the last always.
func downsample(pts []histPoint, n int) []histPoint {
	if len(pts) <= n {
		return pts
	}
	stride := (len(pts) + n - 1) / n
	out := make([]histPoint, 0, n)
	// Count back from the last sample so it is kept.
	for i := (len(pts) - 1) % stride; i < len(pts); i += stride {
		out = append(out, pts[i])
	}
	return out
}

// scoped sums the counters of the namespace labels in scope ("": all).
func scoped(p histPoint, names []string, scope string) nsCounts {
	var c nsCounts
	for i, v := range p.ns {
		if inScope(scope, names[i]) {
			c.addTo(v)
		}
	}
	return c
}

// Point is one value of a time series; T is in Unix milliseconds. Break
// marks the first point after an interval without data: a chart starts a
// new line there instead of drawing across the idle period.
type Point struct {
	T     int64   `json:"t"`
	V     float64 `json:"v"`
	Break bool    `json:"break,omitempty"`
}

// Series is a named time series.
type Series struct {
	Name string `json:"name"`
	// Key identifies the series for styling: all, exact, semantic (hit
	// rate); usd, tokens (savings); lookups, passthrough, errors
	// (traffic); failed (upstream errors); bytes, budget (hot tier);
	// evictions.
	Key    string  `json:"key"`
	Points []Point `json:"points"`
}

// seriesBuilder appends per-interval values, marking breaks where an
// interval had no data.
type seriesBuilder struct {
	s   Series
	gap bool
}

func newSeries(name, key string) *seriesBuilder {
	return &seriesBuilder{s: Series{Name: name, Key: key, Points: []Point{}}}
}

func (b *seriesBuilder) add(t time.Time, v float64) {
	b.s.Points = append(b.s.Points, Point{T: t.UnixMilli(), V: v, Break: b.gap && len(b.s.Points) > 0})
	b.gap = false
}

func (b *seriesBuilder) skip() { b.gap = true }

// Charts are the time series of one namespace scope over one range, all
// on the same time axis [From, To].
type Charts struct {
	From int64 `json:"from"`
	To   int64 `json:"to"`
	// Step is the sampling interval of the series, in milliseconds.
	Step int64 `json:"step"`
	// HitRate per interval: all hits, the exact tier, the semantic tier;
	// intervals without lookups break the lines.
	HitRate []Series `json:"hit_rate"`
	// Savings are the USD and tokens saved since the range's start.
	Savings []Series `json:"savings"`
	// Traffic is requests per second by kind: lookups (hits and misses),
	// passthrough (never-cached requests and uncached APIs), errors.
	Traffic []Series `json:"traffic"`
	// UpstreamErrors is the share of upstream calls that failed (5xx,
	// unreachable, broken stream) per interval; intervals without upstream
	// calls break the line.
	UpstreamErrors []Series `json:"upstream_errors"`
	// HotTier is the hot tier's bytes and its budget (whole instance).
	HotTier []Series `json:"hot_tier"`
	// Evictions per minute from the hot tier's budget (whole instance).
	Evictions []Series `json:"evictions"`
}

// charts builds every time series of scope from consecutive samples.
func charts(pts []histPoint, names []string, scope string, from, to time.Time, step time.Duration) Charts {
	all, exact, semantic := newSeries("all hits", "all"), newSeries("exact tier", "exact"), newSeries("semantic tier", "semantic")
	usd, tokens := newSeries("USD saved", "usd"), newSeries("tokens saved", "tokens")
	lookups, pass, errs := newSeries("lookups", "lookups"), newSeries("pass-through", "passthrough"), newSeries("errors", "errors")
	failed := newSeries("failed upstream calls", "failed")
	hot, budget := newSeries("hot tier", "bytes"), newSeries("budget", "budget")
	evictions := newSeries("evictions", "evictions")
	var base nsCounts
	if len(pts) > 0 {
		base = scoped(pts[0], names, scope)
	}
	for i, p := range pts {
		cur := scoped(p, names, scope)
		usd.add(p.at, cur.usd-base.usd)
		tokens.add(p.at, cur.promptTokens+cur.completionTokens-base.promptTokens-base.completionTokens)
		hot.add(p.at, p.hotBytes)
		budget.add(p.at, p.maxBytes)
		if i == 0 {
			continue
		}
		prev := pts[i-1]
		d := cur.minus(scoped(prev, names, scope))
		secs := p.at.Sub(prev.at).Seconds()
		if secs <= 0 {
			continue
		}
		if n := d.exact + d.semantic + d.partial + d.miss; n > 0 {
			all.add(p.at, (d.exact+d.semantic)/n)
			exact.add(p.at, d.exact/n)
			semantic.add(p.at, d.semantic/n)
		} else {
			all.skip()
			exact.skip()
			semantic.skip()
		}
		lookups.add(p.at, (d.exact+d.semantic+d.partial+d.miss)/secs)
		pass.add(p.at, d.bypass/secs)
		errs.add(p.at, d.errors/secs)
		if d.upstream > 0 {
			failed.add(p.at, d.upstreamFailed/d.upstream)
		} else {
			failed.skip()
		}
		evictions.add(p.at, max(0, p.evictions-prev.evictions)*60/secs)
	}
	return Charts{
		From: from.UnixMilli(), To: to.UnixMilli(), Step: step.Milliseconds(),
		HitRate:        []Series{all.s, exact.s, semantic.s},
		Savings:        []Series{usd.s, tokens.s},
		Traffic:        []Series{lookups.s, pass.s, errs.s},
		UpstreamErrors: []Series{failed.s},
		HotTier:        []Series{hot.s, budget.s},
		Evictions:      []Series{evictions.s},
	}
}
