// Package memory is the embedded default vectorstore.Store: an in-process
// index that needs no external service, sized for millions of records per
// process.
//
// Records are grouped into sub-indexes keyed by (namespace, partition), so
// the namespace and partition filters are exact by construction. Each
// group holds, per slot, an int8 code of the vector (see dot.go) and the
// few fields filters need, in pointer-free arrays. A group up to
// Options.ExactThreshold records is searched by scanning its codes; a
// larger group gets an HNSW graph (this package's own implementation, see
// hnsw.go) walked on the codes. Every path re-ranks exactly (rerank.go):
// the codes' error bound says which candidates can still be in the top K,
// and only those are scored on float32 vectors, so scans are exact and a
// walk is exact among the candidates it found. An indexed group measures
// how many rows its walks touch and how well they agree with a scan: when
// the walk is the costlier or the worse (data of high intrinsic
// dimension, such as random vectors), it scans instead. Meta filters use
// per-group posting lists: a selective filter scans only its postings, a
// broad one walks the graph with the filter applied, falling back to a
// scan when the walk cannot fill K.
//
// With Options.Dir set, records live in a bbolt database (a single-file
// ACID B+tree), the source of truth: Upsert returns after the transaction
// commits (fsync), so acknowledged records survive a crash. Memory holds
// only codes, graph links and filter fields (about 0.8 KB per 512-d
// record); the float32 vectors and payloads stay in bbolt, read for the
// few candidates a re-rank scores and the hits returned. Every change also
// appends to a change log in bbolt. Open restores memory from a snapshot
// file (snapshot.go: codes, graph and fields, read sequentially in one
// pass) and replays the log entries newer than it, instead of reading
// every record; without a usable snapshot it reads all records and builds
// graphs in the background, the code scan serving meanwhile.
// Options.LoadInBackground makes Open return at once; Ready and WaitReady
// tell when the store serves.
package memory

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/semcache/semcache/vectorstore"
)

var _ vectorstore.Store = (*Store)(nil)

var (
	bucketRecords = []byte("records")
	bucketMeta    = []byte("meta")
	// bucketLog is the change log: big-endian sequence number → op byte
	// (logUpsert or logDelete) + record ID. Entries a snapshot covers are
	// pruned once it is written.
	bucketLog = []byte("log")
	keyDim    = []byte("dim")
	keySeq    = []byte("seq")
	// keyDBID is a random identity written at creation; a snapshot of
	// another database is never applied.
	keyDBID = []byte("dbid")
	// keyLogFrom is the first sequence number the log is complete from.
	keyLogFrom = []byte("logfrom")
)

const (
	logUpsert = 'u'
	logDelete = 'd'
)

const dbFile = "records.db"

