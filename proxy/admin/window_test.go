package admin

import (
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// TestPanelsCoverTheRange: the latency panel of a range shows what
// happened in it, not since start. An hour of slow misses, then five
// minutes of fast ones: the 5 m panel sees only the fast ones, the 24 h
// panel (the process is younger than a day) all of them.
func TestPanelsCoverTheRange(t *testing.T) {
	h := newHistory(5*time.Second, 2*time.Minute)
	start := time.Unix(1_000_000, 0)
	key := histKey{"a", "miss"}
	// Cumulative: 100 misses ≤ 4 s during the first hour; 50 more ≤ 1 s
	// in the last five minutes.
	slow := snapshot{durations: map[histKey]*dto.Histogram{key: hist(map[float64]uint64{1: 0, 4: 100}, 100)}}
	both := snapshot{durations: map[histKey]*dto.Histogram{key: hist(map[float64]uint64{1: 50, 4: 150}, 150)}}
	var at time.Time
	for i := range 12 * 65 { // 65 minutes of samples every 5 s
		at = start.Add(time.Duration(i) * 5 * time.Second)
		s := slow
		if at.Sub(start) > 59*time.Minute+30*time.Second {
			s = both
		}
		h.add(s, at)
	}
	now := at.Add(time.Second)
	tests := []struct {
		rng       time.Duration
		count     uint64
		p50       float64
		sinceZero bool
	}{
		{5 * time.Minute, 50, 0.5, false},
		{24 * time.Hour, 150, 1.75, true}, // since start: 50 ≤ 1 s, 100 in (1, 4]: the median, the 75th, is a quarter into it
	}
	for _, tt := range tests {
		base, since := h.baseline(tt.rng, now)
		if since.IsZero() != tt.sinceZero || (!since.IsZero() && (since.After(now.Add(-tt.rng)) || since.Before(now.Add(-tt.rng-HistEvery)))) {
			t.Errorf("%v: panels since %v (now %v)", tt.rng, since, now)
		}
		d := both.durations
		if base != nil {
			d = windowed(d, base.durations)
		}
		lat := latencies(d, "")
		if len(lat) != 1 || lat[0].Count != tt.count || lat[0].P50 != tt.p50 {
			t.Errorf("%v: latency %+v, want %d misses with p50 %v", tt.rng, lat, tt.count, tt.p50)
		}
	}
	// A reading that does not fit (the counter went down: a reset) leaves
	// the histogram whole rather than negative.
	reset := snapshot{durations: map[histKey]*dto.Histogram{key: hist(map[float64]uint64{1: 1, 4: 1}, 1)}}
	base, _ := h.baseline(5*time.Minute, now)
	if got := windowed(reset.durations, base.durations)[key]; got.GetSampleCount() != 1 {
		t.Errorf("after a reset: %d samples, want the live 1", got.GetSampleCount())
	}
}

// TestHistoryReadingsBounded: histogram readings are kept on one sample a
// minute (fine ring) and one per 30 minutes (coarse ring), not on all.
func TestHistoryReadingsBounded(t *testing.T) {
	h := newHistory(5*time.Second, 2*time.Minute)
	s := snapshot{durations: map[histKey]*dto.Histogram{{"a", "miss"}: hist(map[float64]uint64{1: 1}, 1)}}
	start := time.Unix(1_000_000, 0)
	for i := range 25 * 720 {
		h.add(s, start.Add(time.Duration(i)*5*time.Second))
	}
	count := func(r *ring) int {
		n := 0
		for _, p := range r.all() {
			if p.hists != nil {
				n++
			}
		}
		return n
	}
	if n := count(h.fine); n < 60 || n > 61 {
		t.Errorf("fine ring: %d readings, want 60–61 (one a minute for an hour)", n)
	}
	if n := count(h.coarse); n < 48 || n > 49 {
		t.Errorf("coarse ring: %d readings, want 48–49 (one per 30 minutes for a day)", n)
	}
}
