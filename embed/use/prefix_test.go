package use

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/semcache/semcache/embed"
)

// TestEncodeFirstPremises pins the facts encodeFirst's exactness rests on:
// no vocabulary piece holds "▁" anywhere but first, "▁" is itself a piece,
// and NFKC starts a segment at U+0020.
func TestEncodeFirstPremises(t *testing.T) {
	enc := testEncoder(t)
	for id, p := range enc.tok.text {
		if i := strings.Index(p, spaceMark); i > 0 {
			t.Errorf("piece %d %q holds ▁ at byte %d", id, p, i)
		}
	}
	if e, ok := enc.tok.pieces[spaceMark]; !ok || !e.isPiece {
		t.Errorf("▁ is not a piece: %+v", e)
	}
	if !norm.NFKC.PropertiesString(" ").BoundaryBefore() {
		t.Error("NFKC does not start a segment at U+0020")
	}
}

// TestEncodeFirstMatchesEncode: the tokens of a prefix cut at a space are
// exactly the first tokens of the whole text, on long random texts built
// to stress the cut (combining marks after spaces, NBSP, invalid UTF-8,
// runs of unknown characters that push the 128th token past 4 KiB).
func TestEncodeFirstMatchesEncode(t *testing.T) {
	enc := testEncoder(t)
	var g tokenGolden
	readJSON(t, "tokens.json", &g)
	fragments := append([]string{
		"\u0301", " \u0301", "e\u0301 ", "\u00a0", "\xff", "\xe2\x82", "\t", "\n", "🙂🙂🙂",
		"ﬁ", "ＡＢＣ ", "漢字", "  ", ":)", "::", "Hello world.",
	}, g.Strings...)
	r := rand.New(rand.NewPCG(7, 8))
	var lt, lt2 lattice
	ctx := context.Background()
	check := func(name, text string) {
		t.Helper()
		want := enc.tok.encode(text, &lt)
		want = want[:min(len(want), maxTokens)]
		got, err := enc.tok.encodeFirst(ctx, text, &lt2)
		if err != nil {
			t.Fatal(err)
		}
		if !equalIDs(got, want) {
			t.Fatalf("%s (%d bytes): encodeFirst = %v\nencode      = %v", name, len(text), got, want)
		}
	}
	for i := range 300 {
		var b strings.Builder
		size := prefixBytes/2 + r.IntN(6*prefixBytes)
		for b.Len() < size {
			b.WriteString(fragments[r.IntN(len(fragments))])
			switch r.IntN(4) {
			case 0:
				b.WriteByte(' ')
			case 1:
				b.WriteString(" \u0301")
			}
		}
		check("random text "+string(rune('0'+i%10)), b.String())
	}
	// Unknown runs collapse to one token: the 128th token is far past the
	// first prefix, so encodeFirst must retry with longer ones.
	check("unknown runs", strings.Repeat("🙂", 3000)+" "+strings.Repeat("\t\t\t\t ", 2000)+strings.Repeat("word ", 200))
	// The prefix's last token is the one a wrong cut would spoil: sweep
	// texts whose first prefix ends right around the 128th token.
	words := strings.Repeat("the quick brown fox jumps over the lazy dog ", 200)
	for l := 880; l < 915; l++ {
		for k := range 5 {
			check("128th token near the cut", strings.Repeat("🙂", l)+" "+strings.Repeat("x", k)+" "+words)
		}
	}
	check("exact space at the limit", strings.Repeat("a", prefixBytes)+" "+strings.Repeat("b ", 300))
}

