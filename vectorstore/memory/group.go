package memory

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"
)

// rec is the in-memory part of a record. It is immutable once created; a
// replacement is a new rec.
type rec struct {
	id  string
	seq uint64
	// expires is ExpiresAt in Unix nanoseconds; 0 means never.
	expires int64
	meta    map[string]string
	// payload is kept in memory only for a purely in-memory store; a
	// persistent store reads it from bbolt when building hits.
	payload []byte
}

func (r *rec) expired(now int64) bool { return r.expires != 0 && r.expires <= now }

func (r *rec) matches(meta map[string]string) bool {
	for k, v := range meta {
		if got, ok := r.meta[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// group is the sub-index of one (namespace, partition): a slab of
// vectors addressed by slot, brute-force searched while small and indexed
// by an HNSW graph once it grows past the exact threshold.
type group struct {
	ns, part string
	dim      int
	// vecs holds the vector of slot i at [i*dim, (i+1)*dim).
	vecs []float32
	// recs[i] is the record in slot i, nil for a free slot (a tombstone
	// when the graph still links it).
	recs []*rec
	// free lists reusable slots, most recently freed last.
	free []uint32
	live int
	// postings maps "key\x00value" to the slots whose record has that
	// meta pair, so a selective meta filter is answered exactly by
	// scanning only its postings.
	postings map[string]map[uint32]struct{}
	// codes and scales hold each slot's 4-bit code (see dot.go), used by
	// the graph and the quantized scan.
	codes  []uint8
	scales []float32
	// g is nil while the group is searched by brute force, or while
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
}

func newGroup(ns, part string, dim int) *group {
	gr := &group{ns: ns, part: part, dim: dim, postings: map[string]map[uint32]struct{}{}}
	gr.walkRecall.Store(1000)
	return gr
}

func postingKey(k, v string) string { return k + "\x00" + v }

func (gr *group) view() *vecs {
	return &vecs{codes: gr.codes, scales: gr.scales, dim: gr.dim, stride: codeStride(gr.dim)}
}

func (gr *group) codeRow(slot uint32) []uint8 {
	st := codeStride(gr.dim)
	return gr.codes[int(slot)*st : (int(slot)+1)*st]
}

func (gr *group) vec(slot uint32) []float32 {
	o := int(slot) * gr.dim
	return gr.vecs[o : o+gr.dim : o+gr.dim]
}

// nextSlot picks the slot the next insert uses and whether it reuses a
// freed one. Writer-only state, no lock needed.
func (gr *group) nextSlot() (uint32, bool) {
	if n := len(gr.free); n > 0 && !gr.building {
		return gr.free[n-1], true
	}
	return uint32(len(gr.recs)), false
}

// place stores r and its vector in slot (as returned by nextSlot). The
// caller holds the write lock.
func (gr *group) place(slot uint32, reused bool, v []float32, r *rec) {
	if reused {
		gr.free = gr.free[:len(gr.free)-1]
		copy(gr.vec(slot), v)
		gr.recs[slot] = r
		gr.scales[slot] = encodeCode(v, gr.codeRow(slot))
	} else {
		gr.vecs = append(gr.vecs, v...)
		gr.recs = append(gr.recs, r)
		gr.codes = append(gr.codes, make([]uint8, codeStride(gr.dim))...)
		gr.scales = append(gr.scales, 0)
		gr.scales[slot] = encodeCode(v, gr.codeRow(slot))
	}
	gr.index(slot, r)
}

// index counts r as live in slot and adds it to the postings.
func (gr *group) index(slot uint32, r *rec) {
	gr.live++
	for k, val := range r.meta {
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
	r := gr.recs[slot]
	if r == nil {
		return
	}
	for k, val := range r.meta {
		pk := postingKey(k, val)
		if set := gr.postings[pk]; set != nil {
			delete(set, slot)
			if len(set) == 0 {
				delete(gr.postings, pk)
			}
		}
	}
	gr.recs[slot] = nil
	gr.free = append(gr.free, slot)
	gr.live--
}

// searchPath forces how indexed groups are searched (tests).
type searchPath uint8

const (
	pathAuto  searchPath = iota // graph or quantized scan, by measured cost
	pathGraph                   // always walk the graph
	pathScan                    // always scan the codes
)

// query is a prepared search against groups.
type query struct {
	path searchPath
	vec  []float32
	qc   *queryCode // lazily built
	k    int
	meta map[string]string
	now  int64
	ef   int
	// sawExpired is set when an expired record was skipped, so the store
	// can ask the janitor to purge early. Atomic: scans run in parallel.
	sawExpired atomic.Bool
}

func (q *query) code(dim int) *queryCode {
	if q.qc == nil {
		c := newQueryCode(q.vec, dim)
		q.qc = &c
	}
	return q.qc
}

func (q *query) accept(r *rec) bool {
	if r == nil {
		return false
	}
	if r.expired(q.now) {
		q.sawExpired.Store(true)
		return false
	}
	return r.matches(q.meta)
}

// bruteLimit reports whether scanning p postings beats a filtered graph
// walk in a group of n: the walk touches roughly ef*n/p nodes to find ef
// accepted ones, the scan touches p.
func bruteLimit(p, n, ef, exact int) bool {
	return p <= exact || float64(p)*float64(p) <= 8*float64(ef)*float64(n)
}

// Relative per-row costs of the two approximate paths in an indexed
// group: the graph walk reads rows at random (a cache miss each, plus
// heap and visited-set work), the quantized scan streams them. Measured on
// 384-d codes: ~50 ns vs 3-6 ns. A walk that touches more than 1/20 of the
// group is also the sign of data where the walk's recall is poor (random
// 384-d vectors: 10% touched for recall 0.26 at ef=160), while the scan
// keeps recall near 1, so the ratio errs towards scanning.
const (
	walkRowCost = 20
	scanRowCost = 1
	// probeFirst and probeEvery: searches that run both paths to measure
	// the walk (the first probeFirst of a group, then every probeEvery-th).
	probeFirst = 8
	probeEvery = 64
	// walkRecallMin is the measured walk recall (per mille) below which
	// the scan serves.
	walkRecallMin = 950
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

// tieEpsilon is the distance (1 - cosine, on quantized codes) within which
// two candidates count as equally near when measuring a walk's recall.
const tieEpsilon = 1e-3

// search collects the group's best matches for q into top (bounded by
// q.k). The caller holds at least the read lock.
func (gr *group) search(q *query, sc *scratch, top *maxHeap, exact int) {
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
			for slot := range best {
				gr.consider(q, slot, top)
			}
			return
		}
	}
	if gr.g == nil && !gr.building {
		gr.scan(q, top)
		return
	}
	qc := q.code(gr.dim)
	accept := func(slot uint32) bool {
		return int(slot) < len(gr.recs) && q.accept(gr.recs[slot])
	}
	ef := max(q.ef, q.k)
	if gr.g == nil {
		// The graph is being built: scan.
		for _, c := range gr.scanCodes(sc, qc, ef, accept) {
			gr.consider(q, c.id, top)
		}
		return
	}
	// A graph walk over data of high intrinsic dimension (random vectors,
	// say) touches a large share of the rows; past the break-even point a
	// streaming scan of the codes is cheaper, and more accurate.
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
		probe = n <= probeFirst || n%probeEvery == 0
		useScan = walk*walkRowCost > int64(len(gr.recs))*scanRowCost ||
			gr.walkRecall.Load() < walkRecallMin
	}
	var found []cand
	if useScan && !probe {
		found = gr.scanCodes(sc, qc, ef, accept)
	} else {
		before := sc.dists
		found = gr.g.search(gr.view(), sc, qc, ef, accept)
		touched := int64(sc.dists - before)
		gr.walkCost.Store(walk + (touched-walk)/4)
		if probe {
			scanned := gr.scanCodes(sc, qc, ef, accept)
			rc := overlap(found, scanned, q.k)
			old := gr.walkRecall.Load()
			gr.walkRecall.Store(old + (rc-old)/4)
			found = scanned
		} else if len(found) < q.k && len(found) < gr.live {
			// The walk could not fill k although the group may hold more
			// matches (a filter or expired records): scan, which finds
			// every match when there are fewer than ef.
			found = gr.scanCodes(sc, qc, ef, accept)
		}
	}
	// Re-rank the approximate pool with exact distances.
	for _, c := range found {
		gr.consider(q, c.id, top)
	}
}

// scanParallelMin is the group size from which the code scan is split
// across goroutines (one per CPU, at most scanMaxWorkers).
const (
	scanParallelMin = 32 << 10
	scanMaxWorkers  = 4
)

// scanCodes streams every code row and returns the ef accepted slots
// closest to qc by approximate distance.
func (gr *group) scanCodes(sc *scratch, qc *queryCode, ef int, accept func(uint32) bool) []cand {
	n := len(gr.recs)
	sc.dists += n
	workers := min(runtime.GOMAXPROCS(0), scanMaxWorkers, n/(scanParallelMin/2))
	if n < scanParallelMin || workers < 2 {
		res := gr.scanRange(qc, ef, accept, 0, n, sc.res[:0], &sc.raw)
		out := res.sorted()
		sc.res = res[:0]
		return out
	}
	parts := make([]maxHeap, workers)
	var wg sync.WaitGroup
	per := (n + workers - 1) / workers
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var raw []int32
			parts[w] = gr.scanRange(qc, ef, accept, w*per, min((w+1)*per, n), nil, &raw)
		}()
	}
	wg.Wait()
	res := sc.res[:0]
	for _, p := range parts {
		for _, c := range p {
			res.pushBounded(c, ef)
		}
	}
	out := res.sorted()
	sc.res = res[:0]
	return out
}

