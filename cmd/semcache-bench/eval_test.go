package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/semcache/semcache/cache/verify"
	"github.com/semcache/semcache/embed/lexical"
)

var evalTestPairs = []struct {
	a, b string
	dup  bool
	kind string
}{
	{"How do I reverse a list in Python?", "python: reverse a list", true, "reorder"},
	{"How do I reverse a list in Python?", "how do i reverse a list in python", true, "case"},
	{"How do I reverse a list in Python?", "How do I sort a list in Python?", false, "topic"},
	{"What is the capital of France?", "What is the capital of Germany?", false, "entity"},
	{"How do I undo the last git commit?", "How do I undo the last 3 git commits?", false, "numbers"},
	{"Is it safe to eat raw cookie dough?", "Is raw cookie dough safe to eat?", true, "reorder"},
	{"Is it safe to eat raw cookie dough?", "Is it unsafe to eat raw cookie dough?", false, "negation"},
	{"How do I exit vim?", "How do I quit vim?", true, "synonym"},
	{"How do I fix a leaking faucet?", "how to repair a dripping tap", true, "synonym"},
	{"Convert 350 Fahrenheit to Celsius", "Convert 350 Celsius to Fahrenheit", false, "direction"},
}

func writePairs(t *testing.T) string {
	t.Helper()
	var buf bytes.Buffer
	for _, p := range evalTestPairs {
		line, err := json.Marshal(map[string]any{"a": p.a, "b": p.b, "duplicate": p.dup, "kind": p.kind})
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(line)
		buf.WriteByte('\n')
	}
	path := filepath.Join(t.TempDir(), "pairs.jsonl")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// expected computes precision and recall at threshold th independently of
// bench/eval: lexical cosine plus the default verifier.
func expected(t *testing.T, th float32, withVerifier bool) (precision, recall float64) {
	t.Helper()
	emb, err := lexical.New(lexical.Options{Dimension: 1024})
	if err != nil {
		t.Fatal(err)
	}
	v, err := verify.New(verify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tp, fp, fn := 0, 0, 0
	for _, p := range evalTestPairs {
		vecs, err := emb.Embed(context.Background(), []string{p.a, p.b})
		if err != nil {
			t.Fatal(err)
		}
		var dot float64
		for i := range vecs[0] {
			dot += float64(vecs[0][i]) * float64(vecs[1][i])
		}
		score := float32(dot) // lexical vectors have unit norm
		hit := score >= th && (!withVerifier || v.Check(p.a, p.b, score).OK)
		switch {
		case hit && p.dup:
			tp++
		case hit:
			fp++
		case p.dup:
			fn++
		}
	}
	precision = 1
	if tp+fp > 0 {
		precision = float64(tp) / float64(tp+fp)
	}
	return precision, float64(tp) / float64(tp+fn)
}

func TestRunEvalJSON(t *testing.T) {
	path := writePairs(t)
	var stdout, stderr bytes.Buffer
	err := runEval(context.Background(), []string{"--pairs", path, "--embedder", "lexical", "--thresholds", "0.3,0.6,0.9", "--json"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("runEval: %v (stderr %s)", err, stderr.String())
	}
	var out struct {
		Embedder string `json:"embedder"`
		ModelID  string `json:"model_id"`
		Report   struct {
			Pairs      int `json:"pairs"`
			Duplicates int `json:"duplicates"`
			Thresholds []struct {
				Threshold float32 `json:"threshold"`
				Plain     struct {
					Precision, Recall float64
				} `json:"without_verifier"`
				Verified struct {
					Precision, Recall float64
					FP                int `json:"fp"`
				} `json:"with_verifier"`
			} `json:"thresholds"`
		} `json:"report"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout.String())
	}
	if out.Embedder != "lexical" || !strings.HasPrefix(out.ModelID, "lexical") {
		t.Errorf("embedder %q, model %q", out.Embedder, out.ModelID)
	}
	if out.Report.Pairs != len(evalTestPairs) || out.Report.Duplicates != 5 {
		t.Errorf("pairs %d, duplicates %d", out.Report.Pairs, out.Report.Duplicates)
	}
	if len(out.Report.Thresholds) != 3 {
		t.Fatalf("%d thresholds, want 3", len(out.Report.Thresholds))
	}
	for _, th := range out.Report.Thresholds {
		for _, c := range []struct {
			name     string
			verifier bool
			p, r     float64
		}{{"without verifier", false, th.Plain.Precision, th.Plain.Recall}, {"with verifier", true, th.Verified.Precision, th.Verified.Recall}} {
			wp, wr := expected(t, th.Threshold, c.verifier)
			if math.Abs(c.p-wp) > 1e-9 || math.Abs(c.r-wr) > 1e-9 {
				t.Errorf("threshold %.2f %s: precision %v recall %v, want %v %v", th.Threshold, c.name, c.p, c.r, wp, wr)
			}
		}
	}
	// The verifier must remove the look-alikes that score high lexically.
	if low := out.Report.Thresholds[0]; low.Verified.FP != 0 || low.Plain.Precision >= low.Verified.Precision {
		t.Errorf("at 0.3 the verifier should leave no false hit and raise precision: %+v", low)
	}
}

func TestRunEvalText(t *testing.T) {
	path := writePairs(t)
	var stdout, stderr bytes.Buffer
	if err := runEval(context.Background(), []string{"--pairs", path, "--thresholds", "0.3,0.6", "--min-precision", "0.9", "--mistakes", "5"}, &stdout, &stderr); err != nil {
		t.Fatalf("runEval: %v", err)
	}
	s := stdout.String()
	wp, wr := expected(t, 0.3, true)
	for _, want := range []string{
		"embedder: lexical",
		"pairs: 10 (5 duplicates, 5 non-duplicates)",
		"precision", "false hits by kind", "verifier rejections",
		"suggested threshold: 0.30",
		fmt.Sprintf("precision %.3f, recall %.3f", wp, wr),
		"missed duplicates at the suggested threshold",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
}

func TestRunEvalErrors(t *testing.T) {
	path := writePairs(t)
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	if err := os.WriteFile(bad, []byte(`{"a":"x","b":"y","duplicate":true,"kind":"k"}`+"\n{oops}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--pairs", path, "--embedder", "bogus"}, `unknown embedder "bogus"`},
		{[]string{"--pairs", path, "--embedder", "use"}, "needs --model-dir"},
		{[]string{"--pairs", path, "--embedder", "use", "--model-dir", t.TempDir()}, "no model.json"},
		{[]string{"--pairs", path, "--embedder", "openai"}, "needs --openai-model"},
		{[]string{"--pairs", path, "--thresholds", "0.5,abc,2"}, `threshold "abc"`},
		{[]string{"--pairs", path, "--thresholds", ","}, "--thresholds is empty"},
		{[]string{"--pairs", path, "--min-precision", "1.5"}, "--min-precision"},
		{[]string{"--pairs", filepath.Join(t.TempDir(), "missing.jsonl")}, "no such file"},
		{[]string{"--pairs", bad}, "line 2"},
		{[]string{"--pairs", path, "extra"}, "unexpected arguments"},
		{[]string{"--no-such-flag"}, "no-such-flag"},
	}
	for _, tc := range cases {
		var stdout, stderr bytes.Buffer
		err := runEval(context.Background(), tc.args, &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("runEval(%q) error = %v, want it to contain %q", tc.args, err, tc.want)
		}
	}
}
