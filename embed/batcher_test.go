package embed

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func newTestBatcher(t *testing.T, inner Embedder, o BatchOptions) *Batcher {
	t.Helper()
	b, err := NewBatcher(inner, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// embedAsync runs b.Embed(ctx, texts) in a goroutine and checks the
// vectors; the error (nil when right) arrives on the returned channel.
func embedAsync(ctx context.Context, b Embedder, texts ...string) <-chan error {
	errc := make(chan error, 1)
	go func() {
		got, err := b.Embed(ctx, texts)
		if err == nil {
			err = sameVectors(texts, got)
		}
		errc <- err
	}()
	return errc
}

func sameVectors(texts []string, got [][]float32) error {
	if len(got) != len(texts) {
		return fmt.Errorf("%d vectors for %d texts", len(got), len(texts))
	}
	for i, text := range texts {
		if !slices.Equal(got[i], vectorFor(text)) {
			return fmt.Errorf("vector %d (%q) is wrong", i, text)
		}
	}
	return nil
}

// TestBatcherGathersQueuedCalls: calls made while a batch computes are
// answered by one batched inner call, each with its own vectors in order.
func TestBatcherGathersQueuedCalls(t *testing.T) {
	gate := make(chan struct{})
	inner := &fakeEmbedder{gate: gate, started: make(chan struct{}, 4)}
	b := newTestBatcher(t, inner, BatchOptions{Workers: 1, MaxBatch: 16})
	first := embedAsync(context.Background(), b, "first")
	<-inner.started
	var waits []<-chan error
	for i := range 5 {
		waits = append(waits, embedAsync(context.Background(), b, fmt.Sprint("q", i), fmt.Sprint("r", i)))
	}
	waitFor(t, func() bool { return b.queued.Load() == 10 })
	close(gate)
	for _, w := range append(waits, first) {
		if err := <-w; err != nil {
			t.Fatal(err)
		}
	}
	calls := inner.callLog()
	if len(calls) != 2 || len(calls[0]) != 1 || len(calls[1]) != 10 {
		t.Fatalf("inner calls %q, want [first] then the 10 queued texts in one call", calls)
	}
	if s := b.Stats(); s.Batches != 2 || s.Texts != 11 {
		t.Fatalf("Stats = %+v", s)
	}
}

// TestBatcherLoneCallDoesNotWait: with nothing computing, a call starts
// at once, whatever MaxWait is.
func TestBatcherLoneCallDoesNotWait(t *testing.T) {
	b := newTestBatcher(t, &fakeEmbedder{}, BatchOptions{MaxWait: time.Second, Workers: 2})
	for range 3 {
		start := time.Now()
		if err := <-embedAsync(context.Background(), b, "alone"); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Fatalf("a lone call took %v: it waited for company", d)
		}
	}
}

// TestBatcherHoldsWhileBusy: while a batch computes on one worker, the
// next batch waits (up to MaxWait) to fill up instead of starting with
// the first call that arrives.
func TestBatcherHoldsWhileBusy(t *testing.T) {
	gate := make(chan struct{})
	inner := &fakeEmbedder{gate: gate, started: make(chan struct{}, 4)}
	b := newTestBatcher(t, inner, BatchOptions{Workers: 2, MaxBatch: 4, MaxWait: time.Second, BusyTexts: 1})
	first := embedAsync(context.Background(), b, "first")
	<-inner.started
	var waits []<-chan error
	for i := range 4 {
		waits = append(waits, embedAsync(context.Background(), b, fmt.Sprint("t", i)))
	}
	<-inner.started // the second batch starts once it holds 4 texts
	close(gate)
	for _, w := range append(waits, first) {
		if err := <-w; err != nil {
			t.Fatal(err)
		}
	}
	if calls := inner.callLog(); len(calls) != 2 || len(calls[1]) != 4 {
		t.Fatalf("inner calls %q, want [first] and a full batch of 4", calls)
	}
}

// TestBatcherNoHoldWhileNotBusy: with fewer than BusyTexts texts
// computing, a free worker starts the next call at once.
func TestBatcherNoHoldWhileNotBusy(t *testing.T) {
	gate := make(chan struct{})
	inner := &fakeEmbedder{gate: gate, started: make(chan struct{}, 4)}
	b := newTestBatcher(t, inner, BatchOptions{Workers: 2, MaxBatch: 4, MaxWait: time.Second, BusyTexts: 2})
	first := embedAsync(context.Background(), b, "first")
	<-inner.started
	second := embedAsync(context.Background(), b, "second")
	select {
	case <-inner.started:
	case <-time.After(500 * time.Millisecond):
		t.Fatal("the second call waited for company although one text kept the embedder only half busy")
	}
	close(gate)
	for _, w := range []<-chan error{first, second} {
		if err := <-w; err != nil {
			t.Fatal(err)
		}
	}
}

// TestBatcherCallerLeaves: a caller whose context ends gets its error at
// once; the others of its batch get their vectors; the inner call is
// cancelled only when every caller of the batch has left.
func TestBatcherCallerLeaves(t *testing.T) {
	gate := make(chan struct{})
	inner := &fakeEmbedder{gate: gate, started: make(chan struct{}, 4), cancelled: make(chan struct{}, 4)}
	b := newTestBatcher(t, inner, BatchOptions{Workers: 1})
	blocker := embedAsync(context.Background(), b, "blocker")
	<-inner.started
	ctx, cancel := context.WithCancel(context.Background())
	leaver := embedAsync(ctx, b, "leaver")
	stayer := embedAsync(context.Background(), b, "stayer")
	waitFor(t, func() bool { return b.queued.Load() == 2 })
	gate <- struct{}{} // release the blocker's call only
	if err := <-blocker; err != nil {
		t.Fatal(err)
	}
	<-inner.started // leaver and stayer are computing together
	cancel()
	if err := <-leaver; !errors.Is(err, context.Canceled) || !errors.Is(err, ErrEmbed) {
		t.Fatalf("leaver: %v, want ErrEmbed and context.Canceled", err)
	}
	select {
	case <-inner.cancelled:
		t.Fatal("the batch was cancelled although a caller still waits for it")
	case <-time.After(20 * time.Millisecond):
	}
	close(gate)
	if err := <-stayer; err != nil {
		t.Fatalf("stayer: %v", err)
	}
	if s := b.Stats(); s.Abandoned != 1 {
		t.Fatalf("Stats = %+v, want 1 abandoned", s)
	}

	// A batch whose every caller leaves is cancelled.
	gate2, started2 := make(chan struct{}), make(chan struct{}, 4)
	inner.set(func(f *fakeEmbedder) { f.gate, f.started = gate2, started2 })
	defer close(gate2)
	ctx2, cancel2 := context.WithCancel(context.Background())
	gone := embedAsync(ctx2, b, "gone")
	<-inner.started
	cancel2()
	<-gone
	select {
	case <-inner.cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("a batch nobody waits for was not cancelled")
	}
}

// TestBatcherDropsLeftCallers: texts of callers who left before their
// batch started are not computed.
func TestBatcherDropsLeftCallers(t *testing.T) {
	gate := make(chan struct{})
	inner := &fakeEmbedder{gate: gate, started: make(chan struct{}, 4)}
	b := newTestBatcher(t, inner, BatchOptions{Workers: 1})
	blocker := embedAsync(context.Background(), b, "blocker")
	<-inner.started
	ctx, cancel := context.WithCancel(context.Background())
	leaver := embedAsync(ctx, b, "leaver")
	stayer := embedAsync(context.Background(), b, "stayer")
	waitFor(t, func() bool { return b.queued.Load() == 2 })
	cancel()
	<-leaver
	close(gate)
	for _, w := range []<-chan error{blocker, stayer} {
		if err := <-w; err != nil {
			t.Fatal(err)
		}
	}
	if calls := inner.callLog(); len(calls) != 2 || !slices.Equal(calls[1], []string{"stayer"}) {
		t.Fatalf("inner calls %q, want the left caller's text dropped", calls)
	}
}

func TestBatcherMaxQueue(t *testing.T) {
	gate := make(chan struct{})
	inner := &fakeEmbedder{gate: gate, started: make(chan struct{}, 4)}
	b := newTestBatcher(t, inner, BatchOptions{Workers: 1, MaxBatch: 2, MaxQueue: 2})
	blocker := embedAsync(context.Background(), b, "blocker")
	<-inner.started
	queued := embedAsync(context.Background(), b, "a", "b")
	waitFor(t, func() bool { return b.queued.Load() == 2 })
	if _, err := b.Embed(context.Background(), []string{"c"}); !errors.Is(err, ErrOverloaded) || !errors.Is(err, ErrEmbed) {
		t.Fatalf("over the queue bound: err = %v, want ErrOverloaded", err)
	}
	close(gate)
	for _, w := range []<-chan error{blocker, queued} {
		if err := <-w; err != nil {
			t.Fatal(err)
		}
	}
	// A call bigger than MaxBatch is bulk work: admitted even over the
	// queue bound, and sent to inner alone.
	gate2, started2 := make(chan struct{}), make(chan struct{}, 4)
	inner.set(func(f *fakeEmbedder) { f.gate, f.started = gate2, started2 })
	blocker = embedAsync(context.Background(), b, "blocker")
	<-started2
	queued = embedAsync(context.Background(), b, "a", "b")
	waitFor(t, func() bool { return b.queued.Load() == 2 })
	big := []string{"1", "2", "3", "4", "5"}
	bigc := embedAsync(context.Background(), b, big...)
	waitFor(t, func() bool { return b.queued.Load() == 7 })
	close(gate2)
	for _, w := range []<-chan error{blocker, queued, bigc} {
		if err := <-w; err != nil {
			t.Fatal(err)
		}
	}
	if s := b.Stats(); s.Rejected != 1 {
		t.Fatalf("Stats = %+v, want 1 rejected", s)
	}
	if calls := inner.callLog(); !slices.ContainsFunc(calls, func(c []string) bool { return slices.Equal(c, big) }) {
		t.Fatalf("inner calls %q, want the big call alone", calls)
	}
}

func TestBatcherInnerErrors(t *testing.T) {
	inner := &fakeEmbedder{err: errors.New("backend down")}
	b := newTestBatcher(t, inner, BatchOptions{})
	if _, err := b.Embed(context.Background(), []string{"x"}); !errors.Is(err, ErrEmbed) || !strings.Contains(err.Error(), "backend down") {
		t.Fatalf("err = %v, want ErrEmbed wrapping the backend error", err)
	}
	inner.set(func(f *fakeEmbedder) { f.err, f.extra = nil, 1 })
	if _, err := b.Embed(context.Background(), []string{"x"}); !errors.Is(err, ErrEmbed) {
		t.Fatalf("wrong vector count: err = %v, want ErrEmbed", err)
	}
	if got, err := b.Embed(context.Background(), nil); err != nil || len(got) != 0 {
		t.Fatalf("Embed(nil) = %v, %v", got, err)
	}
}

func TestBatcherClose(t *testing.T) {
	gate := make(chan struct{})
	defer close(gate)
	inner := &fakeEmbedder{gate: gate, started: make(chan struct{}, 4), cancelled: make(chan struct{}, 4)}
	b, err := NewBatcher(inner, BatchOptions{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	running := embedAsync(context.Background(), b, "running")
	<-inner.started
	queued := embedAsync(context.Background(), b, "queued")
	waitFor(t, func() bool { return b.queued.Load() == 1 })
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-queued; !errors.Is(err, ErrClosed) || !errors.Is(err, ErrEmbed) {
		t.Fatalf("queued call: %v, want ErrClosed", err)
	}
	if err := <-running; !errors.Is(err, ErrEmbed) {
		t.Fatalf("running call: %v, want an error (its batch was cancelled)", err)
	}
	<-inner.cancelled
	if _, err := b.Embed(context.Background(), []string{"late"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
}

func TestBatchOptionsValidate(t *testing.T) {
	_, err := NewBatcher(&fakeEmbedder{}, BatchOptions{MaxBatch: -1, MaxWait: 2 * time.Second, Workers: -1, MaxQueue: -1, BusyTexts: -1})
	for _, field := range []string{"MaxBatch", "MaxWait", "Workers", "MaxQueue", "BusyTexts"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("err = %v, want %s reported", err, field)
		}
	}
}

// TestBatcherConcurrent hammers a Batcher from many goroutines (run with
// -race): every caller gets its own texts' vectors, in order, and calls
// are batched.
func TestBatcherConcurrent(t *testing.T) {
	inner := &fakeEmbedder{}
	b := newTestBatcher(t, inner, BatchOptions{MaxBatch: 8, MaxWait: 100 * time.Microsecond, MaxQueue: 1 << 20})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for i := range 200 {
				texts := make([]string, 1+r.IntN(3))
				for j := range texts {
					texts[j] = fmt.Sprint(g, "/", i, "/", j)
				}
				ctx, cancel := context.WithCancel(context.Background())
				if r.IntN(10) == 0 {
					cancel() // some callers leave early
				}
				got, err := b.Embed(ctx, texts)
				cancel()
				if err == nil {
					err = sameVectors(texts, got)
				} else if errors.Is(err, context.Canceled) {
					err = nil
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	s := b.Stats()
	t.Logf("%+v: mean batch %.1f texts", s, float64(s.Texts)/float64(s.Batches))
}

// BenchmarkBatcherOverhead measures what the Batcher adds to one call of a
// lone caller (c=1): the handoff to the dispatcher and the batch goroutine,
// with an inner embedder that does no work.
func BenchmarkBatcherOverhead(b *testing.B) {
	inner := &fakeEmbedder{}
	bt, err := NewBatcher(inner, BatchOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer bt.Close()
	ctx := context.Background()
	texts := []string{"a prompt"}
	for _, tc := range []struct {
		name string
		e    Embedder
	}{{"direct", inner}, {"batcher", bt}} {
		b.Run(tc.name, func(b *testing.B) {
			inner.set(func(f *fakeEmbedder) { f.calls = nil })
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tc.e.Embed(ctx, texts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
