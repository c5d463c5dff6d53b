package use

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

const (
	// reservedIDs are "\uFFFD" (the unknown token, 0), <s>, </s> and three
	// extra tokens. Only 0 is ever produced.
	reservedIDs = 6
	unknownID   = 0
	// maxPieceRunes is the longest vocabulary piece, in code points.
	maxPieceRunes = 16
	// spaceMark replaces every U+0020 before tokenizing (SentencePiece's ▁).
	spaceMark = "\u2581"
)

// vocabEntry is one candidate of the lattice.
type vocabEntry struct {
	score float64
	id    int32
	// isPiece is false for a proper prefix of some piece that is not itself
	// a piece: lookups continue past it but add no edge.
	isPiece bool
}

// tokenizer reproduces the reference @energetic-ai/embeddings@0.2.0
// unigram tokenizer bit for bit, quirks included (see
// /work/shared/notes/use-lite.md §2).
type tokenizer struct {
	// pieces maps every piece AND every proper prefix of a piece (as UTF-8)
	// to its entry, so a left-to-right scan can stop at the first miss.
	pieces map[string]vocabEntry
	// runeLen[id] is the piece's length in code points (1 for id 0); the
	// backtrack steps back by it.
	runeLen []int32
	// text[id] is the piece itself, for tests and debugging.
	text []string
}

// readVocab parses vocab.json: an array of [piece, score] pairs in which a
// score may be null (treated as 0, as JS does with null + x).
func readVocab(dir string) (*tokenizer, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "vocab.json"))
	if err != nil {
		return nil, fmt.Errorf("use: %w", err)
	}
	var pairs [][2]json.RawMessage
	if err := json.Unmarshal(raw, &pairs); err != nil {
		return nil, fmt.Errorf("use: parse vocab.json: %w", err)
	}
	if len(pairs) != vocabSize {
		return nil, fmt.Errorf("use: vocab.json has %d entries, want %d", len(pairs), vocabSize)
	}
	pieces := make([]string, len(pairs))
	scores := make([]float64, len(pairs))
	for i, p := range pairs {
		if err := json.Unmarshal(p[0], &pieces[i]); err != nil {
			return nil, fmt.Errorf("use: vocab.json entry %d: piece: %w", i, err)
		}
		var score *float64
		if err := json.Unmarshal(p[1], &score); err != nil {
			return nil, fmt.Errorf("use: vocab.json entry %d: score: %w", i, err)
		}
		if score != nil {
			scores[i] = *score
		}
	}
	return newTokenizer(pieces, scores)
}

func newTokenizer(pieces []string, scores []float64) (*tokenizer, error) {
	t := &tokenizer{
		pieces:  make(map[string]vocabEntry, 2*len(pieces)),
		runeLen: make([]int32, len(pieces)),
		text:    pieces,
	}
	for id, p := range pieces {
		n := utf8.RuneCountInString(p)
		if !utf8.ValidString(p) || n == 0 {
			return nil, fmt.Errorf("use: vocab entry %d is not a valid non-empty string", id)
		}
		// The reference steps back by the JS (UTF-16) length of the piece;
		// that equals the rune count only for BMP pieces, which all of this
		// vocabulary's pieces are.
		for _, r := range p {
			if r > 0xFFFF {
				return nil, fmt.Errorf("use: vocab entry %d has a non-BMP character; unsupported", id)
			}
		}
		if n > maxPieceRunes {
			return nil, fmt.Errorf("use: vocab entry %d is longer than %d characters", id, maxPieceRunes)
		}
		t.runeLen[id] = int32(n)
	}
	t.runeLen[unknownID] = 1
	for id := reservedIDs; id < len(pieces); id++ {
		p := pieces[id]
		// Later entries overwrite earlier ones ("”5" appears three times).
		t.pieces[p] = vocabEntry{score: scores[id], id: int32(id), isPiece: true}
		for i := range p {
			if i == 0 {
				continue
			}
			if _, ok := t.pieces[p[:i]]; !ok {
				t.pieces[p[:i]] = vocabEntry{}
			}
		}
	}
	return t, nil
}

// prepare applies the reference's input processing: NFKC, then "▁" in
// front and in place of every U+0020. Invalid UTF-8 becomes U+FFFD first
// (JS strings cannot hold it; this keeps the behaviour defined).
func prepare(text string) string {
	if !utf8.ValidString(text) {
		text = strings.ToValidUTF8(text, "\uFFFD")
	}
	s := norm.NFKC.String(text)
	if s == "" {
		return ""
	}
	return spaceMark + strings.ReplaceAll(s, " ", spaceMark)
}

// lattice holds the per-call scratch of encode.
type lattice struct {
	offs  []int     // byte offset of each rune, plus len(s)
	best  []float64 // best path score ending at each rune boundary; 0 = unset
	words []int32   // last token of that path
	out   []int32
}

// Bounds of the work encodeFirst does on a long text.
const (
	// prefixBytes is the length of the first prefix encodeFirst tokenizes;
	// 4 KiB holds 128 tokens of ordinary text several times over. Each
	// retry tokenizes a prefix four times longer.
	prefixBytes = 4 << 10
	// maxScanBytes bounds how much of a text is ever tokenized.
	maxScanBytes = 256 << 10
	// checkEvery is how many lattice positions pass between checks of the
	// context.
	checkEvery = 4 << 10
	// maxKeptPositions bounds the lattice a workspace keeps between calls.
	maxKeptPositions = 4 * prefixBytes
)

