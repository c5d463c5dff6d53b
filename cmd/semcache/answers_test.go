package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/semcache/semcache/engine"
)

// tokenCount is a usage as any of the clients reports it: the wire's
// snake_case, LangChain's usage_metadata and tokenUsage, the AI SDK's
// camelCase.
type tokenCount struct {
	InputTokens      *int `json:"input_tokens"`
	OutputTokens     *int `json:"output_tokens"`
	TotalTokens      *int `json:"total_tokens"`
	PromptTokens     *int `json:"promptTokens"`
	CompletionTokens *int `json:"completionTokens"`
	LCTotalTokens    *int `json:"totalTokens"`
	AIInputTokens    *int `json:"inputTokens"`
	AIOutputTokens   *int `json:"outputTokens"`
}

// counted reports whether the usage names any count, and their sum.
func (u *tokenCount) counted() (known bool, sum int) {
	if u == nil {
		return false, 0
	}
	for _, p := range []*int{u.InputTokens, u.OutputTokens, u.TotalTokens, u.PromptTokens, u.CompletionTokens,
		u.LCTotalTokens, u.AIInputTokens, u.AIOutputTokens} {
		if p != nil {
			known = true
			sum += *p
		}
	}
	return known, sum
}

type honestResult struct {
	OK            bool        `json:"ok"`
	Error         string      `json:"error"`
	Text          string      `json:"text"`
	Deltas        int         `json:"deltas"`
	Usage         *tokenCount `json:"usage"`
	CallbackUsage *tokenCount `json:"callbackUsage"`
	Semcache      *struct {
		Hit        string          `json:"hit"`
		Entry      string          `json:"entry"`
		SavedUsage json.RawMessage `json:"saved_usage"`
	} `json:"semcache"`
}

func runHonest(t *testing.T, node, script string, args ...string) honestResult {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), node, append([]string{script}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var res honestResult
	if jerr := json.Unmarshal(bytes.TrimSpace(out), &res); jerr != nil || !res.OK || err != nil {
		t.Fatalf("node %v: %v %v %s\nstdout: %s\nstderr: %s", args, jerr, err, res.Error, out, stderr.String())
	}
	return res
}

// TestNodeClientsZeroUsageOnHits: with --hit-usage zero (and the marker
// on), the usage the Vercel AI SDK's onFinish and LangChain.js's
// handleLLMEnd callbacks see — what cost trackers count — is 0 tokens on
// a hit and the real count on the miss before it; every client still
// parses the replies (the marker rides on the last chunk, on
// response.completed, on the JSON object), and replayed streams come in
// several deltas.
func TestNodeClientsZeroUsageOnHits(t *testing.T) {
	node, script := nodeClients(t)
	up, upURL := simUpstream(t)
	// The similarity tier is off: the prompts differ in one word only.
	s := start(t, upURL, t.TempDir(), "--hit-usage", "zero", "--hit-marker", "--semantic", "off")
	base := s.api + "/v1"
	tests := []struct {
		name     string
		args     []string
		stream   bool
		callback bool // the client has a usage callback
		marker   bool // the client hands the marker back (openai: extra fields)
	}{
		{"ai sdk generateText (responses)", []string{"ai-generate"}, false, true, false},
		{"ai sdk streamText (responses)", []string{"ai-stream"}, true, true, false},
		{"ai sdk generateText (chat)", []string{"ai-chat"}, false, true, false},
		{"ai sdk streamText (chat)", []string{"ai-chat", "--stream"}, true, true, false},
		{"langchain invoke (responses)", []string{"langchain-responses"}, false, true, false},
		{"langchain stream (responses)", []string{"langchain-responses", "--stream"}, true, true, false},
		{"langchain invoke (chat)", []string{"langchain-chat"}, false, true, false},
		{"langchain stream (chat)", []string{"langchain-chat", "--stream"}, true, true, false},
		{"openai responses.create", []string{"openai-responses"}, false, false, true},
		{"openai responses.create stream", []string{"openai-responses", "--stream"}, true, false, true},
		{"openai responses.stream helper", []string{"openai-responses", "--helper"}, true, false, true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prompt := "Explain what a cache hit saves. Use two sentences, case " + string(rune('A'+i))
			args := append([]string{tt.args[0], base, prompt}, tt.args[1:]...)
			calls := func() int64 { return up.ChatCalls() + up.ResponsesCalls() }
			before := calls()
			miss := runHonest(t, node, script, args...)
			hit := runHonest(t, node, script, args...)
			if n := calls() - before; n != 1 {
				t.Fatalf("%d upstream calls, want 1 (the miss)", n)
			}
			if miss.Text == "" || hit.Text != miss.Text {
				t.Fatalf("hit %q, miss %q", hit.Text, miss.Text)
			}
			if known, sum := miss.Usage.counted(); !known || sum == 0 {
				t.Fatalf("the miss reports usage %+v", miss.Usage)
			}
			// A client may drop counts of 0 (LangChain's chat completions
			// do) but must report a usage that adds up to nothing.
			if _, sum := hit.Usage.counted(); hit.Usage == nil || sum != 0 {
				t.Fatalf("the hit reports usage %s, want 0 tokens", show(hit.Usage))
			}
			if tt.callback {
				if known, sum := miss.CallbackUsage.counted(); !known || sum == 0 {
					t.Fatalf("the miss's callback saw usage %s", show(miss.CallbackUsage))
				}
				if _, sum := hit.CallbackUsage.counted(); hit.CallbackUsage == nil || sum != 0 {
					t.Fatalf("the hit's callback saw usage %s, want 0 tokens", show(hit.CallbackUsage))
				}
			}
			if tt.stream && hit.Deltas < 2 {
				t.Fatalf("the replayed stream came in %d deltas", hit.Deltas)
			}
			if tt.marker {
				if hit.Semcache == nil || hit.Semcache.Hit != "exact" || hit.Semcache.Entry == "" || len(hit.Semcache.SavedUsage) == 0 {
					t.Fatalf("the hit's marker as the client sees it: %+v", hit.Semcache)
				}
				if miss.Semcache != nil {
					t.Fatalf("the miss carries a marker: %+v", miss.Semcache)
				}
			}
		})
	}
}

