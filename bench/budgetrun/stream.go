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
	"slices"
	"strconv"
	"strings"
	"unicode"

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
	// when it runs out of topics, so texts are new again there.
	Model string
}

// StreamOptions shape a stream.
type StreamOptions struct {
	N                      int
	Paraphrases, Negatives float64 // shares of the stream
	Seed                   uint64
	Model                  string
	// NearDuplicate overrides the package's NearDuplicate (above 1: texts
	// of different pairs are never grouped, for pairs that label every
	// relation, such as generated ones).
	NearDuplicate float64
}

// NearDuplicate is the word-set Jaccard similarity from which two texts of
// different pairs are taken to be about the same thing (see Topics).
const NearDuplicate = 0.5

// Topic is a set of texts whose every relation is labelled: the members of
// one class (Same, the paraphrases of each other) and of at most one class
// labelled different from it (Other, its hard negatives).
type Topic struct {
	Same, Other []string
}

// Topics groups the texts of pairs (those without context) into topics,
// one per group of related texts. Texts are related when a pair joins them
// (either label) or when their word sets are near-duplicates (word-set
// Jaccard at least nearDuplicate; 0: NearDuplicate): the published pairs do not label every relation
// between their texts (PAWS makes several pairs from one source sentence,
// and two of them are often the same sentence with a word changed; STS
// captions of one picture come in different pairs), so two texts of a
// group not joined by a label are of unknown relation, and a stream that
// asked both would count a right answer as wrong or a wrong one as right.
// A topic keeps, of its group, one class and one class a label-0 pair
// puts apart from it: every pair of its texts is then labelled, by
// transitivity (a ≡ b, c ≡ d and b ≢ c give a ≢ d). Texts of different
// groups share no pair and few words: they are taken to be different.
func Topics(pairs []eval.Pair, classes eval.ClassMap, seed uint64, nearDuplicate float64) []Topic {
	if nearDuplicate == 0 {
		nearDuplicate = NearDuplicate
	}
	rng := rand.New(rand.NewPCG(seed, 13))
	idx := map[string]int{}
	var texts []string
	var uf []int
	var find func(int) int
	find = func(x int) int {
		for uf[x] != x {
			uf[x] = uf[uf[x]]
			x = uf[x]
		}
		return x
	}
	union := func(a, b int) { uf[find(a)] = find(b) }
	id := func(t string) int {
		k := eval.Side{Text: t}.Key()
		if i, ok := idx[k]; ok {
			return i
		}
		idx[k] = len(texts)
		texts = append(texts, t)
		uf = append(uf, len(uf))
		return len(texts) - 1
	}
	classOf := func(t string) eval.ClassID { return classes.Of(eval.Side{Text: t}.Key()) }
	neg := map[eval.ClassID]map[eval.ClassID]bool{}
	for _, p := range pairs {
		if p.AContext != nil || p.BContext != nil {
			continue
		}
		a, b := id(p.A), id(p.B)
		union(a, b)
		if !p.Duplicate() {
			ca, cb := classOf(p.A), classOf(p.B)
			if neg[ca] == nil {
				neg[ca] = map[eval.ClassID]bool{}
			}
			if neg[cb] == nil {
				neg[cb] = map[eval.ClassID]bool{}
			}
			neg[ca][cb], neg[cb][ca] = true, true
		}
	}
	words := make([][]string, len(texts))
	for i, t := range texts {
		words[i] = wordSet(t)
	}
	for i := range texts {
		for j := i + 1; j < len(texts); j++ {
			if find(i) != find(j) && jaccard(words[i], words[j]) >= nearDuplicate {
				union(i, j)
			}
		}
	}
	groups := map[int][]int{}
	var roots []int
	for i := range texts {
		r := find(i)
		if groups[r] == nil {
			roots = append(roots, r)
		}
		groups[r] = append(groups[r], i)
	}
	var out []Topic
	for _, r := range roots {
		members := map[eval.ClassID][]string{}
		var cls []eval.ClassID
		for _, i := range groups[r] {
			c := classOf(texts[i])
			if members[c] == nil {
				cls = append(cls, c)
			}
			members[c] = append(members[c], texts[i])
		}
		// The class is one with paraphrases where the group has one.
		var multi []eval.ClassID
		for _, c := range cls {
			if len(members[c]) > 1 {
				multi = append(multi, c)
			}
		}
		if len(multi) == 0 {
			multi = cls
		}
		same := multi[rng.IntN(len(multi))]
		var others []eval.ClassID
		for _, c := range cls {
			if neg[same][c] {
				others = append(others, c)
			}
		}
		tp := Topic{Same: members[same]}
		if len(others) > 0 {
			tp.Other = members[others[rng.IntN(len(others))]]
		}
		out = append(out, tp)
	}
	return out
}

