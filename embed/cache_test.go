package embed

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"sync"
	"testing"
	"time"
)

const fakeDim = 8

// vectorFor is the fake embedder's deterministic vector for text.
func vectorFor(text string) []float32 {
	h := fnv.New64a()
	h.Write([]byte(text))
	x := h.Sum64()
	v := make([]float32, fakeDim)
	for i := range v {
		v[i] = float32(x>>(8*i)&0xff) + 1
	}
	return v
}

// fakeEmbedder counts calls and can block, fail or misbehave on demand.
type fakeEmbedder struct {
	mu      sync.Mutex
	calls   [][]string
	err     error         // returned by every call while set
	gate    chan struct{} // when set, calls wait for a value or close
	started chan struct{} // when set, receives one value per call start
	extra   int           // vectors added to (or, negative, removed from) the answer
	badDim  bool          // return vectors of the wrong length
	// cancelled, when set, receives a value when a call waiting at the
	// gate sees its context end.
	cancelled chan struct{}
}

func (f *fakeEmbedder) Dimension() int  { return fakeDim }
func (f *fakeEmbedder) ModelID() string { return "fake-8" }

func (f *fakeEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	f.mu.Lock()
	f.calls = append(f.calls, slices.Clone(texts))
	err, gate, started, extra, badDim, cancelled := f.err, f.gate, f.started, f.extra, f.badDim, f.cancelled
	f.mu.Unlock()
	if started != nil {
		started <- struct{}{}
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			if cancelled != nil {
				cancelled <- struct{}{}
			}
			return nil, ctx.Err()
		}
	}
	if err != nil {
		return nil, err
	}
	out := make([][]float32, 0, len(texts)+max(extra, 0))
	for _, t := range texts {
		v := vectorFor(t)
		if badDim {
			v = v[:fakeDim-1]
		}
		out = append(out, v)
	}
	for range max(extra, 0) {
		out = append(out, vectorFor("extra"))
	}
	if extra < 0 {
		out = out[:max(len(out)+extra, 0)]
	}
	return out, nil
}

func (f *fakeEmbedder) set(fn func(f *fakeEmbedder)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeEmbedder) callLog() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func checkVectors(t *testing.T, texts []string, got [][]float32) {
	t.Helper()
	if len(got) != len(texts) {
		t.Fatalf("got %d vectors for %d texts", len(got), len(texts))
	}
	for i, text := range texts {
		if !slices.Equal(got[i], vectorFor(text)) {
			t.Fatalf("vector %d (%q) = %v, want %v", i, text, got[i], vectorFor(text))
		}
	}
}

func TestCachedSequence(t *testing.T) {
	// Each step embeds texts and states which texts must reach inner.
	steps := []struct {
		texts     []string
		wantInner []string // nil: no inner call
	}{
		{[]string{"a", "b"}, []string{"a", "b"}},
		{[]string{"a", "b"}, nil},
		{[]string{"c", "a", "d", "b"}, []string{"c", "d"}},
		{[]string{"e", "e", "a", "e"}, []string{"e"}},
		{[]string{"", "a"}, []string{""}},
		{[]string{""}, nil},
		{[]string{}, nil},
	}
	inner := &fakeEmbedder{}
	c := NewCached(inner, CacheOptions{})
	var wantHits, wantMisses uint64
	for i, s := range steps {
		before := len(inner.callLog())
		got, err := c.Embed(context.Background(), s.texts)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		checkVectors(t, s.texts, got)
		calls := inner.callLog()[before:]
		switch {
		case s.wantInner == nil && len(calls) != 0:
			t.Fatalf("step %d: inner called with %q, want no call", i, calls)
		case s.wantInner != nil && (len(calls) != 1 || !slices.Equal(calls[0], s.wantInner)):
			t.Fatalf("step %d: inner calls %q, want one call %q", i, calls, s.wantInner)
		}
		wantMisses += uint64(len(s.wantInner))
		wantHits += uint64(len(s.texts) - len(s.wantInner))
		if h, m := c.Stats(); h != wantHits || m != wantMisses {
			t.Fatalf("step %d: Stats = (%d, %d), want (%d, %d)", i, h, m, wantHits, wantMisses)
		}
	}
}

func TestCachedPassThrough(t *testing.T) {
	c := NewCached(&fakeEmbedder{}, CacheOptions{})
	if c.Dimension() != fakeDim || c.ModelID() != "fake-8" {
		t.Fatalf("Dimension/ModelID = %d/%q, want %d/%q", c.Dimension(), c.ModelID(), fakeDim, "fake-8")
	}
}

func TestCachedCopies(t *testing.T) {
	inner := &fakeEmbedder{}
	c := NewCached(inner, CacheOptions{})
	for round := 0; round < 3; round++ {
		got, err := c.Embed(context.Background(), []string{"x", "x"})
		if err != nil {
			t.Fatal(err)
		}
		checkVectors(t, []string{"x", "x"}, got)
		// Scribble over everything handed out: miss, in-call duplicate, hit.
		for _, v := range got {
			for i := range v {
				v[i] = -42
			}
		}
	}
	if n := len(inner.callLog()); n != 1 {
		t.Fatalf("inner called %d times, want 1", n)
	}
}

