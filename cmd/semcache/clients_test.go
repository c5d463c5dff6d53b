package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/semcache/semcache/bench/upstream"
)

// nodeClientPackages are the npm packages scripts/node-e2e/clients.mjs
// loads.
var nodeClientPackages = []string{"openai", "ai", "@ai-sdk/openai", "@langchain/openai", "@langchain/core", "zod"}

// nodeClients returns node and clients.mjs; it skips without them, and
// fails when CI is set.
func nodeClients(t *testing.T) (node, script string) {
	t.Helper()
	dir, _ := filepath.Abs("../../scripts/node-e2e")
	var missing []string
	for _, p := range nodeClientPackages {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", p, "package.json")); err != nil {
			missing = append(missing, p)
		}
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing = append(missing, "node")
	}
	if len(missing) > 0 {
		if os.Getenv("CI") != "" {
			t.Fatalf("missing in CI: %v; run npm ci --prefix scripts/node-e2e", missing)
		}
		t.Skipf("node clients not installed (%v): npm ci --prefix scripts/node-e2e", missing)
	}
	return node, filepath.Join(dir, "clients.mjs")
}

// clientResult is what clients.mjs prints.
type clientResult struct {
	OK     bool   `json:"ok"`
	Error  string `json:"error"`
	Status string `json:"status"`
	Text   string `json:"text"`
	Deltas int    `json:"deltas"`
	Usage  *struct {
		InputTokens    int `json:"input_tokens"`
		TotalTokens    int `json:"total_tokens"`
		AITotalTokens  int `json:"totalTokens"`
		PromptTokens   int `json:"prompt_tokens"`
		AIInputTokens  int `json:"inputTokens"`
		AIOutputTokens int `json:"outputTokens"`
	} `json:"usage"`
	Data []struct {
		Index int       `json:"index"`
		Dims  int       `json:"dims"`
		Head  []float64 `json:"head"`
	} `json:"data"`
}

func runClient(t *testing.T, node, script string, args ...string) clientResult {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), node, append([]string{script}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var res clientResult
	if jerr := json.Unmarshal(bytes.TrimSpace(out), &res); jerr != nil || !res.OK || err != nil {
		t.Fatalf("node %v: %v %v %s\nstdout: %s\nstderr: %s", args, jerr, err, res.Error, out, stderr.String())
	}
	return res
}

// TestNodeClientsThroughSemcache drives semcache, in front of the
// simulator, with the clients people use on the Responses and embeddings
// APIs: the openai npm client (responses.create, streamed or not, and
// embeddings.create, single and batched with partial hits), the Vercel AI
// SDK's default provider (generateText, streamText) and LangChain.js
// (ChatOpenAI with useResponsesApi). Each is asked twice: a miss, then a
// hit that reaches no upstream, with the same answer, accepted by the
// client's own parsers.
func TestNodeClientsThroughSemcache(t *testing.T) {
	node, script := nodeClients(t)
	up, upURL := simUpstream(t)
	s := start(t, upURL, t.TempDir())
	base := s.api + "/v1"
	tests := []struct {
		name   string
		args   []string
		stream bool
	}{
		{"openai responses.create", []string{"openai-responses"}, false},
		{"openai responses.create stream", []string{"openai-responses", "--stream"}, true},
		{"openai responses.stream helper", []string{"openai-responses", "--helper"}, true},
		{"ai sdk generateText", []string{"ai-generate"}, false},
		{"ai sdk streamText", []string{"ai-stream"}, true},
		{"langchain invoke", []string{"langchain-responses"}, false},
		{"langchain stream", []string{"langchain-responses", "--stream"}, true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prompt := "Explain semantic caching, case " + string(rune('A'+i))
			args := append([]string{tt.args[0], base, prompt}, tt.args[1:]...)
			before := up.ResponsesCalls()
			miss := runClient(t, node, script, args...)
			if up.ResponsesCalls()-before != 1 {
				t.Fatalf("miss: %d upstream calls", up.ResponsesCalls()-before)
			}
			hit := runClient(t, node, script, args...)
			if n := up.ResponsesCalls() - before; n != 1 {
				t.Fatalf("the second call reached the upstream (%d calls)", n)
			}
			if miss.Text == "" || hit.Text != miss.Text {
				t.Fatalf("hit %q, miss %q", hit.Text, miss.Text)
			}
			if tt.stream && hit.Deltas < 2 {
				t.Errorf("the replayed stream came in %d deltas", hit.Deltas)
			}
			if hit.Usage == nil || hit.Usage.TotalTokens+hit.Usage.AITotalTokens == 0 {
				t.Errorf("the hit reports no usage: %+v", hit.Usage)
			}
			if tt.args[0] == "openai-responses" && hit.Status != "completed" {
				t.Errorf("status %q", hit.Status)
			}
		})
	}

	t.Run("openai embeddings.create", func(t *testing.T) {
		calls := func() int64 { return up.Calls(upstream.PathEmbeddings) }
		before := calls()
		single := runClient(t, node, script, "openai-embeddings", base, `["a single sentence"]`)
		again := runClient(t, node, script, "openai-embeddings", base, `["a single sentence"]`)
		if calls()-before != 1 || !slices.Equal(single.Data[0].Head, again.Data[0].Head) || again.Data[0].Dims == 0 {
			t.Fatalf("single: %d calls, %+v vs %+v", calls()-before, single.Data, again.Data)
		}
		// The client asks for base64 unless told; float works the same.
		batch := runClient(t, node, script, "openai-embeddings", base, `["first doc","second doc"]`, "--format", "float")
		mixed := runClient(t, node, script, "openai-embeddings", base, `["first doc","third doc","second doc","a single sentence"]`)
		if calls()-before != 3 {
			t.Fatalf("%d upstream calls, want 3 (the batch, then the one new input)", calls()-before)
		}
		var sent struct {
			Input []string `json:"input"`
		}
		_ = json.Unmarshal(up.LastRequestTo(upstream.PathEmbeddings), &sent)
		if !slices.Equal(sent.Input, []string{"third doc"}) {
			t.Fatalf("the partial hit asked upstream for %v", sent.Input)
		}
		if len(mixed.Data) != 4 || !sameHead(mixed.Data[0].Head, batch.Data[0].Head) || !sameHead(mixed.Data[2].Head, batch.Data[1].Head) ||
			!sameHead(mixed.Data[3].Head, single.Data[0].Head) {
			t.Fatalf("cached vectors came back changed or out of order: %+v", mixed.Data)
		}
		for i, d := range mixed.Data {
			if d.Index != i || d.Dims != mixed.Data[0].Dims {
				t.Fatalf("embedding %d: %+v", i, d)
			}
		}
		if mixed.Usage == nil || mixed.Usage.PromptTokens != 9 {
			t.Fatalf("usage %+v, want 9 prompt tokens (one per word, cached inputs included)", mixed.Usage)
		}
	})
}

// sameHead compares vector components at float32 precision (float arrays
// and base64 spell them differently).
func sameHead(a, b []float64) bool {
	if len(a) != len(b) || len(a) == 0 {
		return false
	}
	for i := range a {
		if float32(a[i]) != float32(b[i]) {
			return false
		}
	}
	return true
}
