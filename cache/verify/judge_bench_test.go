package verify_test

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/semcache/semcache/cache/verify"
	"github.com/semcache/semcache/embed/lexical"
	"github.com/semcache/semcache/embed/use"
	"github.com/semcache/semcache/embed/wordnet"
	"github.com/semcache/semcache/embed/wordvec"
)

// judgeQueries are lookups as the cache judges them: a query and its top
// candidates (a paraphrase, look-alikes, neighbours of the same topic).
var judgeQueries = []struct {
	q     string
	cands []string
}{
	{"how can I undo my last git commit but keep the changes", []string{
		"How do I undo the last commit in git without losing my changes?",
		"How do I undo the last 3 commits in git?",
		"How do I undo a git rebase?",
		"How do I change the message of my last git commit?",
		"How do I delete a remote git branch?",
	}},
	{"What's the cheapest way to get from JFK to Manhattan?", []string{
		"What's the fastest way to get from JFK to Manhattan?",
		"How do I get from JFK airport to New York City?",
		"Is there a train from Newark airport to Manhattan?",
		"How much is a taxi from JFK to Brooklyn?",
		"What's the cheapest way to get from LaGuardia to Manhattan?",
	}},
	{"Can I take ibuprofen and paracetamol together?", []string{
		"Is it safe to take paracetamol with ibuprofen?",
		"Can I take ibuprofen on an empty stomach?",
		"What is the maximum daily dose of paracetamol?",
		"Can I take ibuprofen while pregnant?",
		"Can I take aspirin and ibuprofen together?",
	}},
}

// BenchmarkJudge measures the verifier's check of one lookup's five
// candidates with what the service runs: the rules, WordNet, the word
// vectors, the calibrated score and the deletion test on USE-lite (when
// $SEMCACHE_MODEL_DIR holds the model; the lexical embedder otherwise).
// It reports p50 and p99 per candidate. "hit" lowers the cut-off so that
// the best candidate of every lookup passes and its deletion test runs
// (the cost a served semantic hit pays); "default" uses the shipped
// cut-offs.
func BenchmarkJudge(b *testing.B) {
	b.Run("default", func(b *testing.B) { benchJudge(b, 0) })
	b.Run("hit", func(b *testing.B) { benchJudge(b, 0.05) })
}

func benchJudge(b *testing.B, minScore float32) {
	opts := verify.Options{Model: verify.LexicalModel, MinScore: minScore}
	var enc verify.Encoder
	if dir := os.Getenv("SEMCACHE_MODEL_DIR"); dir != "" && use.Present(dir) {
		e, err := use.Load(dir)
		if err != nil {
			b.Fatal(err)
		}
		enc, opts.Model = e, verify.USEModel
	} else {
		e, err := lexical.New(lexical.Options{})
		if err != nil {
			b.Fatal(err)
		}
		enc = e
		b.Log("USE-lite model not found: the deletion test runs on the lexical embedder")
	}
	opts.Encoder = enc
	if dir := os.Getenv("SEMCACHE_WORDNET_DIR"); dir != "" {
		wn, err := wordnet.Load(wordnet.File(dir))
		if err != nil {
			b.Fatal(err)
		}
		opts.Lexicon = verify.LexiconFunc(func(a, c string) verify.WordRelation {
			switch wn.Relate(a, c).Kind {
			case wordnet.Same, wordnet.Similar, wordnet.Derived:
				return verify.RelSame
			case wordnet.Antonym:
				return verify.RelAntonym
			}
			return verify.RelNone
		})
	}
	if dir := os.Getenv("SEMCACHE_WORDVEC_DIR"); dir != "" {
		wv, err := wordvec.Load(wordvec.File(dir))
		if err != nil {
			b.Fatal(err)
		}
		opts.WordVectors = wv
	}
	v, err := verify.New(opts)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	lookups := make([][]verify.Candidate, len(judgeQueries))
	for i, jq := range judgeQueries {
		vecs, err := enc.Embed(ctx, append([]string{jq.q}, jq.cands...))
		if err != nil {
			b.Fatal(err)
		}
		for k, c := range jq.cands {
			var s float32
			for d := range vecs[0] {
				s += vecs[0][d] * vecs[k+1][d]
			}
			lookups[i] = append(lookups[i], verify.Candidate{Text: c, Similarity: s})
		}
	}
	var per []time.Duration
	i := 0
	for b.Loop() {
		jq := judgeQueries[i%len(judgeQueries)]
		start := time.Now()
		v.CheckAll(ctx, jq.q, lookups[i%len(lookups)])
		per = append(per, time.Since(start)/time.Duration(len(jq.cands)))
		i++
	}
	slices.Sort(per)
	b.ReportMetric(float64(per[len(per)/2].Microseconds()), "p50-µs/candidate")
	b.ReportMetric(float64(per[len(per)*99/100].Microseconds()), "p99-µs/candidate")
}