// Store is the embedded vector store. It is safe for concurrent use.
//
// Locking: writeMu serializes writers (Upsert, Delete, DeleteWhere, the
// janitor, snapshots, Close); state only writers touch (byID, free lists,
// seq) needs nothing more. mu guards what readers see: a writer mutates
// shared state only under mu.Lock, and may read it without mu since no
// other writer runs. Expensive graph planning therefore happens outside
// mu.
type Store struct {
	opts Options
	db   *bbolt.DB // nil for a purely in-memory store
	dbID []byte
	log  *slog.Logger

	writeMu  sync.Mutex
	seq      uint64
	byID     map[string]loc
	dirty    int // mutations since the last snapshot
	lastSnap time.Time
	// snapping: a snapshot is being committed (written, not yet synced
	// and renamed); no other may start.
	snapping bool
	loadInfo loadStats
	// loading defers graph builds to buildLater while Open loads.
	loading bool
	builds  sync.WaitGroup
	// rebuilds are groups removeLocked flagged for a graph rebuild
	// (mostly tombstones); startRebuilds launches them.
	rebuilds []*group

	// loaded is closed when the store serves (Open's load finished);
	// loadErr is set before that if the load failed.
	loaded  chan struct{}
	isReady atomic.Bool
	loadErr error

	// path is a test hook forcing the search path of indexed groups.
	path searchPath

	mu     sync.RWMutex
	closed bool
	spaces map[string]map[string]*group // namespace → partition → group

	scratch   sync.Pool
	wake      chan struct{}
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// loc is where a record lives.
type loc struct {
	gr   *group
	slot uint32
}

// Open opens (creating if needed) a store. With opts.Dir set it loads the
// records persisted there: before returning, or in the background with
// opts.LoadInBackground (see Ready).
func Open(ctx context.Context, opts Options) (*Store, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Store{
		opts:   o,
		log:    o.Logger,
		byID:   map[string]loc{},
		spaces: map[string]map[string]*group{},
		loaded: make(chan struct{}),
		wake:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	s.scratch.New = func() any { return new(scratch) }
	if o.Dir == "" {
		s.markLoaded(nil)
		return s, nil
	}
	if err := os.MkdirAll(o.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("memory: open: %w", err)
	}
	db, err := bbolt.Open(filepath.Join(o.Dir, dbFile), 0o600, &bbolt.Options{
		Timeout:      5 * time.Second,
		FreelistType: bbolt.FreelistMapType,
	})
	if err != nil {
		return nil, fmt.Errorf("memory: open %s: %w", o.Dir, err)
	}
	s.db = db
	if !o.LoadInBackground {
		err := s.load(ctx)
		s.markLoaded(err)
		if err != nil {
			close(s.done)
			return nil, errors.Join(err, db.Close())
		}
		return s, nil
	}
	go func() {
		lctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-s.stop:
				cancel()
			case <-s.loaded:
			}
		}()
		err := s.load(lctx)
		cancel()
		if err != nil {
			if lctx.Err() == nil {
				s.log.Error("memory: loading failed", "dir", o.Dir, "err", err)
			}
			err = errors.Join(err, s.db.Close())
		}
		s.markLoaded(err)
		if err != nil {
			close(s.done)
		}
	}()
	return s, nil
}

// markLoaded publishes the outcome of the load and, on success, starts the
// janitor.
func (s *Store) markLoaded(err error) {
	s.loadErr = err
	if err == nil {
		s.lastSnap = time.Now()
		s.isReady.Store(true)
		go s.janitor()
	}
	close(s.loaded)
}

// Ready reports whether the store has loaded and serves searches. A store
// opened without LoadInBackground is ready when Open returns. Groups may
// still be building graphs in the background (see WaitIndexed); they
// serve exact answers by code scan meanwhile.
func (s *Store) Ready() bool { return s.isReady.Load() }

