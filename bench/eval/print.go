package eval

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/semcache/semcache/cache/verify"
)

// Print writes the report as aligned tables: precision, recall, F1, false
// hit rate and counts per threshold, without and with the verifier; false
// hits per pair kind; and the verifier's rejections per reason.
func (r Report) Print(w io.Writer) error {
	ew := &errWriter{w: w}
	fmt.Fprintf(ew, "pairs: %d (%d duplicates, %d non-duplicates), verifier: %v\n\n", r.Pairs, r.Duplicates, r.NonDuplicates, r.Verifier)

	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "threshold\t|\tprecision\trecall\tF1\tfalse-hit\tTP\tFP\t|\tprecision\trecall\tF1\tfalse-hit\tTP\tFP\t")
	fmt.Fprintln(tw, "\t|\twithout\tverifier\t\t\t\t\t|\twith\tverifier\t\t\t\t\t")
	for _, t := range r.Thresholds {
		fmt.Fprintf(tw, "%.2f\t|\t%s|\t%s\n", t.Threshold, metricCells(t.Plain), metricCells(t.Verified))
	}
	_ = tw.Flush()

	kinds := sortedKeys(r.NonDuplicatesByKind)
	if len(kinds) > 0 {
		fmt.Fprintln(ew, "\nfalse hits by kind of non-duplicate (without verifier / with verifier)")
		tw = tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
		var hdr strings.Builder
		hdr.WriteString("threshold\t")
		for _, k := range kinds {
			fmt.Fprintf(&hdr, "%s(%d)\t", k, r.NonDuplicatesByKind[k])
		}
		fmt.Fprintln(tw, hdr.String())
		for _, t := range r.Thresholds {
			var row strings.Builder
			fmt.Fprintf(&row, "%.2f\t", t.Threshold)
			for _, k := range kinds {
				fmt.Fprintf(&row, "%d/%d\t", t.PlainFalseHitsByKind[k], t.VerifiedFalseHitsByKind[k])
			}
			fmt.Fprintln(tw, row.String())
		}
		_ = tw.Flush()
	}

	if r.Verifier {
		fmt.Fprintln(ew, "\nverifier rejections among pairs at or above the threshold (non-duplicates caught / duplicates lost)")
		tw = tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
		var hdr strings.Builder
		hdr.WriteString("threshold\t")
		for _, reason := range verify.Reasons() {
			fmt.Fprintf(&hdr, "%s\t", reason)
		}
		fmt.Fprintln(tw, hdr.String())
		for _, t := range r.Thresholds {
			var row strings.Builder
			fmt.Fprintf(&row, "%.2f\t", t.Threshold)
			for _, reason := range verify.Reasons() {
				fmt.Fprintf(&row, "%d/%d\t", t.RejectedNonDuplicates[reason], t.RejectedDuplicates[reason])
			}
			fmt.Fprintln(tw, row.String())
		}
		_ = tw.Flush()
	}
	return ew.err
}

func metricCells(m Metrics) string {
	return fmt.Sprintf("%.3f\t%.3f\t%.3f\t%.3f\t%d\t%d\t", m.Precision, m.Recall, m.F1, m.FalseHitRate, m.TP, m.FP)
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// errWriter remembers the first write error so Print can report it.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	if err != nil {
		e.err = fmt.Errorf("eval: writing report: %w", err)
	}
	return n, err
}

// cell prints an interval with its denominator: "0.912 [0.890, 0.930]
// (n=640)".
func cell(i Interval) string {
	if i.N == 0 {
		return "– (n=0)"
	}
	return fmt.Sprintf("%s (n=%d)", i, i.N)
}

