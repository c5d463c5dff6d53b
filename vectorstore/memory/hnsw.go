package memory

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"unsafe"
)

// This file is a compact HNSW (Malkov & Yashunin, 2018) over the slots of
// one group. It owns only the topology; the int8 codes it measures
// distances with live in the group and are read through a vecs view.
//
// Why not github.com/coder/hnsw: on 5,000 384-d unit vectors with M=16,
// ef=100 (TestCompareCoderHNSW) it reached recall@10 0.025 on random data
// and 0.072 on low-intrinsic-dimension data, against 0.71 and 0.997
// here. Its layer search stops at the first expansion that does not
// improve the best result and keeps only k results (so it is fast, 35-40
// us, but finds little), entry points are arbitrary map elements, it keeps
// neighbours in maps and sorts their keys on every expansion, hard-codes
// cosine distance in its delete repair and needs external locking. This
// implementation uses flat neighbour arrays, a generation-stamped visited
// set, the neighbour selection heuristic, a standard beam search,
// quantized distances with an AVX2 kernel, and lock-free insert planning.
//
// Concurrency model: searches run under the store's read lock. Inserts are
// split in two phases. planInsert reads the graph and computes every
// neighbour list that changes; it runs without the store lock but with the
// store's writer mutex, so nothing mutates the graph meanwhile and readers
// may keep reading it. apply then publishes the lists under the write lock,
// which is held only for a few copies.
//
// Deletion is by tombstone (the owning group clears the slot's record): a
// tombstone keeps its vector and links, so it still routes searches, but
// is never returned. A later insert reuses the slot: its in-neighbours are
// re-linked around it (hnswlib's "replace deleted" strategy) and the new
// vector is inserted in its place.

// vecs is a read-only view of a group's int8 codes (see dot.go). One
// slot may be overridden by a row that is not in the slab yet (the one
// being inserted).
type vecs struct {
	codes slab[int8]
	info  []slotInfo
	cdim  int
	ov    uint32
	ovRow []int8 // nil: no override
	ovSc  float32
}

// slots is an upper bound (exclusive) on slot ids reachable through v.
func (v *vecs) slots() int {
	n := len(v.info)
	if v.ovRow != nil && int(v.ov) >= n {
		n = int(v.ov) + 1
	}
	return n
}

func (v *vecs) row(i uint32) ([]int8, float32) {
	if v.ovRow != nil && i == v.ov {
		return v.ovRow, v.ovSc
	}
	return v.codes.row(i), v.info[i].scale
}

// dists sets out[k] to the approximate distance from q to ids[k].
func (v *vecs) dists(sc *scratch, q *queryCode, ids []uint32, out []float32) {
	sc.dists += len(ids)
	ptrs := sc.ptrs[:0]
	for _, id := range ids {
		row, _ := v.row(id)
		ptrs = append(ptrs, unsafe.Pointer(unsafe.SliceData(row)))
	}
	raw := append(sc.raw[:0], make([]int32, len(ids))...)
	dotRows(q, ptrs, raw)
	for k, id := range ids {
		_, s := v.row(id)
		out[k] = q.dist(raw[k], s)
	}
	clear(ptrs)
	sc.ptrs, sc.raw = ptrs[:0], raw[:0]
}

// dist is the approximate distance from q to one slot.
func (v *vecs) dist(sc *scratch, q *queryCode, id uint32) float32 {
	ids := [1]uint32{id}
	var out [1]float32
	v.dists(sc, q, ids[:], out[:])
	return out[0]
}

// queryOf turns a stored node's code into a query code, for node-to-node
// distances.
func (v *vecs) queryOf(id uint32, dst *queryCode) {
	row, s := v.row(id)
	dst.setRow(row, s)
}

// maxLevels caps the number of layers (levels are stored as uint8).
const maxLevels = 16

