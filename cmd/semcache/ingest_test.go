package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func ingestCmd(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), append([]string{"ingest", "--offline", "--embedder", "lexical"}, args...), &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestIngestPerFileErrors(t *testing.T) {
	dir := t.TempDir()
	docs := filepath.Join(dir, "docs")
	writeFiles(t, docs, map[string]string{
		"guide.md":         "# Guide\n\nHow to use the thing.",
		"sub/notes.txt":    "Some notes.",
		"sub/page.html":    "<title>Page</title><p>Hello.</p>",
		"items.jsonl":      "{\"id\":\"i1\",\"content\":\"first item\"}\n{\"id\":\"i2\",\"content\":\"\"}\n",
		"photo.png":        "\x89PNG",
		"empty.md":         "\n\n",
		"huge.txt":         strings.Repeat("x", 2048),
		".hidden/skip.md":  "never read",
		"broken.jsonl":     "{not json",
		"sub/deep/more.md": "More text.",
	})
	cfgPath := filepath.Join(dir, "c.yaml")
	writeFiles(t, dir, map[string]string{"c.yaml": "rag:\n  max_doc_bytes: 1KiB\n  collections:\n    - name: docs\n      namespaces: ['*']\n"})
	data := filepath.Join(dir, "data")
	args := []string{"--config", cfgPath, "--data-dir", data, "--collection", "docs", "--base", dir, docs, filepath.Join(dir, "missing.md")}

	stdout, stderr, err := ingestCmd(t, args...)
	if err == nil || !strings.Contains(err.Error(), "6 of 11 documents failed") {
		t.Fatalf("err = %v\n%s%s", err, stdout, stderr)
	}
	if !strings.Contains(stdout, "ingested 5, skipped unchanged 0, failed 6") {
		t.Fatalf("summary:\n%s", stdout)
	}
	for _, want := range []string{
		"photo.png: rag: unsupported file type \".png\"",
		"empty.md: rag: empty document",
		"huge.txt: rag: document too large",
		"items.jsonl [i2]: rag: empty document",
		"broken.jsonl: rag: invalid document",
		"missing.md: stat",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stdout+stderr, "skip.md") {
		t.Error("a hidden directory was read")
	}
	for _, want := range []string{"ingested  " + filepath.Join(docs, "guide.md"), "ingested  " + filepath.Join(docs, "items.jsonl") + " [i1]"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}

	// Nothing changed: everything that worked is skipped.
	stdout, _, _ = ingestCmd(t, args...)
	if !strings.Contains(stdout, "ingested 0, skipped unchanged 5, failed 6") {
		t.Fatalf("second run:\n%s", stdout)
	}

	// Delete by id (ids are paths relative to --base).
	stdout, stderr, err = ingestCmd(t, "--config", cfgPath, "--data-dir", data, "--collection", "docs", "--delete", "docs/guide.md", "docs/nope.md")
	if err == nil || !strings.Contains(stdout, "deleted docs/guide.md (1 chunks") || !strings.Contains(stderr, "docs/nope.md: rag: document not found") {
		t.Fatalf("delete: %v\n%s%s", err, stdout, stderr)
	}
}

func TestIngestFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no collection", []string{"x.md"}, "--collection"},
		{"bad collection", []string{"--collection", "Docs!", "x.md"}, "--collection \"Docs!\""},
		{"no paths", []string{"--collection", "docs"}, "at least one file"},
		{"unreachable server", []string{"--collection", "docs", "--admin-url", "http://127.0.0.1:1", "x.md"}, "server at http://127.0.0.1:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ingestCmd(t, append([]string{"--data-dir", t.TempDir()}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %s", err, tt.want)
			}
		})
	}
}

func TestExpandIDs(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a/b.md": "x", "a/.git/c.md": "x", "a/d/e.txt": "x", "f.md": "x"})
	got := expand([]string{filepath.Join(dir, "a"), filepath.Join(dir, "f.md")}, dir)
	var ids []string
	for _, tg := range got {
		ids = append(ids, tg.id)
	}
	if want := []string{"a/b.md", "a/d/e.txt", "f.md"}; !slices.Equal(ids, want) {
		t.Fatalf("ids %v, want %v", ids, want)
	}
	outside := expand([]string{filepath.Join(dir, "f.md")}, filepath.Join(dir, "a"))
	if outside[0].id != filepath.ToSlash(filepath.Join(dir, "f.md")) {
		t.Fatalf("outside the base: %q", outside[0].id)
	}
}

// An offline ingest while no server runs records its purges; the next
// server applies them, and its new version hides the old answers.
func TestOfflineIngestThenServe(t *testing.T) {
	up, upURL := simUpstream(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	writeFiles(t, dir, map[string]string{
		"c.yaml":  "rag:\n  collections:\n    - name: kb\n      namespaces: ['*']\n      min_score: 0.05\n",
		"kb/a.md": "# Opening hours\n\nThe shop opens at 9am.",
	})
	cfgPath := filepath.Join(dir, "c.yaml")
	args := []string{"--config", cfgPath, "--data-dir", data, "--collection", "kb", "--base", dir, filepath.Join(dir, "kb")}
	if out, errOut, err := ingestCmd(t, args...); err != nil {
		t.Fatalf("%v\n%s%s", err, out, errOut)
	}
	question := "When does the shop open? [[sim:echo]]"
	s := start(t, upURL, data, "--config", cfgPath)
	if a := askRAG(t, s.api, "k", question); a.cache != "miss" || !strings.Contains(a.content, "9am") || a.sources != "kb/kb/a.md#0" {
		t.Fatalf("first: %+v", a)
	}
	s.stop()

	writeFiles(t, dir, map[string]string{"kb/a.md": "# Opening hours\n\nThe shop opens at 10am."})
	if out, errOut, err := ingestCmd(t, args...); err != nil || !strings.Contains(out, "ingested 1") {
		t.Fatalf("%v\n%s%s", err, out, errOut)
	}
	calls := up.ChatCalls()
	s2 := start(t, upURL, data, "--config", cfgPath)
	if !strings.Contains(s2.stderr.String(), "purged cached answers built on replaced chunks") {
		t.Errorf("pending purge not applied:\n%s", s2.stderr.String())
	}
	a := askRAG(t, s2.api, "k", question)
	if a.cache != "miss" || !strings.Contains(a.content, "10am") || strings.Contains(a.content, "9am") || up.ChatCalls() != calls+1 {
		t.Fatalf("after offline re-ingest: %+v", a)
	}
}