func TestCachedLRU(t *testing.T) {
	inner := &fakeEmbedder{}
	c := NewCached(inner, CacheOptions{MaxEntries: 2})
	ctx := context.Background()
	for _, texts := range [][]string{{"a"}, {"b"}, {"a"}, {"c"}} { // "b" is now least recent
		if _, err := c.Embed(ctx, texts); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		text   string
		cached bool
	}{
		{"a", true}, {"c", true}, {"b", false},
	}
	for _, tt := range tests {
		before := len(inner.callLog())
		if _, err := c.Embed(ctx, []string{tt.text}); err != nil {
			t.Fatal(err)
		}
		if cached := len(inner.callLog()) == before; cached != tt.cached {
			t.Errorf("%q cached = %v, want %v", tt.text, cached, tt.cached)
		}
	}
	if c.lru.Len() != 2 || len(c.items) != 2 {
		t.Errorf("cache holds %d/%d entries, want 2", c.lru.Len(), len(c.items))
	}
}

func TestCachedErrors(t *testing.T) {
	boom := errors.New("backend down")
	tests := []struct {
		name  string
		setup func(f *fakeEmbedder)
		want  []error
	}{
		{"inner error", func(f *fakeEmbedder) { f.err = boom }, []error{boom, ErrEmbed}},
		{"inner embed error", func(f *fakeEmbedder) { f.err = fmt.Errorf("x: %w", ErrEmbed) }, []error{ErrEmbed}},
		{"too many vectors", func(f *fakeEmbedder) { f.extra = 1 }, []error{ErrEmbed}},
		{"too few vectors", func(f *fakeEmbedder) { f.extra = -1 }, []error{ErrEmbed}},
		{"wrong dimension", func(f *fakeEmbedder) { f.badDim = true }, []error{ErrEmbed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inner := &fakeEmbedder{}
			c := NewCached(inner, CacheOptions{})
			inner.set(tt.setup)
			_, err := c.Embed(context.Background(), []string{"p", "q"})
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Fatalf("err = %v, want it to wrap %v", err, w)
				}
			}
			// Not cached: once inner recovers, the texts are fetched again.
			inner.set(func(f *fakeEmbedder) { f.err, f.extra, f.badDim = nil, 0, false })
			got, err := c.Embed(context.Background(), []string{"p", "q"})
			if err != nil {
				t.Fatal(err)
			}
			checkVectors(t, []string{"p", "q"}, got)
			if calls := inner.callLog(); len(calls) != 2 {
				t.Fatalf("inner calls %q, want 2 (error must not be cached)", calls)
			}
		})
	}
}

func TestCachedCoalescesConcurrent(t *testing.T) {
	const callers = 8
	gate := make(chan struct{})
	started := make(chan struct{}, 1)
	inner := &fakeEmbedder{gate: gate, started: started}
	c := NewCached(inner, CacheOptions{})

	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for g := 0; g < callers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := c.Embed(context.Background(), []string{"same"})
			if err == nil && !slices.Equal(got[0], vectorFor("same")) {
				err = fmt.Errorf("got %v", got[0])
			}
			errs <- err
		}()
	}
	<-started
	// Wait until every other caller has joined the flight (counted as a hit).
	waitFor(t, func() bool { h, _ := c.Stats(); return h == callers-1 })
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if calls := inner.callLog(); len(calls) != 1 {
		t.Fatalf("inner calls %q, want exactly 1", calls)
	}
	if h, m := c.Stats(); h != callers-1 || m != 1 {
		t.Fatalf("Stats = (%d, %d), want (%d, 1)", h, m, callers-1)
	}
}

func TestCachedCancelledCallerDoesNotPoison(t *testing.T) {
	gate := make(chan struct{})
	started := make(chan struct{}, 1)
	inner := &fakeEmbedder{gate: gate, started: started}
	c := NewCached(inner, CacheOptions{})

	ctx, cancel := context.WithCancel(context.Background())
	leaderErr := make(chan error, 1)
	go func() {
		_, err := c.Embed(ctx, []string{"slow"})
		leaderErr <- err
	}()
	<-started
	follower := make(chan error, 1)
	go func() {
		got, err := c.Embed(context.Background(), []string{"slow"})
		if err == nil && !slices.Equal(got[0], vectorFor("slow")) {
			err = fmt.Errorf("got %v", got[0])
		}
		follower <- err
	}()
	waitFor(t, func() bool { h, _ := c.Stats(); return h == 1 })

	cancel()
	select {
	case err := <-leaderErr:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled caller err = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancelled caller did not return")
	}
	close(gate)
	if err := <-follower; err != nil {
		t.Fatalf("follower: %v", err)
	}
	// The detached call filled the cache.
	if _, err := c.Embed(context.Background(), []string{"slow"}); err != nil {
		t.Fatal(err)
	}
	if calls := inner.callLog(); len(calls) != 1 {
		t.Fatalf("inner calls %q, want 1", calls)
	}
}

