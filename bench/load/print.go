package load

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Print writes a human-readable summary of r to w.
func (r Report) Print(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "requests\t%d planned, %d completed, %d errors, %d canceled in %v (%.1f req/s)\n",
		r.Planned, r.Completed, r.Errors, r.Canceled, r.Elapsed.Round(time.Millisecond), r.RequestsPerSecond)
	fmt.Fprintf(tw, "latency\t%s\n", r.Latency)
	if r.TTFT.N > 0 {
		fmt.Fprintf(tw, "ttft\t%s\n", r.TTFT)
	}
	fmt.Fprintf(tw, "statuses\t%s\n", joinCounts(r.Statuses, func(s int) string {
		if s == 0 {
			return "no-response"
		}
		return fmt.Sprint(s)
	}))
	fmt.Fprintln(tw)

	fmt.Fprintf(tw, "%s\tcount\terrors\tp50\tp90\tp99\tmax\tttft p50\n", CacheHeader)
	for _, name := range slices.Sorted(maps.Keys(r.ByCache)) {
		g := r.ByCache[name]
		ttft := "-"
		if g.TTFT.N > 0 {
			ttft = fmtDur(g.TTFT.P50)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", name, g.Count, g.Errors,
			fmtDur(g.Latency.P50), fmtDur(g.Latency.P90), fmtDur(g.Latency.P99), fmtDur(g.Latency.Max), ttft)
	}
	fmt.Fprintln(tw)

	fmt.Fprintf(tw, "prompt kind\tcount\t%s values\n", CacheHeader)
	for _, kind := range slices.Sorted(maps.Keys(r.ByKind)) {
		k := r.ByKind[kind]
		fmt.Fprintf(tw, "%s\t%d\t%s\n", kind, k.Count, joinCounts(k.ByCache, func(s string) string { return s }))
	}
	if len(r.ErrorSamples) > 0 {
		fmt.Fprintln(tw)
		fmt.Fprintln(tw, "first errors:")
		for _, e := range r.ErrorSamples {
			fmt.Fprintf(tw, "  %s\n", e)
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("load: print report: %w", err)
	}
	return nil
}

// String renders the percentiles on one line.
func (p Percentiles) String() string {
	if p.N == 0 {
		return "no samples"
	}
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  max %s  (n=%d)", fmtDur(p.P50), fmtDur(p.P90), fmtDur(p.P99), fmtDur(p.Max), p.N)
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	default:
		return d.Round(time.Microsecond).String()
	}
}

func joinCounts[K cmp.Ordered](m map[K]int, name func(K) string) string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", name(k), m[k]))
	}
	return strings.Join(parts, " ")
}
