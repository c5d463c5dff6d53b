package upstream

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// nodePackages are the npm packages scripts/node-e2e/clients.mjs loads.
var nodePackages = []string{"openai", "ai", "@ai-sdk/openai", "@langchain/openai", "@langchain/core", "zod"}

// nodeClients returns the node binary and the path of clients.mjs. Without
// node or the installed packages the test is skipped, and fails under CI.
func nodeClients(t *testing.T) (node, script string) {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "scripts", "node-e2e"))
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for _, pkg := range nodePackages {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg, "package.json")); err != nil {
			missing = append(missing, pkg)
		}
	}
	node, err = exec.LookPath("node")
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

// nodeResult is what clients.mjs prints. Usage keeps each client's own
// field names: snake_case from openai and LangChain, camelCase from the AI
// SDK.
type nodeResult struct {
	OK           bool   `json:"ok"`
	Error        string `json:"error"`
	HTTPStatus   int    `json:"httpStatus"`
	Status       string `json:"status"` // the response's status (openai-responses)
	Text         string `json:"text"`
	Deltas       int    `json:"deltas"`
	FinishReason string `json:"finishReason"`
	Steps        int    `json:"steps"`
	ToolCalls    []struct {
		Query string `json:"query"`
		Ref   string `json:"ref"`
	} `json:"toolCalls"`
	Usage *struct {
		InputTokens    int `json:"input_tokens"`
		OutputTokens   int `json:"output_tokens"`
		TotalTokens    int `json:"total_tokens"`
		AIInputTokens  int `json:"inputTokens"`
		AIOutputTokens int `json:"outputTokens"`
		AITotalTokens  int `json:"totalTokens"`
	} `json:"usage"`
	Data []struct {
		Index int       `json:"index"`
		Dims  int       `json:"dims"`
		Head  []float64 `json:"head"`
	} `json:"data"`
}

// tokens returns input, output and total tokens whichever names the client
// used.
func (r nodeResult) tokens() [3]int {
	if r.Usage == nil {
		return [3]int{}
	}
	u := *r.Usage
	if u.AITotalTokens > 0 {
		return [3]int{u.AIInputTokens, u.AIOutputTokens, u.AITotalTokens}
	}
	return [3]int{u.InputTokens, u.OutputTokens, u.TotalTokens}
}

func runNodeClient(t *testing.T, node, script string, args ...string) nodeResult {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), node, append([]string{script}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var res nodeResult
	if jerr := json.Unmarshal(bytes.TrimSpace(out), &res); jerr != nil {
		t.Fatalf("node %v: %v (%v)\nstdout: %s\nstderr: %s", args, jerr, err, out, stderr.String())
	}
	if res.OK != (err == nil) {
		t.Fatalf("node %v: ok=%v but exit %v", args, res.OK, err)
	}
	return res
}

