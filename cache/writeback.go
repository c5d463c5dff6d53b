package cache

import (
	"context"
	"slices"
	"time"

	"github.com/semcache/semcache/vectorstore"
)

// The write-back has two stages, each one goroutine:
//
//   - the disk writer takes answers from the queue in batches of up to
//     maxBatch and commits each batch in one bbolt transaction (one
//     fsync): the entries, their meta records, a journal row for each
//     entry the vector store still needs, and the quota evictions. Once
//     that transaction commits, the answer survives kill -9.
//   - the indexer embeds what lacks a vector and upserts each batch into
//     the vector store in one call. When the store fails, the batch stays
//     in the journal (or, without a disk tier, in a bounded memory
//     backlog) and the indexer retries with backoff; a successful upsert
//     deletes the journal rows in the disk writer's next transaction.
//
// Put never drops an answer while the queue has room; when it is full Put
// waits up to QueueWait for room (backpressure on the request that
// produced the answer, after its response was sent) and only then drops,
// counted in Stats().Dropped. Aliases are best effort: they never wait.

// Defaults of the write-back (Options.QueueSize, QueueWait, IndexBacklog).
const (
	DefaultQueueSize    = 16384
	DefaultQueueWait    = 5 * time.Second
	DefaultIndexBacklog = 100_000
)

const (
	// maxBatch bounds the answers of one disk transaction and one upsert.
	maxBatch = 1024
	// batchLinger is how long a short batch waits for more answers before
	// it commits: at a few thousand misses per second it gathers hundreds
	// per transaction instead of a handful, and at tens per second a few
	// instead of one, for a delay far inside the 1 s durability promise.
	// Each transaction rewrites the branch pages on its entries' paths,
	// the freelist and the meta page and syncs twice; at 4,000 answers/s,
	// 20 ms instead of 2 ms cut the write-back's CPU per answer by about a
	// third, and 100 ms instead of 20 ms by a further 13-32% at 50 and
	// 500 answers/s (481-551 -> 372-415 and 189-216 -> 163-165 us of
	// process CPU per answer) and 4-26% at 4,000 (66-72 -> 53-63 us;
	// BenchmarkWriteBackPaced with SEMCACHE_BENCH_RATE).
	// The hot tier and the pending map have every answer at once; Flush
	// ends the wait.
	batchLinger = 100 * time.Millisecond
	// lingerBatch: a batch that finds this many answers queued commits
	// without lingering (the per-transaction work is amortised by then).
	lingerBatch = 256
	// storeCallTimeout bounds one call to the vector store or embedder.
	storeCallTimeout = 10 * time.Second
	// retryMin and retryMax bound the backoff between retries of a
	// failing vector store.
	retryMin = 500 * time.Millisecond
	retryMax = 30 * time.Second
)

type writeJob struct {
	key    Key
	entry  *Entry
	vector []float32
	ttl    time.Duration
	// alias marks a job that only indexes entry (an alias record: the
	// prompt of a served semantic hit pointing at the entry it was served
	// from) in the similarity tier.
	alias bool
	// journaled: the disk tier's journal holds the job until the vector
	// store has it; replay: the job comes from that journal.
	journaled, replay bool
	// encoded is entry as the disk tier stored it (nil: not encoded yet):
	// the indexer's record payload, so a miss's entry is encoded once.
	encoded []byte
}

// indexJob is one batch for the indexer: records to upsert and ids to
// delete (quota evictions).
type indexJob struct {
	jobs    []writeJob
	deletes []string
}

