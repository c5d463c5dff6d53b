package lexical

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/semcache/semcache/embed"
)

// hugePrompt is 8 MiB of repeated words with a question at the end.
func hugePrompt() string {
	return strings.Repeat("the quick brown fox jumps over the lazy dog ", (8<<20)/44) +
		"so what does the fox jump over?"
}

// TestEmbedHugePromptBounded: an 8 MiB prompt embeds within a deadline,
// allocating a bounded amount (not hundreds of MiB), to the vector of its
// clipped form.
func TestEmbedHugePromptBounded(t *testing.T) {
	e := newTestEmbedder(t)
	huge := hugePrompt()
	clipped, ok := embed.Clip(huge, embed.ClipOptions{})
	if !ok {
		t.Fatal("the huge prompt was not clipped")
	}
	want, err := e.Embed(context.Background(), []string{clipped})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	got, err := e.Embed(ctx, []string{huge})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatalf("embedding the 8 MiB prompt within its deadline: %v", err)
	}
	if !slices.Equal(got[0], want[0]) {
		t.Error("the huge prompt's vector is not its clipped form's")
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	inuse := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("8 MiB prompt: %.2f MiB allocated, heap in use %+.2f MiB", float64(alloc)/(1<<20), float64(inuse)/(1<<20))
	if alloc > 8<<20 || inuse > 8<<20 {
		t.Errorf("embedding an 8 MiB prompt allocated %.1f MiB (heap in use %+.1f MiB), want < 8 MiB each",
			float64(alloc)/(1<<20), float64(inuse)/(1<<20))
	}
}

// TestEmbedHugePromptsConcurrently: four 8 MiB prompts at once (the
// reported 3.6 GB RSS case) stay within a bounded heap.
func TestEmbedHugePromptsConcurrently(t *testing.T) {
	e := newTestEmbedder(t)
	huge := hugePrompt()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { _, errs[i] = e.Embed(context.Background(), []string{huge}) })
	}
	wg.Wait()
	runtime.ReadMemStats(&after)
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Errorf("four concurrent 8 MiB prompts allocated %.1f MiB, want < 16 MiB", float64(alloc)/(1<<20))
	}
}

// countdownCtx reports context.Canceled from its n-th Err call on.
type countdownCtx struct {
	context.Context
	mu    sync.Mutex
	calls int
	n     int
}

func (c *countdownCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if c.calls >= c.n {
		return context.Canceled
	}
	return nil
}

// TestEmbedCancelledWithinText: with the clip bound lifted, a long text is
// checked against the context while it is tokenized and hashed.
func TestEmbedCancelledWithinText(t *testing.T) {
	e, err := New(Options{Clip: embed.ClipOptions{HeadRunes: 1 << 30, TailRunes: 1}})
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Repeat("many words here ", 100_000)
	for _, n := range []int{2, 10, 200} {
		ctx := &countdownCtx{Context: context.Background(), n: n}
		got, err := e.Embed(ctx, []string{text})
		if got != nil || !errors.Is(err, embed.ErrEmbed) || !errors.Is(err, context.Canceled) {
			t.Errorf("n=%d: Embed = %d vectors, %v; want ErrEmbed and context.Canceled", n, len(got), err)
		}
		// One more call: context.Cause asks Err of a context it does not know.
		if ctx.calls > n+1 {
			t.Errorf("n=%d: context checked %d times, want it to stop at the cancellation", n, ctx.calls)
		}
	}
}

func TestOptionsClipValidated(t *testing.T) {
	_, err := New(Options{Dimension: 1, Clip: embed.ClipOptions{TailRunes: -1}})
	if err == nil || !strings.Contains(err.Error(), "Dimension") || !strings.Contains(err.Error(), "TailRunes") {
		t.Fatalf("New = %v, want Dimension and TailRunes reported", err)
	}
}

// BenchmarkEmbedHuge8MiB embeds an 8 MiB prompt (clipped to 4 Ki runes).
func BenchmarkEmbedHuge8MiB(b *testing.B) {
	e := newTestEmbedder(b)
	texts := []string{hugePrompt()}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Embed(ctx, texts); err != nil {
			b.Fatal(err)
		}
	}
}
