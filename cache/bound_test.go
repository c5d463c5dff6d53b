package cache

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

func TestCapText(t *testing.T) {
	long := strings.Repeat("é", 100) + "MIDDLE" + strings.Repeat("ü", 100) // 406 bytes
	tests := []struct {
		s    string
		max  int
		want string
	}{
		{"short", 64, "short"},
		{strings.Repeat("a", 64), 64, strings.Repeat("a", 64)},
		{strings.Repeat("a", 48) + strings.Repeat("b", 100) + strings.Repeat("c", 16), 64, strings.Repeat("a", 48) + " … " + strings.Repeat("c", 16)},
	}
	for _, tt := range tests {
		if got := capText(tt.s, tt.max); got != tt.want {
			t.Errorf("capText(%d bytes, %d) = %q", len(tt.s), tt.max, got)
		}
	}
	got := capText(long, 100)
	if !utf8.ValidString(got) || strings.Contains(got, "MIDDLE") || !strings.HasPrefix(got, "é") || !strings.HasSuffix(got, "ü") ||
		len(got) > 100+len(" … ") {
		t.Fatalf("multi-byte cut: %q (%d bytes)", got, len(got))
	}
}

// blockingEmbedder ignores its context, as a CPU-bound in-process model
// does, until released.
type blockingEmbedder struct {
	bagEmbedder
	release chan struct{}
	mu      sync.Mutex
	texts   []string
}

func (b *blockingEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	b.mu.Lock()
	b.texts = append(b.texts, texts...)
	b.mu.Unlock()
	<-b.release
	return b.bagEmbedder.Embed(context.Background(), texts)
}

// TestEmbedDeadlineHonoured: an embedder that does not watch its context
// still cannot hold a lookup past the embedding time limit.
func TestEmbedDeadlineHonoured(t *testing.T) {
	emb := &blockingEmbedder{release: make(chan struct{})}
	defer close(emb.release)
	c, err := Open(Options{Semantic: &SemanticOptions{Embedder: emb, Index: &bruteIndex{}, Threshold: 0.7, EmbedTimeout: 20 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	done := make(chan Result, 1)
	go func() {
		done <- c.Get(context.Background(), lookup(t, "a", "a question that will not be embedded in time"))
	}()
	select {
	case r := <-done:
		if r.Tier != TierNone || !errors.Is(r.EmbedErr, ErrEmbedDeadline) {
			t.Fatalf("result %+v", r)
		}
	case <-time.After(10 * time.Second): // liveness bound only
		t.Fatal("the lookup waited for an embedder past its deadline")
	}
}

// TestLongPromptsBounded: the embedded text is cut to MaxEmbedBytes (head
// and tail), a prompt over MaxSemanticBytes skips the similarity tier (and
// is never indexed; its entry keeps a short display prompt).
func TestLongPromptsBounded(t *testing.T) {
	emb := &blockingEmbedder{release: make(chan struct{})}
	close(emb.release)
	idx := &bruteIndex{}
	c, err := Open(Options{Semantic: &SemanticOptions{Embedder: emb, Index: idx, Threshold: 0.7, MaxEmbedBytes: 1024, MaxSemanticBytes: 4096}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	mid := lookup(t, "a", strings.Repeat("head ", 200)+strings.Repeat("middle ", 200)+strings.Repeat("tail ", 100))
	r := c.Get(ctx, mid)
	if r.Skipped != "" || r.Vector == nil {
		t.Fatalf("a prompt under the bound: %+v", r)
	}
	emb.mu.Lock()
	embedded := emb.texts[len(emb.texts)-1]
	emb.mu.Unlock()
	if len(embedded) > 1024+len(" … ") || !strings.HasPrefix(embedded, "head") || !strings.HasSuffix(embedded, "tail ") || strings.Contains(embedded, "middle") {
		t.Fatalf("embedded %d bytes: %.80q … %.80q", len(embedded), embedded, embedded[max(0, len(embedded)-80):])
	}

	huge := lookup(t, "a", strings.Repeat("word ", 2000))
	calls := len(emb.texts)
	r = c.Get(ctx, huge)
	if r.Skipped != SkipTooLong || r.Vector != nil || r.EmbedTime != 0 || len(emb.texts) != calls {
		t.Fatalf("a prompt over the bound: %+v", r)
	}
	e := c.Put(huge, answer, nil, 0, nil)
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if e.Partition != "" || len(e.Prompt) > displayPromptBytes+len(" … ") || len(idx.recs) != 0 || len(emb.texts) != calls {
		t.Fatalf("long entry: partition %q, prompt %d bytes, %d indexed, %d embeds", e.Partition, len(e.Prompt), len(idx.recs), len(emb.texts)-calls)
	}
	if got := c.Get(ctx, huge); got.Tier != TierExact {
		t.Fatalf("the long prompt's exact hit: %+v", got)
	}
}
