package eval

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

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