// TestEncodeFirstBoundsWork: a text with no space is read up to
// maxScanBytes only, cut at a rune start, and the result is the encoding
// of that prefix.
func TestEncodeFirstBoundsWork(t *testing.T) {
	enc := testEncoder(t)
	text := strings.Repeat("é🙂x", maxScanBytes) // no space at all
	cut, exact := prefixCut(text, prefixBytes)
	if exact || cut > maxScanBytes || !utf8.ValidString(text[:cut]) {
		t.Fatalf("prefixCut = %d, %v; want ≤ %d on a rune start, not exact", cut, exact, maxScanBytes)
	}
	var lt lattice
	got, err := enc.tok.encodeFirst(context.Background(), text, &lt)
	if err != nil {
		t.Fatal(err)
	}
	want := enc.tok.encode(text[:cut], &lattice{})
	if !equalIDs(got, want[:min(len(want), maxTokens)]) {
		t.Fatalf("encodeFirst differs from the encoding of its prefix")
	}
	if cap(lt.offs) > maxKeptPositions {
		t.Errorf("lattice keeps %d positions after a long text, want ≤ %d", cap(lt.offs), maxKeptPositions)
	}
}

// cancelAfter is a context whose Err reports context.Canceled from the
// n-th call on: it cancels at a known point inside Embed, without timing.
type cancelAfter struct {
	context.Context
	calls, n int
	mu       chan struct{}
}

func newCancelAfter(n int) *cancelAfter {
	c := &cancelAfter{Context: context.Background(), n: n, mu: make(chan struct{}, 1)}
	return c
}

func (c *cancelAfter) Err() error {
	c.mu <- struct{}{}
	defer func() { <-c.mu }()
	c.calls++
	if c.calls >= c.n {
		return context.Canceled
	}
	return nil
}

func (c *cancelAfter) count() int {
	c.mu <- struct{}{}
	defer func() { <-c.mu }()
	return c.calls
}

// TestEncodeFirstCancelled: tokenizing a long text checks the context.
func TestEncodeFirstCancelled(t *testing.T) {
	enc := testEncoder(t)
	text := strings.Repeat("x", maxScanBytes)
	_, err := enc.tok.encodeFirst(newCancelAfter(2), text, &lattice{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("encodeFirst with a context cancelled mid-text = %v, want context.Canceled", err)
	}
}

// TestEmbedCancelledMidBatch: a context cancelled while a batch is being
// embedded stops it: Embed returns an error wrapping embed.ErrEmbed and
// context.Canceled, and checks the context only a few more times (it does
// not go on through the remaining texts).
func TestEmbedCancelledMidBatch(t *testing.T) {
	enc := testEncoder(t)
	texts := make([]string, 400)
	for i := range texts {
		texts[i] = strings.Repeat("a sentence of some length to embed ", 1+i%6)
	}
	for _, procs := range []int{1, 2} {
		for _, n := range []int{2, 5, 40} {
			prev := runtime.GOMAXPROCS(procs)
			ctx := newCancelAfter(n)
			got, err := enc.Embed(ctx, texts)
			runtime.GOMAXPROCS(prev)
			if got != nil || !errors.Is(err, embed.ErrEmbed) || !errors.Is(err, context.Canceled) {
				t.Errorf("procs=%d n=%d: Embed = %d vectors, %v; want an error wrapping ErrEmbed and Canceled", procs, n, len(got), err)
			}
			// Each worker notices at its next check and stops.
			if c := ctx.count(); c > n+2*procs {
				t.Errorf("procs=%d n=%d: context checked %d times: Embed went on after the cancellation", procs, n, c)
			}
		}
	}
}

// TestEmbedHugePrompt: an 8 MiB prompt of repeated words is embedded from
// the prefix its 128 tokens need: the same vector as a short prefix of it,
// with a few MiB of allocation instead of hundreds.
func TestEmbedHugePrompt(t *testing.T) {
	enc := testEncoder(t)
	huge := strings.Repeat("the quick brown fox jumps over the lazy dog ", (8<<20)/44)
	ref, err := enc.Embed(context.Background(), []string{huge[:5000]})
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	got, err := enc.Embed(context.Background(), []string{huge})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if !equalVec(got[0], ref[0]) {
		t.Error("the 8 MiB prompt's vector differs from its 5000-byte prefix's")
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("8 MiB prompt: %.2f MiB allocated", float64(alloc)/(1<<20))
	if alloc > 16<<20 {
		t.Errorf("embedding an 8 MiB prompt allocated %.1f MiB, want < 16 MiB", float64(alloc)/(1<<20))
	}
}