// encodeFirst returns the ids of the first maxTokens tokens of text: what
// the model reads. It tokenizes only a prefix of a long text, cut just
// before a space (U+0020), and retries with a longer one when that prefix
// has fewer than maxTokens tokens. The result is exactly the start of
// encode(text):
//
//   - NFKC treats the space as a segment boundary: nothing before it
//     composes or reorders with anything after it, so the prefix
//     normalises to a prefix of the whole;
//   - the space becomes "▁", which no vocabulary piece holds anywhere but
//     first, so every segmentation has a token boundary before it; the
//     Viterbi scores up to that boundary depend only on the prefix, so the
//     best path of the whole text passes through it and agrees with the
//     prefix's best path before it;
//   - "▁" is itself a piece, so the token after the cut is never the
//     unknown token and the collapsing of unknown runs does not cross it.
//
// The exception is a text with no space between prefixBytes·4ⁿ and
// maxScanBytes whose first maxTokens tokens lie beyond maxScanBytes (only
// long runs of unknown characters collapse that much): it is embedded from
// its first maxScanBytes bytes. ctx is checked every checkEvery positions.
func (t *tokenizer) encodeFirst(ctx context.Context, text string, lt *lattice) ([]int32, error) {
	defer lt.trim()
	for limit := prefixBytes; ; limit *= 4 {
		cut, exact := prefixCut(text, limit)
		ids, err := t.encodeCtx(ctx, text[:cut], lt)
		if err != nil {
			return nil, err
		}
		if len(ids) >= maxTokens || cut == len(text) || !exact {
			return ids[:min(len(ids), maxTokens)], nil
		}
	}
}

// prefixCut returns where to cut text for a prefix of at least limit bytes:
// the whole text when it is no longer than limit or maxScanBytes allows;
// else the first space at or after limit and before maxScanBytes; else
// maxScanBytes backed up to a rune start, which is not exact (false).
func prefixCut(text string, limit int) (cut int, exact bool) {
	if len(text) <= limit {
		return len(text), true
	}
	end := min(len(text), maxScanBytes)
	if limit < end {
		if i := strings.IndexByte(text[limit:end], ' '); i >= 0 {
			return limit + i, true
		}
	}
	if len(text) <= maxScanBytes {
		return len(text), true
	}
	cut = maxScanBytes
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	return cut, false
}

// trim drops buffers a very long text grew, so the pool does not pin them.
func (lt *lattice) trim() {
	if cap(lt.offs) > maxKeptPositions {
		*lt = lattice{}
	}
}

// encode returns the token ids of text, without the 128-token clip.
func (t *tokenizer) encode(text string, lt *lattice) []int32 {
	ids, _ := t.encodeCtx(context.Background(), text, lt)
	return ids
}

// encodeCtx is encode, checking ctx every checkEvery positions.
func (t *tokenizer) encodeCtx(ctx context.Context, text string, lt *lattice) ([]int32, error) {
	s := prepare(text)
	if s == "" {
		return lt.out[:0], nil
	}
	lt.offs = lt.offs[:0]
	for i := range s {
		lt.offs = append(lt.offs, i)
	}
	n := len(lt.offs)
	lt.offs = append(lt.offs, len(s))
	lt.best = resize(lt.best, n+1)
	lt.words = resize(lt.words, n+1)
	clear(lt.best)
	clear(lt.words)
	best, words := lt.best, lt.words

	// The reference relaxes, for each end, the edges into it in ascending
	// start order. Pushing edges out of each start in ascending order
	// applies exactly the same updates in the same order per end, and
	// best[start] is final by the time start is visited.
	for start := range n {
		if start%checkEvery == checkEvery-1 && ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		matched := false
		maxEnd := min(n, start+maxPieceRunes)
		for end := start + 1; end <= maxEnd; end++ {
			e, ok := t.pieces[s[lt.offs[start]:lt.offs[end]]]
			if !ok {
				break
			}
			if !e.isPiece {
				continue
			}
			matched = true
			relax(best, words, start, end, e.score, e.id)
		}
		if !matched {
			relax(best, words, start, start+1, 0, unknownID)
		}
	}

	out := lt.out[:0]
	for i := n; i > 0; {
		id := words[i]
		out = append(out, id)
		i -= int(t.runeLen[id])
	}
	// Reverse, then collapse runs of unknowns into one.
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	k := 0
	prevUnknown := false
	for _, id := range out {
		if id == unknownID && prevUnknown {
			continue
		}
		prevUnknown = id == unknownID
		out[k] = id
		k++
	}
	lt.out = out
	return out[:k], nil
}

// relax is one Viterbi update, quirks included: ">=" hands ties to the
// later (shorter) edge, and a stored exact 0 counts as unset.
func relax(best []float64, words []int32, start, end int, score float64, id int32) {
	cand := score + best[start]
	if best[end] == 0 || cand >= best[end] {
		best[end] = cand
		words[end] = id
	}
}

func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}
