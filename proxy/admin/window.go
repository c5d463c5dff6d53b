package admin

import (
	"time"

	dto "github.com/prometheus/client_model/go"
)

// The latency and similarity panels cover the dashboard's range: the
// history keeps compact readings of their histograms (cumulative bucket
// counts) on some of its samples, and a panel shows the live histograms
// minus the reading at the range's start. Readings are sparser than the
// samples, so a panel's window starts at most HistEvery (5 m and 1 h) or
// CoarseHistEvery (24 h) before the range does. Their memory is
// (60 + 48) readings × (namespace labels × 9 histograms × ~190 B): about
// 18 MB with 101 namespace labels, 0.2 MB with one.
const (
	HistEvery       = time.Minute
	CoarseHistEvery = 30 * time.Minute
)

// compactHist is one reading of a histogram: its count, sum and
// cumulative bucket counts.
type compactHist struct {
	count uint64
	sum   float64
	cum   []uint64
}

func compact(h *dto.Histogram) compactHist {
	c := compactHist{count: h.GetSampleCount(), sum: h.GetSampleSum(), cum: make([]uint64, len(h.GetBucket()))}
	for i, b := range h.GetBucket() {
		c.cum[i] = b.GetCumulativeCount()
	}
	return c
}

// histReading holds the readings of the panels' histograms at one time.
type histReading struct {
	durations, similarity map[histKey]compactHist
}

func readHists(s snapshot) *histReading {
	r := &histReading{durations: make(map[histKey]compactHist, len(s.durations)), similarity: make(map[histKey]compactHist, len(s.similarity))}
	for k, h := range s.durations {
		r.durations[k] = compact(h)
	}
	for k, h := range s.similarity {
		r.similarity[k] = compact(h)
	}
	return r
}

// windowed returns the live histograms minus their readings in base (nil:
// none, the histograms are since start). A histogram whose reading does
// not fit (other buckets, or counts that went down) is kept whole.
func windowed(live map[histKey]*dto.Histogram, base map[histKey]compactHist) map[histKey]*dto.Histogram {
	if base == nil {
		return live
	}
	out := make(map[histKey]*dto.Histogram, len(live))
	for k, h := range live {
		b, ok := base[k]
		if !ok {
			out[k] = h
			continue
		}
		out[k] = minus(h, b)
	}
	return out
}

func minus(h *dto.Histogram, b compactHist) *dto.Histogram {
	buckets := h.GetBucket()
	if len(buckets) != len(b.cum) || h.GetSampleCount() < b.count {
		return h
	}
	count, sum := h.GetSampleCount()-b.count, h.GetSampleSum()-b.sum
	out := &dto.Histogram{SampleCount: &count, SampleSum: &sum, Bucket: make([]*dto.Bucket, len(buckets))}
	for i, bk := range buckets {
		c := bk.GetCumulativeCount()
		if c < b.cum[i] {
			return h
		}
		out.Bucket[i] = &dto.Bucket{UpperBound: proto(bk.GetUpperBound()), CumulativeCount: proto(c - b.cum[i])}
	}
	return out
}

// baseline returns the reading the panels of a range of rng subtract: the
// newest one at or before now-rng; when there is none, the oldest one if
// the ring has dropped older samples (the window is then a little
// shorter than rng), else nil (nothing has been dropped: the process is
// younger than the range, and the panels are since start). since is the
// reading's time (zero for nil).
func (h *history) baseline(rng time.Duration, now time.Time) (r *histReading, since time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	src := h.ringFor(rng)
	from := now.Add(-rng)
	var oldest *histPoint
	pts := src.all()
	for i := range pts {
		p := &pts[i]
		if p.hists == nil {
			continue
		}
		if oldest == nil {
			oldest = p
		}
		if !p.at.After(from) {
			r, since = p.hists, p.at
		}
	}
	if r == nil && oldest != nil && src.full {
		r, since = oldest.hists, oldest.at
	}
	return r, since
}
