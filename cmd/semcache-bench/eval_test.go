package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/semcache/semcache/bench/eval"

	"github.com/semcache/semcache/cache/simtier"
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
		score := float32(dot)                                                // lexical vectors have unit norm
		hit := score >= th && (!withVerifier || v.Check(p.b, p.a, score).OK) // b is the query
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
	err := runEval(context.Background(), []string{"--mode", "pairwise", "--pairs", path, "--embedder", "lexical", "--thresholds", "0.3,0.6,0.9", "--json"}, &stdout, &stderr)
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
	if err := runEval(context.Background(), []string{"--mode", "pairwise", "--pairs", path, "--thresholds", "0.3,0.6", "--min-precision", "0.9", "--mistakes", "5"}, &stdout, &stderr); err != nil {
		t.Fatalf("runEval: %v", err)
	}
	s := stdout.String()
	wp, wr := expected(t, 0.3, true)
	for _, want := range []string{
		"embedder: lexical",
		"| group | pos | neg | cosine AUC |", "cosine+verifier AUC", "recall @1% FPR (threshold)", "| family=old-pairs | 5 | 5 |",
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
	t.Setenv("SEMCACHE_MODEL_DIR", "") // the default of --model-dir
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
		{[]string{"--pairs", path, "--mode", "fast"}, `unknown mode "fast"`},
		{[]string{"--pairs", path, "--mode", "e2e"}, "needs --target and --admin"},
		{[]string{"--pairs", path, "--split", "dev"}, `unknown split "dev"`},
		{[]string{"--pairs", path, "--sizes", "100,1,x"}, `cache size "1"`},
		{[]string{"--pairs", path, "--sizes", ""}, "--sizes is empty"},
		{[]string{"--pairs", path, "--semantic-mode", "all"}, "--semantic-mode"},
		{[]string{"--pairs", path, "--threshold", "1.5"}, "--threshold 1.5"},
		{[]string{"--pairs", path, "--limit", "-1", "--mistakes", "-2"}, "--mistakes -2"},
		{[]string{"--pairs", path, "--distractors", filepath.Join(t.TempDir(), "none.txt")}, "no such file"},
		{[]string{"--pairs", path, "--mode", "e2e", "--target", "ftp://x", "--admin", "http://127.0.0.1:1"}, `target URL "ftp://x"`},
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

const (
	fixturePairs       = "../../bench/eval/testdata/fixture.jsonl"
	fixtureDistractors = "../../bench/eval/testdata/distractors.txt"
)

// cacheRun runs cache mode on the fixture with --json and decodes it.
func cacheRun(t *testing.T, extra ...string) replayOutput {
	t.Helper()
	args := append([]string{"--pairs", fixturePairs, "--distractors", fixtureDistractors, "--sizes", "10,40", "--json"}, extra...)
	var stdout, stderr bytes.Buffer
	if err := runEval(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("runEval %q: %v (stderr %s)", extra, err, stderr.String())
	}
	var out replayOutput
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout.String())
	}
	if out.Report == nil || len(out.Report.Sizes) != 2 {
		t.Fatalf("report %+v", out.Report)
	}
	return out
}

func allRow(t *testing.T, s eval.SizeReport) eval.Row {
	t.Helper()
	if len(s.Rows) == 0 || s.Rows[0].Group != "all" {
		t.Fatalf("rows %+v", s.Rows)
	}
	return s.Rows[0]
}

func TestRunEvalCacheMode(t *testing.T) {
	pairs, err := eval.LoadFile(fixturePairs)
	if err != nil {
		t.Fatal(err)
	}
	def := cacheRun(t)
	floor, _ := simtier.DefaultFloor("lexical", true)
	if def.Mode != "cache" || def.Threshold != floor || !def.Verifier || def.SemanticMode != "context" || def.Report.Pairs != len(pairs) {
		t.Errorf("header %+v", def)
	}
	for _, sr := range def.Report.Sizes {
		all := allRow(t, sr)
		if all.Label1+all.Label0 != len(pairs) || sr.DuplicateRecall.Value != 1 || sr.Records != nil {
			t.Errorf("size %d: %d+%d queries, duplicate recall %v, records kept %v", sr.Size, all.Label1, all.Label0, sr.DuplicateRecall, sr.Records != nil)
		}
	}
	// The flags reach the decision: without the verifier more is served,
	// at threshold 0.99 only identical prompts remain.
	noVer := cacheRun(t, "--no-verifier")
	strict := cacheRun(t, "--threshold", "0.99")
	for i := range def.Report.Sizes {
		d, n, s := allRow(t, def.Report.Sizes[i]), allRow(t, noVer.Report.Sizes[i]), allRow(t, strict.Report.Sizes[i])
		if n.Hits <= d.Hits || n.FalseHit.X < d.FalseHit.X {
			t.Errorf("size %d: without the verifier %d hits (%d false), with %d (%d)", def.Report.Sizes[i].Size, n.Hits, n.FalseHit.X, d.Hits, d.FalseHit.X)
		}
		if s.SemanticHits >= d.SemanticHits || s.ServedWrong.X != 0 {
			t.Errorf("size %d: at 0.99 %d semantic hits (%d wrong), at 0.60 %d", def.Report.Sizes[i].Size, s.SemanticHits, s.ServedWrong.X, d.SemanticHits)
		}
	}
	if noVer.Verifier || strict.Threshold != 0.99 {
		t.Errorf("headers: %+v / %+v", noVer, strict)
	}
	// --split and --limit select the pairs.
	_, test := eval.Split(pairs)
	if got := cacheRun(t, "--split", "test").Report.Pairs; got != len(test) {
		t.Errorf("--split test: %d pairs, want %d", got, len(test))
	}
	if got := cacheRun(t, "--limit", "7").Report.Pairs; got != 7 {
		t.Errorf("--limit 7: %d pairs", got)
	}
	// Another seed changes the order, not the number of queries.
	if other := cacheRun(t, "--seed", "9"); allRow(t, other.Report.Sizes[0]).Label1 != allRow(t, def.Report.Sizes[0]).Label1 {
		t.Error("--seed changed the queries")
	}
}

