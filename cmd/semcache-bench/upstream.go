package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/semcache/semcache/bench/eval"
	"github.com/semcache/semcache/bench/upstream"
)

const (
	upstreamReadHeaderTimeout = 10 * time.Second
	upstreamShutdownGrace     = 5 * time.Second
)

// runUpstream runs "semcache-bench upstream": it serves the simulated LLM
// API until ctx ends, then shuts down gracefully.
func runUpstream(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("upstream", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:9090", "address to listen on (port 0 picks a free port)")
	ttft := fs.Duration("ttft", 0, "simulated time to first token")
	tps := fs.Float64("tokens-per-second", 0, "simulated generation speed in words per second (0: no delay)")
	answerTokens := fs.Int("answer-tokens", 24, "words per answer")
	errorRate := fs.Float64("error-rate", 0, "fraction (0..1) of chat and Responses calls answered with 500")
	seed := fs.Int64("seed", 1, "seed of the --error-rate PRNG")
	dim := fs.Int("embedding-dim", 256, "default embedding dimension")
	answers := newListFlag()
	fs.Var(answers, "answers", "labelled pair files (repeatable or comma-separated): answer every chat prompt with the id of its equivalence class (\"class:<id>\", unknown prompts \"class:unknown:<id>\"); the oracle of semcache-bench eval --mode e2e")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: semcache-bench upstream [flags]")
		fmt.Fprintln(stderr, "Serves POST /v1/chat/completions, POST /v1/responses, POST /v1/embeddings and GET /v1/models with deterministic answers.")
		fmt.Fprintln(stderr, "With --answers, chat and Responses answers are the oracle's equivalence-class ids (see semcache-bench eval --mode e2e).")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("upstream: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("upstream: unexpected arguments %q", fs.Args())
	}
	opts := upstream.Options{
		TTFT: *ttft, TokensPerSecond: *tps, AnswerTokens: *answerTokens,
		ErrorRate: *errorRate, Seed: *seed, EmbeddingDim: *dim,
	}
	if err := opts.Validate(); err != nil {
		return err
	}
	if len(answers.values) > 0 {
		pairs, err := eval.LoadFiles(answers.values)
		if err != nil {
			return fmt.Errorf("upstream: %w", err)
		}
		classes := eval.Classes(pairs)
		opts.Answerer = eval.Oracle(classes)
		fmt.Fprintf(stdout, "semcache-bench upstream: oracle answers from %d pairs (%d texts)\n", len(pairs), len(classes))
	}

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", *listen)
	if err != nil {
		return fmt.Errorf("upstream: %w", err)
	}
	srv := &http.Server{Handler: upstream.New(opts), ReadHeaderTimeout: upstreamReadHeaderTimeout}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "semcache-bench upstream: listening on http://%s/v1\n", ln.Addr())

	select {
	case err := <-serveErr:
		return fmt.Errorf("upstream: serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), upstreamShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		fmt.Fprintf(stderr, "semcache-bench upstream: requests still running after %v, closing them\n", upstreamShutdownGrace)
		if err := srv.Close(); err != nil {
			return fmt.Errorf("upstream: close: %w", err)
		}
	}
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("upstream: serve: %w", err)
	}
	fmt.Fprintln(stdout, "semcache-bench upstream: stopped")
	return nil
}
