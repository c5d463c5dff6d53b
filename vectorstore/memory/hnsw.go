package memory

import (
	"math"
	"math/rand/v2"
	"slices"
)

// This file is a compact HNSW (Malkov & Yashunin, 2018) over the slots of
// one group. It owns only the topology; vectors live in the group's slab
// and are read through a vecs view.
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

// vecs is a read-only view of a group's vector slab. One slot may be
// overridden by a vector that is not in the slab yet (the one being
// inserted).
type vecs struct {
	data []float32
	dim  int
	ov   uint32
	ovec []float32
}

func (v *vecs) at(i uint32) []float32 {
	if v.ovec != nil && i == v.ov {
		return v.ovec
	}
	o := int(i) * v.dim
	return v.data[o : o+v.dim : o+v.dim]
}

// slots is an upper bound (exclusive) on slot ids reachable through v.
func (v *vecs) slots() int {
	n := len(v.data) / v.dim
	if v.ovec != nil && int(v.ov) >= n {
		n = int(v.ov) + 1
	}
	return n
}

func distance(a, b []float32) float32 { return 1 - dot(a, b) }

// maxLevels caps the number of layers (levels are stored as uint8).
const maxLevels = 16

type graph struct {
	m, m0, efC int
	ml         float64
	// levels[slot] is the top layer of the slot's node.
	levels []uint8
	// links0 holds layer-0 lists: per slot, a count followed by m0 ids.
	links0 []uint32
	// upper[slot] holds layers 1..levels[slot]: per layer a count
	// followed by m ids.
	upper [][]uint32
	entry uint32
	// maxLevel is the entry's level; -1 while the graph is empty.
	maxLevel int
	rng      *rand.Rand
}

