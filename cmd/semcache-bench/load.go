package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/semcache/semcache/bench/load"
)

// runLoad runs "semcache-bench load": it sends the prompt mix to --target
// and prints the report (also when interrupted, covering what finished).
func runLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o load.Options
	fs.StringVar(&o.Target, "target", "http://127.0.0.1:8080/v1", "API base URL including /v1 (the semcache proxy by default)")
	fs.IntVar(&o.Requests, "requests", 200, "number of chat completions to send")
	fs.IntVar(&o.Concurrency, "concurrency", 8, "requests in flight at once")
	fs.Float64Var(&o.DuplicateRatio, "duplicate-ratio", 0.3, "fraction of requests repeating an earlier prompt exactly")
	fs.Float64Var(&o.ParaphraseRatio, "paraphrase-ratio", 0.2, "fraction of requests lightly rewording an earlier prompt")
	fs.BoolVar(&o.Stream, "stream", false, "request SSE streaming answers")
	fs.StringVar(&o.APIKey, "api-key", "", "bearer token to send (none when empty)")
	fs.StringVar(&o.Model, "model", "sim-gpt", "model to request")
	fs.Int64Var(&o.Seed, "seed", 1, "seed of the prompt mix")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: semcache-bench load [flags]")
		fmt.Fprintln(stderr, "Sends chat completions and reports latency, TTFT and counts per X-Semcache response header value.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("load: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("load: unexpected arguments %q", fs.Args())
	}
	if err := o.Validate(); err != nil {
		return err
	}

	rep, runErr := load.Run(ctx, o)
	if rep.Planned == 0 {
		return runErr
	}
	var printErr error
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			printErr = fmt.Errorf("load: print report: %w", err)
		}
	} else {
		printErr = rep.Print(stdout)
	}
	return errors.Join(runErr, printErr)
}