// Put stores an answer for a request: synchronously in the hot tier (so
// the next lookup sees it), and through the write-back on disk and in the
// similarity tier. vector may be nil; the indexer then embeds the prompt
// itself. ttl <= 0 uses the default; it is capped by the policy's MaxTTL.
func (c *Cache) Put(l Lookup, ans Answer, vector []float32, ttl time.Duration, sources []string) *Entry {
	pol := c.pol.Load()
	ttl = pol.lifetime(ttl)
	now := c.now()
	k := l.key()
	e := &Entry{
		ID:           k.EntryID(),
		Key:          k.String(),
		Namespace:    l.Namespace,
		RequestModel: l.Model,
		Answer:       ans,
		CreatedAt:    now,
		ExpiresAt:    now.Add(ttl),
		Sources:      sources,
	}
	e.remember()
	switch {
	case l.Prompt == "":
	case tooLong(pol.sem, l.Prompt, l.Context):
		// Never a similarity candidate: keep only what the admin API and
		// the dashboard show, not a copy of a huge prompt in every tier.
		e.Prompt = capText(l.Prompt, displayPromptBytes)
	default:
		e.Prompt, e.Context, e.ContextAnswers = l.Prompt, l.Context, l.ContextAnswers
		e.Partition = l.partition()
	}
	c.store(pol, k, e, vector, ttl)
	return e
}

// PutVariant stores ans as one more answer of the entry for l, when that
// entry has fewer than max answers; without a live entry it is Put. The
// entry keeps its creation and expiry times (its first answer's); the
// variant joins it in every tier. An entry that already has max answers
// (a concurrent miss filled it) is returned unchanged.
func (c *Cache) PutVariant(l Lookup, ans Answer, vector []float32, ttl time.Duration, sources []string, max int) *Entry {
	k := l.key()
	c.variantMu.Lock()
	defer c.variantMu.Unlock()
	cur := c.getExact(k, l.Namespace)
	if cur == nil || cur.AliasOf != "" {
		return c.Put(l, ans, vector, ttl, sources)
	}
	if cur.Answers() >= max {
		return cur
	}
	now := c.now()
	e := *cur // shares cur's turn counter: the rotation goes on
	ans.remember()
	e.Variants = append(slices.Clip(cur.Variants), ans)
	for _, s := range sources {
		if !slices.Contains(e.Sources, s) {
			e.Sources = append(slices.Clip(e.Sources), s)
		}
	}
	left := e.ExpiresAt.Sub(now)
	if e.ExpiresAt.IsZero() {
		left = c.pol.Load().lifetime(0)
	}
	c.store(c.pol.Load(), k, &e, vector, left)
	return &e
}

// store writes e synchronously to the hot tier and hands it to the
// write-back (disk and similarity tier).
func (c *Cache) store(pol *policy, k Key, e *Entry, vector []float32, ttl time.Duration) {
	c.hot.set(k, e, ttl)
	if len(e.Sources) > 0 {
		c.sourcesMu.Lock()
		for _, src := range e.Sources {
			if c.sources[src] == nil {
				c.sources[src] = map[Key]struct{}{}
			}
			c.sources[src][k] = struct{}{}
		}
		c.sourcesMu.Unlock()
	}
	select {
	case <-c.closing:
		return
	default:
	}
	c.pendingMu.Lock()
	c.pending[k] = e
	if vector != nil && e.Partition != "" && pol.sem != nil {
		g := groupKey(e.Namespace, e.Partition)
		c.pendingVecs[g] = append(c.pendingVecs[g], pendingVec{key: k, entry: e, vector: vector})
	}
	c.pendingMu.Unlock()
	if !c.enqueue(writeJob{key: k, entry: e, vector: vector, ttl: ttl}, c.opts.QueueWait) {
		c.stats.dropped.Add(1)
		c.pendingMu.Lock()
		c.dropPending(k, e)
		c.dropPendingVec(e)
		c.pendingMu.Unlock()
	}
}

// enqueue hands j to the disk writer, waiting up to wait for room.
func (c *Cache) enqueue(j writeJob, wait time.Duration) bool {
	c.stats.inflight.Add(1)
	select {
	case c.queue <- j:
		c.countQueued(j)
		return true
	default:
	}
	if wait > 0 {
		c.stats.waited.Add(1)
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case c.queue <- j:
			c.countQueued(j)
			return true
		case <-t.C:
		case <-c.closing:
		}
	}
	c.stats.inflight.Add(-1)
	return false
}

