package memory

import "testing"

// TestAdoptOrphans cuts every layer-0 link to a few nodes, as pruning can,
// and checks that a walk cannot find them by their own vector until
// adoptOrphans links them back in.
func TestAdoptOrphans(t *testing.T) {
	const n, dim = 2000, 32
	vs := randomUnit(7, n, dim)
	g, view := bareGraph(vs, 8, 64)
	sc := new(scratch)
	orphans := map[uint32]bool{}
	for id := uint32(1); len(orphans) < 5; id += 97 {
		if id != g.entry && g.levels[id] == 0 {
			orphans[id] = true
		}
	}
	for id := range uint32(n) {
		l := g.links0.row(id)
		kept := l[1:1]
		for _, nb := range l[1 : 1+l[0]] {
			if !orphans[nb] {
				kept = append(kept, nb)
			}
		}
		l[0] = uint32(len(kept))
	}
	found := func(id uint32, upperEf int) bool {
		qc := newQueryCode(vs[id], dim)
		for _, c := range g.search(view, sc, &qc, 64, upperEf, func(uint32) bool { return true }) {
			if c.id == id {
				return true
			}
		}
		return false
	}
	for id := range orphans {
		if found(id, 0) || found(id, 64) {
			t.Fatalf("node %d has no in-link but a walk found it: the test cut nothing", id)
		}
	}
	live := func(slot uint32) bool { return true }
	if got := g.adoptOrphans(view, sc, live); got != len(orphans) {
		t.Errorf("adoptOrphans linked %d nodes, want %d", got, len(orphans))
	}
	for id := range orphans {
		if !found(id, 0) {
			t.Errorf("node %d still unreachable after adoptOrphans", id)
		}
	}
	if got := g.adoptOrphans(view, sc, live); got != 0 {
		t.Errorf("second adoptOrphans linked %d nodes, want 0", got)
	}
	for id := range uint32(n) {
		if l := g.links0.row(id); int(l[0]) > g.m0 {
			t.Fatalf("node %d has %d layer-0 links, more than %d", id, l[0], g.m0)
		}
	}
}

// TestUpperBeamSearch checks that a walk entering layer 0 from a layer-1
// beam finds what the greedy descent finds, and returns sorted results
// within the beam.
func TestUpperBeamSearch(t *testing.T) {
	const n, dim, k = 3000, 32, 10
	vs := randomUnit(11, n, dim)
	qs := randomUnit(12, 200, dim)
	g, view := bareGraph(vs, 8, 64)
	sc := new(scratch)
	hits := [2]int{}
	for _, q := range qs {
		best, bestD := -1, float32(2)
		for i, v := range vs {
			if d := distance(q, v); d < bestD {
				best, bestD = i, d
			}
		}
		for j, upper := range []int{0, 64} {
			qc := newQueryCode(q, dim)
			res := g.search(view, sc, &qc, k, upper, func(uint32) bool { return true })
			if len(res) != k {
				t.Fatalf("upperEf %d: %d results, want %d", upper, len(res), k)
			}
			for i := 1; i < len(res); i++ {
				if res[i].dist < res[i-1].dist {
					t.Fatalf("upperEf %d: results not sorted", upper)
				}
			}
			for _, c := range res {
				if int(c.id) == best {
					hits[j]++
				}
			}
		}
	}
	t.Logf("true neighbour among the top %d: greedy entry %d, layer-1 beam %d of %d", k, hits[0], hits[1], len(qs))
	if hits[1] < hits[0] {
		t.Errorf("the layer-1 beam found the true neighbour %d times, the greedy entry %d", hits[1], hits[0])
	}
}
