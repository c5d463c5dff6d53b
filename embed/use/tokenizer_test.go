package use

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"unicode/utf16"

	"golang.org/x/text/unicode/norm"
)

// refEncode is a literal port of the reference tokenizer's JS
// (@energetic-ai/embeddings@0.2.0 dist/index.js, Tokenizer.encode): no
// prefix map, no 16-character bound, lattice nodes[end][start] visited
// end-major, start ascending, backtrack by UTF-16 length. encode must agree
// with it on every input.
func refEncode(pieces []string, scores []float64, text string) []int32 {
	norm := norm.NFKC.String(strings.ToValidUTF8(text, "\uFFFD"))
	if norm == "" {
		return []int32{}
	}
	symbols := []rune("\u2581" + strings.ReplaceAll(norm, " ", "\u2581"))
	type word struct {
		score float64
		index int32
	}
	trie := map[string]word{}
	for i := reservedIDs; i < len(pieces); i++ {
		trie[pieces[i]] = word{scores[i], int32(i)}
	}
	type edge struct {
		len   int
		score float64
		index int32
	}
	n := len(symbols)
	nodes := make([]map[int][]edge, n+1)
	for i := range nodes {
		nodes[i] = map[int][]edge{}
	}
	for i := range n {
		var matches []edge
		for l := 1; i+l <= n; l++ {
			if w, ok := trie[string(symbols[i:i+l])]; ok {
				matches = append(matches, edge{l, w.score, w.index})
			}
		}
		if len(matches) == 0 {
			matches = append(matches, edge{1, 0, 0})
		}
		for _, m := range matches {
			nodes[i+m.len][i] = append(nodes[i+m.len][i], m)
		}
	}
	best := make([]float64, n+1)
	words := make([]int32, n+1)
	for end := 0; end <= n; end++ {
		starts := make([]int, 0, len(nodes[end]))
		for s := range nodes[end] {
			starts = append(starts, s)
		}
		sort.Ints(starts) // JS enumerates integer keys in ascending order
		for _, s := range starts {
			for _, w := range nodes[end][s] {
				score := w.score + best[end-w.len]
				if best[end] == 0 || score >= best[end] {
					best[end] = score
					words[end] = w.index
				}
			}
		}
	}
	var results []int32
	for iter := n; iter > 0; {
		results = append(results, words[iter])
		iter -= len(utf16.Encode([]rune(pieces[words[iter]])))
	}
	merged := []int32{}
	prevUnk := false
	for _, id := range results {
		if !(prevUnk && id == 0) {
			merged = append(merged, id)
		}
		prevUnk = id == 0
	}
	for i, j := 0, len(merged)-1; i < j; i, j = i+1, j-1 {
		merged[i], merged[j] = merged[j], merged[i]
	}
	return merged
}

// synthetic is a tiny vocabulary over {▁, a, b, c} built to hit the
// reference's quirks constantly: many ties, exact-zero scores, null scores
// and a duplicated piece.
func synthetic() (pieces []string, scores []float64) {
	pieces = []string{"\uFFFD", "<s>", "</s>", "x1", "x2", "x3"}
	scores = make([]float64, reservedIDs)
	add := func(p string, s float64) {
		pieces = append(pieces, p)
		scores = append(scores, s)
	}
	alphabet := []string{"▁", "a", "b", "c"}
	vals := []float64{-1, -2, 0, -1, -3, -2, 0, -1.5}
	i := 0
	var rec func(prefix string, depth int)
	rec = func(prefix string, depth int) {
		if depth == 3 {
			return
		}
		for _, ch := range alphabet {
			p := prefix + ch
			if p != "c" && p != "bb" { // gaps force unknown edges and dead ends
				add(p, vals[i%len(vals)])
				i++
			}
			rec(p, depth+1)
		}
	}
	rec("", 0)
	add("ab", -0.5) // duplicate: the later entry wins
	return pieces, scores
}

func TestEncodeSyntheticQuirks(t *testing.T) {
	tok, err := newTokenizer(synthetic())
	if err != nil {
		t.Fatal(err)
	}
	pieces, scores := synthetic()
	tests := []string{
		"", " ", "a", "c", "cc", "ccc", "a  b", "abc abc", "bb", "bbb", "cab", "ab ab ab",
		"aaaa bbbb cccc", " c c ", "xyz", "a x b", "ａｂｃ",
	}
	var lt lattice
	for _, in := range tests {
		want := refEncode(pieces, scores, in)
		if got := tok.encode(in, &lt); !equalIDs(got, want) {
			t.Errorf("encode(%q) = %v, reference port %v", in, got, want)
		}
	}
}

