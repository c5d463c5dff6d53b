package admin

import (
	"sync"
	"time"
)

// histPoint is one sample of the counters the time series are built from.
type histPoint struct {
	at       time.Time
	requests map[nsOutcome]float64
	saved    map[string]savings
}

func (s snapshot) point(at time.Time) histPoint {
	return histPoint{at: at, requests: s.requests, saved: s.saved}
}

// history is a fixed-size ring of samples, oldest first.
type history struct {
	mu   sync.Mutex
	ring []histPoint
	next int
	full bool
}

func newHistory(n int) *history { return &history{ring: make([]histPoint, max(n, 2))} }

func (h *history) add(p histPoint) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ring[h.next] = p
	h.next = (h.next + 1) % len(h.ring)
	if h.next == 0 {
		h.full = true
	}
}

// points returns the samples, oldest first.
func (h *history) points() []histPoint {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.full {
		return append([]histPoint(nil), h.ring[:h.next]...)
	}
	out := make([]histPoint, 0, len(h.ring))
	out = append(out, h.ring[h.next:]...)
	return append(out, h.ring[:h.next]...)
}

// Point is one value of a time series; T is in Unix milliseconds.
type Point struct {
	T int64   `json:"t"`
	V float64 `json:"v"`
}

// Series is a named time series.
type Series struct {
	Name string `json:"name"`
	// Tier is exact, semantic or all (hit rate), or the unit of a savings
	// series (usd, tokens).
	Tier   string  `json:"tier"`
	Points []Point `json:"points"`
}

// hitRateSeries turns consecutive samples into the hit rate of each
// interval, per tier, for one namespace ("" for all). Intervals without
// lookups have no point.
func hitRateSeries(pts []histPoint, scope string) []Series {
	all := Series{Name: "all hits", Tier: "all", Points: []Point{}}
	exact := Series{Name: "exact tier", Tier: "exact", Points: []Point{}}
	semantic := Series{Name: "semantic tier", Tier: "semantic", Points: []Point{}}
	for i := 1; i < len(pts); i++ {
		var d Summary
		for k, v := range pts[i].requests {
			if inScope(scope, k.ns) {
				d.add(k.outcome, v-pts[i-1].requests[k])
			}
		}
		lookups := d.HitsExact + d.HitsSemantic + d.Misses
		if lookups <= 0 {
			continue
		}
		t := pts[i].at.UnixMilli()
		all.Points = append(all.Points, Point{t, (d.HitsExact + d.HitsSemantic) / lookups})
		exact.Points = append(exact.Points, Point{t, d.HitsExact / lookups})
		semantic.Points = append(semantic.Points, Point{t, d.HitsSemantic / lookups})
	}
	return []Series{all, exact, semantic}
}

// savingsSeries are the cumulative savings at each sample.
func savingsSeries(pts []histPoint, scope string) []Series {
	usd := Series{Name: "USD saved", Tier: "usd", Points: make([]Point, 0, len(pts))}
	tokens := Series{Name: "tokens saved", Tier: "tokens", Points: make([]Point, 0, len(pts))}
	for _, p := range pts {
		var s savings
		for ns, v := range p.saved {
			if inScope(scope, ns) {
				s.prompt += v.prompt
				s.completion += v.completion
				s.usd += v.usd
			}
		}
		t := p.at.UnixMilli()
		usd.Points = append(usd.Points, Point{t, s.usd})
		tokens.Points = append(tokens.Points, Point{t, s.prompt + s.completion})
	}
	return []Series{usd, tokens}
}