// countQueued counts an entry the queue accepted (aliases are counted
// when written or dropped).
func (c *Cache) countQueued(j writeJob) {
	if !j.alias {
		c.stats.queued.Add(1)
	}
}

// Alias records, after a semantic hit was served, the query's wording as
// an alias of the entry it was served from: a vector-store record with the
// query's vector and prompt that points at the entry, so the next
// paraphrase close to this wording (rather than to the original) finds the
// entry directly. Aliases are one hop: a hit served through an alias
// creates none. An alias expires with its entry and is deleted with it.
// Aliases are best effort: one that finds the queue full is dropped.
func (c *Cache) Alias(l Lookup, res Result) {
	sem := c.semantic()
	if sem == nil || res.Tier != TierSemantic || res.ViaAlias || res.Entry == nil || res.Vector == nil ||
		l.Prompt == "" || (l.Prompt == res.Entry.Prompt && l.Context == res.Entry.Context) || tooLong(sem, l.Prompt, l.Context) {
		return
	}
	a := *res.Entry
	a.AliasOf = res.Entry.Key
	a.Prompt, a.Context, a.ContextAnswers = l.Prompt, l.Context, l.ContextAnswers
	a.Partition = l.partition()
	if a.Partition != res.Entry.Partition {
		return
	}
	select {
	case <-c.closing:
		return
	default:
	}
	if !c.enqueue(writeJob{entry: &a, vector: res.Vector, alias: true}, 0) {
		c.stats.aliasesDropped.Add(1)
	}
}

// dropPending forgets the pending write of e under k; the caller holds
// pendingMu.
func (c *Cache) dropPending(k Key, e *Entry) {
	if c.pending[k] == e {
		delete(c.pending, k)
	}
}

// dropPendingVecs forgets the pending vectors of the entries of jobs
// (aliases have none), one pass per similarity group; the caller holds
// pendingMu.
func (c *Cache) dropPendingVecs(jobs []writeJob) {
	gone := map[string]map[*Entry]bool{}
	for _, j := range jobs {
		if j.alias || j.entry.Partition == "" {
			continue
		}
		g := groupKey(j.entry.Namespace, j.entry.Partition)
		if gone[g] == nil {
			gone[g] = map[*Entry]bool{}
		}
		gone[g][j.entry] = true
	}
	for g, es := range gone {
		pv := slices.DeleteFunc(c.pendingVecs[g], func(p pendingVec) bool { return es[p.entry] })
		if len(pv) == 0 {
			delete(c.pendingVecs, g)
		} else {
			c.pendingVecs[g] = pv
		}
	}
}

// dropPendingVec forgets the pending vector of e; the caller holds
// pendingMu.
func (c *Cache) dropPendingVec(e *Entry) {
	g := groupKey(e.Namespace, e.Partition)
	pv := c.pendingVecs[g]
	for i := range pv {
		if pv[i].entry == e {
			pv = slices.Delete(pv, i, i+1)
			break
		}
	}
	if len(pv) == 0 {
		delete(c.pendingVecs, g)
	} else {
		c.pendingVecs[g] = pv
	}
}

// writer is the disk stage: it drains the queue in batches until Close,
// then closes the indexer's channel.
func (c *Cache) writer() {
	defer close(c.index)
	for {
		select {
		case j := <-c.queue:
			c.persist(c.collect(j))
		case <-c.ackWake:
			c.persist(nil)
		case <-c.closing:
			for {
				select {
				case j := <-c.queue:
					c.persist(c.collect(j))
				default:
					return
				}
			}
		}
	}
}

