package embed

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of BatchOptions.
const (
	// DefaultMaxBatch bounds the texts of one batched call. embed/use gains
	// little per text beyond a few hundred token rows per core, i.e. some
	// 16 prompts per core of a 2-core machine.
	DefaultMaxBatch = 32
	// DefaultMaxWait is how long a batch waits to fill while another one
	// is computing. It is small next to one batch's compute time (about
	// 10 ms for 32 prompts on 2 cores), so it costs latency only when the
	// cores are busy anyway.
	DefaultMaxWait = 500 * time.Microsecond
	// DefaultWorkers is how many batched calls run at once. Two keep the
	// cores busy while one batch finishes its last sentence and the next
	// is being gathered; an in-process encoder spreads each call over the
	// cores itself.
	DefaultWorkers = 2
	// DefaultMaxQueueFactor × MaxBatch is the default bound on queued
	// texts.
	DefaultMaxQueueFactor = 8
)

// ErrClosed is wrapped (next to ErrEmbed) by the errors of calls to a
// closed Batcher.
var ErrClosed = errors.New("embed: closed")

// BatchOptions configures NewBatcher.
type BatchOptions struct {
	// MaxBatch bounds the texts of one inner call. A call with more texts
	// than that goes to inner alone. Zero means DefaultMaxBatch.
	MaxBatch int
	// MaxWait bounds how long a gathered batch waits for more texts
	// before it starts, and it only ever waits while at least BusyTexts
	// texts are computing: a request arriving at an idle Batcher starts
	// at once. Zero means DefaultMaxWait; negative means never wait.
	MaxWait time.Duration
	// BusyTexts is how many texts in flight keep the inner embedder busy:
	// fewer, and a batch starts without waiting for company. Zero means
	// GOMAXPROCS at construction, right for an in-process encoder that
	// spreads a call's texts over the cores.
	BusyTexts int
	// Workers bounds the inner calls in flight. Zero means DefaultWorkers.
	Workers int
	// MaxQueue bounds the texts waiting for a batch: a call that would
	// exceed it fails at once with ErrOverloaded. Zero means
	// DefaultMaxQueueFactor × MaxBatch. A call of more than MaxBatch texts
	// (bulk work such as RAG ingestion, which goes to inner alone) and a
	// call that finds nothing queued are never refused.
	MaxQueue int
}

func (o BatchOptions) withDefaults() BatchOptions {
	if o.MaxBatch == 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.MaxWait == 0 {
		o.MaxWait = DefaultMaxWait
	}
	if o.Workers == 0 {
		o.Workers = DefaultWorkers
	}
	if o.MaxQueue == 0 {
		o.MaxQueue = DefaultMaxQueueFactor * o.MaxBatch
	}
	if o.BusyTexts == 0 {
		o.BusyTexts = runtime.GOMAXPROCS(0)
	}
	return o
}

// Validate reports every invalid field.
func (o BatchOptions) Validate() error {
	var errs []error
	if o.MaxBatch < 0 {
		errs = append(errs, fmt.Errorf("embed: batch MaxBatch %d is negative", o.MaxBatch))
	}
	if o.MaxWait > time.Second {
		errs = append(errs, fmt.Errorf("embed: batch MaxWait %v is over a second", o.MaxWait))
	}
	if o.Workers < 0 {
		errs = append(errs, fmt.Errorf("embed: batch Workers %d is negative", o.Workers))
	}
	if o.MaxQueue < 0 {
		errs = append(errs, fmt.Errorf("embed: batch MaxQueue %d is negative", o.MaxQueue))
	}
	if o.BusyTexts < 0 {
		errs = append(errs, fmt.Errorf("embed: batch BusyTexts %d is negative", o.BusyTexts))
	}
	return errors.Join(errs...)
}

// BatchStats counts what a Batcher did.
type BatchStats struct {
	Batches   uint64 // inner calls made
	Texts     uint64 // texts in them; Texts/Batches is the mean batch size
	Rejected  uint64 // calls refused because MaxQueue texts were queued
	Abandoned uint64 // calls whose context ended before their result
}

