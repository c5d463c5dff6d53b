package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/semcache/semcache/bench/load"
	"github.com/semcache/semcache/bench/upstream"
)

// syncBuffer is a bytes.Buffer safe to write from run's goroutine while the
// test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRunDispatch(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantErr    string // "" means success
		wantStdout string
		wantStderr string
	}{
		{"no subcommand", nil, "missing subcommand", "", "upstream"},
		{"unknown subcommand", []string{"frobnicate"}, `unknown subcommand "frobnicate"`, "", "load"},
		{"help", []string{"-h"}, "", "eval", ""},
		{"upstream help", []string{"upstream", "-h"}, "", "", "-tokens-per-second"},
		{"load help", []string{"load", "-h"}, "", "", "-duplicate-ratio"},
		{"upstream bad flag", []string{"upstream", "--nope"}, "flag provided but not defined", "", "-listen"},
		{"upstream bad values", []string{"upstream", "--error-rate", "2", "--ttft", "-1s"}, "ErrorRate", "", ""},
		{"upstream stray argument", []string{"upstream", "extra"}, "unexpected arguments", "", ""},
		{"load bad ratios", []string{"load", "--duplicate-ratio", "0.8", "--paraphrase-ratio", "0.5", "--requests", "0"}, "exceeds 1", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(t.Context(), tt.args, &stdout, &stderr)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("run: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("run error %v, want it to contain %q", err, tt.wantErr)
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) {
				t.Errorf("stdout %q lacks %q", stdout.String(), tt.wantStdout)
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tt.wantStderr)
			}
		})
	}
}

func TestUpstreamServesUntilCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"upstream", "--listen", "127.0.0.1:0", "--answer-tokens", "5"}, &stdout, &stderr)
	}()

	listening := regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+/v1)`)
	var base string
	deadline := time.Now().Add(10 * time.Second)
	for base == "" {
		if m := listening.FindStringSubmatch(stdout.String()); m != nil {
			base = m[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("upstream exited early: %v (stderr %q)", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no listening line in %q", stdout.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if strings.HasSuffix(base, ":0/v1") {
		t.Fatalf("printed the requested port, not the actual one: %s", base)
	}

	resp, err := http.Post(base+"/chat/completions", "application/json",
		strings.NewReader(`{"model":"sim-gpt","messages":[{"role":"user","content":"hello"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var answer struct {
		Choices []struct {
			Message struct{ Content string } `json:"message"`
		} `json:"choices"`
	}
	err = json.NewDecoder(resp.Body).Decode(&answer)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || len(answer.Choices) != 1 {
		t.Fatalf("status %d answer %+v err %v", resp.StatusCode, answer, err)
	}
	if got := len(strings.Fields(answer.Choices[0].Message.Content)); got != 5 {
		t.Errorf("answer %q has %d words, want 5 (--answer-tokens)", answer.Choices[0].Message.Content, got)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("upstream did not stop after cancel")
	}
	if !strings.Contains(stdout.String(), "stopped") {
		t.Errorf("stdout %q lacks the stop line", stdout.String())
	}
	if _, err := http.Get(base + "/models"); err == nil {
		t.Error("server still answers after shutdown")
	}
}

func TestLoadAgainstInProcessUpstream(t *testing.T) {
	sim := upstream.New(upstream.Options{AnswerTokens: 6})
	ts := httptest.NewServer(sim)
	defer ts.Close()

	tests := []struct {
		name  string
		extra []string
		check func(t *testing.T, out string)
	}{
		{"text", []string{"--stream"}, func(t *testing.T, out string) {
			for _, want := range []string{"20 planned, 20 completed, 0 errors", "ttft", "none"} {
				if !strings.Contains(out, want) {
					t.Errorf("report lacks %q:\n%s", want, out)
				}
			}
		}},
		{"json", []string{"--json"}, func(t *testing.T, out string) {
			var rep load.Report
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("decode %q: %v", out, err)
			}
			if rep.Completed != 20 || rep.ByCache[load.NoCacheHeader].Count != 20 || rep.TTFT.N != 0 {
				t.Errorf("report %+v", rep)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim.Reset()
			var stdout bytes.Buffer
			args := append([]string{"load", "--target", ts.URL + "/v1", "--requests", "20", "--concurrency", "3", "--seed", "9"}, tt.extra...)
			if err := run(t.Context(), args, &stdout, io.Discard); err != nil {
				t.Fatalf("run: %v", err)
			}
			if got := sim.ChatCalls(); got != 20 {
				t.Errorf("upstream saw %d chat calls, want 20", got)
			}
			tt.check(t, stdout.String())
		})
	}
}

// TestBudgetCommand: semcache-bench budget runs a short stream through the
// static cut-off, a fixed cut-off and a budget, prints every row and both
// comparison columns, and draws the curves.
func TestBudgetCommand(t *testing.T) {
	png := filepath.Join(t.TempDir(), "budget.png")
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"budget", "--pairs", "../../bench/testdata/questions.jsonl", "--split", "all", "--n", "300",
		"--cutoffs", "0.99", "--budgets", "0.05", "--png", png}, &out, &errb)
	if err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	for _, want := range []string{"| static cut-off |", "| fixed cut-off 0.99 |", "| budget 5% |", "| 5% |", "within the budget with 95% confidence"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if fi, err := os.Stat(png); err != nil || fi.Size() < 1000 {
		t.Errorf("curves: %v %v", fi, err)
	}
}