// TestCachedCancelsAbandonedCall: when the only caller waiting for an
// inner call leaves, the call's context is cancelled (an in-process
// embedder stops computing), and the text is no longer in flight: the next
// request for it makes a new call instead of joining a dying one.
func TestCachedCancelsAbandonedCall(t *testing.T) {
	gate := make(chan struct{})
	inner := &fakeEmbedder{gate: gate, started: make(chan struct{}, 2), cancelled: make(chan struct{}, 2)}
	c := NewCached(inner, CacheOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.Embed(ctx, []string{"abandoned", "too"})
		errc <- err
	}()
	<-inner.started
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) || !errors.Is(err, ErrEmbed) {
		t.Fatalf("abandoning caller: err = %v, want ErrEmbed and context.Canceled", err)
	}
	select {
	case <-inner.cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the inner call was not cancelled when its only caller left")
	}
	close(gate)
	got, err := c.Embed(context.Background(), []string{"abandoned"})
	if err != nil {
		t.Fatal(err)
	}
	checkVectors(t, []string{"abandoned"}, got)
	if calls := inner.callLog(); len(calls) != 2 {
		t.Fatalf("inner calls %q, want the abandoned one and a new one", calls)
	}
}

// TestCachedLeavesSharedCallRunning: a call stays alive while another
// caller who joined it waits, even after the caller who started it left
// and even when that caller also waited on a call that failed.
func TestCachedLeavesSharedCallRunning(t *testing.T) {
	gate := make(chan struct{})
	inner := &fakeEmbedder{gate: gate, started: make(chan struct{}, 4), cancelled: make(chan struct{}, 4)}
	c := NewCached(inner, CacheOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := c.Embed(ctx, []string{"shared"})
		first <- err
	}()
	<-inner.started
	second := make(chan error, 1)
	go func() {
		got, err := c.Embed(context.Background(), []string{"shared"})
		if err == nil && !slices.Equal(got[0], vectorFor("shared")) {
			err = fmt.Errorf("got %v", got[0])
		}
		second <- err
	}()
	waitFor(t, func() bool { h, _ := c.Stats(); return h == 1 })
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("first caller: %v", err)
	}
	select {
	case <-inner.cancelled:
		t.Fatal("the call was cancelled although a caller still waits for it")
	case <-time.After(20 * time.Millisecond):
	}
	close(gate)
	if err := <-second; err != nil {
		t.Fatalf("second caller: %v", err)
	}
}

// TestCachedFinishAbandoned: with FinishAbandoned the abandoned call runs
// to the end and fills the cache.
func TestCachedFinishAbandoned(t *testing.T) {
	gate := make(chan struct{})
	inner := &fakeEmbedder{gate: gate, started: make(chan struct{}, 2), cancelled: make(chan struct{}, 2)}
	c := NewCached(inner, CacheOptions{FinishAbandoned: true})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.Embed(ctx, []string{"kept"})
		errc <- err
	}()
	<-inner.started
	cancel()
	<-errc
	close(gate)
	waitFor(t, func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.lru.Len() == 1 })
	if _, err := c.Embed(context.Background(), []string{"kept"}); err != nil {
		t.Fatal(err)
	}
	if calls := inner.callLog(); len(calls) != 1 {
		t.Fatalf("inner calls %q, want 1", calls)
	}
	select {
	case <-inner.cancelled:
		t.Fatal("the abandoned call was cancelled")
	default:
	}
}

func TestCachedCancelledBeforeStart(t *testing.T) {
	inner := &fakeEmbedder{}
	c := NewCached(inner, CacheOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Embed(ctx, []string{"x"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if calls := inner.callLog(); len(calls) != 0 {
		t.Fatalf("inner calls %q, want none", calls)
	}
}

func TestCachedConcurrentMixed(t *testing.T) {
	inner := &fakeEmbedder{}
	c := NewCached(inner, CacheOptions{MaxEntries: 16})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				texts := []string{fmt.Sprint(i % 40), fmt.Sprint((i * 7) % 40), fmt.Sprint(i % 40)}
				got, err := c.Embed(context.Background(), texts)
				if err != nil {
					errs <- err
					return
				}
				for j, text := range texts {
					if !slices.Equal(got[j], vectorFor(text)) {
						errs <- fmt.Errorf("%q: wrong vector", text)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	h, m := c.Stats()
	var sent uint64
	for _, call := range inner.callLog() {
		sent += uint64(len(call))
	}
	if m != sent || h+m != 4*300*3 {
		t.Fatalf("Stats = (%d, %d); inner got %d texts; want misses = texts sent and hits+misses = %d", h, m, sent, 4*300*3)
	}
	if c.lru.Len() > 16 {
		t.Fatalf("cache holds %d entries, max 16", c.lru.Len())
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