// Batcher is an Embedder that gathers concurrent Embed calls into batched
// calls to an inner Embedder, for encoders that embed many texts faster
// than one at a time (embed/use runs one matmul per weight over all of a
// batch's tokens).
//
// Scheduling: a request that finds a worker free and no batch computing
// starts at once, alone or with whatever is already queued, so a lone
// caller never waits. While batches compute, requests queue; a free worker
// takes everything queued, up to MaxBatch texts, in arrival order. While
// other batches keep the embedder busy (BusyTexts texts computing), a batch
// short of MaxBatch waits up to MaxWait for more: the cores have work then,
// so waiting costs little and a fuller batch costs less per text. At most
// Workers batches compute at once.
//
// Contexts: each caller's context bounds its own wait. A caller that leaves
// (deadline, cancellation) gets an error wrapping ErrEmbed and the
// context's cause at once and is counted; its texts are dropped if their
// batch has not started, and otherwise computed and discarded. It never
// blocks the others. The inner call's context carries no caller's values
// or deadline: it is cancelled when every caller of the batch has left, or
// when the Batcher is closed.
//
// Results are those of inner for the same texts: a caller gets the slice of
// its own texts' vectors (sharing the batch's backing array, with capacity
// capped so appending to one does not clobber another).
//
// The dispatcher goroutine runs until Close. Batcher is safe for
// concurrent use.
type Batcher struct {
	inner Embedder
	o     BatchOptions

	reqs    chan *batchReq // callers → dispatcher
	done    chan int       // a batch of that many texts finished; runners → dispatcher
	quit    chan struct{}  // closed by Close
	stopped chan struct{}  // closed when the dispatcher has exited
	base    context.Context
	cancel  context.CancelFunc
	once    sync.Once

	queued                              atomic.Int64 // texts queued, not yet in a batch
	batches, texts, rejected, abandoned atomic.Uint64
}

var _ Embedder = (*Batcher)(nil)

// batchReq is one Embed call waiting for its batch.
type batchReq struct {
	ctx   context.Context
	texts []string
	res   chan batchRes // buffered: the runner never blocks on it
}

type batchRes struct {
	vecs [][]float32
	err  error
}

// NewBatcher wraps inner and starts the dispatcher; Close stops it.
func NewBatcher(inner Embedder, opts BatchOptions) (*Batcher, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	base, cancel := context.WithCancel(context.Background())
	b := &Batcher{
		inner:   inner,
		o:       opts,
		reqs:    make(chan *batchReq, opts.MaxBatch),
		done:    make(chan int),
		quit:    make(chan struct{}),
		stopped: make(chan struct{}),
		base:    base,
		cancel:  cancel,
	}
	go b.dispatch()
	return b, nil
}

// Dimension implements Embedder; it is inner's.
func (b *Batcher) Dimension() int { return b.inner.Dimension() }

// ModelID implements Embedder; it is inner's.
func (b *Batcher) ModelID() string { return b.inner.ModelID() }

// Stats returns the counters so far.
func (b *Batcher) Stats() BatchStats {
	return BatchStats{Batches: b.batches.Load(), Texts: b.texts.Load(), Rejected: b.rejected.Load(), Abandoned: b.abandoned.Load()}
}

// Close stops the dispatcher: queued calls fail with ErrClosed, batches
// computing are cancelled, and Close returns once they have finished.
// Later calls fail with ErrClosed. Close is idempotent.
func (b *Batcher) Close() error {
	b.once.Do(func() { close(b.quit) })
	<-b.stopped
	return nil
}

// Embed implements Embedder.
func (b *Batcher) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if len(texts) == 0 {
		return [][]float32{}, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("embed: batcher: %w: %w", ErrEmbed, context.Cause(ctx))
	}
	n := int64(len(texts))
	if q := b.queued.Add(n); q > int64(b.o.MaxQueue) && q != n && n <= int64(b.o.MaxBatch) {
		b.queued.Add(-n)
		b.rejected.Add(1)
		return nil, fmt.Errorf("embed: batcher: %d texts queued: %w: %w", q-n, ErrEmbed, ErrOverloaded)
	}
	// Own copy of the slice: a caller who leaves may reuse its slice while
	// its batch is still reading it.
	r := &batchReq{ctx: ctx, texts: slices.Clone(texts), res: make(chan batchRes, 1)}
	select {
	case <-b.quit:
		b.queued.Add(-n)
		return nil, fmt.Errorf("embed: batcher: %w: %w", ErrEmbed, ErrClosed)
	default:
	}
	select {
	case b.reqs <- r:
	case <-ctx.Done():
		b.queued.Add(-n)
		b.abandoned.Add(1)
		return nil, fmt.Errorf("embed: batcher: %w: %w", ErrEmbed, context.Cause(ctx))
	case <-b.quit:
		b.queued.Add(-n)
		return nil, fmt.Errorf("embed: batcher: %w: %w", ErrEmbed, ErrClosed)
	}
	select {
	case res := <-r.res:
		return res.vecs, res.err
	case <-ctx.Done():
		b.abandoned.Add(1)
		return nil, fmt.Errorf("embed: batcher: %w: %w", ErrEmbed, context.Cause(ctx))
	case <-b.stopped:
		// Sent as the dispatcher was exiting: answered if it was taken.
		select {
		case res := <-r.res:
			return res.vecs, res.err
		default:
			return nil, fmt.Errorf("embed: batcher: %w: %w", ErrEmbed, ErrClosed)
		}
	}
}