// WaitReady blocks until the store has loaded, or ctx ends; it returns
// the load's error when loading failed.
func (s *Store) WaitReady(ctx context.Context) error {
	select {
	case <-s.loaded:
		if s.loadErr != nil {
			return fmt.Errorf("memory: load: %w", s.loadErr)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("memory: waiting for load: %w", ctx.Err())
	}
}

// waitLoaded is what writers and Count do before touching state: wait for
// the load (bounded by ctx).
func (s *Store) waitLoaded(ctx context.Context, op string) error {
	if s.isReady.Load() {
		return nil
	}
	select {
	case <-s.loaded:
		if s.loadErr != nil {
			return fmt.Errorf("memory: %s: store failed to load: %w", op, errors.Join(vectorstore.ErrUnavailable, s.loadErr))
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("memory: %s: waiting for load: %w", op, ctx.Err())
	case <-s.stop:
		return fmt.Errorf("memory: %s: %w", op, vectorstore.ErrClosed)
	}
}

// prepared is a validated record ready to apply.
type prepared struct {
	ns, part string
	c        *coded
	r        *recInfo
	payload  []byte // for the bbolt value
}

func (s *Store) prepare(recs []vectorstore.Record) ([]prepared, error) {
	out := make([]prepared, 0, len(recs))
	index := make(map[string]int, len(recs))
	for i, r := range recs {
		switch {
		case r.ID == "":
			return nil, fmt.Errorf("memory: record %d: empty ID: %w", i, vectorstore.ErrInvalid)
		case r.Namespace == "":
			return nil, fmt.Errorf("memory: record %d (%q): empty namespace: %w", i, r.ID, vectorstore.ErrInvalid)
		case len(r.Vector) != s.opts.Dimension:
			return nil, fmt.Errorf("memory: record %d (%q): vector has %d dimensions, want %d: %w",
				i, r.ID, len(r.Vector), s.opts.Dimension, vectorstore.ErrDimension)
		}
		v, ok := normalize(r.Vector)
		if !ok {
			return nil, fmt.Errorf("memory: record %d (%q): zero or non-finite vector: %w", i, r.ID, vectorstore.ErrInvalid)
		}
		p := prepared{
			ns:      r.Namespace,
			part:    r.Partition,
			c:       newCoded(v, s.opts.Dimension),
			payload: r.Payload,
			r:       &recInfo{id: r.ID, expires: unixNano(r.ExpiresAt)},
		}
		if len(r.Meta) > 0 {
			p.r.meta = maps.Clone(r.Meta)
		}
		if s.db == nil && len(r.Payload) > 0 {
			p.r.payload = bytes.Clone(r.Payload)
		}
		if j, dup := index[r.ID]; dup {
			out[j] = p // last one wins
			continue
		}
		index[r.ID] = len(out)
		out = append(out, p)
	}
	return out, nil
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	if t.Year() >= 2262 {
		return math.MaxInt64
	}
	if t.Year() < 1678 {
		return math.MinInt64
	}
	if n := t.UnixNano(); n != 0 {
		return n
	}
	return -1 // the epoch itself: expired, not "never"
}

func expiryTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// Upsert inserts or replaces records; with a Dir it returns once they are
// committed to disk. While a store opened with LoadInBackground loads, it
// waits (bounded by ctx).
func (s *Store) Upsert(ctx context.Context, recs []vectorstore.Record) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: upsert: %w", err)
	}
	prep, err := s.prepare(recs)
	if err != nil {
		return err
	}
	if err := s.waitLoaded(ctx, "upsert"); err != nil {
		return err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.closed {
		return fmt.Errorf("memory: upsert: %w", vectorstore.ErrClosed)
	}
	if len(prep) == 0 {
		return nil
	}
	for i := range prep {
		s.seq++
		prep[i].r.seq = s.seq
	}
	if s.db != nil {
		err := s.db.Update(func(tx *bbolt.Tx) error {
			b, lb := tx.Bucket(bucketRecords), tx.Bucket(bucketLog)
			for _, p := range prep {
				v := encodeRecord(&stored{
					seq: p.r.seq, expires: p.r.expires, ns: p.ns, part: p.part,
					meta: p.r.meta, vec: p.c.vec, payload: p.payload,
				})
				if err := b.Put([]byte(p.r.id), v); err != nil {
					return err
				}
				if err := lb.Put(logKey(p.r.seq), logValue(logUpsert, p.r.id)); err != nil {
					return err
				}
			}
			return putSeq(tx, s.seq)
		})
		if err != nil {
			return fmt.Errorf("memory: upsert: %w", err)
		}
	}
	for _, p := range prep {
		s.applyUpsert(p.ns, p.part, p.c, p.r)
	}
	s.dirty += len(prep)
	return nil
}

func logKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func logValue(op byte, id string) []byte {
	v := make([]byte, 1+len(id))
	v[0] = op
	copy(v[1:], id)
	return v
}

func putSeq(tx *bbolt.Tx, seq uint64) error {
	var b [8]byte
	for i := range b {
		b[i] = byte(seq >> (8 * i))
	}
	return tx.Bucket(bucketMeta).Put(keySeq, b[:])
}

func getSeq(v []byte) uint64 {
	var seq uint64
	for i := range min(len(v), 8) {
		seq |= uint64(v[i]) << (8 * i)
	}
	return seq
}

// applyUpsert puts r into memory. The caller holds writeMu.
func (s *Store) applyUpsert(ns, part string, c *coded, r *recInfo) {
	if old, ok := s.byID[r.id]; ok {
		s.mu.Lock()
		s.removeLocked(old)
		s.mu.Unlock()
		s.startRebuilds()
		delete(s.byID, r.id)
	}
	gr := s.spaces[ns][part]
	if gr == nil {
		gr = newGroup(ns, part, s.opts.Dimension, s.db == nil)
		s.mu.Lock()
		parts := s.spaces[ns]
		if parts == nil {
			parts = map[string]*group{}
			s.spaces[ns] = parts
		}
		parts[part] = gr
		s.mu.Unlock()
	}
	s.insert(gr, c, r)
}

// insert places r in gr, planning graph links outside the lock. The caller
// holds writeMu.
func (s *Store) insert(gr *group, c *coded, r *recInfo) {
	slot, reused := gr.nextSlot()
	var p *plan
	if gr.g != nil {
		view := gr.view()
		view.ov, view.ovRow, view.ovSc = slot, c.code, c.scale
		q := queryCode{c: c.code, scale: c.scale}
		q.fillAbs()
		sc := s.scratch.Get().(*scratch)
		p = gr.g.planInsert(view, sc, &q, slot, reused)
		s.scratch.Put(sc)
	}
	s.mu.Lock()
	gr.place(slot, reused, c, r)
	if p != nil {
		gr.g.apply(p)
	}
	s.mu.Unlock()
	s.byID[r.id] = loc{gr, slot}
	if gr.g == nil && !gr.building && !s.loading && gr.live > s.opts.ExactThreshold {
		// The group outgrew the code scan. A small graph is built right
		// away; a large one in the background (searches scan meanwhile).
		if gr.live > syncBuildMax {
			s.buildLater([]*group{gr})
			return
		}
		g := newGraph(s.opts.M, s.opts.EfConstruction, s.opts.Seed)
		g.build(gr.view(), gr.liveSlots(), 0, 1, nil)
		g.adoptOrphans(gr.view(), new(scratch), gr.isLive)
		s.mu.Lock()
		gr.g = g
		s.mu.Unlock()
	}
}

// syncBuildMax is the largest group whose first graph an insert builds
// itself (in well under a second); larger ones are built in the
// background.
const syncBuildMax = 1024

// buildLater builds the groups' graphs in a background goroutine, so that
// Open need not wait for them. Until a group's graph is published its
// searches scan its codes (accurate, and fast enough for this interim).
// The caller holds writeMu.
func (s *Store) buildLater(groups []*group) {
	if len(groups) == 0 {
		return
	}
	s.mu.Lock()
	for _, gr := range groups {
		gr.building = true
	}
	s.mu.Unlock()
	s.spawnBuilds(groups)
}

// startRebuilds launches the rebuilds removeLocked asked for. The caller
// holds writeMu (not mu).
func (s *Store) startRebuilds() {
	if len(s.rebuilds) > 0 {
		s.spawnBuilds(s.rebuilds)
		s.rebuilds = nil
	}
}

// spawnBuilds builds groups already flagged building, in the background.
func (s *Store) spawnBuilds(groups []*group) {
	s.builds.Add(1)
	go func() {
		defer s.builds.Done()
		for _, gr := range groups {
			if !s.buildOne(gr) {
				return
			}
		}
	}()
}

// buildOne builds gr's graph without holding writeMu over the rows that
// existed when it started (they cannot change: gr.building stops slot
// reuse), then takes writeMu to add the rows inserted meanwhile and
// publish. It reports false when the store is closing.
func (s *Store) buildOne(gr *group) bool {
	start := time.Now()
	g := newGraph(s.opts.M, s.opts.EfConstruction, s.opts.Seed)
	workers := min(runtime.GOMAXPROCS(0), buildMaxWorkers)
	// Rows that exist when a pass starts never change while building (no
	// slot reuse), so passes run without writeMu, each over the rows
	// appended during the previous one, until few are left.
	built := 0
	for from := 0; ; {
		s.mu.RLock()
		view := gr.view()
		view.codes = view.codes.frozen()
		n := gr.slots()
		var slots []uint32
		for slot := from; slot < n; slot++ {
			if gr.ids[slot] != "" {
				slots = append(slots, uint32(slot))
			}
		}
		s.mu.RUnlock()
		if len(slots) <= buildTailMax && from > 0 {
			break
		}
		if !g.build(view, slots, built, workers, s.stop) {
			return false
		}
		built += len(slots)
		from = n
		if len(slots) <= buildTailMax {
			break
		}
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.closed {
		return false
	}
	// Records inserted since the last pass were appended (no slot reuse
	// while building); those deleted meanwhile stay as tombstones.
	view := gr.view()
	var tail []uint32
	for slot := len(g.levels); slot < gr.slots(); slot++ {
		if gr.ids[slot] != "" {
			tail = append(tail, uint32(slot))
		}
	}
	g.build(view, tail, built, 1, nil)
	g.grow(gr.slots())
	adopted := g.adoptOrphans(view, new(scratch), gr.isLive)
	s.mu.Lock()
	gr.g = g
	s.mu.Unlock()
	s.dirty++
	s.log.Info("memory: graph built", "namespace", gr.ns, "partition", gr.part,
		"records", gr.live, "orphans_linked", adopted, "took", time.Since(start))
	if s.db != nil {
		if err := s.saveSnapshot(); err != nil {
			s.log.Error("memory: writing snapshot", "err", err)
		}
	}
	// Cleared last, so WaitIndexed also covers the snapshot.
	s.mu.Lock()
	gr.building = false
	s.mu.Unlock()
	return true
}

// buildMaxWorkers bounds the goroutines one graph build uses;
// buildTailMax is how many rows appended during a build pass are inserted
// under writeMu rather than in another pass.
const (
	buildMaxWorkers = 4
	buildTailMax    = 1024
)

// removeLocked frees a record's slot. The caller holds writeMu and mu.
func (s *Store) removeLocked(l loc) {
	gr := l.gr
	gr.remove(l.slot)
	switch {
	case gr.live == 0:
		if parts := s.spaces[gr.ns]; parts[gr.part] == gr {
			delete(parts, gr.part)
			if len(parts) == 0 {
				delete(s.spaces, gr.ns)
			}
		}
	case gr.g != nil && gr.live <= s.opts.ExactThreshold/2:
		gr.g = nil
	case gr.g != nil && !gr.building && len(gr.free) >= rebuildMin && len(gr.free) > 2*gr.live:
		// Mostly tombstones (mass deletes, no inserts to reuse them):
		// rebuild over the live records; the old graph serves meanwhile.
		gr.building = true
		s.rebuilds = append(s.rebuilds, gr)
	}
}

// rebuildMin is the least number of tombstones that triggers a rebuild.
const rebuildMin = 1024

// Search returns the K best records matching the filter. While a store
// opened with LoadInBackground loads, it fails at once with
// vectorstore.ErrUnavailable (callers degrade rather than wait).
func (s *Store) Search(ctx context.Context, q vectorstore.Query) ([]vectorstore.Hit, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory: search: %w", err)
	}
	switch {
	case q.K < 1:
		return nil, fmt.Errorf("memory: search: K %d < 1: %w", q.K, vectorstore.ErrInvalid)
	case q.Filter.Namespace == "":
		return nil, fmt.Errorf("memory: search: empty namespace: %w", vectorstore.ErrInvalid)
	case len(q.Vector) != s.opts.Dimension:
		return nil, fmt.Errorf("memory: search: vector has %d dimensions, want %d: %w",
			len(q.Vector), s.opts.Dimension, vectorstore.ErrDimension)
	}
	v, ok := normalize(q.Vector)
	if !ok {
		return nil, fmt.Errorf("memory: search: zero or non-finite vector: %w", vectorstore.ErrInvalid)
	}
	if !s.isReady.Load() {
		select {
		case <-s.stop:
			return nil, fmt.Errorf("memory: search: %w", vectorstore.ErrClosed)
		default:
		}
		return nil, fmt.Errorf("memory: search: still loading: %w", vectorstore.ErrUnavailable)
	}
	qc := newQueryCode(v, s.opts.Dimension)
	qq := &query{path: s.path, vec: v, qc: &qc, k: q.K, meta: q.Filter.Meta, now: time.Now().UnixNano(), ef: s.opts.EfSearch}
	// The largest exact distance MinScore allows (a hair of slack: the
	// exact check comes later).
	maxDist := float32(math.Inf(1))
	if q.MinScore > -1 {
		maxDist = 1 - q.MinScore + 1e-6
	}

	sc := s.scratch.Get().(*scratch)
	defer s.scratch.Put(sc)
	p := &sc.pool
	p.reset(q.K, maxDist)

	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, fmt.Errorf("memory: search: %w", vectorstore.ErrClosed)
	}
	parts := s.spaces[q.Filter.Namespace]
	if q.Filter.Partition != nil {
		if gr := parts[*q.Filter.Partition]; gr != nil {
			gr.search(qq, sc, p, s.opts.ExactThreshold)
		}
	} else {
		for _, gr := range parts {
			gr.search(qq, sc, p, s.opts.ExactThreshold)
		}
	}
	cands := p.final()
	if s.db == nil {
		hits := rerankMemory(v, cands, q.K, maxDist)
		s.mu.RUnlock()
		p.reset(0, 0)
		s.afterSearch(qq)
		return dropBelow(hits, q.MinScore), nil
	}
	pend := make([]pending, len(cands))
	for i, c := range cands {
		gr := c.gr
		pend[i] = pending{
			lo: c.lo, id: gr.ids[c.slot], seq: gr.info[c.slot].seq, ns: gr.ns, part: gr.part,
			meta: gr.metas[c.slot], expires: gr.info[c.slot].expires,
		}
	}
	s.mu.RUnlock()
	p.reset(0, 0)
	s.afterSearch(qq)

	var hits []vectorstore.Hit
	err := s.db.View(func(tx *bbolt.Tx) error {
		var err error
		hits, err = rerankDB(tx, s.opts.Dimension, v, pend, q.K, maxDist, sc.vec)
		return err
	})
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return nil, fmt.Errorf("memory: search: %w", vectorstore.ErrClosed)
	}
	if err != nil {
		return nil, fmt.Errorf("memory: search: %w", err)
	}
	return dropBelow(hits, q.MinScore), nil
}

