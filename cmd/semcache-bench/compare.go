package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/semcache/semcache/bench/compare"
)

// runCompare runs "semcache-bench compare": semcache's miss path side by
// side with direct upstream calls, per similarity-tier setting.
func runCompare(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o compare.Options
	fs.StringVar(&o.Semcache, "semcache", "", "path of the semcache binary (empty: build ./cmd/semcache with 'go build' into a temporary directory; run from the repository)")
	modes := fs.String("modes", strings.Join(compare.Modes, ","), "similarity-tier settings to measure, comma-separated: off, lexical, use; bare, bare-reverseproxy, bare-fastclient and bare-fasthttp add a plain Go proxy (net/http server and client; httputil.ReverseProxy; net/http server with fasthttp's client; fasthttp) as the reference (the floor of a Go proxy's second hop)")
	fs.StringVar(&o.ModelDir, "model-dir", os.Getenv("SEMCACHE_MODEL_DIR"), "USE-lite model directory (mode use; default $SEMCACHE_MODEL_DIR, else semcache's default)")
	fs.StringVar(&o.WordvecDir, "wordvec-dir", os.Getenv("SEMCACHE_WORDVEC_DIR"), "word vectors for the verifier (default $SEMCACHE_WORDVEC_DIR)")
	fs.StringVar(&o.WordnetDir, "wordnet-dir", os.Getenv("SEMCACHE_WORDNET_DIR"), "WordNet for the verifier (default $SEMCACHE_WORDNET_DIR)")
	fs.IntVar(&o.Rounds, "rounds", compare.DefaultRounds, "rounds (the table gives medians)")
	fs.IntVar(&o.LatencyRequests, "requests", compare.DefaultLatencyRequests, "sequential requests measured per target and round (c=1)")
	fs.IntVar(&o.Warmup, "warmup", compare.DefaultWarmup, "unmeasured requests before each measurement")
	fs.IntVar(&o.Concurrency, "concurrency", compare.DefaultConcurrency, "concurrent requests of the throughput phase")
	fs.DurationVar(&o.ThroughputDuration, "duration", compare.DefaultThroughputDuration, "length of the throughput phase")
	fs.BoolVar(&o.Stream, "stream", false, "ask for SSE answers")
	fs.DurationVar(&o.UpstreamTTFT, "upstream-ttft", 0, "delay of the simulated upstream's first token (its whole answer without --stream); 0: instant, semcache's own cost")
	extra := fs.String("semcache-args", "", "extra flags for semcache serve, space-separated (e.g. \"--speculative-upstream=2ms\")")
	asJSON := fs.Bool("json", false, "print the rounds as JSON")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: semcache-bench compare [flags]")
		fmt.Fprintln(stderr, "Starts the simulated upstream (instant answers, or --upstream-ttft) and the semcache binary against it, sends distinct chat")
		fmt.Fprintln(stderr, "completions (every one a miss) directly and through semcache, and prints added latency (c=1), throughput")
		fmt.Fprintln(stderr, "(× direct), semcache's RSS, CPU per request and write-back counters: medians over the rounds.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("compare: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("compare: unexpected arguments %q", fs.Args())
	}
	o.Modes = strings.Split(*modes, ",")
	o.ExtraArgs = strings.Fields(*extra)
	o.Progress = stderr
	if exe, err := os.Executable(); err == nil {
		o.BareCommand = []string{exe, "bare-proxy"}
	}
	if o.Semcache == "" {
		dir, err := os.MkdirTemp("", "semcache-compare-bin-")
		if err != nil {
			return fmt.Errorf("compare: %w", err)
		}
		defer os.RemoveAll(dir)
		o.Semcache = filepath.Join(dir, "semcache")
		fmt.Fprintln(stderr, "building ./cmd/semcache")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", o.Semcache, "./cmd/semcache")
		cmd.Stdout, cmd.Stderr = stderr, stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("compare: build semcache (or pass --semcache): %w", err)
		}
	}
	rep, runErr := compare.Run(ctx, o)
	if len(rep.Rows) == 0 {
		return runErr
	}
	var printErr error
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		printErr = enc.Encode(rep)
	} else {
		printErr = rep.Print(stdout)
	}
	return errors.Join(runErr, printErr)
}

// runBareProxy runs "semcache-bench bare-proxy", the reference of compare's
// mode bare: a plain Go reverse proxy to --upstream until ctx ends.
func runBareProxy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bare-proxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	up := fs.String("upstream", "", "upstream base URL (required)")
	stack := fs.String("stack", compare.StackNetHTTP, "HTTP stack: net/http (handler and http.Client), httputil (ReverseProxy), net/http+fasthttp-client, or fasthttp")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("bare-proxy: %w", err)
	}
	u, err := url.Parse(*up)
	if err != nil {
		return fmt.Errorf("bare-proxy: --upstream: %w", err)
	}
	return compare.ServeBare(ctx, u, *stack, stdout)
}