func (c *Cache) collect(first writeJob) []writeJob {
	batch := []writeJob{first}
	drain := func() {
		for len(batch) < maxBatch {
			select {
			case j := <-c.queue:
				batch = append(batch, j)
			default:
				return
			}
		}
	}
	drain()
	if len(batch) >= lingerBatch {
		return batch
	}
	// Linger without listening to the queue: answers wait in its buffer
	// meanwhile, and a send to a buffered channel no one is receiving
	// from wakes no goroutine, so a batch costs one wake-up of the writer
	// instead of one per answer (each a futex call on the path of the
	// request that produced the answer). The buffer holds far more than
	// arrives in batchLinger at any rate the service reaches; when it is
	// full, Put waits (at most batchLinger here).
	t := time.NewTimer(c.opts.linger)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.flushWake:
	case <-c.closing:
	}
	drain()
	return batch
}

// skipDeleted drops the jobs whose entry was deleted (or replaced) since
// it was queued: the delete found it pending, and writing it now would
// bring it back. They count as finished.
func (c *Cache) skipDeleted(batch []writeJob) []writeJob {
	var gone []writeJob
	c.pendingMu.Lock()
	live := batch[:0]
	for _, j := range batch {
		if j.alias || c.pending[j.key] == j.entry {
			live = append(live, j)
		} else {
			gone = append(gone, j)
		}
	}
	c.dropPendingVecs(gone)
	c.pendingMu.Unlock()
	for _, j := range gone {
		c.finished(j)
	}
	return live
}

// persist commits a batch to disk (with the journal rows the indexer
// acknowledged and the quota evictions) and hands it to the indexer.
func (c *Cache) persist(batch []writeJob) {
	batch = c.skipDeleted(batch)
	pol := c.pol.Load()
	c.ackMu.Lock()
	acked := c.acked
	c.acked = nil
	c.ackMu.Unlock()

	db := &diskBatch{indexed: acked}
	touched := map[string]bool{}
	for i := range batch {
		j := &batch[i]
		if j.alias {
			continue
		}
		e := j.entry
		j.journaled = c.disk != nil && pol.sem != nil && e.Partition != "" &&
			c.journalN.Load() < int64(c.opts.IndexBacklog)
		if j.journaled {
			c.journalN.Add(1)
		}
		if c.disk != nil {
			// Encoded once, for the disk tier and the vector store; an
			// entry that cannot be encoded fails the transaction, as before.
			j.encoded, _ = MarshalEntry(e)
		}
		db.puts = append(db.puts, e)
		db.encoded = append(db.encoded, j.encoded)
		db.journal = append(db.journal, j.journaled)
		db.vectors = append(db.vectors, j.vector)
		c.usage.add(e.Namespace, j.key, useRec{size: e.Size(), lastHit: e.CreatedAt.UnixNano(), expires: unixNano(e.ExpiresAt)})
		touched[e.Namespace] = true
	}
	for ns := range touched {
		db.evict = append(db.evict, c.usage.over(ns, pol.quota)...)
	}
	if c.disk != nil && (len(db.puts) > 0 || len(db.indexed) > 0 || len(db.evict) > 0) {
		if err := c.disk.commit(db); err != nil {
			c.stats.writeErrors.Add(uint64(len(db.puts)))
			c.log.Error("cache: disk write-back failed", "entries", len(db.puts), "err", err)
			for i := range batch {
				if batch[i].journaled {
					batch[i].journaled = false
					c.journalN.Add(-1)
				}
			}
		} else {
			c.journalN.Add(-int64(len(db.indexed)))
		}
	}
	c.stats.evicted.Add(uint64(len(db.evict)))
	c.pendingMu.Lock()
	for _, j := range batch {
		if !j.alias {
			c.dropPending(j.key, j.entry)
		}
	}
	for _, k := range db.evict {
		delete(c.pending, k)
	}
	c.pendingMu.Unlock()
	for _, k := range db.evict {
		c.hot.del(k)
	}
	ij := indexJob{}
	evicted := make(map[Key]bool, len(db.evict))
	for _, k := range db.evict {
		evicted[k] = true
	}
	for _, j := range batch {
		if pol.sem != nil && j.entry.Partition != "" && (j.alias || !evicted[j.key]) {
			ij.jobs = append(ij.jobs, j)
		} else {
			c.finished(j)
		}
	}
	if pol.sem != nil {
		for _, k := range db.evict {
			ij.deletes = appendAliasIDs(append(ij.deletes, k.String()), k.String())
		}
	}
	if len(ij.jobs) > 0 || len(ij.deletes) > 0 {
		c.handOff(ij)
	}
}

