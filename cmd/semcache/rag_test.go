package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ragAdminToken is the admin token of ragConfigYAML: the RAG admin API
// (documents go into prompts) needs one.
const ragAdminToken = "rag-admin"

// ragConfigYAML binds handbook to tenant acme and secrets to tenant
// globex.
const ragConfigYAML = `
admin-token: rag-admin
tenants:
  - name: acme
    keys: [key-acme]
  - name: globex
    keys: [key-globex]
rag:
  chunk_size: 400
  collections:
    - name: handbook
      namespaces: [acme]
      k: 2
      min_score: 0.05
    - name: secrets
      namespaces: ["tenant:globex"]
      min_score: 0.05
`

// askRAG sends one chat request with extra headers and requires a 200.
func askRAG(t *testing.T, api, key, question string, hdr ...string) answer {
	t.Helper()
	a := ask(t, api, key, userMsg(question), hdr...)
	if a.status != http.StatusOK {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	return a
}

// echoed decodes what the simulated upstream received ([[sim:echo]]).
func echoed(t *testing.T, a answer) []map[string]string {
	t.Helper()
	var msgs []map[string]string
	if err := json.Unmarshal([]byte(a.content), &msgs); err != nil {
		t.Fatalf("not an echo of messages: %v\n%s", err, a.content)
	}
	return msgs
}

// postDoc ingests one JSON document through the admin API.
func postDoc(t *testing.T, admin, collection, id, content string) map[string]any {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"id": id, "content": content, "format": "markdown"})
	req, _ := http.NewRequest(http.MethodPost, admin+"/admin/rag/"+collection+"/documents", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+ragAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("ingest %s: %d %v %v", id, resp.StatusCode, out, err)
	}
	return out
}

func TestRAGEndToEnd(t *testing.T) {
	up, upURL := simUpstream(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "semcache.yaml")
	if err := os.WriteFile(cfgPath, []byte(ragConfigYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	s := start(t, upURL, filepath.Join(dir, "data"), "--config", cfgPath)

	// Ingest through the CLI while the server runs (admin endpoint).
	docPath := filepath.Join(dir, "handbook.md")
	v1 := "# Employee handbook\n\n## Vacation\n\nEmployees get 25 vacation days per year.\n\n## Parking\n\nThe car park opens at 7am.\n"
	if err := os.WriteFile(docPath, []byte(v1), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	args := []string{"ingest", "--config", cfgPath, "--admin-url", s.admin, "--collection", "handbook", "--base", dir, docPath}
	if err := run(context.Background(), args, &out, &errOut); err != nil {
		t.Fatalf("ingest: %v\n%s%s", err, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "ingested 1, skipped unchanged 0, failed 0") {
		t.Fatalf("ingest output:\n%s", out.String())
	}
	postDoc(t, s.admin, "secrets", "codes", "# Codes\n\nThe vacation launch code is 0000.")

	question := "How many vacation days do employees get? [[sim:echo]]"
	first := askRAG(t, s.api, "key-acme", question)
	msgs := echoed(t, first)
	if first.cache != "miss" || len(msgs) != 2 || msgs[0]["role"] != "system" ||
		!strings.Contains(msgs[0]["content"], "25 vacation days") || msgs[1]["content"] != question {
		t.Fatalf("first: %+v\nupstream received %v", first, msgs)
	}
	if !strings.Contains(first.sources, "handbook/handbook.md#0") {
		t.Fatalf("X-Semcache-Sources = %q", first.sources)
	}
	if strings.Contains(first.content, "launch code") {
		t.Fatal("tenant acme retrieved tenant globex's collection")
	}

	second := askRAG(t, s.api, "key-acme", question)
	if second.cache != "hit-exact" || second.content != first.content || second.sources != first.sources {
		t.Fatalf("second: %+v", second)
	}
	calls := up.ChatCalls()

	// The document changes and is re-ingested while serving.
	v2 := strings.Replace(v1, "25 vacation days", "30 vacation days", 1)
	res := postDoc(t, s.admin, "handbook", "handbook.md", v2)
	results, _ := res["results"].([]any)
	if len(results) != 1 || results[0].(map[string]any)["status"] != "ingested" || results[0].(map[string]any)["purged"] != float64(1) {
		t.Fatalf("re-ingest: %v", res)
	}
	third := askRAG(t, s.api, "key-acme", question)
	msgs = echoed(t, third)
	if third.cache != "miss" || !strings.Contains(msgs[0]["content"], "30 vacation days") || strings.Contains(third.content, "25 vacation") {
		t.Fatalf("after re-ingest: %+v", third)
	}
	if up.ChatCalls() != calls+1 {
		t.Fatalf("upstream calls %d, want %d", up.ChatCalls(), calls+1)
	}

	// Tenant globex only sees its own collection.
	g := askRAG(t, s.api, "key-globex", question)
	if gm := echoed(t, g); !strings.Contains(gm[0]["content"], "launch code") || strings.Contains(g.content, "vacation days per year") {
		t.Fatalf("globex: %+v", g)
	}
	// An unbound key gets no context at all.
	if o := echoed(t, askRAG(t, s.api, "key-other", question)); len(o) != 1 {
		t.Fatalf("unbound namespace got context: %v", o)
	}
	// X-Semcache-RAG: off sends the request unchanged.
	off := askRAG(t, s.api, "key-acme", "Do employees get vacation days? [[sim:echo]]", "X-Semcache-RAG", "off")
	if om := echoed(t, off); len(om) != 1 || off.sources != "" {
		t.Fatalf("RAG off: %+v", off)
	}

	// Stats; the CLI replaces the document (its source is now the file)
	// and then skips it as unchanged.
	req, _ := http.NewRequest(http.MethodGet, s.admin+"/admin/rag/handbook", nil)
	req.Header.Set("Authorization", "Bearer "+ragAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if st["documents"] != float64(1) || st["chunks"] == float64(0) || st["version"] == "" {
		t.Fatalf("stats: %v", st)
	}
	if err := os.WriteFile(docPath, []byte(v2), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ingested 1, skipped unchanged 0", "ingested 0, skipped unchanged 1"} {
		out.Reset()
		if err := run(context.Background(), args, &out, &errOut); err != nil || !strings.Contains(out.String(), want) {
			t.Fatalf("re-ingest from the CLI: %v\n%s", err, out.String())
		}
	}
}

func TestRAGConfigErrors(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "bad.yaml")
	bad := `
rag:
  chunk_unit: words
  max_doc_bytes: lots
  collections:
    - name: Bad Name
      placement: top
      template: "{{.Nope"
`
	if err := os.WriteFile(cfgPath, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"serve", "--config", cfgPath, "--rag", "maybe"}, &out, &errOut)
	if err == nil {
		t.Fatal("serve accepted a bad rag section")
	}
	for _, want := range []string{"--rag", "chunk: unit", "max_doc_bytes", "name must be", "namespaces", "placement", "template"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

func TestRAGAdminWhenOff(t *testing.T) {
	_, upURL := simUpstream(t)
	s := start(t, upURL, t.TempDir())
	resp, err := http.Post(s.admin+"/admin/rag/docs/documents", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(b), "RAG is off") {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}
