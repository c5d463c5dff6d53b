// Package budgetrun measures error budgets end to end: a long interleaved
// stream of requests (new prompts, paraphrases of earlier prompts, hard
// negatives of earlier prompts) is sent over HTTP to an in-process semcache
// (engine, cache, similarity tier and learner as semcache serve wires
// them) whose upstream is the evaluation's oracle, which answers every
// prompt with the id of its equivalence class; a served answer is wrong
// when its class is not the query's. It reports the served wrong-hit rate
// with its interval, the hit rate, the best fixed score cut-off chosen in
// hindsight from the same run's candidates, the explorations, and draws
// both curves over time.
package budgetrun

import (
	"math/rand/v2"

	"github.com/semcache/semcache/bench/eval"
)

// Kinds of requests in a stream.
const (
	KindNew        = "new"
	KindParaphrase = "paraphrase"
	KindNegative   = "negative"
)

// Request is one request of a stream.
type Request struct {
	Text  string
	Class eval.ClassID
	Kind  string
	// Model names the partition: the stream starts a new one ("epoch")
	// when it runs out of new texts, so texts are new again there.
	Model string
}

// StreamOptions shape a stream.
type StreamOptions struct {
	N                      int
	Paraphrases, Negatives float64 // shares of the stream
	Seed                   uint64
	Model                  string
}

// Stream draws a stream from labelled pairs: each class's texts, label-0
// partners as hard negatives.
func Stream(pairs []eval.Pair, classes eval.ClassMap, o StreamOptions) []Request {
	rng := rand.New(rand.NewPCG(o.Seed, 11))
	members := map[eval.ClassID][]string{}
	seen := map[string]bool{}
	var texts []string
	negs := map[string][]string{}
	add := func(s eval.Side) {
		k := s.Key()
		if seen[k] {
			return
		}
		seen[k] = true
		texts = append(texts, s.Text)
		members[classes.Of(k)] = append(members[classes.Of(k)], s.Text)
	}
	for _, p := range pairs {
		if p.AContext != nil || p.BContext != nil {
			continue
		}
		add(p.SideA())
		add(p.SideB())
		if !p.Duplicate() {
			negs[p.A] = append(negs[p.A], p.B)
			negs[p.B] = append(negs[p.B], p.A)
		}
	}
	classOf := func(t string) eval.ClassID { return classes.Of(eval.Side{Text: t}.Key()) }
	var out []Request
	epoch := 0
	var order []int
	var asked []string
	askedSet := map[string]bool{}
	next := 0
	newEpoch := func() {
		epoch++
		order = rng.Perm(len(texts))
		next = 0
		asked, askedSet = nil, map[string]bool{}
	}
	newEpoch()
	model := func() string {
		return o.Model + "-e" + string(rune('0'+epoch%10))
	}
	ask := func(t, kind string) {
		out = append(out, Request{Text: t, Class: classOf(t), Kind: kind, Model: model()})
		if !askedSet[t] {
			askedSet[t] = true
			asked = append(asked, t)
		}
	}
	for len(out) < o.N {
		r := rng.Float64()
		switch {
		case r < o.Paraphrases && len(asked) > 0:
			// another member of an earlier prompt's class
			t := asked[rng.IntN(len(asked))]
			ms := members[classOf(t)]
			if len(ms) < 2 {
				continue
			}
			u := ms[rng.IntN(len(ms))]
			if u == t {
				continue
			}
			ask(u, KindParaphrase)
		case r < o.Paraphrases+o.Negatives && len(asked) > 0:
			t := asked[rng.IntN(len(asked))]
			ns := negs[t]
			if len(ns) == 0 {
				continue
			}
			ask(ns[rng.IntN(len(ns))], KindNegative)
		default:
			if next >= len(order) {
				newEpoch()
			}
			ask(texts[order[next]], KindNew)
			next++
		}
	}
	return out
}