// finished counts a job the write-back is done with: on disk and in the
// similarity tier, or parked for a retry (Flush waits for every job).
func (c *Cache) finished(j writeJob) {
	if j.alias {
		c.stats.aliases.Add(1)
	} else {
		c.stats.written.Add(1)
	}
	c.stats.inflight.Add(-1)
}

// handOff gives ij to the indexer without letting a slow vector store
// hold up the disk writer: when the indexer is behind, journalled entries
// are left to the journal (the indexer replays it) and deletions wait in
// the overflow list. Only entries that have no journal row (no disk tier,
// or the journal is full) wait for the indexer: that is backpressure.
func (c *Cache) handOff(ij indexJob) {
	select {
	case c.index <- ij:
		return
	default:
	}
	var keep []writeJob
	for _, j := range ij.jobs {
		if !j.journaled && !j.alias {
			keep = append(keep, j)
		}
	}
	if len(keep) > 0 {
		c.index <- indexJob{jobs: keep, deletes: ij.deletes}
	}
	var left []writeJob
	for _, j := range ij.jobs {
		if j.journaled || j.alias {
			left = append(left, j)
		}
	}
	c.pendingMu.Lock()
	c.dropPendingVecs(left)
	c.pendingMu.Unlock()
	c.overflowMu.Lock()
	if len(keep) == 0 {
		c.overflowDeletes = append(c.overflowDeletes, ij.deletes...)
	}
	for _, j := range left {
		if j.alias {
			c.stats.aliasesDropped.Add(1)
		} else {
			c.overflowJournal = true
		}
	}
	c.overflowMu.Unlock()
	for _, j := range left {
		if j.alias {
			c.stats.inflight.Add(-1) // counted as dropped above
		} else {
			c.finished(j)
		}
	}
	select {
	case c.overflowWake <- struct{}{}:
	default:
	}
}

// takeOverflow moves what handOff left aside into the indexer's backlog.
func (c *Cache) takeOverflow() {
	c.overflowMu.Lock()
	dels, journal := c.overflowDeletes, c.overflowJournal
	c.overflowDeletes, c.overflowJournal = nil, false
	c.overflowMu.Unlock()
	if len(dels) == 0 && !journal {
		return
	}
	c.deleteBacklog = append(c.deleteBacklog, dels...)
	if journal {
		c.parkedJournal = true
	}
	if !c.backlogged {
		c.backlogged, c.retryAt = true, time.Now()
	}
}

// indexer is the similarity tier's stage: it indexes what the disk writer
// hands it and retries what a failing store left behind. Its backoff runs
// on the wall clock (Options.Now is the entries' clock).
func (c *Cache) indexer() {
	defer close(c.done)
	retry := time.NewTimer(0)
	defer retry.Stop()
	if c.disk == nil || c.disk.journalLen() == 0 {
		retry.Stop()
	} else {
		c.backlogged = true
	}
	for {
		select {
		case ij, ok := <-c.index:
			if !ok {
				// Closing: one last try at what is parked in memory.
				c.takeOverflow()
				if c.backlogged && time.Now().After(c.retryAt) {
					c.retryBacklog()
				}
				return
			}
			c.indexOrPark(ij)
			if c.backlogged {
				resetTimer(retry, c.retryAt.Sub(time.Now()))
			}
		case <-c.overflowWake:
			c.takeOverflow()
			if c.backlogged {
				resetTimer(retry, c.retryAt.Sub(time.Now()))
			}
		case <-retry.C:
			if c.backlogged {
				c.retryBacklog()
			}
			if c.backlogged {
				resetTimer(retry, c.retryAt.Sub(time.Now()))
			}
		}
	}
}