type graph struct {
	m, m0, efC int
	ml         float64
	// levels[slot] is the top layer of the slot's node.
	levels []uint8
	// links0 holds layer-0 lists: per slot, a count followed by m0 ids.
	links0 slab[uint32]
	// upperAt[slot] is 1 + the offset in upper of the slot's layers
	// 1..levels[slot] (per layer a count followed by m ids), 0 for none.
	upperAt []uint32
	upper   []uint32
	entry   uint32
	// maxLevel is the entry's level; -1 while the graph is empty.
	maxLevel int
	rng      *rand.Rand
}

func newGraph(m, efC int, seed uint64) *graph {
	return &graph{
		m:        m,
		m0:       2 * m,
		efC:      efC,
		links0:   newSlab[uint32](2*m + 1),
		ml:       1 / math.Log(float64(m)),
		maxLevel: -1,
		rng:      rand.New(rand.NewPCG(seed, 0x5ca1ab1e)),
	}
}

func (g *graph) randomLevel() int {
	l := int(-math.Log(1-g.rng.Float64()) * g.ml)
	return min(l, maxLevels-1)
}

// grow makes room for slots [0, n).
func (g *graph) grow(n int) {
	if len(g.levels) >= n {
		return
	}
	k := n - len(g.levels)
	g.levels = append(g.levels, make([]uint8, k)...)
	g.upperAt = append(g.upperAt, make([]uint32, k)...)
	g.links0.grow(k)
}

// upperList returns the layer-l (l >= 1) list block of id: a count
// followed by m ids.
func (g *graph) upperList(id uint32, level int) []uint32 {
	b := int(g.upperAt[id]) - 1 + (level-1)*(g.m+1)
	return g.upper[b : b+g.m+1 : b+g.m+1]
}

// setLevel gives id the level, with empty upper lists (a fresh block in
// upper when it has layers above 0).
func (g *graph) setLevel(id uint32, level int) {
	g.levels[id] = uint8(level)
	if level == 0 {
		g.upperAt[id] = 0
		return
	}
	g.upperAt[id] = uint32(len(g.upper)) + 1
	g.upper = append(g.upper, make([]uint32, level*(g.m+1))...)
}

type ovKey uint64

func keyOf(id uint32, level int) ovKey { return ovKey(uint64(id)<<8 | uint64(level)) }

// overlay shadows neighbour lists while an insert is being planned.
type overlay map[ovKey][]uint32

// nbrs returns the neighbours of id on a layer, as seen through ov.
func (g *graph) nbrs(id uint32, level int, ov overlay) []uint32 {
	if len(ov) > 0 {
		if s, ok := ov[keyOf(id, level)]; ok {
			return s
		}
	}
	if int(id) >= len(g.levels) || int(g.levels[id]) < level {
		return nil
	}
	var l []uint32
	if level == 0 {
		l = g.links0.row(id)
	} else {
		l = g.upperList(id, level)
	}
	return l[1 : 1+l[0]]
}

func (g *graph) setNbrs(id uint32, level int, list []uint32) {
	var l []uint32
	if level == 0 {
		l = g.links0.row(id)
	} else {
		l = g.upperList(id, level)
	}
	l[0] = uint32(copy(l[1:], list))
}

// plan is the set of neighbour lists an insert changes.
type plan struct {
	slot  uint32
	level int
	lists overlay
}

// apply publishes p. The caller holds the store's write lock (or owns an
// unpublished graph).
func (g *graph) apply(p *plan) {
	g.grow(int(p.slot) + 1)
	if g.levels[p.slot] != uint8(p.level) || (p.level > 0 && g.upperAt[p.slot] == 0) {
		g.setLevel(p.slot, p.level)
	}
	for k, list := range p.lists {
		g.setNbrs(uint32(k>>8), int(k&0xff), list)
	}
	if p.level > g.maxLevel {
		g.entry = p.slot
		g.maxLevel = p.level
	}
}

