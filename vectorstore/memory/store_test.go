package memory

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/semcache/semcache/vectorstore"
	"github.com/semcache/semcache/vectorstore/storetest"
)

func opener(base Options, persistent bool, path searchPath) storetest.Opener {
	return func(t *testing.T, dim int) vectorstore.Store {
		o := base
		o.Dimension = dim
		o.Logger = quiet
		if persistent {
			o.Dir = t.TempDir()
		}
		s, err := Open(t.Context(), o)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		s.path = path
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	}
}

func TestConformance(t *testing.T) {
	// Every group gets a graph, however small: exercises the indexed
	// paths (graph walk or quantized scan, filters, deletes, slot reuse)
	// under the same suite.
	indexed := Options{ExactThreshold: -1, M: 16, EfConstruction: 100, EfSearch: 100}
	tests := []struct {
		name       string
		opts       Options
		persistent bool
		path       searchPath
	}{
		{"exact", Options{}, false, pathAuto},
		{"graph-walk", indexed, false, pathGraph},
		{"graph-scan", indexed, false, pathScan},
		{"persistent", Options{}, true, pathAuto},
		{"persistent-graph", indexed, true, pathAuto},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Run(t, opener(tc.opts, tc.persistent, tc.path))
		})
	}
}

func TestOptionsValidation(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr []string
	}{
		{"ok", Options{Dimension: 8}, nil},
		{"missing dimension", Options{}, []string{"Dimension 0"}},
		{"all wrong", Options{Dimension: -1, M: 1, EfConstruction: -1, EfSearch: -2, JanitorInterval: -1, SnapshotInterval: -1},
			[]string{"Dimension -1", "M 1", "EfConstruction -1", "EfSearch -2", "JanitorInterval", "SnapshotInterval"}},
		{"M too big", Options{Dimension: 8, M: 1000}, []string{"M 1000"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(t.Context(), tc.opts)
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, vectorstore.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	o, err := Options{Dimension: 3}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if o.M != DefaultM || o.EfConstruction != DefaultEfConstruction || o.EfSearch != DefaultEfSearch ||
		o.ExactThreshold != DefaultExactThreshold || o.JanitorInterval != DefaultJanitorInterval || o.Logger == nil {
		t.Errorf("defaults not applied: %+v", o)
	}
	o, err = Options{Dimension: 3, ExactThreshold: -5, M: 40, EfConstruction: 10}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if o.ExactThreshold != 0 || o.EfConstruction != 40 {
		t.Errorf("ExactThreshold %d (want 0), EfConstruction %d (want raised to M=40)", o.ExactThreshold, o.EfConstruction)
	}
}

func TestCloseIdempotent(t *testing.T) {
	for _, dir := range []string{"", t.TempDir()} {
		s, err := Open(t.Context(), Options{Dimension: 4, Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if err := s.Close(); err != nil {
				t.Fatalf("Close #%d (dir %q): %v", i, dir, err)
			}
		}
		if _, err := s.Search(t.Context(), vectorstore.Query{Vector: []float32{1, 0, 0, 0}, K: 1, Filter: vectorstore.Filter{Namespace: "n"}}); !errors.Is(err, vectorstore.ErrClosed) {
			t.Errorf("Search after Close: %v", err)
		}
	}
}

func TestDotMatchesPortable(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for dim := 1; dim < 70; dim++ {
		a, b := make([]float32, dim), make([]float32, dim)
		for i := range a {
			a[i], b[i] = r.Float32()*2-1, r.Float32()*2-1
		}
		var want float64
		for i := range a {
			want += float64(a[i]) * float64(b[i])
		}
		if got := dot(a, b); math.Abs(float64(got)-want) > 1e-5 {
			t.Errorf("dim %d: dot = %v, want %v", dim, got, want)
		}
		if got := dotGo(a, b); math.Abs(float64(got)-want) > 1e-5 {
			t.Errorf("dim %d: dotGo = %v, want %v", dim, got, want)
		}
	}
}

func TestNormalizesVectors(t *testing.T) {
	s, err := Open(t.Context(), Options{Dimension: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	if err := s.Upsert(ctx, []vectorstore.Record{{ID: "a", Vector: []float32{3, 4}, Namespace: "n"}}); err != nil {
		t.Fatal(err)
	}
	hits, err := s.Search(ctx, vectorstore.Query{Vector: []float32{0, 10}, K: 1, Filter: vectorstore.Filter{Namespace: "n"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 1 || math.Abs(float64(hits[0].Score)-0.8) > 1e-6 {
		t.Fatalf("cosine of (3,4) and (0,10): got %v, want 0.8", hits)
	}
	for _, v := range [][]float32{{0, 0}, {float32(math.NaN()), 1}, {float32(math.Inf(1)), 0}} {
		if err := s.Upsert(ctx, []vectorstore.Record{{ID: "b", Vector: v, Namespace: "n"}}); !errors.Is(err, vectorstore.ErrInvalid) {
			t.Errorf("Upsert %v: err = %v, want ErrInvalid", v, err)
		}
	}
}

// randomUnit returns n random unit vectors of dim, deterministically.
func randomUnit(seed uint64, n, dim int) [][]float32 {
	r := rand.New(rand.NewPCG(seed, 7))
	out := make([][]float32, n)
	for i := range out {
		v := make([]float32, dim)
		var ss float64
		for j := range v {
			x := r.NormFloat64()
			v[j] = float32(x)
			ss += x * x
		}
		inv := float32(1 / math.Sqrt(ss))
		for j := range v {
			v[j] *= inv
		}
		out[i] = v
	}
	return out
}

// exactTopK is the brute-force reference.
func exactTopK(vs [][]float32, live func(int) bool, q []float32, k int) []int {
	type sc struct {
		i int
		s float32
	}
	var all []sc
	for i, v := range vs {
		if live == nil || live(i) {
			all = append(all, sc{i, dot(q, v)})
		}
	}
	slices.SortFunc(all, func(a, b sc) int {
		switch {
		case a.s > b.s:
			return -1
		case a.s < b.s:
			return 1
		}
		return a.i - b.i
	})
	out := make([]int, 0, k)
	for _, x := range all[:min(k, len(all))] {
		out = append(out, x.i)
	}
	return out
}

func recordsOf(vs [][]float32, ns, part string, offset int) []vectorstore.Record {
	out := make([]vectorstore.Record, len(vs))
	for i, v := range vs {
		out[i] = vectorstore.Record{ID: idOf(offset + i), Vector: v, Namespace: ns, Partition: part}
	}
	return out
}

func idOf(i int) string { return fmt.Sprintf("id%07d", i) }

func upsertAll(t testing.TB, s *Store, recs []vectorstore.Record) {
	t.Helper()
	for start := 0; start < len(recs); start += 1000 {
		if err := s.Upsert(context.Background(), recs[start:min(start+1000, len(recs))]); err != nil {
			t.Fatal(err)
		}
	}
}

// recallAt measures recall@k of s against brute force over vs (record i
// has ID idOf(i)); live filters which records should exist.
func recallAt(t testing.TB, s *Store, vs, queries [][]float32, live func(int) bool, k int, f vectorstore.Filter) float64 {
	t.Helper()
	hit, total := 0, 0
	for _, q := range queries {
		want := exactTopK(vs, live, q, k)
		got, err := s.Search(context.Background(), vectorstore.Query{Vector: q, K: k, MinScore: -1, Filter: f})
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]bool{}
		for _, h := range got {
			ids[h.Record.ID] = true
		}
		for _, i := range want {
			if ids[idOf(i)] {
				hit++
			}
		}
		total += len(want)
	}
	return float64(hit) / float64(total)
}

func TestGraphRecall(t *testing.T) {
	const (
		n   = 5000
		dim = 32
	)
	vs := randomUnit(1, n, dim)
	queries := randomUnit(2, 100, dim)
	s, err := Open(t.Context(), Options{Dimension: dim, ExactThreshold: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	upsertAll(t, s, recordsOf(vs, "n", "", 0))
	if gr := s.spaces["n"][""]; gr == nil || gr.g == nil {
		t.Fatal("group above the exact threshold has no graph")
	}
	for _, path := range []searchPath{pathGraph, pathScan, pathAuto} {
		s.path = path
		if r := recallAt(t, s, vs, queries, nil, 10, vectorstore.Filter{Namespace: "n"}); r < 0.95 {
			t.Errorf("path %d: recall@10 = %.3f, want >= 0.95", path, r)
		}
	}
}

// TestGraphChurn deletes and replaces half of an indexed group several
// times (tombstones, slot reuse with re-linking) and checks that recall
// holds and that no deleted record comes back.
func TestGraphChurn(t *testing.T) {
	const (
		n   = 3000
		dim = 24
	)
	s, err := Open(t.Context(), Options{Dimension: dim, ExactThreshold: 500})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.path = pathGraph
	vs := randomUnit(3, n, dim)
	upsertAll(t, s, recordsOf(vs, "n", "", 0))
	live := make([]bool, n)
	for i := range live {
		live[i] = true
	}
	r := rand.New(rand.NewPCG(4, 4))
	queries := randomUnit(5, 60, dim)
	ctx := t.Context()
	for round := range 3 {
		// Delete a random half, then re-insert it with new vectors.
		var ids []string
		var idx []int
		for i := range n {
			if r.IntN(2) == 0 {
				ids = append(ids, idOf(i))
				idx = append(idx, i)
				live[i] = false
			}
		}
		if err := s.Delete(ctx, ids); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Count(ctx, vectorstore.Filter{Namespace: "n"}); err != nil || got != n-len(ids) {
			t.Fatalf("round %d: Count = %d, %v; want %d", round, got, err, n-len(ids))
		}
		isLive := func(i int) bool { return live[i] }
		if rc := recallAt(t, s, vs, queries, isLive, 10, vectorstore.Filter{Namespace: "n"}); rc < 0.9 {
			t.Errorf("round %d after deletes: recall@10 = %.3f", round, rc)
		}
		fresh := randomUnit(uint64(100+round), len(idx), dim)
		var recs []vectorstore.Record
		for j, i := range idx {
			vs[i] = fresh[j]
			live[i] = true
			recs = append(recs, vectorstore.Record{ID: idOf(i), Vector: vs[i], Namespace: "n"})
		}
		upsertAll(t, s, recs)
		gr := s.spaces["n"][""]
		if gr.g == nil || gr.slots() != n {
			t.Fatalf("round %d: graph %v, %d slots; want a graph reusing %d slots", round, gr.g != nil, gr.slots(), n)
		}
		if rc := recallAt(t, s, vs, queries, nil, 10, vectorstore.Filter{Namespace: "n"}); rc < 0.9 {
			t.Errorf("round %d after re-inserts: recall@10 = %.3f", round, rc)
		}
	}
	checkGraphInvariants(t, s.spaces["n"][""])
}

// checkGraphInvariants verifies link sanity: in range, on the right layer,
// no self links, no duplicates, within degree.
func checkGraphInvariants(t *testing.T, gr *group) {
	t.Helper()
	g := gr.g
	for slot := range g.levels {
		for l := 0; l <= int(g.levels[slot]); l++ {
			ns := g.nbrs(uint32(slot), l, nil)
			if len(ns) > g.maxConn(l) {
				t.Fatalf("slot %d layer %d has %d links", slot, l, len(ns))
			}
			seen := map[uint32]bool{}
			for _, n := range ns {
				if int(n) >= len(g.levels) || int(g.levels[n]) < l || n == uint32(slot) || seen[n] {
					t.Fatalf("slot %d layer %d: bad link %d", slot, l, n)
				}
				seen[n] = true
			}
		}
	}
	if int(g.levels[g.entry]) != g.maxLevel {
		t.Fatalf("entry %d has level %d, maxLevel %d", g.entry, g.levels[g.entry], g.maxLevel)
	}
}

// TestGraphFilteredFallback covers the paths a selective filter takes in an
// indexed group: postings scan, filtered graph walk, exhaustive fallback.
func TestGraphFilteredFallback(t *testing.T) {
	const (
		n   = 4000
		dim = 16
	)
	s, err := Open(t.Context(), Options{Dimension: dim, ExactThreshold: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	vs := randomUnit(6, n, dim)
	recs := recordsOf(vs, "n", "", 0)
	for i := range recs {
		recs[i].Meta = map[string]string{"half": fmt.Sprint(i % 2), "rare": fmt.Sprint(i%400 == 0)}
		if i%3 == 0 {
			recs[i].ExpiresAt = time.Now().Add(-time.Minute)
		}
	}
	upsertAll(t, s, recs)
	queries := randomUnit(7, 40, dim)
	for _, path := range []searchPath{pathGraph, pathScan} {
		s.path = path
		t.Run(fmt.Sprint("path", path), func(t *testing.T) { filteredRecall(t, s, vs, queries) })
	}
}

func filteredRecall(t *testing.T, s *Store, vs, queries [][]float32) {
	tests := []struct {
		name string
		meta map[string]string
		keep func(int) bool
	}{
		{"broad meta: filtered graph walk", map[string]string{"half": "1"}, func(i int) bool { return i%2 == 1 && i%3 != 0 }},
		{"rare meta: postings scan", map[string]string{"rare": "true"}, func(i int) bool { return i%400 == 0 && i%3 != 0 }},
		{"no meta: expired skipped", nil, func(i int) bool { return i%3 != 0 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if rc := recallAt(t, s, vs, queries, tc.keep, 10, vectorstore.Filter{Namespace: "n", Meta: tc.meta}); rc < 0.95 {
				t.Errorf("recall@10 = %.3f", rc)
			}
		})
	}
}

func TestGraphDroppedWhenGroupShrinks(t *testing.T) {
	s, err := Open(t.Context(), Options{Dimension: 8, ExactThreshold: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	vs := randomUnit(8, 200, 8)
	upsertAll(t, s, recordsOf(vs, "n", "p", 0))
	gr := s.spaces["n"]["p"]
	if gr.g == nil {
		t.Fatal("no graph above the threshold")
	}
	var ids []string
	for i := range 150 {
		ids = append(ids, idOf(i))
	}
	if err := s.Delete(t.Context(), ids); err != nil {
		t.Fatal(err)
	}
	if gr.g != nil {
		t.Errorf("graph kept at %d records (threshold 100)", gr.live)
	}
	live := func(i int) bool { return i >= 150 }
	if rc := recallAt(t, s, vs, randomUnit(9, 20, 8), live, 5, vectorstore.Filter{Namespace: "n"}); rc != 1 {
		t.Errorf("brute-force recall = %v, want 1", rc)
	}
	if err := s.Delete(t.Context(), []string{}); err != nil {
		t.Fatal(err)
	}
	ids = ids[:0]
	for i := 150; i < 200; i++ {
		ids = append(ids, idOf(i))
	}
	if err := s.Delete(t.Context(), ids); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.spaces["n"]; ok {
		t.Errorf("empty group and namespace kept")
	}
}

func TestJanitorPurgesExpired(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(t.Context(), Options{Dimension: 4, Dir: dir, JanitorInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	recs := []vectorstore.Record{
		{ID: "old", Vector: []float32{1, 0, 0, 0}, Namespace: "n", ExpiresAt: time.Now().Add(-time.Second)},
		{ID: "live", Vector: []float32{0, 1, 0, 0}, Namespace: "n"},
	}
	if err := s.Upsert(ctx, recs); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.writeMu.Lock()
		_, present := s.byID["old"]
		s.writeMu.Unlock()
		if !present {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("janitor did not purge the expired record")
		}
		time.Sleep(5 * time.Millisecond)
	}
	var inDB int
	if err := s.db.View(func(tx *bbolt.Tx) error {
		inDB = tx.Bucket(bucketRecords).Stats().KeyN
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if inDB != 1 {
		t.Errorf("bbolt holds %d records after the purge, want 1", inDB)
	}
}

// TestScanCodesParallel checks the split code scan against a single-range
// scan and against brute force (run with -race: accept runs concurrently).
func TestScanCodesParallel(t *testing.T) {
	const (
		n   = 40_000
		dim = 16
	)
	gr := newGroup("n", "", dim, true)
	vs := randomUnit(50, n, dim)
	for i, v := range vs {
		r := &recInfo{id: idOf(i), seq: uint64(i + 1)}
		if i%5 == 0 {
			r.meta = map[string]string{"skip": "yes"}
		}
		slot, reused := gr.nextSlot()
		gr.place(slot, reused, newCoded(v, dim), r)
	}
	sc := new(scratch)
	for qi, qv := range randomUnit(51, 20, dim) {
		qc := newQueryCode(qv, dim)
		q := &query{vec: qv, qc: &qc, k: 10, ef: 64, now: time.Now().UnixNano()}
		par := &pool{}
		par.reset(10, float32(math.Inf(1)))
		gr.scanCodes(q, sc, par)
		seq := &pool{}
		seq.reset(10, float32(math.Inf(1)))
		var raw []int32
		gr.scanRange(q, seq, 0, n, &raw)
		top := func(p *pool) []uint32 {
			hits := rerankMemory(qv, p.final(), 10, float32(math.Inf(1)))
			var out []uint32
			for _, h := range hits {
				i, _ := strconv.Atoi(strings.TrimPrefix(h.Record.ID, "id"))
				out = append(out, uint32(i))
			}
			return out
		}
		got, want1 := top(par), top(seq)
		if !slices.Equal(got, want1) {
			t.Fatalf("query %d: parallel %v, sequential %v", qi, got, want1)
		}
		want := exactTopK(vs, nil, qv, 10)
		for i := range want {
			if int(got[i]) != want[i] {
				t.Errorf("query %d: scan top 10 %v, exact %v", qi, got, want)
				break
			}
		}
	}
}

// TestGraphRebuildAfterMassDelete: a graph left mostly tombstones is
// rebuilt in the background without them.
func TestGraphRebuildAfterMassDelete(t *testing.T) {
	const (
		n   = 3000
		dim = 16
	)
	s, err := Open(t.Context(), Options{Dimension: dim, ExactThreshold: 200, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	vs := randomUnit(70, n, dim)
	upsertAll(t, s, recordsOf(vs, "n", "", 0))
	var del []string
	for i := range 2400 {
		del = append(del, idOf(i))
	}
	if err := s.Delete(t.Context(), del); err != nil {
		t.Fatal(err)
	}
	waitBuilt(t, s)
	gr := s.spaces["n"][""]
	if gr.g == nil {
		t.Fatal("graph dropped")
	}
	checkGraphInvariants(t, gr)
	for slot := range gr.g.levels {
		for _, nb := range gr.g.nbrs(uint32(slot), 0, nil) {
			if gr.ids[nb] == "" {
				t.Fatalf("slot %d still links tombstone %d after the rebuild", slot, nb)
			}
		}
	}
	s.path = pathGraph
	live := func(i int) bool { return i >= 2400 }
	if rc := recallAt(t, s, vs, randomUnit(71, 30, dim), live, 10, vectorstore.Filter{Namespace: "n"}); rc < 0.95 {
		t.Errorf("recall@10 after the rebuild = %.3f", rc)
	}
}