func show(u *tokenCount) string {
	b, _ := json.Marshal(u)
	return strings.TrimSpace(string(b))
}

func TestAnswersConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "semcache.yaml")
	if err := os.WriteFile(file, []byte("hit-usage: zero\nvariants: 2\nnamespace_variants:\n  tenant:acme: 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := parseConfig("serve", []string{"--config", file, "--hit-marker", "--replay-pace", "15ms"})
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.answers()
	if !a.Marker || a.Usage != engine.HitUsageZero || a.Pace != 15*time.Millisecond || a.Variants != 2 || a.NamespaceVariants["tenant:acme"] != 3 {
		t.Fatalf("answers %+v", a)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("namespace_variants:\n  tenant:acme: 40\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err = parseConfig("serve", []string{"--config", bad, "--hit-usage", "half", "--replay-pace", "-1s", "--variants", "0"})
	if err == nil {
		t.Fatal("bad answer settings accepted")
	}
	for _, want := range []string{`hit usage "half"`, "pace", "--variants 0", `namespace "tenant:acme"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
}

// TestReloadAnswers: the answer settings change with a config reload.
func TestReloadAnswers(t *testing.T) {
	_, upURL := simUpstream(t)
	dir := t.TempDir()
	writeConfig(t, dir, "upstream: "+upURL+"\n")
	reload := make(chan os.Signal, 1)
	s := serveWith(t, reload, "--config", filepath.Join(dir, "semcache.yaml"), "--data-dir", filepath.Join(dir, "data"), "--config-watch", "0")
	body := userMsg("Does the hit usage reload?")
	ask(t, s.api, "k", body)
	if a := ask(t, s.api, "k", body); a.cache != "hit-exact" || strings.Contains(a.body, `"semcache"`) {
		t.Fatalf("before the reload: %+v", a)
	}
	writeConfig(t, dir, "upstream: "+upURL+"\nhit-usage: zero\n")
	reload <- os.Interrupt
	waitCounter(t, s.admin, `semcache_config_reloads_total{result="ok"}`, 1)
	a := ask(t, s.api, "k", body)
	if a.cache != "hit-exact" || !strings.Contains(a.body, `"total_tokens":0`) || !strings.Contains(a.body, `"saved_usage"`) {
		t.Fatalf("after the reload: %+v", a)
	}
}
