package memory

import (
	"os"
	"strconv"
	"testing"
	"time"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

// TestTuneGraph builds a bare graph and sweeps efSearch, reporting recall
// and distance computations per query. Tuning aid, env-gated.
func TestTuneGraph(t *testing.T) {
	if os.Getenv("SEMCACHE_TUNE") == "" {
		t.Skip("tuning aid")
	}
	n, dim := envInt("N", 20000), envInt("DIM", 384)
	m, efc := envInt("M", 24), envInt("EFC", 200)
	vs := randomUnit(100, n, dim)
	qs := randomUnit(101, 200, dim)
	start := time.Now()
	g, view := bareGraph(vs, m, efc)
	sc := new(scratch)
	t.Logf("n=%d M=%d efC=%d build %v", n, m, efc, time.Since(start))
	truth := make([][]int, len(qs))
	for i, q := range qs {
		truth[i] = exactTopK(vs, nil, q, 10)
	}
	for _, ef := range []int{64, 128, 256, 384, 512, 768, 1024} {
		sc.dists = 0
		hit := 0
		start := time.Now()
		for i, q := range qs {
			got := map[int]bool{}
			for _, id := range searchBare(g, view, sc, vs, q, 10, ef) {
				got[id] = true
			}
			for _, w := range truth[i] {
				if got[w] {
					hit++
				}
			}
		}
		el := time.Since(start)
		t.Logf("ef=%4d recall@10 %.4f dists/query %6d (%.1f%% of n) avg %v", ef, float64(hit)/float64(10*len(qs)),
			sc.dists/len(qs), 100*float64(sc.dists)/float64(len(qs)*n), el/time.Duration(len(qs)))
	}
}

// bareGraph indexes vs (unit vectors) in a graph outside any store and
// returns it with its code view.
func bareGraph(vs [][]float32, m, efc int) (*graph, *vecs) {
	dim := len(vs[0])
	st := codeStride(dim)
	v := &vecs{codes: make([]uint8, len(vs)*st), scales: make([]float32, len(vs)), dim: dim, stride: st}
	for i, x := range vs {
		v.scales[i] = encodeCode(x, v.codes[i*st:(i+1)*st])
	}
	g := newGraph(m, efc, 1)
	sc := new(scratch)
	for i, x := range vs {
		q := newQueryCode(x, dim)
		g.apply(g.planInsert(v, sc, &q, uint32(i), false))
	}
	return g, v
}

// searchBare searches a bare graph and re-ranks exactly, like a group.
func searchBare(g *graph, v *vecs, sc *scratch, vs [][]float32, q []float32, k, ef int) []int {
	qc := newQueryCode(q, v.dim)
	var top maxHeap
	for _, c := range g.search(v, sc, &qc, max(ef, k), func(uint32) bool { return true }) {
		top.pushBounded(cand{distance(q, vs[c.id]), c.id}, k)
	}
	var out []int
	for _, c := range top.sorted() {
		out = append(out, int(c.id))
	}
	return out
}