func (s *Store) afterSearch(q *query) {
	if q.sawExpired.Load() {
		s.nudge()
	}
}

// dropBelow cuts hits (best first) at the first one scoring below min.
func dropBelow(hits []vectorstore.Hit, minScore float32) []vectorstore.Hit {
	for i, h := range hits {
		if h.Score < minScore {
			return hits[:i]
		}
	}
	return hits
}

// Delete removes records by ID; unknown IDs are ignored.
func (s *Store) Delete(ctx context.Context, ids []string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: delete: %w", err)
	}
	if err := s.waitLoaded(ctx, "delete"); err != nil {
		return err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.closed {
		return fmt.Errorf("memory: delete: %w", vectorstore.ErrClosed)
	}
	if err := s.deleteIDs(ids); err != nil {
		return fmt.Errorf("memory: delete: %w", err)
	}
	return nil
}

// deleteIDs removes the known ids from bbolt and memory. The caller holds
// writeMu.
func (s *Store) deleteIDs(ids []string) error {
	locs := make(map[string]loc, len(ids))
	for _, id := range ids {
		if l, ok := s.byID[id]; ok {
			locs[id] = l
		}
	}
	if len(locs) == 0 {
		return nil
	}
	if s.db != nil {
		seq := s.seq
		err := s.db.Update(func(tx *bbolt.Tx) error {
			b, lb := tx.Bucket(bucketRecords), tx.Bucket(bucketLog)
			for id := range locs {
				if err := b.Delete([]byte(id)); err != nil {
					return err
				}
				seq++
				if err := lb.Put(logKey(seq), logValue(logDelete, id)); err != nil {
					return err
				}
			}
			return putSeq(tx, seq)
		})
		if err != nil {
			return err
		}
		s.seq = seq
	}
	s.mu.Lock()
	for id, l := range locs {
		s.removeLocked(l)
		delete(s.byID, id)
	}
	s.mu.Unlock()
	s.startRebuilds()
	s.dirty += len(locs)
	return nil
}