// expand computes distances from q to the not yet visited neighbours of
// id on a layer, returning them in sc.nb / sc.nd.
func (g *graph) expand(v *vecs, sc *scratch, q *queryCode, id uint32, level int, ov overlay) ([]uint32, []float32) {
	ids := sc.nb[:0]
	for _, n := range g.nbrs(id, level, ov) {
		if !sc.vis.visit(n) {
			ids = append(ids, n)
		}
	}
	ds := append(sc.nd[:0], make([]float32, len(ids))...)
	v.dists(sc, q, ids, ds)
	sc.nb, sc.nd = ids, ds
	return ids, ds
}

// greedy walks a layer towards q from cur and returns the local optimum.
func (g *graph) greedy(v *vecs, sc *scratch, q *queryCode, cur uint32, curd float32, level int, ov overlay) (uint32, float32) {
	for changed := true; changed; {
		changed = false
		sc.vis.reset(v.slots())
		ids, ds := g.expand(v, sc, q, cur, level, ov)
		for k, n := range ids {
			if ds[k] < curd {
				cur, curd, changed = n, ds[k], true
			}
		}
	}
	return cur, curd
}

// adoptOrphans links every live node that no layer-0 list points to into
// the layer-0 list of one of its own neighbours, and returns how many it
// linked. Pruning during construction leaves some nodes with out-links
// only (818 of 1M realistic lexical vectors): no walk reaches them, so a
// query whose nearest neighbour is one of them never finds it by walking.
// Its neighbours are the nodes nearest to it, so a walk that reaches them
// now reaches it. Their lists are full (that is how it was pruned): the
// orphan takes the place of the entry farthest from the neighbour among
// those that other lists point to as well, so no node is orphaned in turn.
// The caller owns g (an unpublished graph, or one no search reads yet).
func (g *graph) adoptOrphans(v *vecs, sc *scratch, live func(uint32) bool) int {
	n := len(g.levels)
	if n == 0 {
		return 0
	}
	indeg := make([]uint16, n)
	for id := range n {
		for _, nb := range g.nbrs(uint32(id), 0, nil) {
			if int(nb) < n && indeg[nb] < math.MaxUint16 {
				indeg[nb]++
			}
		}
	}
	adopted := 0
	qc := &sc.qnode
	for id := range n {
		o := uint32(id)
		if indeg[id] > 0 || o == g.entry || !live(o) {
			continue
		}
		for _, nb := range g.nbrs(o, 0, nil) {
			if int(nb) >= n || !live(nb) {
				continue
			}
			l := g.links0.row(nb)
			if int(l[0]) < g.m0 {
				l[1+l[0]] = o
				l[0]++
			} else {
				list := l[1 : 1+l[0]]
				v.queryOf(nb, qc)
				ds := slices.Grow(sc.nd[:0], len(list))[:len(list)]
				v.dists(sc, qc, list, ds)
				sc.nd = ds
				worst := -1
				for k, x := range list {
					if indeg[x] >= 2 && (worst < 0 || ds[k] > ds[worst]) {
						worst = k
					}
				}
				if worst < 0 {
					continue
				}
				indeg[list[worst]]--
				list[worst] = o
			}
			indeg[o]++
			adopted++
			break
		}
	}
	return adopted
}

// noNode is an id no node has (searchLayer's exclude when none is).
const noNode = math.MaxUint32

// searchLayer is the construction-time beam search on one layer. It
// returns up to ef nodes closest first, never including exclude (which
// may still be traversed).
func (g *graph) searchLayer(v *vecs, sc *scratch, q *queryCode, eps []cand, ef, level int, exclude uint32, ov overlay) []cand {
	sc.vis.reset(v.slots())
	cands := sc.cand[:0]
	res := sc.res[:0]
	for _, e := range eps {
		if sc.vis.visit(e.id) {
			continue
		}
		cands.push(e)
		if e.id != exclude {
			res.pushBounded(e, ef)
		}
	}
	for len(cands) > 0 {
		c := cands.pop()
		if len(res) >= ef && c.dist > res.top().dist {
			break
		}
		ids, ds := g.expand(v, sc, q, c.id, level, ov)
		for k, n := range ids {
			d := ds[k]
			if len(res) < ef || d < res.top().dist {
				cands.push(cand{d, n})
				if n != exclude {
					res.pushBounded(cand{d, n}, ef)
				}
			}
		}
	}
	out := res.sorted()
	sc.cand, sc.res = cands[:0], res[:0]
	return out
}