func resetTimer(t *time.Timer, d time.Duration) {
	t.Stop()
	select {
	case <-t.C:
	default:
	}
	t.Reset(max(d, time.Millisecond))
}

// indexOrPark indexes ij, or parks it when the store is backing off.
func (c *Cache) indexOrPark(ij indexJob) {
	defer func() {
		for _, j := range ij.jobs {
			c.finished(j)
		}
	}()
	if c.backlogged && time.Now().Before(c.retryAt) {
		c.park(ij)
		return
	}
	if err := c.indexBatch(ij); err != nil {
		c.fail(err)
		c.park(ij)
		return
	}
	c.indexed(ij.jobs)
	if c.backlogged {
		// The store is back: replay the backlog now.
		c.retryAt = time.Now()
	}
}

// fail starts or lengthens the backoff after a failed store call.
func (c *Cache) fail(err error) {
	c.stats.storeErrors.Add(1)
	c.stats.indexErrors.Add(1)
	c.backoff = min(max(2*c.backoff, retryMin), retryMax)
	c.retryAt = time.Now().Add(c.backoff)
	if !c.backlogged {
		c.log.Warn("cache: similarity tier write-back failed; keeping a backlog and retrying", "err", err, "retry_in", c.backoff)
	}
	c.backlogged = true
}

// park keeps what the store did not take: journalled entries stay in the
// journal; the rest waits in the bounded memory backlog.
func (c *Cache) park(ij indexJob) {
	c.pendingMu.Lock()
	c.dropPendingVecs(ij.jobs)
	c.pendingMu.Unlock()
	for _, j := range ij.jobs {
		if j.journaled || j.replay {
			c.parkedJournal = true
			continue
		}
		if len(c.memBacklog) >= c.opts.IndexBacklog {
			c.stats.indexDropped.Add(1)
			continue
		}
		c.memBacklog = append(c.memBacklog, j)
	}
	c.deleteBacklog = append(c.deleteBacklog, ij.deletes...)
	if over := len(c.deleteBacklog) - 8*c.opts.IndexBacklog; over > 0 {
		c.deleteBacklog = c.deleteBacklog[over:]
		c.stats.indexDropped.Add(uint64(over))
	}
	c.stats.backlog.Store(int64(len(c.memBacklog)) + c.journalN.Load())
}

// indexed acknowledges jobs the store now holds.
func (c *Cache) indexed(jobs []writeJob) {
	var keys []Key
	c.pendingMu.Lock()
	c.dropPendingVecs(jobs)
	c.pendingMu.Unlock()
	for _, j := range jobs {
		if j.journaled || j.replay {
			keys = append(keys, j.key)
		}
	}
	c.stats.indexedN.Add(uint64(len(jobs)))
	if len(keys) == 0 || c.disk == nil {
		return
	}
	c.ackMu.Lock()
	c.acked = append(c.acked, keys...)
	c.ackMu.Unlock()
	select {
	case c.ackWake <- struct{}{}:
	default:
	}
}

// retryBacklog replays the memory backlog and the journal until done or
// the store fails again.
func (c *Cache) retryBacklog() {
	if len(c.deleteBacklog) > 0 || len(c.memBacklog) > 0 {
		ij := indexJob{deletes: c.deleteBacklog}
		n := min(len(c.memBacklog), maxBatch)
		ij.jobs = c.memBacklog[:n]
		if err := c.indexBatch(ij); err != nil {
			c.fail(err)
			return
		}
		c.indexed(ij.jobs)
		c.deleteBacklog = nil
		c.memBacklog = slices.Delete(c.memBacklog, 0, n)
		if len(c.memBacklog) > 0 {
			c.retryAt = time.Now()
			return
		}
	}
	if c.disk != nil && !c.replayJournal() {
		return
	}
	c.backlogged, c.backoff = false, 0
	c.stats.backlog.Store(0)
	c.log.Info("cache: similarity tier write-back caught up")
}