// PrintMarkdown writes the replay as compact markdown tables: one row per
// (source family, size), then one per (kind/type, size), the verifier's
// rejections, and lookup latency. title names the run (embedder, split).
func (r ReplayReport) PrintMarkdown(w io.Writer, title string) error {
	ew := &errWriter{w: w}
	fmt.Fprintf(ew, "%s: %d pairs, distractor pool %d\n\n", title, r.Pairs, r.DistractorPool)
	for _, warn := range r.Warnings {
		fmt.Fprintf(ew, "warning: %s\n\n", warn)
	}
	for _, kind := range []struct{ prefix, head string }{{"family=", "family"}, {"type=", "kind/type"}} {
		fmt.Fprintf(ew, "| %s | size | paraphrase recall | false-hit rate (label 0) | wrong-hit rate (label 1) | served wrong answers | hits exact/semantic |\n", kind.head)
		fmt.Fprintln(ew, "|---|---:|---|---|---|---|---:|")
		for _, name := range r.groupNames(kind.prefix) {
			for _, sr := range r.Sizes {
				row, ok := sr.row(name)
				if !ok {
					continue
				}
				label := strings.TrimPrefix(name, kind.prefix)
				fmt.Fprintf(ew, "| %s | %d | %s | %s | %s | %s | %d/%d |\n", label, sr.Size, cell(row.Recall), cell(row.FalseHit),
					cell(row.WrongHit), cell(row.ServedWrong), row.ExactHits, row.SemanticHits)
			}
		}
		fmt.Fprintln(ew)
	}

	fmt.Fprintln(ew, "| size | batches | entries (min) | duplicate recall | label-0 right hits | degraded | lookup p50 | p99 | steps p50 | steps p99 |")
	fmt.Fprintln(ew, "|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|")
	for _, sr := range r.Sizes {
		all, _ := sr.row("all")
		fmt.Fprintf(ew, "| %d | %d | %d | %s | %d | %d | %s | %s | %s | %s |\n", sr.Size, sr.Batches, sr.MinEntries, cell(sr.DuplicateRecall),
			all.Label0Right, all.Degraded, roundDur(sr.LatencyP50), roundDur(sr.LatencyP99), roundDur(sr.StepTimeP50), roundDur(sr.StepTimeP99))
	}
	fmt.Fprintln(ew)

	reasons := map[string]bool{}
	for _, sr := range r.Sizes {
		all, _ := sr.row("all")
		for k := range all.RejectedWrong {
			reasons[k] = true
		}
		for k := range all.RejectedRight {
			reasons[k] = true
		}
	}
	if len(reasons) > 0 {
		names := sortedMapKeys(reasons)
		fmt.Fprintf(ew, "verifier rejections (candidates of another class refused / of the query's own class refused)\n\n| size | %s |\n|---:|%s\n",
			strings.Join(names, " | "), strings.Repeat("---:|", len(names)))
		for _, sr := range r.Sizes {
			all, _ := sr.row("all")
			cells := make([]string, len(names))
			for i, n := range names {
				cells[i] = fmt.Sprintf("%d/%d", all.RejectedWrong[n], all.RejectedRight[n])
			}
			fmt.Fprintf(ew, "| %d | %s |\n", sr.Size, strings.Join(cells, " | "))
		}
		fmt.Fprintln(ew)
	}
	return ew.err
}

func roundDur(d time.Duration) string {
	switch {
	case d == 0:
		return "–"
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	default:
		return d.Round(10 * time.Microsecond).String()
	}
}

// row finds a group's row.
func (s SizeReport) row(name string) (Row, bool) {
	for _, r := range s.Rows {
		if r.Group == name {
			return r, true
		}
	}
	return Row{}, false
}

// groupNames lists the groups with a prefix ("family=", "type="), "all"
// first for families.
func (r ReplayReport) groupNames(prefix string) []string {
	seen := map[string]bool{}
	for _, sr := range r.Sizes {
		for _, row := range sr.Rows {
			if strings.HasPrefix(row.Group, prefix) {
				seen[row.Group] = true
			}
		}
	}
	names := sortedMapKeys(seen)
	if prefix == "family=" {
		names = append([]string{"all"}, names...)
	}
	return names
}

// Print writes the pairwise report: per group, each column's ROC AUC with
// its bootstrap interval and the recall at each false-positive budget with
// the threshold that reaches it.
func (r PairwiseReport) Print(w io.Writer) error {
	ew := &errWriter{w: w}
	var head, rule strings.Builder
	head.WriteString("| group | pos | neg |")
	rule.WriteString("|---|---:|---:|")
	for _, c := range r.Columns {
		fmt.Fprintf(&head, " %s AUC |", c)
		rule.WriteString("---|")
		if len(r.Groups) > 0 && len(r.Groups[0].Columns) > 0 {
			for _, pt := range r.Groups[0].Columns[0].AtFPR {
				fmt.Fprintf(&head, " recall @%g%% FPR (threshold) |", 100*pt.MaxFPR)
				rule.WriteString("---|")
			}
		}
	}
	fmt.Fprintln(ew, head.String())
	fmt.Fprintln(ew, rule.String())
	for _, g := range r.Groups {
		fmt.Fprintf(ew, "| %s | %d | %d |", g.Group, g.Positives, g.Negatives)
		for _, c := range g.Columns {
			if math.IsNaN(float64(c.AUC)) {
				fmt.Fprint(ew, " – |")
			} else {
				fmt.Fprintf(ew, " %.3f [%.3f, %.3f] |", c.AUC, c.AUCLow, c.AUCHigh)
			}
			for _, pt := range c.AtFPR {
				if math.IsInf(float64(pt.Threshold), 1) {
					fmt.Fprint(ew, " – |")
					continue
				}
				if pt.Threshold <= -GatePenalty {
					fmt.Fprintf(ew, " %.3f (serving rejected pairs too) |", pt.Recall)
					continue
				}
				fmt.Fprintf(ew, " %.3f (%.3f) |", pt.Recall, pt.Threshold)
			}
		}
		fmt.Fprintln(ew)
	}
	return ew.err
}