// selectNeighbors is the HNSW neighbour-selection heuristic: walking the
// candidates closest first, keep one only if it is closer to the base than
// to every neighbour already kept. This keeps edges pointing in diverse
// directions, which is what makes the graph navigable. The list is then
// filled up to m with the closest candidates the heuristic discarded (the
// paper's keepPrunedConnections): text embeddings are full of near-
// duplicates, and without it a node next to its twin keeps only the twin
// as a neighbour and is dropped from everyone else's list, unreachable
// (on 100k lexical embeddings, 1% of queries missed their true neighbour
// that way).
func selectNeighbors(v *vecs, sc *scratch, cs []cand, m int) []uint32 {
	out := make([]uint32, 0, m)
	pruned := sc.pruned[:0]
	defer func() { sc.pruned = pruned[:0] }()
	qc := &sc.qnode
	for _, c := range cs {
		if len(out) >= m {
			break
		}
		good := true
		if len(out) > 0 {
			v.queryOf(c.id, qc)
			ids := append(sc.sel[:0], out...)
			ds := append(sc.seld[:0], make([]float32, len(ids))...)
			v.dists(sc, qc, ids, ds)
			sc.sel, sc.seld = ids, ds
			for _, d := range ds {
				if d < c.dist {
					good = false
					break
				}
			}
		}
		if good {
			out = append(out, c.id)
		} else {
			pruned = append(pruned, c.id)
		}
	}
	for _, id := range pruned {
		if len(out) >= m {
			break
		}
		out = append(out, id)
	}
	return out
}

func (g *graph) maxConn(level int) int {
	if level == 0 {
		return g.m0
	}
	return g.m
}

// distsFrom returns candidates for base's new list: the distances from
// node base to each of ids, sorted closest first.
func distsFrom(v *vecs, sc *scratch, base uint32, ids []uint32) []cand {
	qc := &sc.qnode
	v.queryOf(base, qc)
	tmp := append(sc.sel[:0], ids...)
	ds := append(sc.seld[:0], make([]float32, len(tmp))...)
	v.dists(sc, qc, tmp, ds)
	sc.sel, sc.seld = tmp, ds
	cs := make([]cand, len(tmp))
	for k, id := range tmp {
		cs[k] = cand{ds[k], id}
	}
	slices.SortFunc(cs, cmpCand)
	return cs
}

// planInsert plans inserting node slot, whose code v serves through its
// override row and whose query code is q. reuse says slot is a tombstone
// already in the graph (it keeps its level and its in-neighbours are
// re-linked first); otherwise its level is drawn.
func (g *graph) planInsert(v *vecs, sc *scratch, q *queryCode, slot uint32, reuse bool) *plan {
	if reuse && int(slot) < len(g.levels) {
		p := &plan{slot: slot, level: int(g.levels[slot]), lists: overlay{}}
		g.planRepair(v, sc, slot, p.lists)
		return g.planAt(v, sc, q, p)
	}
	return g.planAt(v, sc, q, &plan{slot: slot, level: g.randomLevel(), lists: overlay{}})
}

