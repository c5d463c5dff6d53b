package compare

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Summary is one row of the table: medians over the rounds.
type Summary struct {
	Mode string
	// DirectP50, DirectP99 and DirectThroughput are the direct calls'.
	DirectP50, DirectP99 time.Duration
	DirectThroughput     float64
	// AddedP50 and AddedP99 are semcache's latency minus direct's, per
	// round.
	AddedP50, AddedP99 time.Duration
	// Throughput is semcache's; Ratio is it over direct's, per round.
	Throughput, Ratio float64
	// CPULatency and CPUThroughput are semcache's CPU per request.
	CPULatency, CPUThroughput time.Duration
	// RSS and PeakRSS are the largest of the rounds.
	RSS, PeakRSS int64
	// Errors, Verdicts and WriteBack add up every round.
	Errors    int
	Verdicts  map[string]int
	WriteBack WriteBack
}

// Summaries are the report's rows.
func (r Report) Summaries() []Summary {
	out := make([]Summary, 0, len(r.Rows))
	for _, row := range r.Rows {
		n := min(len(row.Direct), len(row.Semcache))
		if n == 0 {
			continue
		}
		s := Summary{Mode: row.Mode, Verdicts: map[string]int{}}
		var dp50, dp99, ap50, ap99, cl, ct []time.Duration
		var dtp, tp, ratio []float64
		for i := range n {
			d, m := row.Direct[i], row.Semcache[i]
			dp50, dp99 = append(dp50, d.P50), append(dp99, d.P99)
			ap50, ap99 = append(ap50, m.P50-d.P50), append(ap99, m.P99-d.P99)
			cl, ct = append(cl, m.CPULatency), append(ct, m.CPUThroughput)
			dtp, tp = append(dtp, d.Throughput), append(tp, m.Throughput)
			if d.Throughput > 0 {
				ratio = append(ratio, m.Throughput/d.Throughput)
			}
			s.RSS, s.PeakRSS = max(s.RSS, m.RSS), max(s.PeakRSS, m.PeakRSS)
			s.Errors += d.Errors + m.Errors
			for k, v := range m.Verdicts {
				s.Verdicts[k] += v
			}
			s.WriteBack.Stored += m.WriteBack.Stored
			s.WriteBack.Written += m.WriteBack.Written
			s.WriteBack.Waited += m.WriteBack.Waited
			s.WriteBack.Dropped += m.WriteBack.Dropped
			s.WriteBack.IndexDropped += m.WriteBack.IndexDropped
			s.WriteBack.Batches += m.WriteBack.Batches
			s.WriteBack.BatchedTexts += m.WriteBack.BatchedTexts
		}
		s.DirectP50, s.DirectP99, s.DirectThroughput = median(dp50), median(dp99), median(dtp)
		s.AddedP50, s.AddedP99 = median(ap50), median(ap99)
		s.Throughput, s.Ratio = median(tp), median(ratio)
		s.CPULatency, s.CPUThroughput = median(cl), median(ct)
		out = append(out, s)
	}
	return out
}

func median[T int64 | float64 | time.Duration](v []T) T {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// modeNames are the table's names of the modes.
var modeNames = map[string]string{"off": "semcache, semantic off", "lexical": "semcache, lexical embedder", "use": "semcache, USE-lite",
	ModeBare:             "bare Go proxy, net/http server and client (reference)",
	ModeBareReverseProxy: "bare Go proxy, httputil.ReverseProxy (reference)",
	ModeBareFastClient:   "bare Go proxy, net/http server, fasthttp client (reference)",
	ModeBareFastHTTP:     "bare Go proxy, fasthttp server and client (reference)"}

// Print writes the table of issue 14 (medians over the rounds) and the
// details behind it.
func (r Report) Print(w io.Writer) error {
	o := r.Options
	sums := r.Summaries()
	up := "instant simulated upstream"
	if o.UpstreamTTFT > 0 {
		up = fmt.Sprintf("simulated upstream answering after %v", o.UpstreamTTFT)
	}
	fmt.Fprintf(w, "semcache-bench compare: %d rounds (medians), every request distinct (a miss), %s, c=1: %d requests, c=%d: %v%s\n\n",
		o.Rounds, up, o.LatencyRequests, o.Concurrency, o.ThroughputDuration, map[bool]string{true: ", SSE", false: ""}[o.Stream])
	fmt.Fprintf(w, "| target | added latency p50 / p99 vs direct | throughput at c=%d (× direct) | RSS (peak) | semcache CPU per request c=1 / c=%d |\n", o.Concurrency, o.Concurrency)
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, s := range sums {
		fmt.Fprintf(w, "| %s | %s / %s ms | %.3g× (%.0f req/s) | %s (%s) | %s / %s ms |\n", modeNames[s.Mode],
			signedMS(s.AddedP50), signedMS(s.AddedP99), s.Ratio, s.Throughput, mib(s.RSS), mib(s.PeakRSS),
			ms(s.CPULatency), ms(s.CPUThroughput))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "mode\tdirect p50\tdirect p99\tdirect req/s\terrors\tX-Semcache\twrite-back stored\twritten\twaited\tdropped\tindex dropped\tembed batches (mean size)")
	for _, s := range sums {
		batches := "-"
		if s.WriteBack.Batches > 0 {
			batches = fmt.Sprintf("%.0f (%.1f)", s.WriteBack.Batches, s.WriteBack.BatchedTexts/s.WriteBack.Batches)
		}
		fmt.Fprintf(tw, "%s\t%s ms\t%s ms\t%.0f\t%d\t%s\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%s\n", s.Mode, ms(s.DirectP50), ms(s.DirectP99),
			s.DirectThroughput, s.Errors, verdicts(s.Verdicts), s.WriteBack.Stored, s.WriteBack.Written, s.WriteBack.Waited,
			s.WriteBack.Dropped, s.WriteBack.IndexDropped, batches)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("compare: print: %w", err)
	}
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()*1000) }

func signedMS(d time.Duration) string { return fmt.Sprintf("%+.3f", d.Seconds()*1000) }

func mib(b int64) string {
	if b == 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20))
}

func verdicts(m map[string]int) string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}