// scanRange scans rows [from, to) into res (bounded by ef).
func (gr *group) scanRange(qc *queryCode, ef int, accept func(uint32) bool, from, to int, res maxHeap, rawBuf *[]int32) maxHeap {
	const chunk = 512
	raw := append((*rawBuf)[:0], make([]int32, chunk)...)
	worst := float32(math.Inf(1))
	for start := from; start < to; start += chunk {
		m := min(chunk, to-start)
		dotCodesSeq(qc.c, gr.codes, start, raw[:m])
		scales := gr.scales[start : start+m]
		for i, r := range raw[:m] {
			d := qc.dist(r, scales[i])
			if d >= worst {
				continue
			}
			if slot := uint32(start + i); accept(slot) {
				res.pushBounded(cand{d, slot}, ef)
				if len(res) >= ef {
					worst = res.top().dist
				}
			}
		}
	}
	*rawBuf = raw[:0]
	return res
}

func (gr *group) scan(q *query, top *maxHeap) {
	for slot, r := range gr.recs {
		if r == nil {
			continue
		}
		d := distance(q.vec, gr.vec(uint32(slot)))
		if len(*top) >= q.k && d >= top.top().dist {
			continue
		}
		if q.accept(r) {
			top.pushBounded(cand{d, uint32(slot)}, q.k)
		}
	}
}

func (gr *group) consider(q *query, slot uint32, top *maxHeap) {
	d := distance(q.vec, gr.vec(slot))
	if len(*top) >= q.k && d >= top.top().dist {
		return
	}
	if q.accept(gr.recs[slot]) {
		top.pushBounded(cand{d, slot}, q.k)
	}
}

// count reports live, unexpired records matching meta.
func (gr *group) count(meta map[string]string, now int64) int {
	n := 0
	for _, r := range gr.recs {
		if r != nil && !r.expired(now) && r.matches(meta) {
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

// liveSlots lists the occupied slots in order.
func (gr *group) liveSlots() []uint32 {
	out := make([]uint32, 0, gr.live)
	for i, r := range gr.recs {
		if r != nil {
			out = append(out, uint32(i))
		}
	}
	return out
}