// planAt completes p (slot, level and repairs set) with the node's links.
// It only reads g.
func (g *graph) planAt(v *vecs, sc *scratch, q *queryCode, p *plan) *plan {
	slot := p.slot
	// The node's own lists are written last: while planning, a reused
	// slot's old lists still route the search (it may be the entry).
	defer func() {
		for l := 0; l <= p.level; l++ {
			if _, ok := p.lists[keyOf(slot, l)]; !ok {
				p.lists[keyOf(slot, l)] = nil
			}
		}
	}()
	if g.maxLevel < 0 {
		return p
	}
	ep := g.entry
	epd := v.dist(sc, q, ep)
	for l := g.maxLevel; l > p.level; l-- {
		ep, epd = g.greedy(v, sc, q, ep, epd, l, p.lists)
	}
	eps := []cand{{epd, ep}}
	top := min(p.level, g.maxLevel)
	found := make([][]cand, top+1)
	for l := top; l >= 0; l-- {
		w := g.searchLayer(v, sc, q, eps, g.efC, l, slot, p.lists)
		found[l] = w
		if len(w) > 0 {
			eps = w
		}
	}
	sels := make([][]uint32, top+1)
	for l := top; l >= 0; l-- {
		sel := selectNeighbors(v, sc, found[l], g.m)
		sels[l] = sel
		mmax := g.maxConn(l)
		for _, n := range sel {
			cur := g.nbrs(n, l, p.lists)
			if slices.Contains(cur, slot) {
				continue
			}
			if len(cur) < mmax {
				nl := make([]uint32, len(cur), len(cur)+1)
				copy(nl, cur)
				p.lists[keyOf(n, l)] = append(nl, slot)
				continue
			}
			ids := append(slices.Clip(cur), slot)
			p.lists[keyOf(n, l)] = selectNeighbors(v, sc, distsFrom(v, sc, n, ids), mmax)
		}
	}
	for l, sel := range sels {
		p.lists[keyOf(slot, l)] = sel
	}
	return p
}

func cmpCand(a, b cand) int {
	switch {
	case a.dist < b.dist:
		return -1
	case a.dist > b.dist:
		return 1
	}
	return int(a.id) - int(b.id)
}

// planRepair re-links, around slot, every neighbour of slot that points
// back to it: its new list is chosen by the heuristic from its old list
// and slot's neighbours. Writes go to ov.
func (g *graph) planRepair(v *vecs, sc *scratch, slot uint32, ov overlay) {
	for l := 0; l <= int(g.levels[slot]); l++ {
		own := g.nbrs(slot, l, nil)
		mmax := g.maxConn(l)
		for _, n := range own {
			if n == slot {
				continue
			}
			cur := g.nbrs(n, l, ov)
			if !slices.Contains(cur, slot) {
				continue
			}
			ids := make([]uint32, 0, len(cur)+len(own))
			for _, lst := range [2][]uint32{cur, own} {
				for _, x := range lst {
					if x != slot && x != n && !slices.Contains(ids, x) {
						ids = append(ids, x)
					}
				}
			}
			ov[keyOf(n, l)] = selectNeighbors(v, sc, distsFrom(v, sc, n, ids), mmax)
		}
	}
}

// search returns up to ef nodes accepted by accept, closest first by
// approximate (code) distance. Rejected nodes still route the search. If
// fewer than ef nodes are accepted the walk goes on until the reachable
// graph is exhausted, so a selective filter degrades to a (slow)
// exhaustive walk rather than to missed hits. The caller re-ranks.
//
// The walk descends greedily through the upper layers (one node per
// layer), unless upperEf > 1: then layer 1 is searched with a beam of
// upperEf and layer 0 starts from all it found, which reaches regions a
// single entry point leads away from (see group.search's widening).
func (g *graph) search(v *vecs, sc *scratch, q *queryCode, ef, upperEf int, accept func(uint32) bool) []cand {
	if g.maxLevel < 0 {
		return nil
	}
	ep := g.entry
	epd := v.dist(sc, q, ep)
	eps := append(sc.eps[:0], cand{epd, ep})
	for l := g.maxLevel; l > 0; l-- {
		if l == 1 && upperEf > 1 {
			// searchLayer's result lives in sc.res: copy it out.
			eps = append(eps[:0], g.searchLayer(v, sc, q, eps, upperEf, 1, noNode, nil)...)
			break
		}
		ep, epd = g.greedy(v, sc, q, ep, epd, l, nil)
		eps[0] = cand{epd, ep}
	}
	sc.eps = eps
	sc.vis.reset(v.slots())
	cands := sc.cand[:0]
	res := sc.res[:0]
	lower := float32(math.Inf(1))
	for _, e := range eps {
		sc.vis.visit(e.id)
		cands.push(e)
		if accept(e.id) {
			res.pushBounded(e, ef)
			lower = res.top().dist
		}
	}
	for len(cands) > 0 {
		c := cands.pop()
		if c.dist > lower && len(res) >= ef {
			break
		}
		ids, ds := g.expand(v, sc, q, c.id, 0, nil)
		for k, nb := range ids {
			d := ds[k]
			if len(res) < ef || d < lower {
				cands.push(cand{d, nb})
				if accept(nb) {
					res.pushBounded(cand{d, nb}, ef)
					lower = res.top().dist
				}
			}
		}
	}
	out := res.sorted()
	sc.cand, sc.res = cands[:0], res[:0]
	return out
}

