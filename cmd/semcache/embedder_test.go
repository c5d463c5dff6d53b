package main

import (
	"os"
	"strings"
	"testing"

	"github.com/semcache/semcache/embed/use"
)

// TestAutoEmbedderPicksModel: with the USE-lite files present, --embedder
// auto uses them (and says so); the paraphrase test then runs on USE.
func TestAutoEmbedderPicksModel(t *testing.T) {
	dir := os.Getenv("SEMCACHE_MODEL_DIR")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = home + "/.cache/semcache/models/" + use.ModelID
	}
	if !use.Present(dir) {
		needOrSkip(t, "USE-lite model not found in %s (bash .ci/use-model.sh)", dir)
	}
	up, upURL := simUpstream(t)
	// Generous lookup deadlines: on a loaded CI machine the first USE-lite
	// embedding can take longer than the default 150 ms, which is a miss.
	s := start(t, upURL, t.TempDir(), "--embedder", "auto", "--model-dir", dir, "--embed-timeout", "10s", "--search-timeout", "10s")
	if !strings.Contains(s.stderr.String(), "embedder="+use.ModelID) {
		t.Fatalf("auto did not pick the model:\n%s", s.stderr.String())
	}
	base := ask(t, s.api, "k", userMsg("How can I make my laptop battery last longer?"))
	waitMetric(t, s.admin, "semcache_writeback_written_total 1")
	para := ask(t, s.api, "k", userMsg("What can I do to make my laptop battery last longer?"))
	if para.cache != "hit-semantic" || para.content != base.content {
		t.Fatalf("USE paraphrase: %+v", para)
	}
	if other := ask(t, s.api, "k", userMsg("How can I make my phone battery last longer?")); other.cache != "miss" {
		t.Fatalf("entity swap laptop → phone served: %+v", other)
	}
	if up.ChatCalls() != 2 {
		t.Fatalf("upstream calls = %d, want 2", up.ChatCalls())
	}
}

// TestAutoEmbedderFallsBack: without the model, auto uses the lexical
// embedder and logs why.
func TestAutoEmbedderFallsBack(t *testing.T) {
	_, upURL := simUpstream(t)
	s := start(t, upURL, t.TempDir(), "--embedder", "auto", "--model-dir", t.TempDir())
	log := s.stderr.String()
	if !strings.Contains(log, "using the lexical embedder") || !strings.Contains(log, "embedder=lexical-v1") {
		t.Fatalf("fallback not logged:\n%s", log)
	}
}
