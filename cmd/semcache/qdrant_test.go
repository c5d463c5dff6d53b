package main

import (
	"fmt"
	"testing"

	"github.com/semcache/semcache/vectorstore/qdrant/qdranttest"
)

// TestQdrantStoreSharedBetweenInstances wires --store qdrant end to end
// against the Qdrant protocol fake: two instances share the similarity
// tier, as they would on a real Qdrant server.
func TestQdrantStoreSharedBetweenInstances(t *testing.T) {
	host, port := qdranttest.Start(t)
	addr := fmt.Sprintf("%s:%d", host, port)
	_, upURL := simUpstream(t)
	a := start(t, upURL, t.TempDir(), "--store", "qdrant", "--qdrant-addr", addr)
	b := start(t, upURL, t.TempDir(), "--store", "qdrant", "--qdrant-addr", addr)
	first := ask(t, a.api, "k", userMsg("How do I reverse a list in Python?"))
	waitMetric(t, a.admin, "semcache_writeback_written_total 1")
	shared := ask(t, b.api, "k", userMsg("how can i reverse a list in python"))
	if shared.cache != "hit-semantic" || shared.content != first.content {
		t.Fatalf("second instance: %+v", shared)
	}
	if other := ask(t, b.api, "other-key", userMsg("how can i reverse a list in python")); other.cache != "miss" {
		t.Fatalf("another tenant hit through Qdrant: %+v", other)
	}
}
