package cache

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/semcache/semcache/vectorstore"
)

func variant(i int) Answer {
	a := answer
	a.Text = fmt.Sprintf("answer %d", i)
	a.Payload = []byte(fmt.Sprintf(`{"content":"answer %d"}`, i))
	return a
}

// served takes n hits of l and returns the texts served, in order.
func served(t *testing.T, c *Cache, l Lookup, n, max int) []string {
	t.Helper()
	var out []string
	for range n {
		r := c.Get(context.Background(), l)
		if r.Entry == nil {
			t.Fatalf("no hit: %+v", r)
		}
		a, _ := r.Entry.Pick(max)
		out = append(out, a.Text)
	}
	return out
}

func TestPutVariantRoundRobin(t *testing.T) {
	tests := []struct {
		name     string
		puts     int // answers offered with PutVariant(…, 3)
		pick     int // Pick's bound
		wantHits []string
	}{
		{"one answer", 1, 3, []string{"answer 0", "answer 0", "answer 0"}},
		{"three answers in turn", 3, 3, []string{"answer 0", "answer 1", "answer 2", "answer 0", "answer 1"}},
		{"a fourth is refused", 4, 3, []string{"answer 0", "answer 1", "answer 2", "answer 0"}},
		{"fewer served when the bound drops", 3, 2, []string{"answer 0", "answer 1", "answer 0"}},
		{"bound of one: the first", 3, 1, []string{"answer 0", "answer 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Open(Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			l := lookup(t, "a", "tell me a joke")
			var e *Entry
			for i := range tt.puts {
				e = c.PutVariant(l, variant(i), nil, 0, nil, 3)
			}
			if want := min(tt.puts, 3); e.Answers() != want {
				t.Fatalf("%d answers stored, want %d", e.Answers(), want)
			}
			got := served(t, c, l, len(tt.wantHits), tt.pick)
			if fmt.Sprint(got) != fmt.Sprint(tt.wantHits) {
				t.Fatalf("served %q, want %q", got, tt.wantHits)
			}
		})
	}
}

func TestPutVariantKeepsExpiryAndPersists(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	c, err := Open(Options{Dir: dir, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	l := lookup(t, "a", "a poem about the sea")
	first := c.PutVariant(l, variant(0), nil, 0, nil, 2)
	clk.add(10 * time.Second)
	second := c.PutVariant(l, variant(1), nil, 0, []string{"doc#1"}, 2)
	if !second.CreatedAt.Equal(first.CreatedAt) || !second.ExpiresAt.Equal(first.ExpiresAt) || second.Answers() != 2 {
		t.Fatalf("variant changed the entry's times or was lost: %+v vs %+v", second, first)
	}
	if len(second.Sources) != 1 {
		t.Fatalf("sources %v", second.Sources)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c2, err := Open(Options{Dir: dir, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	got := served(t, c2, l, 4, 2)
	if fmt.Sprint(got) != "[answer 0 answer 1 answer 0 answer 1]" {
		t.Fatalf("after a restart: %q", got)
	}
	// Put replaces every variant (a no-cache refresh).
	c2.Put(l, variant(9), nil, 0, nil)
	if r := c2.Get(context.Background(), l); r.Entry.Answers() != 1 || r.Entry.Answer.Text != "answer 9" {
		t.Fatalf("Put kept the variants: %+v", r.Entry)
	}
}

func TestPutVariantConcurrent(t *testing.T) {
	c, err := Open(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	l := lookup(t, "a", "a limerick")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.PutVariant(l, variant(i), nil, 0, nil, 4)
			r := c.Get(context.Background(), l)
			if r.Entry != nil {
				r.Entry.Pick(4)
			}
		}()
	}
	wg.Wait()
	if r := c.Get(context.Background(), l); r.Entry == nil || r.Entry.Answers() != 4 {
		t.Fatalf("after 8 concurrent variants of 4: %+v", r.Entry)
	}
}

func TestSemanticHitTakesTurns(t *testing.T) {
	emb, idx := &bagEmbedder{}, &bruteIndex{}
	c := semanticCache(t, emb, idx, nil)
	ctx := context.Background()
	stored := lookup(t, "a", "tell me a joke about cats")
	c.PutVariant(stored, variant(0), nil, 0, nil, 2)
	c.PutVariant(stored, variant(1), nil, 0, nil, 2)
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	wantBothInTurn(t, c)
}

// frozenIndex ignores upserts once frozen: the store keeps a record
// written before its entry's later answers.
type frozenIndex struct {
	*bruteIndex
	frozen atomic.Bool
}

func (x *frozenIndex) Upsert(ctx context.Context, recs []vectorstore.Record) error {
	if x.frozen.Load() {
		return nil
	}
	return x.bruteIndex.Upsert(ctx, recs)
}

// TestSemanticHitTakesTurnsFromAnOldRecord: a semantic hit on a record
// indexed before the key's second answer, whose entry has left the hot
// tier, still serves the entry's answers in turn (it reads the entry, not
// the record's copy).
func TestSemanticHitTakesTurnsFromAnOldRecord(t *testing.T) {
	idx := &frozenIndex{bruteIndex: &bruteIndex{}}
	c, err := Open(Options{Dir: t.TempDir(), Semantic: &SemanticOptions{Embedder: &bagEmbedder{}, Index: idx, Threshold: 0.7}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	stored := lookup(t, "a", "tell me a joke about cats")
	c.PutVariant(stored, variant(0), nil, 0, nil, 2)
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	idx.frozen.Store(true)
	c.PutVariant(stored, variant(1), nil, 0, nil, 2)
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	c.hot.del(stored.key())
	c.hot.rc.Wait()
	wantBothInTurn(t, c)
}

// wantBothInTurn asks a paraphrase of the stored joke request four times
// and requires semantic hits that served both of its two answers.
func wantBothInTurn(t *testing.T, c *Cache) {
	t.Helper()
	seen := map[string]bool{}
	for range 4 {
		r := c.Get(context.Background(), lookup(t, "a", "tell me a joke about cats please"))
		if r.Tier != TierSemantic {
			t.Fatalf("paraphrase: %+v", r)
		}
		a, _ := r.Entry.Pick(2)
		seen[a.Text] = true
	}
	if len(seen) != 2 {
		t.Fatalf("semantic hits served %v, want both answers", seen)
	}
}
