package embed

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// concurrencyProbe is an inner Embedder that records how many calls are
// inside it at once and holds each until gate is closed.
type concurrencyProbe struct {
	fakeEmbedder
	in, peak atomic.Int64
}

func (p *concurrencyProbe) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	n := p.in.Add(1)
	for {
		old := p.peak.Load()
		if n <= old || p.peak.CompareAndSwap(old, n) {
			break
		}
	}
	defer p.in.Add(-1)
	return p.fakeEmbedder.Embed(ctx, texts)
}

func TestLimitedBoundsConcurrency(t *testing.T) {
	const callers, limit = 12, 3
	gate := make(chan struct{})
	probe := &concurrencyProbe{fakeEmbedder: fakeEmbedder{gate: gate, started: make(chan struct{}, callers)}}
	l, err := NewLimited(probe, LimitOptions{MaxConcurrent: limit})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			got, err := l.Embed(context.Background(), []string{"x", "y"})
			if err == nil && (len(got) != 2 || !slices.Equal(got[1], vectorFor("y"))) {
				err = fmt.Errorf("got %v", got)
			}
			errs <- err
		})
	}
	for range limit {
		<-probe.started
	}
	waitFor(t, func() bool { return l.waiting.Load() == callers-limit })
	if n := probe.in.Load(); n != limit {
		t.Fatalf("%d calls inside inner, want %d", n, limit)
	}
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if p := probe.peak.Load(); p != limit {
		t.Fatalf("peak concurrency %d, want %d", p, limit)
	}
	if s := l.Stats(); s.Calls != callers || s.Waited != callers-limit || s.Rejected != 0 || s.TimedOut != 0 {
		t.Fatalf("Stats = %+v", s)
	}
}

func TestLimitedDeadlineWhileWaiting(t *testing.T) {
	gate := make(chan struct{})
	defer close(gate)
	inner := &fakeEmbedder{gate: gate, started: make(chan struct{}, 1)}
	l, err := NewLimited(inner, LimitOptions{MaxConcurrent: 1})
	if err != nil {
		t.Fatal(err)
	}
	go l.Embed(context.Background(), []string{"holder"}) //nolint:errcheck // released by the deferred close
	<-inner.started
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err = l.Embed(ctx, []string{"late"})
	if !errors.Is(err, ErrEmbed) || !errors.Is(err, ErrOverloaded) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrEmbed, ErrOverloaded and DeadlineExceeded", err)
	}
	if s := l.Stats(); s.TimedOut != 1 || s.Calls != 1 {
		t.Fatalf("Stats = %+v, want one call and one timeout", s)
	}
}

func TestLimitedMaxWaiting(t *testing.T) {
	gate := make(chan struct{})
	inner := &fakeEmbedder{gate: gate, started: make(chan struct{}, 2)}
	l, err := NewLimited(inner, LimitOptions{MaxConcurrent: 1, MaxWaiting: 1})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = l.Embed(context.Background(), []string{"inside"}) })
	<-inner.started
	wg.Go(func() { _, _ = l.Embed(context.Background(), []string{"waiting"}) })
	waitFor(t, func() bool { return l.waiting.Load() == 1 })
	_, err = l.Embed(context.Background(), []string{"refused"})
	if !errors.Is(err, ErrOverloaded) || !errors.Is(err, ErrEmbed) {
		t.Fatalf("err = %v, want ErrOverloaded", err)
	}
	close(gate)
	wg.Wait()
	if s := l.Stats(); s.Rejected != 1 || s.Calls != 2 {
		t.Fatalf("Stats = %+v, want 2 calls and 1 rejection", s)
	}
}

func TestLimitOptionsValidate(t *testing.T) {
	_, err := NewLimited(&fakeEmbedder{}, LimitOptions{MaxConcurrent: -1, MaxWaiting: -1})
	if err == nil || !strings.Contains(err.Error(), "MaxConcurrent") || !strings.Contains(err.Error(), "MaxWaiting") {
		t.Fatalf("err = %v, want both fields reported", err)
	}
	l, err := NewLimited(&fakeEmbedder{}, LimitOptions{})
	if err != nil || cap(l.slots) < 1 {
		t.Fatalf("default limit: %v, %d slots", err, cap(l.slots))
	}
}
