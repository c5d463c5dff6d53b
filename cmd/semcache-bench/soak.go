package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/semcache/semcache/bench/soak"
)

// runSoak runs "semcache-bench soak": a steady mixed load against a
// running semcache for --duration, sampling its RSS and write-back
// counters; it prints the samples and the summary.
func runSoak(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o soak.Options
	fs.StringVar(&o.Target, "target", "http://127.0.0.1:8080/v1", "API base URL including /v1")
	fs.StringVar(&o.Admin, "admin", "http://127.0.0.1:8081", "admin base URL (its /metrics is sampled)")
	fs.DurationVar(&o.Duration, "duration", 10*time.Minute, "how long to run")
	fs.Float64Var(&o.Rate, "rate", 200, "requests started per second")
	fs.IntVar(&o.Concurrency, "concurrency", 64, "requests in flight at most (past it a request is shed and counted)")
	fs.IntVar(&o.Keys, "keys", 4, "API keys (namespaces)")
	fs.Float64Var(&o.RepeatRatio, "repeat-ratio", 0.5, "share of requests repeating a recent prompt of their key (hits)")
	fs.Float64Var(&o.StreamRatio, "stream-ratio", 0.3, "share of streamed requests")
	fs.DurationVar(&o.Sample, "sample", 30*time.Second, "interval between metric samples")
	fs.StringVar(&o.Model, "model", "sim-gpt", "model to request")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of the prompt mix")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: semcache-bench soak [flags]")
		fmt.Fprintln(stderr, "Drives a running semcache at a steady mixed rate and samples process_resident_memory_bytes and the write-back counters.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("soak: %w", err)
	}
	rep, err := soak.Run(ctx, o)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return rep.Print(stdout)
}
