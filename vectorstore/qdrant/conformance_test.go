package qdrant

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/semcache/semcache/vectorstore"
	"github.com/semcache/semcache/vectorstore/qdrant/qdranttest"
	"github.com/semcache/semcache/vectorstore/storetest"
)

func uniqueCollection(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + "_" + hex.EncodeToString(b[:])
}

// opener opens stores on fresh collections of the server at host:port and
// deletes each collection when its test ends.
func opener(host string, port int) storetest.Opener {
	return func(t *testing.T, dim int) vectorstore.Store {
		name := uniqueCollection("conf")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s, err := Open(ctx, Options{Host: host, Port: port, APIKey: os.Getenv("SEMCACHE_QDRANT_API_KEY"), Collection: name, Dimension: dim})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() {
			s.Close() // the suite may have closed it already; Close is idempotent
			dropCollection(t, host, port, name)
		})
		return s
	}
}

// TestConformance runs the shared suite against the store talking gRPC to
// the protocol fake.
func TestConformance(t *testing.T) {
	host, port := qdranttest.Start(t)
	storetest.Run(t, opener(host, port))
}

// TestConformanceLive runs the suite against a real Qdrant when
// SEMCACHE_QDRANT_URL (host:grpc-port, e.g. localhost:6334) is set;
// SEMCACHE_QDRANT_API_KEY is sent if set.
func TestConformanceLive(t *testing.T) {
	addr := os.Getenv("SEMCACHE_QDRANT_URL")
	if addr == "" {
		t.Skip("SEMCACHE_QDRANT_URL not set (host:6334 of a real Qdrant)")
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("SEMCACHE_QDRANT_URL %q: want host:port: %v", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		t.Fatalf("SEMCACHE_QDRANT_URL %q: bad port: %v", addr, err)
	}
	storetest.Run(t, opener(host, port))
}
