package memory

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/coder/hnsw"
)

// TestCompareCoderHNSW builds github.com/coder/hnsw and this package's
// graph on the same data with the same M and ef, and reports build time,
// recall@10 and search time for both. It is the evidence for not using the
// library (see hnsw.go). SEMCACHE_LONG=1 runs it; SEMCACHE_CMP_N sets n.
func TestCompareCoderHNSW(t *testing.T) {
	longEnabled(t)
	n, dim, m, ef := 10_000, 384, 16, 100
	if v, err := strconv.Atoi(os.Getenv("SEMCACHE_CMP_N")); err == nil && v > 0 {
		n = v
	}
	for _, data := range []struct {
		name string
		gen  func(seed uint64, n, dim int) [][]float32
	}{{"random", randomUnit}, {"low-dim", lowDimUnit}} {
		t.Run(data.name, func(t *testing.T) {
			all := data.gen(200, n+100, dim)
			compareCoder(t, all[:n], all[n:], m, ef)
		})
	}
}

func compareCoder(t *testing.T, vs, qs [][]float32, m, ef int) {
	n, dim := len(vs), len(vs[0])
	truth := make([][]int, len(qs))
	for i, q := range qs {
		truth[i] = exactTopK(vs, nil, q, 10)
	}
	recall := func(found [][]int) float64 {
		hit := 0
		for i, f := range found {
			set := map[int]bool{}
			for _, x := range f {
				set[x] = true
			}
			for _, w := range truth[i] {
				if set[w] {
					hit++
				}
			}
		}
		return float64(hit) / float64(10*len(qs))
	}

	// coder/hnsw
	cg := hnsw.NewGraph[int]()
	cg.M, cg.EfSearch = m, ef
	cg.Distance = hnsw.CosineDistance
	start := time.Now()
	for i, v := range vs {
		cg.Add(hnsw.MakeNode(i, v))
	}
	cBuild := time.Since(start)
	found := make([][]int, len(qs))
	start = time.Now()
	for i, q := range qs {
		for _, nd := range cg.Search(q, 10) {
			found[i] = append(found[i], nd.Key)
		}
	}
	cSearch := time.Since(start) / time.Duration(len(qs))
	cRecall := recall(found)

	// this package
	start = time.Now()
	g, view := bareGraph(vs, m, ef)
	sc := new(scratch)
	oBuild := time.Since(start)
	found = make([][]int, len(qs))
	start = time.Now()
	for i, q := range qs {
		found[i] = searchBare(g, view, sc, vs, q, 10, ef)
	}
	oSearch := time.Since(start) / time.Duration(len(qs))
	oRecall := recall(found)

	t.Logf("n=%d dim=%d M=%d ef=%d", n, dim, m, ef)
	t.Logf("coder/hnsw: build %v, recall@10 %.3f, search %v/query", cBuild.Round(time.Millisecond), cRecall, cSearch)
	t.Logf("memory:     build %v, recall@10 %.3f, search %v/query", oBuild.Round(time.Millisecond), oRecall, oSearch)
	if oRecall < cRecall {
		t.Errorf("own graph recall %.3f below coder/hnsw %.3f", oRecall, cRecall)
	}
}

// bareGraph indexes vs (unit vectors) in a graph outside any store and
// returns it with its code view.
func bareGraph(vs [][]float32, m, efc int) (*graph, *vecs) {
	dim := len(vs[0])
	codes := newSlab[int8](codeDims(dim))
	codes.grow(len(vs))
	info := make([]slotInfo, len(vs))
	for i, x := range vs {
		info[i].scale, info[i].err = encodeCode(x, codes.row(uint32(i)))
	}
	v := &vecs{codes: codes, info: info, cdim: codeDims(dim)}
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
	qc := newQueryCode(q, len(q))
	var top maxHeap
	for _, c := range g.search(v, sc, &qc, max(ef, k), 0, func(uint32) bool { return true }) {
		top.pushBounded(cand{distance(q, vs[c.id]), c.id}, k)
	}
	var out []int
	for _, c := range top.sorted() {
		out = append(out, int(c.id))
	}
	return out
}