// Parallel construction. A background build inserts rows that no writer
// touches into a graph nobody else reads, so it can plan many inserts at
// once: after seqFirst nodes inserted one by one, rounds of up to
// roundMax nodes are planned concurrently against the graph as it stood
// at the round's start, then applied in order. Nodes of one round do not
// see each other (negligible next to a graph thousands of times larger),
// and when two plans of a round rewrote the same neighbour list, the
// later one is redone against the list as the earlier left it.
const (
	seqFirst = 1024
	roundMax = 64
)

// build inserts the fresh slots into g (which holds size nodes already)
// with up to workers goroutines. It reports false if stop closed first.
func (g *graph) build(v *vecs, slots []uint32, size, workers int, stop <-chan struct{}) bool {
	g.grow(v.slots())
	workers = max(workers, 1)
	scs := make([]*scratch, workers)
	qs := make([]queryCode, workers)
	for i := range scs {
		scs[i] = new(scratch)
	}
	i := 0
	for ; i < len(slots) && (size+i < seqFirst || workers < 2); i++ {
		if i%256 == 0 && stopped(stop) {
			return false
		}
		v.queryOf(slots[i], &qs[0])
		g.apply(g.planInsert(v, scs[0], &qs[0], slots[i], false))
	}
	plans := make([]*plan, roundMax)
	var wg sync.WaitGroup
	for i < len(slots) {
		if stopped(stop) {
			return false
		}
		batch := slots[i:min(i+min(roundMax, (size+i)/64), len(slots))]
		for j, slot := range batch {
			plans[j] = &plan{slot: slot, level: g.randomLevel(), lists: overlay{}}
		}
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := w; j < len(batch); j += workers {
					v.queryOf(batch[j], &qs[w])
					g.planAt(v, scs[w], &qs[w], plans[j])
				}
			}()
		}
		wg.Wait()
		g.applyRound(v, scs[0], plans[:len(batch)])
		i += len(batch)
	}
	return true
}

func stopped(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	default:
		return false
	}
}

// applyRound applies plans made against the same graph, in order.
func (g *graph) applyRound(v *vecs, sc *scratch, plans []*plan) {
	touched := map[ovKey]bool{}
	var redo []ovKey
	for _, p := range plans {
		redo = redo[:0]
		for k := range p.lists {
			if uint32(k>>8) != p.slot && touched[k] {
				redo = append(redo, k)
			}
		}
		for _, k := range redo {
			id, l := uint32(k>>8), int(k&0xff)
			list := p.lists[k]
			// An earlier plan of the round rewrote this list: add the
			// node to the list as it is now, if the plan linked it.
			delete(p.lists, k)
			if !slices.Contains(list, p.slot) {
				continue
			}
			cur := g.nbrs(id, l, nil)
			if slices.Contains(cur, p.slot) {
				continue
			}
			if mmax := g.maxConn(l); len(cur) < mmax {
				p.lists[k] = append(slices.Clone(cur), p.slot)
			} else {
				p.lists[k] = selectNeighbors(v, sc, distsFrom(v, sc, id, append(slices.Clone(cur), p.slot)), mmax)
			}
		}
		g.apply(p)
		for k := range p.lists {
			touched[k] = true
		}
	}
}
