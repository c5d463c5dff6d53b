package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/semcache/semcache/vectorstore"
)

// flakyIndex is a bruteIndex whose writes fail while down is set.
type flakyIndex struct {
	bruteIndex
	down    atomic.Bool
	upserts atomic.Int64
}

var errDown = errors.New("index down")

func (f *flakyIndex) Upsert(ctx context.Context, recs []vectorstore.Record) error {
	if f.down.Load() {
		return errDown
	}
	f.upserts.Add(1)
	return f.bruteIndex.Upsert(ctx, recs)
}

func (f *flakyIndex) Delete(ctx context.Context, ids []string) error {
	if f.down.Load() {
		return errDown
	}
	return f.bruteIndex.Delete(ctx, ids)
}

func (f *flakyIndex) len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.recs)
}

func (f *flakyIndex) has(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.recs[id]
	return ok
}

// eventually polls cond until it holds or 10 s pass (the indexer retries
// on its own schedule; this waits for it, it does not time it).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func vec(t *testing.T, emb *bagEmbedder, text string) []float32 {
	t.Helper()
	v, err := emb.Embed(context.Background(), []string{text})
	if err != nil {
		t.Fatal(err)
	}
	return v[0]
}

func TestWriteBackBurstDropsNothing(t *testing.T) {
	emb, idx := &bagEmbedder{}, &flakyIndex{}
	// A small queue, so most Puts meet a full one and must wait.
	c, err := Open(Options{Dir: t.TempDir(), QueueSize: 16,
		Semantic: &SemanticOptions{Embedder: emb, Index: idx, Threshold: 0.7}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const writers, each = 40, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				c.Put(lookup(t, "a", fmt.Sprintf("burst question %d of writer %d", i, w)), answer, nil, 0, nil)
			}
		}()
	}
	wg.Wait()
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := c.Stats()
	const n = writers * each
	if s.Dropped != 0 || s.Written != n || s.DiskEntries != n {
		t.Fatalf("dropped %d, written %d, on disk %d; want 0, %d, %d", s.Dropped, s.Written, s.DiskEntries, n, n)
	}
	if idx.len() != n {
		t.Fatalf("index holds %d records, want %d", idx.len(), n)
	}
	if s.Waited == 0 {
		t.Fatal("no Put waited for room: the test did not exercise backpressure")
	}
}

