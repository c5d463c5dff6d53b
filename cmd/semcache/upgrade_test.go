package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// copyDir copies a directory tree (the fixture must stay untouched).
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestUpgradeKeepsEntries starts on a data directory written by the
// version before the endpoint seam (testdata/upgrade-v1): its entries are
// served as they were stored, from the exact tier (JSON and SSE) and the
// similarity tier, and the upstream is never called.
func TestUpgradeKeepsEntries(t *testing.T) {
	dir := t.TempDir()
	copyDir(t, "testdata/upgrade-v1", dir)
	up, upURL := simUpstream(t)
	s := start(t, upURL, dir)
	const (
		python = "Answer-c7e744e9 about How do I reverse a list retrieval delta embedding window prompt vector often context robust window exact cache therefore simple simple server"
		water  = "Answer-ca0aac78 about What is the boiling point of moreover moreover however network moreover window careful policy model bright cache policy careful verifier eviction disk"
	)
	tests := []struct {
		name, body, cache, content string
	}{
		{"exact", userMsg("How do I reverse a list in Python?"), "hit-exact", python},
		{"exact, the other entry", userMsg("What is the boiling point of water at sea level?"), "hit-exact", water},
		{"semantic, from the old vector store", userMsg("how can i reverse a list in python"), "hit-semantic", python},
	}
	for _, tt := range tests {
		a := ask(t, s.api, "sk-upgrade", tt.body)
		if a.status != 200 || a.cache != tt.cache || a.content != tt.content {
			t.Errorf("%s: %d %s %q, want %s %q", tt.name, a.status, a.cache, a.content, tt.cache, tt.content)
		}
	}
	stream := strings.TrimSuffix(userMsg("How do I reverse a list in Python?"), "}") + `,"stream":true}`
	a := ask(t, s.api, "sk-upgrade", stream)
	if a.cache != "hit-exact" || !strings.Contains(a.body, `"content":"Answer-c7e744e9`) || !strings.HasSuffix(a.body, "data: [DONE]\n\n") {
		t.Errorf("stream replay of an old entry: %s %.300s", a.cache, a.body)
	}
	if n := up.ChatCalls(); n != 0 {
		t.Fatalf("upstream called %d times for entries stored before the upgrade", n)
	}
}