func newGraph(m, efC int, seed uint64) *graph {
	return &graph{
		m:        m,
		m0:       2 * m,
		efC:      efC,
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
	g.levels = append(g.levels, make([]uint8, n-len(g.levels))...)
	g.upper = append(g.upper, make([][]uint32, n-len(g.upper))...)
	g.links0 = append(g.links0, make([]uint32, n*(g.m0+1)-len(g.links0))...)
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
	if level == 0 {
		b := int(id) * (g.m0 + 1)
		n := int(g.links0[b])
		return g.links0[b+1 : b+1+n]
	}
	u := g.upper[id]
	b := (level - 1) * (g.m + 1)
	n := int(u[b])
	return u[b+1 : b+1+n]
}

func (g *graph) setNbrs(id uint32, level int, list []uint32) {
	if level == 0 {
		b := int(id) * (g.m0 + 1)
		g.links0[b] = uint32(copy(g.links0[b+1:b+1+g.m0], list))
		return
	}
	u := g.upper[id]
	b := (level - 1) * (g.m + 1)
	u[b] = uint32(copy(u[b+1:b+1+g.m], list))
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
	if g.levels[p.slot] != uint8(p.level) || (p.level > 0 && g.upper[p.slot] == nil) {
		g.levels[p.slot] = uint8(p.level)
		if p.level > 0 {
			g.upper[p.slot] = make([]uint32, p.level*(g.m+1))
		} else {
			g.upper[p.slot] = nil
		}
	}
	for k, list := range p.lists {
		g.setNbrs(uint32(k>>8), int(k&0xff), list)
	}
	if p.level > g.maxLevel {
		g.entry = p.slot
		g.maxLevel = p.level
	}
}

// greedy walks a layer towards q from cur and returns the local optimum.
func (g *graph) greedy(v *vecs, q []float32, cur uint32, curd float32, level int, ov overlay) (uint32, float32) {
	for changed := true; changed; {
		changed = false
		for _, n := range g.nbrs(cur, level, ov) {
			if d := distance(q, v.at(n)); d < curd {
				cur, curd, changed = n, d, true
			}
		}
	}
	return cur, curd
}

// searchLayer is the construction-time beam search on one layer. It
// returns up to ef nodes closest first, never including exclude (which
// may still be traversed).
func (g *graph) searchLayer(v *vecs, sc *scratch, q []float32, eps []cand, ef, level int, exclude uint32, ov overlay) []cand {
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
		for _, n := range g.nbrs(c.id, level, ov) {
			if sc.vis.visit(n) {
				continue
			}
			d := distance(q, v.at(n))
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
// directions, which is what makes the graph navigable.
func selectNeighbors(v *vecs, cs []cand, m int) []uint32 {
	out := make([]uint32, 0, m)
	for _, c := range cs {
		if len(out) >= m {
			break
		}
		vc := v.at(c.id)
		good := true
		for _, r := range out {
			if distance(vc, v.at(r)) < c.dist {
				good = false
				break
			}
		}
		if good {
			out = append(out, c.id)
		}
	}
	return out
}

func (g *graph) maxConn(level int) int {
	if level == 0 {
		return g.m0
	}
	return g.m
}

// planInsert plans inserting the vector v.at(slot) as node slot. reuse
// says slot is a tombstone already in the graph (it keeps its level and
// its in-neighbours are re-linked first); otherwise level is drawn.
func (g *graph) planInsert(v *vecs, sc *scratch, slot uint32, reuse bool) *plan {
	p := &plan{slot: slot, lists: overlay{}}
	if reuse && int(slot) < len(g.levels) {
		p.level = int(g.levels[slot])
		g.planRepair(v, sc, slot, p.lists)
	} else {
		p.level = g.randomLevel()
	}
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
	q := v.at(slot)
	ep := g.entry
	epd := distance(q, v.at(ep))
	for l := g.maxLevel; l > p.level; l-- {
		ep, epd = g.greedy(v, q, ep, epd, l, p.lists)
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
		sel := selectNeighbors(v, found[l], g.m)
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
			vn := v.at(n)
			cs := make([]cand, 0, len(cur)+1)
			for _, x := range cur {
				cs = append(cs, cand{distance(vn, v.at(x)), x})
			}
			cs = append(cs, cand{distance(vn, q), slot})
			slices.SortFunc(cs, cmpCand)
			p.lists[keyOf(n, l)] = selectNeighbors(v, cs, mmax)
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
			sc.vis.reset(v.slots())
			sc.vis.visit(slot)
			sc.vis.visit(n)
			vn := v.at(n)
			cs := make([]cand, 0, len(cur)+len(own))
			for _, lst := range [2][]uint32{cur, own} {
				for _, x := range lst {
					if !sc.vis.visit(x) {
						cs = append(cs, cand{distance(vn, v.at(x)), x})
					}
				}
			}
			slices.SortFunc(cs, cmpCand)
			ov[keyOf(n, l)] = selectNeighbors(v, cs, mmax)
		}
	}
}

// search returns up to k nodes accepted by accept, closest first, looking
// at up to ef accepted candidates on the bottom layer. Rejected nodes
// still route the search. If fewer than ef nodes are accepted the search
// keeps going until the reachable graph is exhausted, so a selective
// filter degrades to a (slow) exhaustive walk rather than to missed hits.
func (g *graph) search(v *vecs, sc *scratch, q []float32, k, ef int, accept func(uint32) bool) []cand {
	if g.maxLevel < 0 {
		return nil
	}
	ef = max(ef, k)
	ep := g.entry
	epd := distance(q, v.at(ep))
	for l := g.maxLevel; l > 0; l-- {
		ep, epd = g.greedy(v, q, ep, epd, l, nil)
	}
	sc.vis.reset(v.slots())
	cands := sc.cand[:0]
	res := sc.res[:0]
	lower := float32(math.Inf(1))
	sc.vis.visit(ep)
	cands.push(cand{epd, ep})
	if accept(ep) {
		res.push(cand{epd, ep})
		lower = epd
	}
	for len(cands) > 0 {
		c := cands.pop()
		if c.dist > lower && len(res) >= ef {
			break
		}
		b := int(c.id) * (g.m0 + 1)
		n := int(g.links0[b])
		for _, nb := range g.links0[b+1 : b+1+n] {
			if sc.vis.visit(nb) {
				continue
			}
			d := distance(q, v.at(nb))
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
	if len(out) > k {
		out = out[:k]
	}
	return out
}
