package qdrant

import (
	"context"
	"os"
	"testing"
	"time"

	qc "github.com/qdrant/go-client/qdrant"
)

// dropCollection deletes a test collection with a client of its own.
func dropCollection(tb testing.TB, host string, port int, name string) {
	tb.Helper()
	c, err := qc.NewClient(&qc.Config{Host: host, Port: port, APIKey: os.Getenv("SEMCACHE_QDRANT_API_KEY"), SkipCompatibilityCheck: true})
	if err != nil {
		tb.Errorf("drop collection %s: %v", name, err)
		return
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.DeleteCollection(ctx, name); err != nil {
		tb.Errorf("drop collection %s: %v", name, err)
	}
}