func validFilter(op string, f vectorstore.Filter) error {
	if f.Namespace == "" {
		return fmt.Errorf("memory: %s: empty namespace: %w", op, vectorstore.ErrInvalid)
	}
	return nil
}

// groupsFor lists the groups a filter covers. The caller holds mu or
// writeMu.
func (s *Store) groupsFor(f vectorstore.Filter) []*group {
	parts := s.spaces[f.Namespace]
	if f.Partition != nil {
		if gr := parts[*f.Partition]; gr != nil {
			return []*group{gr}
		}
		return nil
	}
	out := make([]*group, 0, len(parts))
	for _, gr := range parts {
		out = append(out, gr)
	}
	return out
}

// DeleteWhere removes every record matching f (expired ones included) and
// reports how many live records it removed.
func (s *Store) DeleteWhere(ctx context.Context, f vectorstore.Filter) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("memory: delete where: %w", err)
	}
	if err := validFilter("delete where", f); err != nil {
		return 0, err
	}
	if err := s.waitLoaded(ctx, "delete where"); err != nil {
		return 0, err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.closed {
		return 0, fmt.Errorf("memory: delete where: %w", vectorstore.ErrClosed)
	}
	now := time.Now().UnixNano()
	var ids []string
	n := 0
	for _, gr := range s.groupsFor(f) {
		for slot, id := range gr.ids {
			if id != "" && matches(gr.metas[slot], f.Meta) {
				ids = append(ids, id)
				if !gr.expired(uint32(slot), now) {
					n++
				}
			}
		}
	}
	if err := s.deleteIDs(ids); err != nil {
		return 0, fmt.Errorf("memory: delete where: %w", err)
	}
	return n, nil
}

