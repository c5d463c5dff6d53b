// Package textgen makes realistic prompt texts in bulk for the scale
// benchmarks (the vector store's, and the proxy's semantic hit at 1M): questions and statements from the project's
// labelled pair files and distractor lists, then synthetic recombinations
// of their sentences (the head of one spliced onto the tail of another)
// until the requested number of distinct texts is reached, and perturbed
// queries (a word dropped or replaced) whose true nearest neighbour the
// benchmark finds by brute force.
//
// Random vectors are the wrong test for a graph index over text
// embeddings: real prompts share words, templates and near-duplicates,
// which is what a walk's recall depends on.
package textgen

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
)

// Sources are the text files a benchmark in the package directory dir
// (relative to the repository root: "vectorstore/memory", "proxy") reads
// by default: the project's distractors, questions and hand-written
// pairs, and the shared labelled pairs when present.
func Sources(dir string) []string {
	up := strings.Repeat("../", strings.Count(filepath.Clean(dir), "/")+1)
	out := []string{
		up + "bench/testdata/distractors.txt",
		up + "bench/testdata/questions.jsonl",
		up + "bench/testdata/pairs.jsonl",
	}
	shared, _ := filepath.Glob("/work/shared/data/*.jsonl")
	return append(out, shared...)
}

// Corpus is a set of distinct source sentences and their vocabulary.
type Corpus struct {
	Sentences []string
	vocab     []string
}

// line is the subset of a JSON Lines pair record the corpus reads (the
// shapes of bench/testdata/*.jsonl and the shared pair files).
type line struct {
	A        string `json:"a"`
	B        string `json:"b"`
	AContext []turn `json:"a_context"`
	BContext []turn `json:"b_context"`
}

type turn struct {
	Content string `json:"content"`
}

// Load reads sentences from .txt files (one per line) and .jsonl pair
// files (fields a, b and the contents of a_context / b_context turns).
// Duplicates and blank lines are dropped.
func Load(paths ...string) (*Corpus, error) {
	c := &Corpus{}
	seen := map[string]bool{}
	add := func(s string) {
		s = strings.Join(strings.Fields(s), " ")
		if s == "" || seen[s] || len(s) > 600 {
			return
		}
		seen[s] = true
		c.Sentences = append(c.Sentences, s)
	}
	for _, p := range paths {
		if err := readFile(p, add); err != nil {
			return nil, fmt.Errorf("textgen: %w", err)
		}
	}
	if len(c.Sentences) < 2 {
		return nil, errors.New("textgen: fewer than two sentences in the sources")
	}
	words := map[string]bool{}
	for _, s := range c.Sentences {
		for _, w := range strings.Fields(s) {
			if !words[w] {
				words[w] = true
				c.vocab = append(c.vocab, w)
			}
		}
	}
	return c, nil
}

func readFile(path string, add func(string)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	jsonl := filepath.Ext(path) == ".jsonl"
	for n := 1; sc.Scan(); n++ {
		if !jsonl {
			add(sc.Text())
			continue
		}
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return fmt.Errorf("%s:%d: %w", path, n, err)
		}
		add(l.A)
		add(l.B)
		for _, t := range append(l.AContext, l.BContext...) {
			add(t.Content)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// Texts returns n distinct texts: the corpus sentences in a seeded random
// order, then recombinations (a prefix of one sentence followed by a
// suffix of another, cut at word boundaries) until n are reached.
func (c *Corpus) Texts(n int, seed uint64) []string {
	r := rand.New(rand.NewPCG(seed, 0x7e47))
	out := make([]string, 0, n)
	seen := make(map[uint64]struct{}, n)
	push := func(s string) {
		h := fnv.New64a()
		h.Write([]byte(s))
		k := h.Sum64()
		if _, dup := seen[k]; dup {
			return
		}
		seen[k] = struct{}{}
		out = append(out, s)
	}
	for _, i := range r.Perm(len(c.Sentences)) {
		if len(out) == n {
			return out
		}
		push(c.Sentences[i])
	}
	split := make([][]string, len(c.Sentences))
	for i, s := range c.Sentences {
		split[i] = strings.Fields(s)
	}
	for misses := 0; len(out) < n; {
		a, b := split[r.IntN(len(split))], split[r.IntN(len(split))]
		if len(a) < 2 || len(b) < 2 {
			continue
		}
		p, q := 1+r.IntN(len(a)-1), r.IntN(len(b)-1)+1
		before := len(out)
		push(strings.Join(a[:p], " ") + " " + strings.Join(b[q:], " "))
		if len(out) == before {
			if misses++; misses > 100*n+1000 {
				panic("textgen: corpus too small for that many distinct texts")
			}
		}
	}
	return out
}

// Perturb returns text with one word dropped or replaced by a word from
// the corpus vocabulary (texts of one word get a word appended instead):
// the kind of small rewording a repeated prompt shows.
func (c *Corpus) Perturb(text string, r *rand.Rand) string {
	w := strings.Fields(text)
	switch {
	case len(w) < 2:
		w = append(w, c.vocab[r.IntN(len(c.vocab))])
	case r.IntN(2) == 0:
		i := r.IntN(len(w))
		w = append(w[:i], w[i+1:]...)
	default:
		w[r.IntN(len(w))] = c.vocab[r.IntN(len(c.vocab))]
	}
	return strings.Join(w, " ")
}