func TestRunEvalCacheModeText(t *testing.T) {
	var stdout, stderr bytes.Buffer
	args := []string{"--pairs", fixturePairs, "--distractors", fixtureDistractors, "--sizes", "10", "--mistakes", "1", "--progress"}
	if err := runEval(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("runEval: %v", err)
	}
	for _, want := range []string{
		fmt.Sprintf("cache mode, embedder lexical (lexical-v1-512), threshold %.2f, verifier on, semantic-mode context, split all, seed 1: 42 pairs, distractor pool 30", verify.LexicalModel.MinSimilarity),
		"| family | size | paraphrase recall | false-hit rate (label 0) | wrong-hit rate (label 1) | served wrong answers | hits exact/semantic |",
		"| all | 10 |", "| semcache-questions | 10 |", "| meancache-ctx | 10 |", "| kind/type | size |", "| paraphrase | 10 |",
		"duplicate recall", "1.000 [0.912, 1.000] (n=40)", "verifier rejections",
		"size 10: wrong answers served:", "size 10: paraphrases missed:", "verifier on the pair:",
	} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
	if !strings.Contains(stderr.String(), "size 10: batch 0:") {
		t.Errorf("--progress printed %q", stderr.String())
	}
}

func TestUpstreamOracle(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"upstream", "--listen", "127.0.0.1:0", "--answers", fixturePairs}, &stdout, &stderr)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("upstream: %v", err)
		}
	})
	listening := regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+/v1)`)
	var base string
	for deadline := time.Now().Add(10 * time.Second); base == ""; {
		if m := listening.FindStringSubmatch(stdout.String()); m != nil {
			base = m[1]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no listening line in %q (stderr %q)", stdout.String(), stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(stdout.String(), "oracle answers from 42 pairs") {
		t.Errorf("stdout %q", stdout.String())
	}
	pairs, err := eval.LoadFile(fixturePairs)
	if err != nil {
		t.Fatal(err)
	}
	classes := eval.Classes(pairs)
	for _, side := range []eval.Side{pairs[0].SideB(), pairs[len(pairs)-2].SideA(), {Text: "What is the meaning of life?"}} {
		for _, stream := range []bool{false, true} {
			content := askUpstream(t, base, side, stream)
			if want := classes.Answer(side); content != want {
				t.Errorf("%q (stream %v): content %q, want %q", side.Text, stream, content, want)
			}
		}
	}
	// Two duplicates get one answer; a look-alike another.
	if a, b := askUpstream(t, base, pairs[0].SideA(), false), askUpstream(t, base, pairs[0].SideB(), false); a != b {
		t.Errorf("duplicates answered %q and %q", a, b)
	}
	if a, b := askUpstream(t, base, pairs[3].SideA(), false), askUpstream(t, base, pairs[3].SideB(), false); a == b || pairs[3].Label != 0 {
		t.Errorf("look-alikes answered %q and %q", a, b)
	}
	var out bytes.Buffer
	if err := run(t.Context(), []string{"upstream", "--answers", filepath.Join(t.TempDir(), "none.jsonl")}, &out, &out); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing answers file: %v", err)
	}
}

// askUpstream sends a side to a chat endpoint and returns the content
// (assembled from the stream when stream is set).
func askUpstream(t *testing.T, base string, s eval.Side, stream bool) string {
	t.Helper()
	body := map[string]any{"model": "sim-gpt", "messages": s.Messages(), "stream": stream}
	b, _ := json.Marshal(body)
	resp, err := http.Post(base+"/chat/completions", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if !stream {
		var c struct {
			Choices []struct{ Message struct{ Content string } }
		}
		if err := json.NewDecoder(resp.Body).Decode(&c); err != nil || len(c.Choices) != 1 {
			t.Fatalf("decode: %v %+v", err, c)
		}
		return c.Choices[0].Message.Content
	}
	var content strings.Builder
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var chunk struct {
			Choices []struct{ Delta struct{ Content string } }
		}
		if err := json.Unmarshal([]byte(data), &chunk); err != nil {
			t.Fatalf("chunk %q: %v", data, err)
		}
		for _, c := range chunk.Choices {
			content.WriteString(c.Delta.Content)
		}
	}
	return content.String()
}