// Count reports how many live records match f.
func (s *Store) Count(ctx context.Context, f vectorstore.Filter) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("memory: count: %w", err)
	}
	if err := validFilter("count", f); err != nil {
		return 0, err
	}
	if err := s.waitLoaded(ctx, "count"); err != nil {
		return 0, err
	}
	now := time.Now().UnixNano()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, fmt.Errorf("memory: count: %w", vectorstore.ErrClosed)
	}
	n := 0
	for _, gr := range s.groupsFor(f) {
		n += gr.count(f.Meta, now)
	}
	return n, nil
}

// Close stops the janitor, writes a graph snapshot (with a Dir) and
// releases the database. It is idempotent; later calls return the first
// call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.loaded
		<-s.done
		s.builds.Wait()
		s.writeMu.Lock()
		defer func() {
			s.writeMu.Unlock()
			// A writer may have started a rebuild since the Wait above;
			// it sees closed and stops.
			s.builds.Wait()
		}()
		var errs []error
		if s.db != nil && s.dirty > 0 && s.loadErr == nil {
			if err := s.saveSnapshot(); err != nil {
				errs = append(errs, err)
			}
		}
		s.mu.Lock()
		s.closed = true
		s.spaces = nil
		s.mu.Unlock()
		s.isReady.Store(false)
		s.byID = nil
		if s.db != nil && s.loadErr == nil {
			if err := s.db.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("memory: close: %w", err)
		}
	})
	return s.closeErr
}

