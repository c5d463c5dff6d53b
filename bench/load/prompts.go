package load

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Kind says how a planned prompt relates to the earlier ones.
type Kind string

// Prompt kinds.
const (
	KindUnique     Kind = "unique"     // a prompt not sent before
	KindDuplicate  Kind = "duplicate"  // exactly an earlier prompt
	KindParaphrase Kind = "paraphrase" // a light rewording of an earlier unique prompt
)

// job is one planned request.
type job struct {
	kind   Kind
	prompt string
}

// vocabulary feeds the unique-prompt templates. Returned by a function so
// the tables are not mutable package state.
type vocabulary struct {
	templates []string
	verbs     []string
	things    []string
	langs     []string
	topics    []string
}

func newVocabulary() vocabulary {
	return vocabulary{
		templates: []string{
			"How do I %[1]s a %[2]s in %[3]s?",
			"What is the fastest way to %[1]s a %[2]s with %[3]s?",
			"Explain %[4]s to a beginner who knows %[3]s.",
			"Why does my %[3]s program crash when I %[1]s a %[2]s?",
			"What are the trade-offs of %[4]s for a %[2]s?",
			"Write a short %[3]s example that shows how to %[1]s a %[2]s.",
			"Compare %[4]s and %[5]s in one paragraph.",
		},
		verbs: []string{"sort", "reverse", "parse", "serialize", "validate", "copy", "merge", "filter",
			"stream", "compress", "hash", "cache", "index", "encrypt", "paginate", "deduplicate"},
		things: []string{"list", "map", "JSON document", "CSV file", "binary tree", "HTTP request", "date string",
			"linked list", "matrix", "log file", "configuration file", "database row", "queue", "graph"},
		langs: []string{"Go", "Python", "Rust", "TypeScript", "Java", "C#", "Kotlin", "Ruby", "Elixir", "Swift"},
		topics: []string{"semantic caching", "vector databases", "consistent hashing", "rate limiting",
			"garbage collection", "event sourcing", "two-phase commit", "bloom filters", "backpressure",
			"content delivery networks", "TLS handshakes", "connection pooling", "write-ahead logging",
			"exponential backoff", "sharding"},
	}
}

func pick(rng *rand.Rand, words []string) string { return words[rng.IntN(len(words))] }

func (v vocabulary) unique(rng *rand.Rand, seen map[string]bool) string {
	for range 50 {
		t1, t2 := pick(rng, v.topics), pick(rng, v.topics)
		p := fmt.Sprintf(pick(rng, v.templates), pick(rng, v.verbs), pick(rng, v.things), pick(rng, v.langs), t1, t2)
		if t1 != t2 && !seen[p] {
			return p
		}
	}
	// The template space is exhausted: make the prompt unique by number.
	for i := len(seen); ; i++ {
		p := fmt.Sprintf("How do I %s a %s in %s? (case %d)", pick(rng, v.verbs), pick(rng, v.things), pick(rng, v.langs), i)
		if !seen[p] {
			return p
		}
	}
}

// paraphrase applies one or two light rewrites (case, punctuation, a polite
// prefix or suffix, or swapping two adjacent words) and avoids returning p
// or any other prompt in seen.
func paraphrase(rng *rand.Rand, p string, seen map[string]bool) string {
	rewrites := []func(string) string{
		strings.ToLower,
		func(s string) string { return strings.TrimRight(s, "?.!") },
		func(s string) string { return strings.TrimRight(s, "?.!") + "??" },
		func(s string) string { return pick(rng, politePrefixes()) + lowerFirst(s) },
		func(s string) string { return s + pick(rng, politeSuffixes()) },
		func(s string) string { return swapAdjacent(rng, s) },
	}
	for range 20 {
		out := p
		for range 1 + rng.IntN(2) {
			out = rewrites[rng.IntN(len(rewrites))](out)
		}
		if out != p && !seen[out] {
			return out
		}
	}
	for i := 2; ; i++ {
		out := fmt.Sprintf("Please, %s (take %d)", lowerFirst(p), i)
		if !seen[out] {
			return out
		}
	}
}

func politePrefixes() []string {
	return []string{"Please, ", "Hey, ", "Could you tell me: ", "Quick question: ", "I was wondering, ", "Hi! "}
}

func politeSuffixes() []string {
	return []string{" Thanks!", " Thank you.", " Please.", " Cheers"}
}

func lowerFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError || (len(s) > n+1 && unicode.IsUpper(rune(s[n]))) {
		return s // empty, or an acronym such as "TLS": keep as is
	}
	return string(unicode.ToLower(r)) + s[n:]
}

// swapAdjacent swaps two neighbouring words, keeping the first word (usually
// the question word) and the last (which carries the punctuation) in place.
func swapAdjacent(rng *rand.Rand, s string) string {
	words := strings.Fields(s)
	if len(words) < 4 {
		return s
	}
	i := 1 + rng.IntN(len(words)-3)
	words[i], words[i+1] = words[i+1], words[i]
	return strings.Join(words, " ")
}

// planJobs decides every prompt up front from seed, so a run is
// reproducible. The first prompt is always unique; after that each request
// is a duplicate with probability dup, a paraphrase with probability para,
// else a new unique prompt.
func planJobs(n int, dup, para float64, seed int64) []job {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6c6f6164))
	v := newVocabulary()
	seen := make(map[string]bool, n)
	var all, uniques []string
	jobs := make([]job, 0, n)
	for i := range n {
		j := job{kind: KindUnique}
		r := rng.Float64()
		switch {
		case i > 0 && r < dup:
			j = job{kind: KindDuplicate, prompt: all[rng.IntN(len(all))]}
		case i > 0 && r < dup+para:
			j = job{kind: KindParaphrase, prompt: paraphrase(rng, uniques[rng.IntN(len(uniques))], seen)}
		default:
			j.prompt = v.unique(rng, seen)
			uniques = append(uniques, j.prompt)
		}
		seen[j.prompt] = true
		all = append(all, j.prompt)
		jobs = append(jobs, j)
	}
	return jobs
}
