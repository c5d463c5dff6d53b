package memory

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"
)

// recInfo is what a record keeps in memory besides its code: the fields
// filters and expiry need, and for a purely in-memory store its payload.
// A persistent store reads vectors and payloads from bbolt when it
// re-ranks and builds hits.
type recInfo struct {
	id      string
	seq     uint64
	expires int64 // Unix nanoseconds; 0 means never
	meta    map[string]string
	payload []byte // in-memory store only
}

func matches(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// slotInfo is the fixed-size, pointer-free state of one slot (written to
// and read from the snapshot as raw bytes).
type slotInfo struct {
	seq     uint64
	expires int64
	// scale and err describe the slot's code (see dot.go).
	scale float32
	err   float32
}

// group is the sub-index of one (namespace, partition): parallel per-slot
// arrays (struct of arrays, so that a million records cost a few pointer-
// free slabs rather than a million objects for the collector to trace),
// searched by a full code scan while small and through an HNSW graph once
// it grows past the exact threshold. Every path re-ranks exactly.
type group struct {
	ns, part string
	dim      int
	cdim     int // codeDims(dim), the code row length
	// ids[i] is the ID of the record in slot i, "" for a free slot (a
	// tombstone when the graph still links it: its code stays and routes
	// walks).
	ids   []string
	info  []slotInfo
	metas []map[string]string // nil for records without meta
	codes slab[int8]
	// vecs and payloads are only kept by a store without a Dir (nothing
	// else could give them back); a persistent store leaves them empty.
	vecs     slab[float32]
	payloads [][]byte
	keepVecs bool
	// free lists reusable slots, most recently freed last.
	free []uint32
	live int
	// postings maps "key\x00value" to the slots whose record has that
	// meta pair, so a selective meta filter is answered exactly by
	// scanning only its postings.
	postings map[string]map[uint32]struct{}
	// g is nil while the group is searched by code scan, or while
	// building.
	g *graph
	// building: a background goroutine is building a graph (see
	// Store.buildLater); meanwhile searches use the old graph if any, else
	// scan the codes, and inserts append instead of reusing slots, so the
	// rows the builder reads never change.
	building bool
	// walkCost is a moving average of the rows a graph search touches;
	// walks counts graph searches (see search).
	walkCost atomic.Int64
	walks    atomic.Uint64
	// walkRecall is a moving average of the walk's recall against the
	// scan, per mille.
	walkRecall atomic.Int64
	// widenAt tracks the widenQuantile of the best distance walks find
	// (float32 bits; see widen).
	widenAt atomic.Uint32
}

func newGroup(ns, part string, dim int, keepVecs bool) *group {
	gr := &group{
		ns: ns, part: part, dim: dim, cdim: codeDims(dim),
		codes:    newSlab[int8](codeDims(dim)),
		keepVecs: keepVecs,
		postings: map[string]map[uint32]struct{}{},
	}
	if keepVecs {
		gr.vecs = newSlab[float32](dim)
	}
	gr.walkRecall.Store(1000)
	gr.widenAt.Store(math.Float32bits(float32(math.Inf(1))))
	return gr
}

func postingKey(k, v string) string { return k + "\x00" + v }

// slots is the number of slots (live, free and tombstones).
func (gr *group) slots() int { return len(gr.ids) }

func (gr *group) view() *vecs {
	return &vecs{codes: gr.codes, info: gr.info, cdim: gr.cdim}
}

func (gr *group) codeRow(slot uint32) []int8 { return gr.codes.row(slot) }

// nextSlot picks the slot the next insert uses and whether it reuses a
// freed one. Writer-only state, no lock needed.
func (gr *group) nextSlot() (uint32, bool) {
	if n := len(gr.free); n > 0 && !gr.building {
		return gr.free[n-1], true
	}
	return uint32(len(gr.ids)), false
}

// place stores r with its code in slot (as returned by nextSlot). v is
// only read by a store that keeps vectors. The caller holds the write
// lock.
func (gr *group) place(slot uint32, reused bool, c *coded, r *recInfo) {
	if reused {
		gr.free = gr.free[:len(gr.free)-1]
	} else {
		gr.ids = append(gr.ids, "")
		gr.info = append(gr.info, slotInfo{})
		gr.metas = append(gr.metas, nil)
		gr.codes.grow(1)
		if gr.keepVecs {
			gr.vecs.grow(1)
			gr.payloads = append(gr.payloads, nil)
		}
	}
	copy(gr.codes.row(slot), c.code)
	gr.info[slot] = slotInfo{seq: r.seq, expires: r.expires, scale: c.scale, err: c.err}
	gr.ids[slot] = r.id
	gr.metas[slot] = r.meta
	if gr.keepVecs {
		copy(gr.vecs.row(slot), c.vec)
		gr.payloads[slot] = r.payload
	}
	gr.index(slot)
}

// coded is a normalized vector with its code.
type coded struct {
	vec   []float32
	code  []int8
	scale float32
	err   float32
}

func newCoded(v []float32, dim int) *coded {
	c := &coded{vec: v, code: make([]int8, codeDims(dim))}
	c.scale, c.err = encodeCode(v, c.code)
	return c
}

// index counts slot as live and adds its meta to the postings.
func (gr *group) index(slot uint32) {
	gr.live++
	for k, val := range gr.metas[slot] {
		pk := postingKey(k, val)
		set := gr.postings[pk]
		if set == nil {
			set = map[uint32]struct{}{}
			gr.postings[pk] = set
		}
		set[slot] = struct{}{}
	}
}

// remove frees slot. The caller holds the write lock.
func (gr *group) remove(slot uint32) {
	if gr.ids[slot] == "" {
		return
	}
	for k, val := range gr.metas[slot] {
		pk := postingKey(k, val)
		if set := gr.postings[pk]; set != nil {
			delete(set, slot)
			if len(set) == 0 {
				delete(gr.postings, pk)
			}
		}
	}
	gr.ids[slot] = ""
	gr.metas[slot] = nil
	gr.info[slot].seq = 0
	if gr.keepVecs {
		gr.payloads[slot] = nil
	}
	gr.free = append(gr.free, slot)
	gr.live--
}

func (gr *group) expired(slot uint32, now int64) bool {
	e := gr.info[slot].expires
	return e != 0 && e <= now
}

// searchPath forces how indexed groups are searched (tests).
type searchPath uint8

const (
	pathAuto  searchPath = iota // graph or code scan, by measured cost
	pathGraph                   // always walk the graph
	pathScan                    // always scan the codes
)

// query is a prepared search against groups.
type query struct {
	path searchPath
	vec  []float32
	qc   *queryCode
	k    int
	meta map[string]string
	now  int64
	ef   int
	// sawExpired is set when an expired record was skipped, so the store
	// can ask the janitor to purge early. Atomic: scans run in parallel.
	sawExpired atomic.Bool
}

// accept reports whether slot holds a live record the query may return.
func (gr *group) accept(q *query, slot uint32) bool {
	if int(slot) >= len(gr.ids) || gr.ids[slot] == "" {
		return false
	}
	if gr.expired(slot, q.now) {
		q.sawExpired.Store(true)
		return false
	}
	return len(q.meta) == 0 || matches(gr.metas[slot], q.meta)
}

// bruteLimit reports whether scanning p postings beats a filtered graph
// walk in a group of n: the walk touches roughly ef*n/p nodes to find ef
// accepted ones, the scan touches p.
func bruteLimit(p, n, ef, exact int) bool {
	return p <= exact || float64(p)*float64(p) <= 8*float64(ef)*float64(n)
}

// Relative per-row costs of the two paths in an indexed group: the graph
// walk reads rows at random (a cache miss each, plus heap and visited-set
// work), the code scan streams them. Measured on 512-d int8 codes at 100k
// records (USE-lite and lexical embeddings): ~60 ns per walked row against
// ~20 ns per scanned row on one core (40 MB of codes per scan); the ratio
// errs towards scanning, which is exact.
const (
	walkRowCost = 5
	scanRowCost = 1
	// probeFirst and probeEvery: searches that run both paths to measure
	// the walk (the first probeFirst of a group, then every probeEvery-th;
	// in groups over probeScaleRows rows the interval grows in proportion,
	// so that the probes' full scans stay a small share of the work and
	// out of the 99th latency percentile: 1 in 256 searches at 100k
	// records, 1 in 3,900 at a million).
	probeFirst     = 8
	probeEvery     = 256
	probeScaleRows = 64 << 10
	// walkRecallMin is the measured walk recall (per mille, top K against
	// the scan's, ties counted) below which the scan serves. It is set for
	// the data the walk fails on (random vectors of high intrinsic
	// dimension: 710 at 100k), not for text embeddings, whose walks agree
	// with the scan on 930-950 per mille of their top 5 while finding the
	// true nearest neighbour for 99%+ of queries: a scan of a million rows
	// costs some 25 walks.
	walkRecallMin = 800
	// walkRecallWeight is the weight (1/n) of one probe in the moving
	// average: a single unlucky probe must not switch a large group to
	// the scan for the thousands of searches until the next one.
	walkRecallWeight = 16
)

// overlap is the share (per mille) of b's first k ids found among a's
// first k.
func overlap(a, b []cand, k int) int64 {
	a, b = a[:min(k, len(a))], b[:min(k, len(b))]
	if len(b) == 0 {
		return 1000
	}
	// Ties count: a walk result as close as the scan's k-th result is as
	// good an answer, even when it is another record (near-duplicate
	// clusters, common in caches of templated prompts, are full of ties).
	kth := b[0].dist
	for _, y := range b {
		kth = max(kth, y.dist)
	}
	hit := 0
	for _, x := range a {
		if x.dist <= kth+tieEpsilon {
			hit++
		}
	}
	return int64(1000 * min(hit, len(b)) / len(b))
}

// tieEpsilon is the distance (1 - cosine, on codes) within which two
// candidates count as equally near when measuring a walk's recall.
const tieEpsilon = 1e-3

// Widening. On sparse text embeddings a walk sometimes settles in the
// wrong region of the graph: among many records sharing a few words with
// the query, while its true neighbour, reached through other words, is
// never expanded. Such walks end with a best candidate that is far for
// this group. The group tracks the widenQuantile of the best distance its
// walks find, and repeats the walks beyond it with widenFactor times the
// beam, entering layer 0 from the widenUpper·ef nodes a beam search of
// layer 1 finds instead of from the single node a greedy descent ends on.
// Chosen on 1M realistic lexical vectors with the scale benchmark's
// tuning queries (1,000; vectorstore/memory/README.md#measured has the
// held-out figures), recall@1 at EfSearch 128: quantile 0.9, factor 4,
// greedy entry 0.972; quantile 0.8: 0.979; the layer-1 beam: 0.990, and
// with orphans linked (graph.adoptOrphans) 0.992. At EfSearch 160,
// factor 4 gave 0.994 at a thread CPU p99 of 4.3 ms, factor 3 0.993 at
// 3.4 ms.
const (
	widenQuantile = 0.8
	widenFactor   = 3
	widenUpper    = 2
	// widenStep is the tracker's step (in distance units).
	widenStep = 0.004
)

// widen feeds a walk's best distance to the quantile tracker and reports
// whether the walk should be repeated wider. Concurrent updates may lose
// a step; the estimate only needs to be roughly right.
func (gr *group) widen(best float32) bool {
	at := math.Float32frombits(gr.widenAt.Load())
	switch {
	case math.IsInf(float64(at), 1):
		gr.widenAt.Store(math.Float32bits(best))
		return false
	case best > at:
		gr.widenAt.Store(math.Float32bits(at + widenQuantile*widenStep))
		return true
	default:
		gr.widenAt.Store(math.Float32bits(at - (1-widenQuantile)*widenStep))
		return false
	}
}

// offer puts slot, at approximate distance d, into the pool.
func (gr *group) offer(q *query, p *pool, slot uint32, d float32) {
	b := q.qc.bound(gr.info[slot].err)
	if d-b > p.limit() {
		return
	}
	p.add(gr, slot, d-b, d+b)
}

// search puts the group's candidates for q into the pool. The caller
// holds at least the read lock.
func (gr *group) search(q *query, sc *scratch, p *pool, exact int) {
	if len(q.meta) > 0 {
		// Pick the smallest posting list of the filter's pairs.
		var best map[uint32]struct{}
		for k, v := range q.meta {
			set := gr.postings[postingKey(k, v)]
			if len(set) == 0 {
				return // no record has this pair
			}
			if best == nil || len(set) < len(best) {
				best = set
			}
		}
		if (gr.g == nil && !gr.building) || bruteLimit(len(best), gr.live, q.ef, exact) {
			gr.scanSlots(q, sc, p, best)
			return
		}
	}
	if gr.g == nil {
		// Small, or the graph is being built: the scan is exact.
		gr.scanCodes(q, sc, p)
		return
	}
	// A graph walk over data of high intrinsic dimension (random vectors,
	// say) touches a large share of the rows; past the break-even point a
	// streaming scan of the codes is cheaper, and exact.
	// Auto mode measures both of the walk's costs: the rows it touches
	// (against a scan of all of them) and its recall, by comparing, on
	// the first searches and every probeEvery-th after, its top k with the
	// scan's.
	walk := gr.walkCost.Load()
	n := gr.walks.Add(1)
	probe := false
	var useScan bool
	switch q.path {
	case pathGraph:
	case pathScan:
		useScan = true
	default:
		every := uint64(probeEvery * max(1, gr.slots()/probeScaleRows))
		probe = n <= probeFirst || n%every == 0
		useScan = walk*walkRowCost > int64(gr.slots())*scanRowCost ||
			gr.walkRecall.Load() < walkRecallMin
	}
	if useScan && !probe {
		gr.scanCodes(q, sc, p)
		return
	}
	ef := max(q.ef, q.k)
	before := sc.dists
	accept := func(slot uint32) bool { return gr.accept(q, slot) }
	found := gr.g.search(gr.view(), sc, q.qc, ef, 0, accept)
	if len(found) > 0 && gr.widen(found[0].dist) {
		found = gr.g.search(gr.view(), sc, q.qc, widenFactor*ef, widenUpper*ef, accept)
	}
	touched := int64(sc.dists - before)
	gr.walkCost.Store(walk + (touched-walk)/4)
	switch {
	case probe:
		sp := &pool{k: q.k, maxDist: p.maxDist}
		gr.scanCodes(q, sc, sp)
		rc := overlap(found, sp.approx(), q.k)
		old := gr.walkRecall.Load()
		gr.walkRecall.Store(old + (rc-old)/walkRecallWeight)
		p.merge(sp)
	case len(found) < q.k && len(found) < gr.live:
		// The walk could not fill k although the group may hold more
		// matches (a filter or expired records): scan, which finds every
		// match.
		gr.scanCodes(q, sc, p)
	default:
		for _, c := range found {
			gr.offer(q, p, c.id, c.dist)
		}
	}
}

// scanSlots offers the listed slots (a posting list).
func (gr *group) scanSlots(q *query, sc *scratch, p *pool, slots map[uint32]struct{}) {
	v := gr.view()
	ids := sc.nb[:0]
	for slot := range slots {
		if gr.accept(q, slot) {
			ids = append(ids, slot)
		}
	}
	ds := append(sc.nd[:0], make([]float32, len(ids))...)
	v.dists(sc, q.qc, ids, ds)
	for k, slot := range ids {
		gr.offer(q, p, slot, ds[k])
	}
	sc.nb, sc.nd = ids, ds
}

// scanParallelMin is the group size from which the code scan is split
// across goroutines (one per CPU, at most scanMaxWorkers).
const (
	scanParallelMin = 32 << 10
	scanMaxWorkers  = 4
)

// scanCodes streams every code row and offers the accepted ones: with the
// pool's bounds this finds the exact top k.
func (gr *group) scanCodes(q *query, sc *scratch, p *pool) {
	n := gr.slots()
	sc.dists += n
	workers := min(runtime.GOMAXPROCS(0), scanMaxWorkers, n/(scanParallelMin/2))
	if n < scanParallelMin || workers < 2 {
		gr.scanRange(q, p, 0, n, &sc.raw)
		return
	}
	parts := make([]*pool, workers)
	var wg sync.WaitGroup
	per := (n + workers - 1) / workers
	per = (per + chunkRows - 1) &^ chunkMask
	for w := range workers {
		from, to := w*per, min((w+1)*per, n)
		if from >= to {
			continue
		}
		parts[w] = &pool{k: p.k, maxDist: p.maxDist}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var raw []int32
			gr.scanRange(q, parts[w], from, to, &raw)
		}()
	}
	wg.Wait()
	for _, part := range parts {
		if part != nil {
			p.merge(part)
		}
	}
}