// nudge asks the janitor to purge soon.
func (s *Store) nudge() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// minPurgeGap bounds how often searches that meet expired records can make
// the janitor scan.
const minPurgeGap = time.Second

func (s *Store) janitor() {
	defer close(s.done)
	t := time.NewTicker(s.opts.JanitorInterval)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		case <-s.wake:
			if wait := minPurgeGap - time.Since(last); wait > 0 {
				select {
				case <-s.stop:
					return
				case <-time.After(wait):
				}
			}
		}
		last = time.Now()
		if err := s.purgeExpired(); err != nil {
			s.log.Error("memory: purging expired records", "err", err)
		}
		if err := s.maybeSnapshot(); err != nil {
			s.log.Error("memory: writing graph snapshot", "err", err)
		}
	}
}

// purgeExpired deletes expired records from bbolt and memory.
func (s *Store) purgeExpired() error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.closed {
		return nil
	}
	now := time.Now().UnixNano()
	var ids []string
	for _, parts := range s.spaces {
		for _, gr := range parts {
			for slot, id := range gr.ids {
				if id != "" && gr.expired(uint32(slot), now) {
					ids = append(ids, id)
				}
			}
		}
	}
	return s.deleteIDs(ids)
}

func (s *Store) maybeSnapshot() error {
	if s.db == nil {
		return nil
	}
	s.writeMu.Lock()
	// While a graph builds, its completion writes the snapshot: one
	// written meanwhile would hold no graph for the group, at full cost.
	due := time.Since(s.lastSnap) >= s.opts.SnapshotInterval || s.dirty >= max(snapDirtyMax, len(s.byID)/4)
	if s.closed || s.snapping || s.dirty == 0 || !due || s.indexing() {
		s.writeMu.Unlock()
		return nil
	}
	// Writers wait while the file is written (to the page cache), not
	// while it is synced.
	sn, err := s.beginSnapshot()
	s.writeMu.Unlock()
	if err != nil {
		return err
	}
	return s.commitSnapshot(sn)
}