// TestFlushEndsTheLinger: a short batch waits for company before it
// commits; Flush does not wait with it. With a linger of an hour, Flush
// still returns once the answer is on disk.
func TestFlushEndsTheLinger(t *testing.T) {
	c, err := Open(Options{Dir: t.TempDir(), linger: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for round := range 3 { // again after a flush: the writer lingers anew
		c.Put(lookup(t, "a", fmt.Sprintf("lingering question %d", round)), answer, nil, 0, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := c.Flush(ctx)
		cancel()
		if err != nil {
			t.Fatalf("round %d: Flush: %v (it waited for the linger)", round, err)
		}
		if s := c.Stats(); s.DiskEntries != round+1 {
			t.Fatalf("round %d: %d entries on disk, want %d", round, s.DiskEntries, round+1)
		}
	}
}

func TestWriteBackDropsAfterQueueWait(t *testing.T) {
	emb := &bagEmbedder{}
	g := &gatedIndex{release: make(chan struct{})}
	c, err := Open(Options{QueueSize: 1, QueueWait: time.Millisecond,
		Semantic: &SemanticOptions{Embedder: emb, Index: g, Threshold: 0.7}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	defer g.open()
	// The indexer blocks in the gated upsert, the index channel (16
	// batches of up to lingerBatch answers) and the queue fill: later Puts
	// give up after QueueWait.
	for i := range 18*lingerBatch + 200 {
		c.Put(lookup(t, "a", fmt.Sprintf("question %d", i)), answer, vec(t, emb, "q"), 0, nil)
	}
	if c.Stats().Dropped == 0 {
		t.Fatal("a full queue never dropped after QueueWait")
	}
	g.open()
}

func TestIndexRetriesAfterStoreOutage(t *testing.T) {
	for _, disk := range []bool{true, false} {
		t.Run(fmt.Sprintf("disk=%v", disk), func(t *testing.T) {
			emb, idx := &bagEmbedder{}, &flakyIndex{}
			idx.down.Store(true)
			o := Options{Semantic: &SemanticOptions{Embedder: emb, Index: idx, Threshold: 0.7}}
			if disk {
				o.Dir = t.TempDir()
			}
			c, err := Open(o)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for i := range 100 {
				q := fmt.Sprintf("outage question %d", i)
				var v []float32
				if i%2 == 0 {
					v = vec(t, emb, q) // half carry their vector, half are embedded by the indexer
				}
				c.Put(lookup(t, "a", q), answer, v, 0, nil)
			}
			if err := c.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			s := c.Stats()
			if idx.len() != 0 || s.StoreErrors == 0 || s.IndexErrors == 0 || s.IndexErrors > s.StoreErrors || s.IndexBacklog != 100 {
				t.Fatalf("store down: index %d, store errors %d (write-back's %d), backlog %d", idx.len(), s.StoreErrors, s.IndexErrors, s.IndexBacklog)
			}
			if s.Queued != 100 || s.JanitorErrors != 0 || s.WriteBackEmbedErrors != 0 {
				t.Fatalf("store down: queued %d, want 100; janitor errors %d, write-back embed errors %d", s.Queued, s.JanitorErrors, s.WriteBackEmbedErrors)
			}
			idx.down.Store(false)
			eventually(t, "the backlog to reach the store", func() bool { return idx.len() == 100 })
			eventually(t, "the backlog to empty", func() bool { return c.Stats().IndexBacklog == 0 })
			if disk {
				eventually(t, "the journal to empty", func() bool { return c.disk.journalLen() == 0 })
			}
			if s := c.Stats(); s.IndexDropped != 0 || s.Dropped != 0 {
				t.Fatalf("dropped %d answers, %d index records", s.Dropped, s.IndexDropped)
			}
		})
	}
}

func TestJournalReplayAfterReopen(t *testing.T) {
	dir := t.TempDir()
	emb, down := &bagEmbedder{}, &flakyIndex{}
	down.down.Store(true)
	c, err := Open(Options{Dir: dir, Semantic: &SemanticOptions{Embedder: emb, Index: down, Threshold: 0.7}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		q := fmt.Sprintf("journal question %d", i)
		c.Put(lookup(t, "a", q), answer, vec(t, emb, q), 0, nil)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// The next run has a working store: the journal replays into it.
	up := &flakyIndex{}
	c2, err := Open(Options{Dir: dir, Semantic: &SemanticOptions{Embedder: emb, Index: up, Threshold: 0.7}})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	eventually(t, "the journal to replay", func() bool { return up.len() == 50 })
	if s := c2.Stats(); s.Replayed != 50 {
		t.Fatalf("replayed %d, want 50", s.Replayed)
	}
	r := c2.Get(context.Background(), lookup(t, "a", "journal question 7 please"))
	if r.Tier != TierSemantic {
		t.Fatalf("a replayed entry is not a semantic candidate: %+v", r)
	}
}

func TestQuotaEvictsLeastRecentlyHit(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	emb, idx := &bagEmbedder{}, &flakyIndex{}
	open := func() *Cache {
		c, err := Open(Options{Dir: dir, Now: clk.now, Quota: Quota{Entries: 10},
			Semantic: &SemanticOptions{Embedder: emb, Index: idx, Threshold: 0.7}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := open()
	ctx := context.Background()
	q := func(i int) string { return fmt.Sprintf("quota question number %d", i) }
	keys := make([]string, 13)
	for i := range 10 {
		keys[i] = putAt(t, c, clk, "a", q(i), "answer").Key
	}
	putAt(t, c, clk, "b", q(0), "answer") // another namespace: its own quota
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Entry 0 is the oldest but was just hit; entry 1 is now the least
	// recently hit.
	if r := c.Get(ctx, lookup(t, "a", q(0))); r.Tier != TierExact {
		t.Fatal("entry 0 not found")
	}
	clk.add(time.Minute)
	keys[10] = putAt(t, c, clk, "a", q(10), "answer").Key
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if u := c.Usage("a"); u.Entries != 10 {
		t.Fatalf("namespace a holds %d entries, want 10", u.Entries)
	}
	exact := func(i int) Lookup { l := lookup(t, "a", q(i)); l.SkipSemantic = true; return l }
	if r := c.Get(ctx, exact(1)); r.Tier != TierNone {
		t.Fatalf("entry 1 (least recently hit) survived: %+v", r.Tier)
	}
	if idx.has(keys[1]) || !idx.has(keys[0]) {
		t.Fatal("the vector store did not follow the eviction")
	}
	if r := c.Get(ctx, lookup(t, "a", q(0))); r.Tier != TierExact {
		t.Fatal("entry 0 (recently hit) was evicted")
	}
	if u := c.Usage("b"); u.Entries != 1 {
		t.Fatalf("namespace b holds %d, want 1", u.Entries)
	}
	// Last hits survive a restart: entry 0 was hit again after entry 2 was
	// written, so the next eviction takes entry 2.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c = open()
	defer c.Close()
	if u := c.Usage("a"); u.Entries != 10 {
		t.Fatalf("after reopen namespace a holds %d entries, want 10", u.Entries)
	}
	keys[11] = putAt(t, c, clk, "a", q(11), "answer").Key
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if r := c.Get(ctx, exact(2)); r.Tier != TierNone {
		t.Fatal("entry 2 survived the eviction after reopen")
	}
	if r := c.Get(ctx, lookup(t, "a", q(0))); r.Tier != TierExact {
		t.Fatal("entry 0's hit was forgotten across the restart")
	}
	if s := c.Stats(); s.Evicted != 1 || s.DiskEntries != 11 {
		t.Fatalf("evicted %d, on disk %d; want 1 and 11 (10 of a, 1 of b)", s.Evicted, s.DiskEntries)
	}
}

func TestQuotaBytes(t *testing.T) {
	c, err := Open(Options{Dir: t.TempDir(), Quota: Quota{Bytes: 20_000}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	big := answer
	big.Text = string(make([]byte, 1000))
	for i := range 100 {
		c.Put(lookup(t, "a", fmt.Sprintf("q%d", i)), big, nil, 0, nil)
	}
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	u := c.Usage("a")
	if u.Bytes > 20_000 || u.Entries == 0 || u.Entries >= 100 {
		t.Fatalf("usage %+v past a 20000-byte quota", u)
	}
	if s := c.Stats(); s.DiskEntries != u.Entries {
		t.Fatalf("disk holds %d entries, the quota counts %d", s.DiskEntries, u.Entries)
	}
	if r := c.Get(context.Background(), lookup(t, "a", "q99")); r.Tier != TierExact {
		t.Fatal("the newest entry was evicted")
	}
}

func TestJanitorPurgesExpired(t *testing.T) {
	for _, disk := range []bool{true, false} {
		t.Run(fmt.Sprintf("disk=%v", disk), func(t *testing.T) {
			clk := &clock{t: time.Unix(1_700_000_000, 0)}
			emb, idx := &bagEmbedder{}, &flakyIndex{}
			o := Options{Now: clk.now, TTL: time.Hour, JanitorInterval: -1,
				Semantic: &SemanticOptions{Embedder: emb, Index: idx, Threshold: 0.7}}
			if disk {
				o.Dir = t.TempDir()
			}
			c, err := Open(o)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx := context.Background()
			c.Put(lookup(t, "a", "short one"), answer, nil, 0, nil)
			c.Put(lookup(t, "a", "short two"), answer, nil, 0, nil)
			long := c.Put(lookup(t, "a", "long lived"), answer, nil, 48*time.Hour, nil)
			if err := c.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if n, err := c.Sweep(ctx); err != nil || n != 0 {
				t.Fatalf("sweep before expiry purged %d (%v)", n, err)
			}
			clk.add(2 * time.Hour)
			n, err := c.Sweep(ctx)
			if err != nil || n != 2 {
				t.Fatalf("sweep purged %d (%v), want 2", n, err)
			}
			if idx.len() != 1 || !idx.has(long.Key) {
				t.Fatalf("the vector store holds %d records after the sweep, want the long-lived one", idx.len())
			}
			if disk && c.Stats().DiskEntries != 1 {
				t.Fatalf("disk holds %d entries, want 1", c.Stats().DiskEntries)
			}
			if u := c.Usage("a"); u.Entries != 1 {
				t.Fatalf("quota accounting holds %d entries, want 1", u.Entries)
			}
			if s := c.Stats(); s.Expired != 2 {
				t.Fatalf("expired counter %d, want 2", s.Expired)
			}
		})
	}
}

func TestMaxTTLCapsLifetimes(t *testing.T) {
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	c, err := Open(Options{Now: clk.now, TTL: time.Hour, MaxTTL: 2 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tests := []struct {
		name string
		ttl  time.Duration
		want time.Duration
	}{
		{"default", 0, time.Hour},
		{"shorter", time.Minute, time.Minute},
		{"capped", 30 * 24 * time.Hour, 2 * time.Hour},
	}
	for _, tt := range tests {
		e := c.Put(lookup(t, "a", tt.name), answer, nil, tt.ttl, nil)
		if got := e.ExpiresAt.Sub(clk.now()); got != tt.want {
			t.Errorf("%s: lifetime %v, want %v", tt.name, got, tt.want)
		}
	}
	n, err := c.Warm(context.Background(), []WarmItem{{Lookup: lookup(t, "a", "warm"), Answer: answer, TTL: 1000 * time.Hour}})
	if err != nil || n != 1 {
		t.Fatal(n, err)
	}
	if r := c.Get(context.Background(), lookup(t, "a", "warm")); r.Entry.ExpiresAt.Sub(clk.now()) != 2*time.Hour {
		t.Fatalf("warm lifetime %v, want the cap", r.Entry.ExpiresAt.Sub(clk.now()))
	}
}

func TestReconfigure(t *testing.T) {
	emb, idx := &bagEmbedder{}, &flakyIndex{}
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	sem := SemanticOptions{Embedder: emb, Index: idx, Threshold: 0.7}
	c, err := Open(Options{Now: clk.now, TTL: time.Hour, Semantic: &sem})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	c.Put(lookup(t, "a", "what is the capital of france"), answer, nil, 0, nil)
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	para := lookup(t, "a", "what is the capital city of france")
	if r := c.Get(ctx, para); r.Tier != TierSemantic {
		t.Fatalf("paraphrase missed before the reload: %v", r.Tier)
	}
	strict := sem
	strict.Threshold = 0.999
	tests := []struct {
		name string
		p    Policy
		ok   bool
	}{
		{"negative ttl", Policy{TTL: -1}, false},
		{"other embedder", Policy{Semantic: &SemanticOptions{Embedder: &bagEmbedder{}, Index: idx, Threshold: 0.5}}, false},
		{"bad threshold", Policy{Semantic: &SemanticOptions{Embedder: emb, Index: idx, Threshold: 2}}, false},
		{"negative quota", Policy{Quota: Quota{Entries: -1}}, false},
		{"stricter", Policy{TTL: 2 * time.Hour, Semantic: &strict}, true},
	}
	for _, tt := range tests {
		err := c.Reconfigure(tt.p)
		if (err == nil) != tt.ok {
			t.Fatalf("%s: err %v", tt.name, err)
		}
		if !tt.ok {
			// Rejected whole: the old threshold still serves the paraphrase.
			if r := c.Get(ctx, para); r.Tier != TierSemantic {
				t.Fatalf("%s: a rejected policy changed the cache", tt.name)
			}
		}
	}
	if r := c.Get(ctx, para); r.Tier != TierNone {
		t.Fatal("the stricter threshold did not apply")
	}
	if e := c.Put(lookup(t, "a", "new"), answer, nil, 0, nil); e.ExpiresAt.Sub(clk.now()) != 2*time.Hour {
		t.Fatal("the new default TTL did not apply")
	}
}

// TestSlowStoreDoesNotHoldUpDisk: while the vector store hangs, answers
// still reach the disk (the durability promise does not wait for the
// store); the journal brings them to the store once it answers.
func TestSlowStoreDoesNotHoldUpDisk(t *testing.T) {
	emb := &bagEmbedder{}
	g := &gatedIndex{release: make(chan struct{})}
	c, err := Open(Options{Dir: t.TempDir(), Semantic: &SemanticOptions{Embedder: emb, Index: g, Threshold: 0.7}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	defer g.open()
	const n = 3000
	for i := range n {
		q := fmt.Sprintf("slow store question %d", i)
		c.Put(lookup(t, "a", q), answer, vec(t, emb, q), 0, nil)
	}
	eventually(t, "every answer on disk while the store hangs", func() bool { return c.Stats().DiskEntries == n })
	if s := c.Stats(); s.Dropped != 0 {
		t.Fatalf("dropped %d", s.Dropped)
	}
	g.open()
	eventually(t, "the journal to reach the store", func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return len(g.recs) == n
	})
	eventually(t, "the journal to empty", func() bool { return c.disk.journalLen() == 0 })
}