// scanRange offers rows [from, to).
func (gr *group) scanRange(q *query, p *pool, from, to int, rawBuf *[]int32) {
	const batch = 512
	raw := append((*rawBuf)[:0], make([]int32, batch)...)
	for start := from; start < to; {
		rows, m := gr.codes.span(start, min(batch, to-start))
		dotSeq(q.qc, rows, raw[:m])
		info := gr.info[start : start+m]
		lim := p.limit()
		for i, r := range raw[:m] {
			d := q.qc.dist(r, info[i].scale)
			if d-q.qc.bound(info[i].err) > lim {
				continue
			}
			if slot := uint32(start + i); gr.accept(q, slot) {
				gr.offer(q, p, slot, d)
				lim = p.limit()
			}
		}
		start += m
	}
	*rawBuf = raw[:0]
}

// count reports live, unexpired records matching meta.
func (gr *group) count(meta map[string]string, now int64) int {
	n := 0
	for slot, id := range gr.ids {
		if id != "" && !gr.expired(uint32(slot), now) && matches(gr.metas[slot], meta) {
			n++
		}
	}
	return n
}

// normalize returns v scaled to unit length (v itself when it already
// is), or false for a zero or non-finite vector.
func normalize(v []float32) ([]float32, bool) {
	var ss float64
	for _, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, false
		}
		ss += float64(x) * float64(x)
	}
	if ss == 0 || math.IsInf(ss, 0) {
		return nil, false
	}
	if math.Abs(ss-1) <= 1e-5 {
		return v, true
	}
	inv := 1 / math.Sqrt(ss)
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(float64(x) * inv)
	}
	return out, true
}

type groupKey struct{ ns, part string }

// isLive reports whether slot holds a record (not free, not a tombstone).
func (gr *group) isLive(slot uint32) bool { return gr.ids[slot] != "" }

// liveSlots lists the occupied slots in order.
func (gr *group) liveSlots() []uint32 {
	out := make([]uint32, 0, gr.live)
	for i, id := range gr.ids {
		if id != "" {
			out = append(out, uint32(i))
		}
	}
	return out
}
