// Command semcache-bench holds the benchmark tools of semcache: a simulated
// OpenAI-compatible upstream (optionally the evaluation's oracle), a load
// generator and the similarity tier's evaluation.
//
//	semcache-bench upstream [flags]   serve the simulated LLM API
//	semcache-bench load [flags]       send a prompt mix and report latencies and X-Semcache verdicts
//	semcache-bench compare [flags]    start the simulated upstream and semcache, measure misses direct and
//	                                  through semcache (added latency, throughput, RSS, write-back)
//	semcache-bench bare-proxy [flags] a plain Go proxy on one HTTP stack: compare's reference modes
//	semcache-bench eval [flags]       measure the similarity tier on labelled pairs: replay them through
//	                                  the real lookup path (--mode cache, default), over HTTP against a
//	                                  running semcache (--mode e2e) or score each pair (--mode pairwise)
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "semcache-bench:", err)
		os.Exit(1)
	}
}

// subcommand is one entry of the dispatch table.
type subcommand struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func subcommands() []subcommand {
	return []subcommand{
		{"upstream", "serve a simulated OpenAI-compatible LLM API", runUpstream},
		{"load", "send a mix of repeated and paraphrased prompts and report latencies", runLoad},
		{"compare", "measure semcache's miss path side by side with direct upstream calls: added latency, throughput, RSS (semantic off, lexical, USE-lite)", runCompare},
		{"bare-proxy", "a plain Go proxy to --upstream on one HTTP stack (--stack): the reference of compare's bare modes", runBareProxy},
		{"soak", "drive a running semcache at a steady mixed rate for long and sample its RSS and write-back counters", runSoak},
		{"eval", "measure the similarity tier on labelled pairs (modes cache, e2e, pairwise)", runEval},
		{"budget", "measure error budgets end to end: served wrong-hit rate, hit rate, the hindsight cut-off, explorations; draws the curves", runBudget},
		{"train", "fit the verifier's calibrated score on the tune split and choose its cut-offs (writes cache/verify/model_gen.go)", runTrain},
	}
}

// run dispatches args[0] to its subcommand.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmds := subcommands()
	if len(args) == 0 {
		printUsage(stderr, cmds)
		return errors.New("missing subcommand")
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		printUsage(stdout, cmds)
		return nil
	}
	for _, c := range cmds {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	printUsage(stderr, cmds)
	return fmt.Errorf("unknown subcommand %q", args[0])
}

func printUsage(w io.Writer, cmds []subcommand) {
	fmt.Fprintln(w, "usage: semcache-bench <subcommand> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "subcommands:")
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "run 'semcache-bench <subcommand> -h' for its flags")
}