// TestNodeClients runs every clients.mjs subcommand against the simulator:
// the openai npm client, the Vercel AI SDK (Responses and chat providers)
// and LangChain.js must each get the simulator's deterministic answer, the
// usage it reported, and more than one delta when streaming.
func TestNodeClients(t *testing.T) {
	node, script := nodeClients(t)
	const words = 12
	sim, base := newTestServer(t, Options{AnswerTokens: words})
	const prompt = "What is a semantic cache for LLM traffic?"
	promptWords := len(strings.Fields(prompt))

	_, want := postResponses(t, base, fmt.Sprintf(`{"model":"sim-gpt","input":%q}`, prompt))
	var chat chatCompletion
	postJSON(t, base+"/chat/completions", fmt.Sprintf(`{"model":"sim-gpt","messages":[{"role":"user","content":%q}]}`, prompt), &chat)
	wantChat := *chat.Choices[0].Message.Content
	if want.text() == "" || wantChat == "" || want.text() == wantChat {
		t.Fatalf("reference answers %q and %q", want.text(), wantChat)
	}
	wantUsage := [3]int{promptWords, words, promptWords + words}

	tests := []struct {
		args   []string
		path   string
		text   string
		stream bool
	}{
		{[]string{"openai-responses"}, PathResponses, want.text(), false},
		{[]string{"openai-responses", "--stream"}, PathResponses, want.text(), true},
		{[]string{"ai-generate"}, PathResponses, want.text(), false},
		{[]string{"ai-stream"}, PathResponses, want.text(), true},
		{[]string{"ai-chat"}, PathChat, wantChat, false},
		{[]string{"ai-chat", "--stream"}, PathChat, wantChat, true},
		{[]string{"langchain-responses"}, PathResponses, want.text(), false},
		{[]string{"langchain-responses", "--stream"}, PathResponses, want.text(), true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			before := sim.Calls(tt.path)
			args := append([]string{tt.args[0], base, prompt}, tt.args[1:]...)
			res := runNodeClient(t, node, script, args...)
			t.Logf("%s sent %s", tt.args[0], sim.LastRequestTo(tt.path))
			if !res.OK {
				t.Fatalf("client error: %s", res.Error)
			}
			if res.Text != tt.text {
				t.Errorf("text %q, want %q", res.Text, tt.text)
			}
			if got := res.tokens(); got != wantUsage {
				t.Errorf("usage %v, want %v", got, wantUsage)
			}
			if tt.args[0] == "openai-responses" && res.Status != "completed" {
				t.Errorf("response status %q", res.Status)
			}
			if tt.stream && res.Deltas < 2 {
				t.Errorf("%d deltas, want a stream of several", res.Deltas)
			}
			if got := sim.Calls(tt.path) - before; got != 1 {
				t.Errorf("%d calls to %s, want 1", got, tt.path)
			}
			if streamed := strings.Contains(string(sim.LastRequestTo(tt.path)), `"stream":true`); streamed != tt.stream {
				t.Errorf("request stream=%v, want %v", streamed, tt.stream)
			}
		})
	}

	t.Run("ai-tools", func(t *testing.T) {
		before := sim.ResponsesCalls()
		res := runNodeClient(t, node, script, "ai-tools", base, prompt+" "+MarkerTools)
		t.Logf("second step sent %s", sim.LastRequestTo(PathResponses))
		if !res.OK {
			t.Fatalf("client error: %s", res.Error)
		}
		if got := sim.ResponsesCalls() - before; got != 2 || res.Steps != 2 {
			t.Errorf("%d calls, %d steps; want a tool step and an answer step", got, res.Steps)
		}
		if len(res.ToolCalls) != 1 || res.ToolCalls[0].Query != prompt || len(res.ToolCalls[0].Ref) != 8 {
			t.Errorf("tool calls %+v", res.ToolCalls)
		}
		if !strings.HasPrefix(res.Text, "Answer-") || len(strings.Fields(res.Text)) != words || res.FinishReason != "stop" {
			t.Errorf("final text %q finish %q", res.Text, res.FinishReason)
		}
	})

	// Failures reach each client as an error (LangChain's stream is the
	// exception for response.failed: it ends quietly with the partial text).
	failures := []struct {
		args   []string
		marker string
		status int // expected HTTP status on the error, 0 for any
	}{
		{[]string{"openai-responses"}, MarkerStatus(429), 429},
		{[]string{"openai-responses", "--stream"}, MarkerMidstreamError, 0},
		{[]string{"openai-responses", "--stream"}, MarkerCut, 0},
		{[]string{"ai-stream"}, MarkerMidstreamError, 0},
		{[]string{"ai-stream"}, MarkerFailed, 0},
		{[]string{"ai-generate"}, MarkerStatus(503), 503},
		{[]string{"langchain-responses", "--stream"}, MarkerMidstreamError, 0},
	}
	for _, f := range failures {
		t.Run(strings.Join(f.args, " ")+" "+f.marker, func(t *testing.T) {
			args := append([]string{f.args[0], base, "q " + f.marker}, f.args[1:]...)
			res := runNodeClient(t, node, script, args...)
			if res.OK || res.Error == "" {
				t.Fatalf("client succeeded with %q, want an error", res.Text)
			}
			if f.status != 0 && res.HTTPStatus != f.status {
				t.Errorf("status %d, want %d (%s)", res.HTTPStatus, f.status, res.Error)
			}
		})
	}

	inputs := []string{"How do I reverse a list in Go?", "Best pizza toppings", "How do I reverse a list in Go?"}
	inputJSON, _ := json.Marshal(inputs)
	for _, args := range [][]string{
		{"openai-embeddings"}, // the client asks for base64 and decodes it
		{"openai-embeddings", "--format", "float"},
		{"ai-embed"},
		{"langchain-embeddings"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			before := sim.Calls(PathEmbeddings)
			res := runNodeClient(t, node, script, append([]string{args[0], base, string(inputJSON)}, args[1:]...)...)
			t.Logf("%s sent %s", args[0], sim.LastRequestTo(PathEmbeddings))
			if !res.OK || len(res.Data) != len(inputs) {
				t.Fatalf("result %+v", res)
			}
			if got := sim.Calls(PathEmbeddings) - before; got != 1 {
				t.Errorf("%d embeddings calls, want one batch", got)
			}
			for i, d := range res.Data {
				vec := embedText(inputs[i], defaultEmbeddingDim)
				if d.Index != i || d.Dims != defaultEmbeddingDim || len(d.Head) != 3 {
					t.Fatalf("item %d: %+v", i, d)
				}
				for j, v := range d.Head {
					if math.Abs(v-float64(vec[j])) > 1e-6 {
						t.Errorf("item %d component %d = %v, want %v", i, j, v, vec[j])
					}
				}
			}
		})
	}
}