// readVocabRaw parses vocab.json independently of readVocab.
func readVocabRaw(tb testing.TB, dir string) ([]string, []float64) {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "vocab.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var pairs [][]any
	if err := json.Unmarshal(raw, &pairs); err != nil {
		tb.Fatal(err)
	}
	pieces := make([]string, len(pairs))
	scores := make([]float64, len(pairs))
	for i, p := range pairs {
		pieces[i] = p[0].(string)
		if f, ok := p[1].(float64); ok {
			scores[i] = f // null stays 0
		}
	}
	return pieces, scores
}

// TestVocabQuirks pins the vocab.json facts the tokenizer depends on
// (use-lite.md §2).
func TestVocabQuirks(t *testing.T) {
	enc := testEncoder(t)
	dir, err := resolveDir(testModelDir(t))
	if err != nil {
		t.Fatal(err)
	}
	pieces, scores := readVocabRaw(t, dir)
	for _, id := range []int{57, 255, 604, 658, 4258, 4445, 6600} {
		if scores[id] != 0 {
			t.Errorf("null-score piece %d %q scores %g, want 0", id, pieces[id], scores[id])
		}
	}
	if e := enc.tok.pieces["”5"]; e.id != 4464 || !e.isPiece {
		t.Errorf("duplicate piece ”5 maps to id %d, want the last one, 4464", e.id)
	}
	if e := enc.tok.pieces[":30"]; e.id != 4177 || e.score != 30 {
		t.Errorf(":30 = %+v, want id 4177 score +30", e)
	}
}

// tokenRegexp matches the prepared text a token sequence can cover:
// pieces literally, an unknown token as one or more characters.
func tokenRegexp(tok *tokenizer, ids []int32) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`^(?s)`)
	for _, id := range ids {
		if id == unknownID {
			b.WriteString(`.+`)
			continue
		}
		b.WriteString(regexp.QuoteMeta(tok.text[id]))
	}
	b.WriteString(`$`)
	return regexp.MustCompile(b.String())
}

func checkEncoding(t *testing.T, tok *tokenizer, text string, ids []int32) {
	t.Helper()
	prepared := prepare(text)
	if len(ids) > len([]rune(prepared)) {
		t.Fatalf("%q: %d tokens for %d characters", text, len(ids), len([]rune(prepared)))
	}
	for i, id := range ids {
		if id < 0 || int(id) >= len(tok.text) || (id > 0 && id < reservedIDs) {
			t.Fatalf("%q: id %d out of range", text, id)
		}
		if id == unknownID && i > 0 && ids[i-1] == unknownID {
			t.Fatalf("%q: consecutive unknown tokens in %v", text, ids)
		}
	}
	// Decoding consistency: the pieces, with each unknown standing for at
	// least one character, spell the normalised input exactly.
	if !tokenRegexp(tok, ids).MatchString(prepared) {
		t.Fatalf("%q: tokens %v do not spell %q", text, ids, prepared)
	}
}

// FuzzEncode checks the tokenizer never panics, emits ids in range that
// spell the normalised input back, and agrees exactly with the port of the
// reference JS, on the real vocabulary and on a quirk-dense synthetic one.
func FuzzEncode(f *testing.F) {
	for _, s := range []string{
		"Hello world.", "a  b", "🙂🙂🙂 ok", "naïve café", "12:00", "Hello\tworld", "ＡＢＣ", ":", "",
		"”5", ":) :( :-)", "東京は日本の首都です。", "\xff\xfe invalid", "e\u0301", "ﬁ Ⅻ ½", strings.Repeat("ab ", 30),
	} {
		f.Add(s)
	}
	enc := testEncoder(f)
	dir, err := resolveDir(testModelDir(f))
	if err != nil {
		f.Fatal(err)
	}
	pieces, scores := readVocabRaw(f, dir)
	synPieces, synScores := synthetic()
	syn, err := newTokenizer(synPieces, synScores)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if len(text) > 300 {
			text = text[:300] // the reference port is quadratic
		}
		var lt lattice
		ids := enc.tok.encode(text, &lt)
		checkEncoding(t, enc.tok, text, ids)
		if want := refEncode(pieces, scores, text); !equalIDs(ids, want) {
			t.Fatalf("encode(%q) = %v, reference port %v", text, ids, want)
		}
		// The lattice scratch is reused: a second call must agree.
		if again := enc.tok.encode(text, &lt); !equalIDs(again, refEncode(pieces, scores, text)) {
			t.Fatalf("encode(%q) changed on reuse: %v", text, again)
		}

		// Map the bytes onto the synthetic alphabet so the lattice is dense.
		var b strings.Builder
		for i := 0; i < len(text); i++ {
			b.WriteString([]string{"a", "b", "c", " ", "a", "b", "x"}[int(text[i])%7])
		}
		s := b.String()
		got := syn.encode(s, &lt)
		checkEncoding(t, syn, s, got)
		if want := refEncode(synPieces, synScores, s); !equalIDs(got, want) {
			t.Fatalf("synthetic encode(%q) = %v, reference port %v", s, got, want)
		}
	})
}