// wordSet is t's distinct lower-cased words, sorted.
func wordSet(t string) []string {
	ws := strings.FieldsFunc(strings.ToLower(t), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	slices.Sort(ws)
	return slices.Compact(ws)
}

// jaccard is the Jaccard similarity of two sorted sets.
func jaccard(a, b []string) float64 {
	if len(a) == 0 && len(b) == 0 {
		return 1
	}
	i, j, common := 0, 0, 0
	for i < len(a) && j < len(b) {
		switch strings.Compare(a[i], b[j]) {
		case 0:
			common++
			i++
			j++
		case -1:
			i++
		default:
			j++
		}
	}
	return float64(common) / float64(len(a)+len(b)-common)
}

// Stream draws a stream from labelled pairs (see Topics): a new prompt
// opens a topic not yet asked in the current partition with a text of its
// class; a paraphrase asks another text of the class of an earlier prompt;
// a hard negative asks a text of an open topic's other class. When every
// topic is open, the stream moves to a new partition (the model name
// changes), where the texts are new again.
func Stream(pairs []eval.Pair, classes eval.ClassMap, o StreamOptions) []Request {
	rng := rand.New(rand.NewPCG(o.Seed, 11))
	topics := Topics(pairs, classes, o.Seed, o.NearDuplicate)
	classOf := func(t string) eval.ClassID { return classes.Of(eval.Side{Text: t}.Key()) }
	var out []Request
	epoch := 0
	var order []int
	next := 0
	// asked are the texts asked in this partition and the class members
	// they stand for; open the topics with another class.
	type prompt struct {
		text  string
		class []string
	}
	var asked []prompt // those with paraphrases
	var open []int
	newEpoch := func() {
		epoch++
		order = rng.Perm(len(topics))
		next = 0
		asked, open = nil, nil
	}
	newEpoch()
	model := func() string {
		return o.Model + "-e" + strconv.Itoa(epoch)
	}
	ask := func(t string, class []string, kind string) {
		out = append(out, Request{Text: t, Class: classOf(t), Kind: kind, Model: model()})
		if len(class) > 1 {
			asked = append(asked, prompt{t, class})
		}
	}
	for len(out) < o.N {
		r := rng.Float64()
		switch {
		case r < o.Paraphrases && len(asked) > 0:
			p := asked[rng.IntN(len(asked))]
			u := p.class[rng.IntN(len(p.class)-1)]
			if u == p.text {
				u = p.class[len(p.class)-1]
			}
			ask(u, p.class, KindParaphrase)
		case r < o.Paraphrases+o.Negatives && len(open) > 0:
			tp := topics[open[rng.IntN(len(open))]]
			ask(tp.Other[rng.IntN(len(tp.Other))], tp.Other, KindNegative)
		default:
			if next >= len(order) {
				newEpoch()
			}
			i := order[next]
			next++
			tp := topics[i]
			if len(tp.Other) > 0 {
				open = append(open, i)
			}
			ask(tp.Same[rng.IntN(len(tp.Same))], tp.Same, KindNew)
		}
	}
	return out
}