// replayJournal indexes a few pages of the journal, so new batches
// interleave with a long replay (c.replayAfter remembers where it
// stopped), and reports whether the journal is done.
func (c *Cache) replayJournal() bool {
	if c.replayAfter == nil {
		c.parkedJournal = false
	}
	for range 8 {
		page, err := c.disk.journalPage(c.replayAfter, 256)
		if err != nil {
			c.log.Error("cache: read the similarity tier's journal", "err", err)
			c.fail(err)
			return false
		}
		if len(page) == 0 {
			c.replayAfter = nil
			if c.parkedJournal {
				// Rows parked during this pass may lie behind it.
				c.parkedJournal = false
				c.retryAt = time.Now()
				return false
			}
			return true
		}
		if err := c.indexBatch(indexJob{jobs: page}); err != nil {
			c.fail(err)
			return false
		}
		c.stats.replayed.Add(uint64(len(page)))
		c.indexed(page)
		c.replayAfter = &page[len(page)-1].key
	}
	c.retryAt = time.Now()
	return false
}

// indexBatch deletes and upserts one batch in the vector store.
func (c *Cache) indexBatch(ij indexJob) error {
	sem := c.semantic()
	if sem == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeCallTimeout)
	defer cancel()
	if len(ij.deletes) > 0 {
		if err := sem.Index.Delete(ctx, ij.deletes); err != nil {
			return err
		}
	}
	var missing []int
	var texts []string
	for i, j := range ij.jobs {
		if j.entry.Partition != "" && j.vector == nil && !tooLong(sem, j.entry.Prompt, j.entry.Context) {
			missing = append(missing, i)
			texts = append(texts, embedText(sem, j.entry.Prompt, j.entry.Context))
		}
	}
	if len(texts) > 0 {
		vecs, err := sem.Embedder.Embed(ctx, texts)
		if err != nil || len(vecs) != len(texts) {
			c.stats.embedErrors.Add(1)
			c.stats.wbEmbedErrors.Add(1)
			c.log.Warn("cache: embedding for write-back failed", "err", err)
		} else {
			for n, i := range missing {
				ij.jobs[i].vector = vecs[n]
			}
		}
	}
	now := c.now()
	recs := make([]vectorstore.Record, 0, len(ij.jobs))
	for _, j := range ij.jobs {
		if j.entry.Partition == "" || j.vector == nil || j.entry.Expired(now) || tooLong(sem, j.entry.Prompt, j.entry.Context) {
			continue
		}
		payload := j.encoded
		if payload == nil || j.alias {
			var err error
			if payload, err = MarshalEntry(j.entry); err != nil {
				continue
			}
		}
		rec := vectorstore.Record{
			ID:        j.entry.Key,
			Vector:    j.vector,
			Namespace: j.entry.Namespace,
			Partition: j.entry.Partition,
			Payload:   payload,
			ExpiresAt: j.entry.ExpiresAt,
		}
		if j.alias {
			rec.ID = aliasID(j.entry.AliasOf, EmbedText(j.entry.Prompt, j.entry.Context))
		}
		recs = append(recs, rec)
	}
	if len(recs) == 0 {
		return nil
	}
	return sem.Index.Upsert(ctx, recs)
}

// Flush waits until every answer handed to the write-back so far has
// been written to disk and indexed, or parked for a retry of a failing
// store (tests and graceful shutdown use it).
func (c *Cache) Flush(ctx context.Context) error {
	for {
		// A batch lingering for company commits now (the token waits for
		// the next linger when none is under way).
		select {
		case c.flushWake <- struct{}{}:
		default:
		}
		c.pendingMu.RLock()
		n := len(c.pending)
		c.pendingMu.RUnlock()
		if n == 0 && c.stats.inflight.Load() == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done:
			return nil
		case <-time.After(2 * time.Millisecond):
		}
	}
}