// dispatch is the scheduling loop; see Batcher.
func (b *Batcher) dispatch() {
	defer close(b.stopped)
	var (
		pending   []*batchReq
		queued    int       // texts in pending
		inflight  int       // batches computing
		busyTexts int       // texts in them
		holdEnd   time.Time // when a held batch must start; zero: not holding
	)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	add := func(r *batchReq) {
		pending = append(pending, r)
		queued += len(r.texts)
	}
	for {
		// Take whatever callers have already sent before deciding.
		for drained := false; !drained; {
			select {
			case r := <-b.reqs:
				add(r)
			default:
				drained = true
			}
		}
		for queued > 0 && inflight < b.o.Workers {
			if queued < b.o.MaxBatch && busyTexts >= b.o.BusyTexts && b.o.MaxWait > 0 {
				now := time.Now()
				if holdEnd.IsZero() {
					holdEnd = now.Add(b.o.MaxWait)
					timer.Reset(b.o.MaxWait)
				}
				if now.Before(holdEnd) {
					break
				}
			}
			holdEnd = time.Time{}
			var batch []*batchReq
			batch, pending, queued = b.take(pending, queued)
			if len(batch) > 0 {
				n := 0
				for _, r := range batch {
					n += len(r.texts)
				}
				inflight++
				busyTexts += n
				go b.run(batch, n)
			}
		}
		if queued == 0 {
			holdEnd = time.Time{}
		}
		select {
		case r := <-b.reqs:
			add(r)
		case n := <-b.done:
			inflight--
			busyTexts -= n
		case <-timer.C:
		case <-b.quit:
			b.shutdown(pending, inflight)
			return
		}
	}
}

// take removes the next batch from pending: requests in arrival order up
// to MaxBatch texts (at least one request), skipping those whose caller
// has left.
func (b *Batcher) take(pending []*batchReq, queued int) (batch, rest []*batchReq, left int) {
	texts := 0
	i := 0
	for ; i < len(pending); i++ {
		r := pending[i]
		if texts > 0 && texts+len(r.texts) > b.o.MaxBatch {
			break
		}
		queued -= len(r.texts)
		b.queued.Add(-int64(len(r.texts)))
		if r.ctx.Err() != nil {
			continue // its caller has returned already
		}
		batch = append(batch, r)
		texts += len(r.texts)
	}
	rest = append(pending[:0], pending[i:]...)
	clear(pending[len(rest):])
	return batch, rest, queued
}

// run makes one inner call for batch (of n texts) and hands out the
// results.
func (b *Batcher) run(batch []*batchReq, n int) {
	defer func() { b.done <- n }()
	ctx, cancel := context.WithCancel(b.base)
	defer cancel()
	texts := batch[0].texts
	if len(batch) > 1 {
		texts = nil
		for _, r := range batch {
			texts = append(texts, r.texts...)
		}
	}
	var left atomic.Int64
	left.Store(int64(len(batch)))
	for _, r := range batch {
		stop := context.AfterFunc(r.ctx, func() {
			if left.Add(-1) == 0 {
				cancel()
			}
		})
		defer stop()
	}
	b.batches.Add(1)
	b.texts.Add(uint64(len(texts)))
	vecs, err := b.inner.Embed(ctx, texts)
	if err == nil && len(vecs) != len(texts) {
		err = fmt.Errorf("embed: batcher: inner returned %d vectors for %d texts: %w", len(vecs), len(texts), ErrEmbed)
	} else if err != nil && !errors.Is(err, ErrEmbed) {
		err = fmt.Errorf("embed: batcher: %w: %w", ErrEmbed, err)
	}
	off := 0
	for _, r := range batch {
		if err != nil {
			r.res <- batchRes{err: err}
			continue
		}
		k := len(r.texts)
		r.res <- batchRes{vecs: vecs[off : off+k : off+k]}
		off += k
	}
}

// shutdown fails the queued calls, cancels the batches in flight and waits
// for them.
func (b *Batcher) shutdown(pending []*batchReq, inflight int) {
	b.cancel()
	closed := fmt.Errorf("embed: batcher: %w: %w", ErrEmbed, ErrClosed)
	fail := func(r *batchReq) {
		b.queued.Add(-int64(len(r.texts)))
		r.res <- batchRes{err: closed}
	}
	for _, r := range pending {
		fail(r)
	}
	for inflight > 0 {
		select {
		case r := <-b.reqs:
			fail(r)
		case <-b.done:
			inflight--
		}
	}
	for {
		select {
		case r := <-b.reqs:
			fail(r)
		default:
			return
		}
	}
}
