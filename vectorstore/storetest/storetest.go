// Package storetest is the conformance suite every vectorstore.Store
// implementation (memory, pgvector, qdrant) must pass. An implementation's
// tests call Run with an Opener that yields fresh, empty stores.
//
// The suite holds stores to exact answers on the small collections it
// builds (at most a few thousand records): the top-K of a search must match
// a brute-force cosine ranking computed here, filters included. An
// approximate index is fine as long as it is exact at this scale, in
// particular when a filter matches only a small minority of records.
package storetest

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/semcache/semcache/vectorstore"
)

// Opener returns a fresh, empty store (one collection) of the given
// dimension; cleanup is registered with t.Cleanup. The suite may Close the
// store itself, so cleanup must tolerate an already closed store.
type Opener func(t *testing.T, dim int) vectorstore.Store

// scoreEps is the tolerance on scores (float32 storage, differing
// summation orders).
const scoreEps = 1e-4

// Run runs the whole suite, one subtest per behaviour.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(*testing.T, Opener)
	}{
		{"SearchOrderAndScores", testSearchOrderAndScores},
		{"EmptyStore", testEmptyStore},
		{"KLimit", testKLimit},
		{"MinScore", testMinScore},
		{"NamespaceIsolation", testNamespaceIsolation},
		{"PartitionFilter", testPartitionFilter},
		{"MetaFilter", testMetaFilter},
		{"UpsertReplaces", testUpsertReplaces},
		{"RoundTrip", testRoundTrip},
		{"CallerBuffersNotRetained", testCallerBuffers},
		{"Delete", testDelete},
		{"DeleteWhere", testDeleteWhere},
		{"Count", testCount},
		{"Expiry", testExpiry},
		{"Dimension", testDimension},
		{"Invalid", testInvalid},
		{"Concurrent", testConcurrent},
		{"SelectiveFilter", testSelectiveFilter},
		{"Closed", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

// --- helpers ---------------------------------------------------------------

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x5eed)) }

// unitVec returns a uniformly random unit vector.
func unitVec(r *rand.Rand, dim int) []float32 {
	v := make([]float64, dim)
	var ss float64
	for i := range v {
		v[i] = r.NormFloat64()
		ss += v[i] * v[i]
	}
	out := make([]float32, dim)
	inv := 1 / math.Sqrt(ss)
	for i := range v {
		out[i] = float32(v[i] * inv)
	}
	return out
}

// near returns a unit vector close to v (cosine about 1 - noise²/2).
func near(r *rand.Rand, v []float32, noise float64) []float32 {
	w := make([]float64, len(v))
	var ss float64
	for i := range v {
		w[i] = float64(v[i]) + noise*r.NormFloat64()/math.Sqrt(float64(len(v)))
		ss += w[i] * w[i]
	}
	out := make([]float32, len(v))
	inv := 1 / math.Sqrt(ss)
	for i := range w {
		out[i] = float32(w[i] * inv)
	}
	return out
}

func cosine(a, b []float32) float64 {
	var d, na, nb float64
	for i := range a {
		d += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return d / math.Sqrt(na*nb)
}

type scored struct {
	id    string
	score float64
}

// brute ranks the records accepted by keep against q, best first.
func brute(recs []vectorstore.Record, q []float32, k int, minScore float64, keep func(vectorstore.Record) bool) []scored {
	var out []scored
	for _, r := range recs {
		if keep != nil && !keep(r) {
			continue
		}
		if s := cosine(q, r.Vector); s >= minScore {
			out = append(out, scored{r.ID, s})
		}
	}
	slices.SortFunc(out, func(a, b scored) int { return cmp.Compare(b.score, a.score) })
	if len(out) > k {
		out = out[:k]
	}
	return out
}

func randomRecords(r *rand.Rand, n, dim int, prefix, ns, part string) []vectorstore.Record {
	out := make([]vectorstore.Record, n)
	for i := range out {
		out[i] = vectorstore.Record{
			ID:        fmt.Sprintf("%s%04d", prefix, i),
			Vector:    unitVec(r, dim),
			Namespace: ns,
			Partition: part,
			Payload:   fmt.Appendf(nil, "payload of %s%04d", prefix, i),
		}
	}
	return out
}

func upsert(t *testing.T, s vectorstore.Store, recs []vectorstore.Record) {
	t.Helper()
	for start := 0; start < len(recs); start += 500 {
		end := min(start+500, len(recs))
		if err := s.Upsert(t.Context(), recs[start:end]); err != nil {
			t.Fatalf("Upsert(%d records): %v", end-start, err)
		}
	}
}

func search(t *testing.T, s vectorstore.Store, q vectorstore.Query) []vectorstore.Hit {
	t.Helper()
	hits, err := s.Search(t.Context(), q)
	if err != nil {
		t.Fatalf("Search: %v", err)
	}
	return hits
}

func count(t *testing.T, s vectorstore.Store, f vectorstore.Filter) int {
	t.Helper()
	n, err := s.Count(t.Context(), f)
	if err != nil {
		t.Fatalf("Count(%+v): %v", f, err)
	}
	return n
}

func hitIDs(hits []vectorstore.Hit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.Record.ID
	}
	return out
}

// checkExact verifies hits against the brute-force ranking want: same
// length, best first, each hit a distinct eligible record whose score is
// its true cosine, and rank by rank the same scores (so the same records,
// up to exact ties).
func checkExact(t *testing.T, label string, hits []vectorstore.Hit, want []scored, byID map[string]vectorstore.Record, q []float32) {
	t.Helper()
	if len(hits) != len(want) {
		t.Errorf("%s: got %d hits %v, want %d %v", label, len(hits), hitIDs(hits), len(want), want)
		return
	}
	seen := map[string]bool{}
	for i, h := range hits {
		r, ok := byID[h.Record.ID]
		if !ok {
			t.Errorf("%s: hit %d is unknown record %q", label, i, h.Record.ID)
			continue
		}
		if seen[h.Record.ID] {
			t.Errorf("%s: record %q returned twice", label, h.Record.ID)
		}
		seen[h.Record.ID] = true
		if trueScore := cosine(q, r.Vector); math.Abs(float64(h.Score)-trueScore) > scoreEps {
			t.Errorf("%s: hit %d (%s) score %v, true cosine %v", label, i, h.Record.ID, h.Score, trueScore)
		}
		if i > 0 && h.Score > hits[i-1].Score {
			t.Errorf("%s: hits not best first: %v after %v", label, h.Score, hits[i-1].Score)
		}
		if math.Abs(float64(h.Score)-want[i].score) > scoreEps {
			t.Errorf("%s: rank %d got %s (%v), brute force has %s (%v)", label, i, h.Record.ID, h.Score, want[i].id, want[i].score)
		}
	}
}

func index(recs ...[]vectorstore.Record) map[string]vectorstore.Record {
	m := map[string]vectorstore.Record{}
	for _, rs := range recs {
		for _, r := range rs {
			m[r.ID] = r
		}
	}
	return m
}

// --- tests -----------------------------------------------------------------

func testSearchOrderAndScores(t *testing.T, open Opener) {
	for _, dim := range []int{8, 64} {
		t.Run(fmt.Sprintf("dim%d", dim), func(t *testing.T) {
			s := open(t, dim)
			r := newRand(uint64(dim))
			recs := randomRecords(r, 300, dim, "r", "ns", "p")
			upsert(t, s, recs)
			byID := index(recs)
			for i := range 25 {
				q := unitVec(r, dim)
				hits := search(t, s, vectorstore.Query{Vector: q, K: 10, MinScore: -1, Filter: vectorstore.Filter{Namespace: "ns"}})
				checkExact(t, fmt.Sprintf("query %d", i), hits, brute(recs, q, 10, -1, nil), byID, q)
			}
			// A stored vector finds itself first with score 1.
			self := recs[123]
			hits := search(t, s, vectorstore.Query{Vector: self.Vector, K: 3, MinScore: -1, Filter: vectorstore.Filter{Namespace: "ns"}})
			if len(hits) == 0 || hits[0].Record.ID != self.ID || math.Abs(float64(hits[0].Score)-1) > scoreEps {
				t.Fatalf("self query: got %v", hits)
			}
			if got := string(hits[0].Record.Payload); got != "payload of r0123" {
				t.Errorf("self query payload %q", got)
			}
		})
	}
}

func testEmptyStore(t *testing.T, open Opener) {
	const dim = 8
	s := open(t, dim)
	r := newRand(1)
	hits := search(t, s, vectorstore.Query{Vector: unitVec(r, dim), K: 5, MinScore: -1, Filter: vectorstore.Filter{Namespace: "ns"}})
	if len(hits) != 0 {
		t.Errorf("empty store returned %v", hitIDs(hits))
	}
	if n := count(t, s, vectorstore.Filter{Namespace: "ns"}); n != 0 {
		t.Errorf("Count = %d on an empty store", n)
	}
	if err := s.Delete(t.Context(), []string{"nope"}); err != nil {
		t.Errorf("Delete(unknown) = %v", err)
	}
	if n, err := s.DeleteWhere(t.Context(), vectorstore.Filter{Namespace: "ns"}); err != nil || n != 0 {
		t.Errorf("DeleteWhere on an empty store = %d, %v", n, err)
	}
	if err := s.Upsert(t.Context(), nil); err != nil {
		t.Errorf("Upsert(nil) = %v", err)
	}
}

func testKLimit(t *testing.T, open Opener) {
	const dim = 8
	s := open(t, dim)
	r := newRand(2)
	recs := randomRecords(r, 50, dim, "k", "ns", "")
	upsert(t, s, recs)
	byID := index(recs)
	for _, k := range []int{1, 7, 50, 80, 1000} {
		q := unitVec(r, dim)
		hits := search(t, s, vectorstore.Query{Vector: q, K: k, MinScore: -1, Filter: vectorstore.Filter{Namespace: "ns"}})
		if want := min(k, 50); len(hits) != want {
			t.Errorf("K=%d: got %d hits, want %d", k, len(hits), want)
		}
		checkExact(t, fmt.Sprintf("K=%d", k), hits, brute(recs, q, k, -1, nil), byID, q)
	}
}

func testMinScore(t *testing.T, open Opener) {
	const dim = 8
	s := open(t, dim)
	r := newRand(3)
	recs := randomRecords(r, 200, dim, "m", "ns", "")
	upsert(t, s, recs)
	byID := index(recs)
	q := unitVec(r, dim)
	all := brute(recs, q, len(recs), -1, nil)
	// A floor halfway between the 5th and 6th best keeps exactly 5.
	floor := float32((all[4].score + all[5].score) / 2)
	tests := []struct {
		name     string
		minScore float32
		k        int
		want     int
	}{
		{"floor keeps five", floor, 20, 5},
		{"floor under K", floor, 3, 3},
		{"minus one keeps all", -1, 20, 20},
		{"above one keeps none", 1.01, 20, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hits := search(t, s, vectorstore.Query{Vector: q, K: tc.k, MinScore: tc.minScore, Filter: vectorstore.Filter{Namespace: "ns"}})
			for _, h := range hits {
				if h.Score < tc.minScore {
					t.Errorf("hit %s score %v below MinScore %v", h.Record.ID, h.Score, tc.minScore)
				}
			}
			checkExact(t, tc.name, hits, brute(recs, q, tc.k, float64(tc.minScore), nil), byID, q)
			if len(hits) != tc.want {
				t.Errorf("got %d hits, want %d", len(hits), tc.want)
			}
		})
	}
}

func testNamespaceIsolation(t *testing.T, open Opener) {
	const dim = 16
	s := open(t, dim)
	r := newRand(4)
	q := unitVec(r, dim)
	// Namespaces that are prefixes of each other must not leak either.
	a := randomRecords(r, 40, dim, "a", "tenant", "p")
	b := []vectorstore.Record{{ID: "twin-b", Vector: q, Namespace: "tenant2", Partition: "p"}}
	c := []vectorstore.Record{{ID: "twin-c", Vector: q, Namespace: "ten", Partition: "p"}}
	upsert(t, s, a)
	upsert(t, s, b)
	upsert(t, s, c)
	byID := index(a, b, c)

	for _, f := range []vectorstore.Filter{{Namespace: "tenant"}, {Namespace: "tenant", Partition: vectorstore.PartitionOf("p")}} {
		hits := search(t, s, vectorstore.Query{Vector: q, K: 10, MinScore: -1, Filter: f})
		for _, h := range hits {
			if h.Record.Namespace != "tenant" {
				t.Errorf("filter %+v returned %s from namespace %q", f, h.Record.ID, h.Record.Namespace)
			}
		}
		checkExact(t, "tenant", hits, brute(a, q, 10, -1, nil), byID, q)
	}
	for _, ns := range []string{"tenant2", "ten"} {
		hits := search(t, s, vectorstore.Query{Vector: q, K: 10, MinScore: -1, Filter: vectorstore.Filter{Namespace: ns}})
		if len(hits) != 1 || hits[0].Record.Namespace != ns || math.Abs(float64(hits[0].Score)-1) > scoreEps {
			t.Errorf("namespace %q: got %v", ns, hits)
		}
	}
	if hits := search(t, s, vectorstore.Query{Vector: q, K: 10, MinScore: -1, Filter: vectorstore.Filter{Namespace: "other"}}); len(hits) != 0 {
		t.Errorf("unknown namespace returned %v", hitIDs(hits))
	}
	for ns, want := range map[string]int{"tenant": 40, "tenant2": 1, "ten": 1, "other": 0} {
		if n := count(t, s, vectorstore.Filter{Namespace: ns}); n != want {
			t.Errorf("Count(%q) = %d, want %d", ns, n, want)
		}
	}
}

func testPartitionFilter(t *testing.T, open Opener) {
	const dim = 8
	s := open(t, dim)
	r := newRand(5)
	var all []vectorstore.Record
	for _, p := range []string{"", "x", "y"} {
		all = append(all, randomRecords(r, 40, dim, "p"+p+"-", "ns", p)...)
	}
	// Another namespace with the same partition names must not leak.
	other := randomRecords(r, 40, dim, "o", "ns2", "")
	upsert(t, s, all)
	upsert(t, s, other)
	byID := index(all, other)
	for _, p := range []*string{vectorstore.PartitionOf(""), vectorstore.PartitionOf("x"), vectorstore.PartitionOf("y"), vectorstore.PartitionOf("z"), nil} {
		name := "nil"
		if p != nil {
			name = fmt.Sprintf("%q", *p)
		}
		t.Run(name, func(t *testing.T) {
			for range 5 {
				q := unitVec(r, dim)
				hits := search(t, s, vectorstore.Query{Vector: q, K: 10, MinScore: -1, Filter: vectorstore.Filter{Namespace: "ns", Partition: p}})
				for _, h := range hits {
					if p != nil && h.Record.Partition != *p {
						t.Errorf("hit %s in partition %q", h.Record.ID, h.Record.Partition)
					}
				}
				want := brute(all, q, 10, -1, func(rec vectorstore.Record) bool { return p == nil || rec.Partition == *p })
				checkExact(t, name, hits, want, byID, q)
			}
		})
	}
}

func testMetaFilter(t *testing.T, open Opener) {
	const dim = 8
	s := open(t, dim)
	r := newRand(6)
	recs := randomRecords(r, 300, dim, "m", "ns", "")
	for i := range recs {
		if i%10 == 0 {
			continue // nil meta
		}
		recs[i].Meta = map[string]string{"doc": fmt.Sprint(i % 7), "src": []string{"web", "pdf"}[i%2]}
	}
	upsert(t, s, recs)
	byID := index(recs)
	tests := []struct {
		name string
		meta map[string]string
	}{
		{"one pair", map[string]string{"doc": "3"}},
		{"two pairs", map[string]string{"doc": "3", "src": "web"}},
		{"contradictory pairs", map[string]string{"doc": "3", "src": "nope"}},
		{"unknown value", map[string]string{"doc": "99"}},
		{"unknown key", map[string]string{"author": "x"}},
		{"empty map", map[string]string{}},
		{"nil map", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := unitVec(r, dim)
			hits := search(t, s, vectorstore.Query{Vector: q, K: 8, MinScore: -1, Filter: vectorstore.Filter{Namespace: "ns", Meta: tc.meta}})
			keep := func(rec vectorstore.Record) bool {
				for k, v := range tc.meta {
					if got, ok := rec.Meta[k]; !ok || got != v {
						return false
					}
				}
				return true
			}
			for _, h := range hits {
				if !keep(byID[h.Record.ID]) {
					t.Errorf("hit %s with meta %v does not match %v", h.Record.ID, h.Record.Meta, tc.meta)
				}
			}
			checkExact(t, tc.name, hits, brute(recs, q, 8, -1, keep), byID, q)
			want := len(brute(recs, q, len(recs), -1, keep))
			if n := count(t, s, vectorstore.Filter{Namespace: "ns", Meta: tc.meta}); n != want {
				t.Errorf("Count = %d, want %d", n, want)
			}
		})
	}
}

func testUpsertReplaces(t *testing.T, open Opener) {
	const dim = 16
	s := open(t, dim)
	r := newRand(7)
	others := randomRecords(r, 20, dim, "o", "ns", "p1")
	v1, v2 := unitVec(r, dim), unitVec(r, dim)
	x1 := vectorstore.Record{ID: "x", Vector: v1, Namespace: "ns", Partition: "p1", Meta: map[string]string{"v": "1", "old": "yes"}, Payload: []byte("one")}
	upsert(t, s, others)
	upsert(t, s, []vectorstore.Record{x1})
	if n := count(t, s, vectorstore.Filter{Namespace: "ns"}); n != 21 {
		t.Fatalf("Count = %d, want 21", n)
	}
	x2 := vectorstore.Record{ID: "x", Vector: v2, Namespace: "ns", Partition: "p2", Meta: map[string]string{"v": "2"}, Payload: []byte("two")}
	upsert(t, s, []vectorstore.Record{x2})

	counts := []struct {
		f    vectorstore.Filter
		want int
	}{
		{vectorstore.Filter{Namespace: "ns"}, 21},
		{vectorstore.Filter{Namespace: "ns", Partition: vectorstore.PartitionOf("p1")}, 20},
		{vectorstore.Filter{Namespace: "ns", Partition: vectorstore.PartitionOf("p2")}, 1},
		{vectorstore.Filter{Namespace: "ns", Meta: map[string]string{"v": "1"}}, 0},
		{vectorstore.Filter{Namespace: "ns", Meta: map[string]string{"old": "yes"}}, 0},
		{vectorstore.Filter{Namespace: "ns", Meta: map[string]string{"v": "2"}}, 1},
	}
	for _, c := range counts {
		if n := count(t, s, c.f); n != c.want {
			t.Errorf("Count(%+v) = %d, want %d", c.f, n, c.want)
		}
	}
	hits := search(t, s, vectorstore.Query{Vector: v2, K: 1, MinScore: -1, Filter: vectorstore.Filter{Namespace: "ns", Partition: vectorstore.PartitionOf("p2")}})
	if len(hits) != 1 {
		t.Fatalf("search for the new vector: %v", hits)
	}
	h := hits[0].Record
	if h.ID != "x" || h.Partition != "p2" || string(h.Payload) != "two" || !maps.Equal(h.Meta, x2.Meta) || math.Abs(float64(hits[0].Score)-1) > scoreEps {
		t.Errorf("replaced record: got %+v score %v", h, hits[0].Score)
	}
	// The old vector no longer scores 1 for x: x now has v2.
	all := search(t, s, vectorstore.Query{Vector: v1, K: 30, MinScore: -1, Filter: vectorstore.Filter{Namespace: "ns"}})
	checkExact(t, "old vector", all, brute(append(slices.Clone(others), x2), v1, 30, -1, nil), index(others, []vectorstore.Record{x2}), v1)
	if hits := search(t, s, vectorstore.Query{Vector: v1, K: 30, MinScore: -1, Filter: vectorstore.Filter{Namespace: "ns", Partition: vectorstore.PartitionOf("p1")}}); slices.Contains(hitIDs(hits), "x") {
		t.Errorf("x still found in its old partition")
	}
	// Moving to another namespace leaves nothing behind either.
	x3 := x2
	x3.Namespace = "ns-b"
	upsert(t, s, []vectorstore.Record{x3})
	if n := count(t, s, vectorstore.Filter{Namespace: "ns"}); n != 20 {
		t.Errorf("Count(ns) after moving x = %d, want 20", n)
	}
	if n := count(t, s, vectorstore.Filter{Namespace: "ns-b"}); n != 1 {
		t.Errorf("Count(ns-b) after moving x = %d, want 1", n)
	}
}

func testRoundTrip(t *testing.T, open Opener) {
	const dim = 8
	s := open(t, dim)
	r := newRand(8)
	payload := make([]byte, 70_000)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	exp := time.Now().Add(time.Hour)
	full := vectorstore.Record{
		ID:        "full/ü:1",
		Vector:    unitVec(r, dim),
		Namespace: "ns ü",
		Partition: "part/1",
		Meta:      map[string]string{"k": "v", "unicode": "héllo 世界", "empty": "", "quote": `"'\x00`},
		Payload:   payload,
		ExpiresAt: exp,
	}
	bare := vectorstore.Record{ID: "bare", Vector: unitVec(r, dim), Namespace: "ns ü"}
	upsert(t, s, []vectorstore.Record{full, bare})
	for _, want := range []vectorstore.Record{full, bare} {
		hits := search(t, s, vectorstore.Query{Vector: want.Vector, K: 1, MinScore: -1, Filter: vectorstore.Filter{Namespace: want.Namespace}})
		if len(hits) != 1 || hits[0].Record.ID != want.ID {
			t.Fatalf("search for %s: got %v", want.ID, hitIDs(hits))
		}
		got := hits[0].Record
		if got.Namespace != want.Namespace || got.Partition != want.Partition {
			t.Errorf("%s: namespace/partition %q/%q, want %q/%q", want.ID, got.Namespace, got.Partition, want.Namespace, want.Partition)
		}
		if !bytes.Equal(got.Payload, want.Payload) {
			t.Errorf("%s: payload differs (%d bytes, want %d)", want.ID, len(got.Payload), len(want.Payload))
		}
		if len(got.Meta) != len(want.Meta) || (len(want.Meta) > 0 && !maps.Equal(got.Meta, want.Meta)) {
			t.Errorf("%s: meta %q, want %q", want.ID, got.Meta, want.Meta)
		}
		if len(got.Vector) != dim {
			t.Fatalf("%s: vector has %d dimensions", want.ID, len(got.Vector))
		}
		for i := range got.Vector {
			if math.Abs(float64(got.Vector[i]-want.Vector[i])) > 1e-5 {
				t.Errorf("%s: vector[%d] = %v, want %v", want.ID, i, got.Vector[i], want.Vector[i])
			}
		}
		if want.ExpiresAt.IsZero() != got.ExpiresAt.IsZero() || got.ExpiresAt.Sub(want.ExpiresAt).Abs() > time.Millisecond {
			t.Errorf("%s: ExpiresAt %v, want %v", want.ID, got.ExpiresAt, want.ExpiresAt)
		}
	}
}

func testCallerBuffers(t *testing.T, open Opener) {
	const dim = 8
	s := open(t, dim)
	r := newRand(9)
	v := unitVec(r, dim)
	orig := slices.Clone(v)
	rec := vectorstore.Record{ID: "a", Vector: v, Namespace: "ns", Meta: map[string]string{"k": "v"}, Payload: []byte("payload")}
	upsert(t, s, []vectorstore.Record{rec})
	// Scribble over everything the caller passed.
	for i := range v {
		v[i] = 0
	}
	v[0] = 1
	rec.Meta["k"] = "changed"
	copy(rec.Payload, "XXXXXXX")

	get := func() vectorstore.Hit {
		hits := search(t, s, vectorstore.Query{Vector: orig, K: 1, MinScore: -1, Filter: vectorstore.Filter{Namespace: "ns"}})
		if len(hits) != 1 {
			t.Fatalf("got %d hits", len(hits))
		}
		return hits[0]
	}
	h := get()
	if math.Abs(float64(h.Score)-1) > scoreEps || string(h.Record.Payload) != "payload" || h.Record.Meta["k"] != "v" {
		t.Fatalf("store kept caller buffers: score %v payload %q meta %v", h.Score, h.Record.Payload, h.Record.Meta)
	}
	// Scribble over what a hit returned, too.
	copy(h.Record.Payload, "XXXXXXX")
	h.Record.Meta["k"] = "changed"
	h.Record.Vector[0] = 42
	h = get()
	if string(h.Record.Payload) != "payload" || h.Record.Meta["k"] != "v" || h.Record.Vector[0] == 42 {
		t.Fatalf("store shares memory with hits: payload %q meta %v", h.Record.Payload, h.Record.Meta)
	}
}

func testDelete(t *testing.T, open Opener) {
	const dim = 8
	s := open(t, dim)
	r := newRand(10)
	recs := randomRecords(r, 30, dim, "d", "ns", "")
	upsert(t, s, recs)
	gone := []string{recs[0].ID, recs[7].ID, recs[29].ID}
	if err := s.Delete(t.Context(), append(slices.Clone(gone), "unknown", recs[7].ID)); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if n := count(t, s, vectorstore.Filter{Namespace: "ns"}); n != 27 {
		t.Errorf("Count after delete = %d, want 27", n)
	}
	for _, i := range []int{0, 7, 29} {
		hits := search(t, s, vectorstore.Query{Vector: recs[i].Vector, K: 30, MinScore: -1, Filter: vectorstore.Filter{Namespace: "ns"}})
		if slices.Contains(hitIDs(hits), recs[i].ID) {
			t.Errorf("deleted %s still returned", recs[i].ID)
		}
		if len(hits) != 27 {
			t.Errorf("got %d hits, want 27", len(hits))
		}
	}
	for _, ids := range [][]string{nil, gone, {"never-existed"}} {
		if err := s.Delete(t.Context(), ids); err != nil {
			t.Errorf("Delete(%v) = %v", ids, err)
		}
	}
	if n := count(t, s, vectorstore.Filter{Namespace: "ns"}); n != 27 {
		t.Errorf("Count after repeated deletes = %d, want 27", n)
	}
	// A deleted ID can be inserted again.
	upsert(t, s, recs[:1])
	if n := count(t, s, vectorstore.Filter{Namespace: "ns"}); n != 28 {
		t.Errorf("Count after re-insert = %d, want 28", n)
	}
}

func testDeleteWhere(t *testing.T, open Opener) {
	const dim = 8
	s := open(t, dim)
	r := newRand(11)
	ap := randomRecords(r, 10, dim, "ap", "a", "p")
	for i := range 5 {
		ap[i].Meta = map[string]string{"doc": "1"}
	}
	ap[5].Meta = map[string]string{"doc": "2"}
	aq := randomRecords(r, 10, dim, "aq", "a", "q")
	aq[0].Meta = map[string]string{"doc": "1"}
	aEmpty := randomRecords(r, 4, dim, "ae", "a", "")
	b := randomRecords(r, 7, dim, "b", "b", "p")
	for _, rs := range [][]vectorstore.Record{ap, aq, aEmpty, b} {
		upsert(t, s, rs)
	}
	steps := []struct {
		name   string
		f      vectorstore.Filter
		want   int
		counts map[string]int // namespace → remaining
	}{
		{"meta in partition", vectorstore.Filter{Namespace: "a", Partition: vectorstore.PartitionOf("p"), Meta: map[string]string{"doc": "1"}}, 5, map[string]int{"a": 19, "b": 7}},
		{"meta across partitions", vectorstore.Filter{Namespace: "a", Meta: map[string]string{"doc": "1"}}, 1, map[string]int{"a": 18, "b": 7}},
		{"empty partition", vectorstore.Filter{Namespace: "a", Partition: vectorstore.PartitionOf("")}, 4, map[string]int{"a": 14, "b": 7}},
		{"partition", vectorstore.Filter{Namespace: "a", Partition: vectorstore.PartitionOf("q")}, 9, map[string]int{"a": 5, "b": 7}},
		{"nothing matches", vectorstore.Filter{Namespace: "a", Meta: map[string]string{"doc": "404"}}, 0, map[string]int{"a": 5, "b": 7}},
		{"unknown namespace", vectorstore.Filter{Namespace: "c"}, 0, map[string]int{"a": 5, "b": 7}},
		{"namespace", vectorstore.Filter{Namespace: "b"}, 7, map[string]int{"a": 5, "b": 0}},
		{"the rest", vectorstore.Filter{Namespace: "a"}, 5, map[string]int{"a": 0, "b": 0}},
	}
	for _, st := range steps {
		n, err := s.DeleteWhere(t.Context(), st.f)
		if err != nil {
			t.Fatalf("%s: DeleteWhere: %v", st.name, err)
		}
		if n != st.want {
			t.Errorf("%s: DeleteWhere removed %d, want %d", st.name, n, st.want)
		}
		for ns, want := range st.counts {
			if got := count(t, s, vectorstore.Filter{Namespace: ns}); got != want {
				t.Errorf("%s: Count(%q) = %d, want %d", st.name, ns, got, want)
			}
		}
	}
	// The survivors of the partition step really are gone from searches.
	hits := search(t, s, vectorstore.Query{Vector: ap[9].Vector, K: 50, MinScore: -1, Filter: vectorstore.Filter{Namespace: "a"}})
	if len(hits) != 0 {
		t.Errorf("search after deleting everything: %v", hitIDs(hits))
	}
}

func testCount(t *testing.T, open Opener) {
	const dim = 8
	s := open(t, dim)
	r := newRand(12)
	recs := randomRecords(r, 12, dim, "c", "ns", "")
	for i := range recs {
		recs[i].Partition = []string{"", "x", "y"}[i%3]
		recs[i].Meta = map[string]string{"even": fmt.Sprint(i%2 == 0), "k": "v"}
	}
	upsert(t, s, recs)
	tests := []struct {
		name string
		f    vectorstore.Filter
		want int
	}{
		{"namespace", vectorstore.Filter{Namespace: "ns"}, 12},
		{"empty partition", vectorstore.Filter{Namespace: "ns", Partition: vectorstore.PartitionOf("")}, 4},
		{"partition x", vectorstore.Filter{Namespace: "ns", Partition: vectorstore.PartitionOf("x")}, 4},
		{"unknown partition", vectorstore.Filter{Namespace: "ns", Partition: vectorstore.PartitionOf("z")}, 0},
		{"meta", vectorstore.Filter{Namespace: "ns", Meta: map[string]string{"even": "true"}}, 6},
		{"meta two pairs", vectorstore.Filter{Namespace: "ns", Meta: map[string]string{"even": "true", "k": "v"}}, 6},
		{"meta and partition", vectorstore.Filter{Namespace: "ns", Partition: vectorstore.PartitionOf("x"), Meta: map[string]string{"even": "true"}}, 2},
		{"other namespace", vectorstore.Filter{Namespace: "ns2"}, 0},
	}
	for _, tc := range tests {
		if got := count(t, s, tc.f); got != tc.want {
			t.Errorf("%s: Count = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func testExpiry(t *testing.T, open Opener) {
	const dim = 8
	s := open(t, dim)
	r := newRand(13)
	now := time.Now()
	past := vectorstore.Record{ID: "past", Vector: unitVec(r, dim), Namespace: "ns", ExpiresAt: now.Add(-time.Hour)}
	justPast := vectorstore.Record{ID: "just-past", Vector: unitVec(r, dim), Namespace: "ns", ExpiresAt: now.Add(-time.Second)}
	future := vectorstore.Record{ID: "future", Vector: unitVec(r, dim), Namespace: "ns", ExpiresAt: now.Add(time.Hour)}
	never := vectorstore.Record{ID: "never", Vector: unitVec(r, dim), Namespace: "ns"}
	soon := vectorstore.Record{ID: "soon", Vector: unitVec(r, dim), Namespace: "ns", ExpiresAt: now.Add(30 * time.Millisecond)}
	upsert(t, s, []vectorstore.Record{past, justPast, future, never, soon})

	time.Sleep(time.Until(soon.ExpiresAt) + 10*time.Millisecond)
	live := []string{"future", "never"}
	for _, q := range []vectorstore.Record{past, justPast, soon, future} {
		hits := search(t, s, vectorstore.Query{Vector: q.Vector, K: 10, MinScore: -1, Filter: vectorstore.Filter{Namespace: "ns"}})
		got := hitIDs(hits)
		slices.Sort(got)
		if !slices.Equal(got, live) {
			t.Errorf("query near %s: got %v, want %v", q.ID, got, live)
		}
	}
	if n := count(t, s, vectorstore.Filter{Namespace: "ns"}); n != 2 {
		t.Errorf("Count = %d, want 2 (expired records are not counted)", n)
	}
	// Replacing an expired record with a live one revives the ID.
	revived := past
	revived.ExpiresAt = time.Now().Add(time.Hour)
	upsert(t, s, []vectorstore.Record{revived})
	hits := search(t, s, vectorstore.Query{Vector: past.Vector, K: 1, MinScore: -1, Filter: vectorstore.Filter{Namespace: "ns"}})
	if len(hits) != 1 || hits[0].Record.ID != "past" {
		t.Errorf("revived record: got %v", hitIDs(hits))
	}
}

func testDimension(t *testing.T, open Opener) {
	const dim = 8
	s := open(t, dim)
	r := newRand(14)
	good := vectorstore.Record{ID: "good", Vector: unitVec(r, dim), Namespace: "ns"}
	tests := []struct {
		name string
		recs []vectorstore.Record
	}{
		{"too long", []vectorstore.Record{{ID: "long", Vector: unitVec(r, dim+1), Namespace: "ns"}}},
		{"too short", []vectorstore.Record{{ID: "short", Vector: unitVec(r, dim-1), Namespace: "ns"}}},
		{"empty", []vectorstore.Record{{ID: "empty", Namespace: "ns"}}},
		{"one bad in a batch", []vectorstore.Record{good, {ID: "long", Vector: unitVec(r, dim+1), Namespace: "ns"}}},
	}
	for _, tc := range tests {
		if err := s.Upsert(t.Context(), tc.recs); !errors.Is(err, vectorstore.ErrDimension) {
			t.Errorf("Upsert %s: err = %v, want ErrDimension", tc.name, err)
		}
	}
	if n := count(t, s, vectorstore.Filter{Namespace: "ns"}); n != 0 {
		t.Errorf("a rejected batch stored %d records", n)
	}
	upsert(t, s, []vectorstore.Record{good})
	for _, v := range [][]float32{unitVec(r, dim-1), unitVec(r, dim+1), nil} {
		_, err := s.Search(t.Context(), vectorstore.Query{Vector: v, K: 1, Filter: vectorstore.Filter{Namespace: "ns"}})
		if !errors.Is(err, vectorstore.ErrDimension) {
			t.Errorf("Search with %d dimensions: err = %v, want ErrDimension", len(v), err)
		}
	}
}

func testInvalid(t *testing.T, open Opener) {
	const dim = 8
	s := open(t, dim)
	r := newRand(15)
	v := unitVec(r, dim)
	ctx := t.Context()
	upserts := []struct {
		name string
		rec  vectorstore.Record
	}{
		{"empty namespace", vectorstore.Record{ID: "a", Vector: v}},
		{"empty ID", vectorstore.Record{Vector: v, Namespace: "ns"}},
	}
	for _, tc := range upserts {
		if err := s.Upsert(ctx, []vectorstore.Record{tc.rec}); !errors.Is(err, vectorstore.ErrInvalid) {
			t.Errorf("Upsert with %s: err = %v, want ErrInvalid", tc.name, err)
		}
	}
	searches := []struct {
		name string
		q    vectorstore.Query
	}{
		{"K zero", vectorstore.Query{Vector: v, K: 0, Filter: vectorstore.Filter{Namespace: "ns"}}},
		{"K negative", vectorstore.Query{Vector: v, K: -3, Filter: vectorstore.Filter{Namespace: "ns"}}},
		{"empty namespace", vectorstore.Query{Vector: v, K: 1}},
	}
	for _, tc := range searches {
		if _, err := s.Search(ctx, tc.q); !errors.Is(err, vectorstore.ErrInvalid) {
			t.Errorf("Search with %s: err = %v, want ErrInvalid", tc.name, err)
		}
	}
	if _, err := s.Count(ctx, vectorstore.Filter{}); !errors.Is(err, vectorstore.ErrInvalid) {
		t.Errorf("Count with empty namespace: err = %v, want ErrInvalid", err)
	}
	if _, err := s.DeleteWhere(ctx, vectorstore.Filter{Partition: vectorstore.PartitionOf("")}); !errors.Is(err, vectorstore.ErrInvalid) {
		t.Errorf("DeleteWhere with empty namespace: err = %v, want ErrInvalid", err)
	}
}

func testConcurrent(t *testing.T, open Opener) {
	const (
		dim       = 32
		writers   = 4
		perWriter = 60
		batch     = 5
		searchers = 4
	)
	s := open(t, dim)
	r := newRand(16)
	recs := make([][]vectorstore.Record, writers)
	for w := range recs {
		recs[w] = randomRecords(r, perWriter, dim, fmt.Sprintf("w%d-", w), "ns", fmt.Sprint(w%2))
	}
	queries := make([][]float32, 20)
	for i := range queries {
		queries[i] = unitVec(r, dim)
	}
	ctx := t.Context()
	errs := make(chan error, writers+searchers)
	var wg, writersWG sync.WaitGroup
	done := make(chan struct{})
	for w := range writers {
		wg.Add(1)
		writersWG.Add(1)
		go func() {
			defer wg.Done()
			defer writersWG.Done()
			for i := 0; i < perWriter; i += batch {
				if err := s.Upsert(ctx, recs[w][i:i+batch]); err != nil {
					errs <- fmt.Errorf("writer %d: %w", w, err)
					return
				}
			}
			// Delete a few of our own to mix writes.
			if err := s.Delete(ctx, []string{recs[w][0].ID, recs[w][1].ID}); err != nil {
				errs <- fmt.Errorf("writer %d: %w", w, err)
			}
		}()
	}
	for g := range searchers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				q := vectorstore.Query{Vector: queries[(i+g)%len(queries)], K: 5, MinScore: -1, Filter: vectorstore.Filter{Namespace: "ns"}}
				if g%2 == 1 {
					q.Filter.Partition = vectorstore.PartitionOf("1")
				}
				hits, err := s.Search(ctx, q)
				if err != nil {
					errs <- fmt.Errorf("searcher %d: %w", g, err)
					return
				}
				for j := 1; j < len(hits); j++ {
					if hits[j].Score > hits[j-1].Score {
						errs <- fmt.Errorf("searcher %d: hits out of order", g)
						return
					}
				}
				if _, err := s.Count(ctx, q.Filter); err != nil {
					errs <- fmt.Errorf("searcher %d: %w", g, err)
					return
				}
			}
		}()
	}
	writersWG.Wait()
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := count(t, s, vectorstore.Filter{Namespace: "ns"}); n != writers*(perWriter-2) {
		t.Errorf("Count = %d, want %d", n, writers*(perWriter-2))
	}
	for w := range writers {
		for i, rec := range recs[w] {
			hits := search(t, s, vectorstore.Query{Vector: rec.Vector, K: 1, MinScore: -1, Filter: vectorstore.Filter{Namespace: "ns"}})
			found := len(hits) == 1 && hits[0].Record.ID == rec.ID
			if deleted := i < 2; found == deleted {
				t.Errorf("record %s: found=%v deleted=%v (hits %v)", rec.ID, found, deleted, hitIDs(hits))
			}
		}
	}
}

// testSelectiveFilter puts 2,000 non-matching records right around the
// query and 10 matching ones far from it: every filter must still return
// all 10.
func testSelectiveFilter(t *testing.T, open Opener) {
	const (
		dim     = 64
		crowd   = 2000
		matches = 10
	)
	r := newRand(17)
	q := unitVec(r, dim)
	tests := []struct {
		name string
		// crowdRec and matchRec adjust the generated records.
		crowdRec func(*vectorstore.Record)
		matchRec func(*vectorstore.Record)
		filter   vectorstore.Filter
	}{
		{
			name:     "meta",
			crowdRec: func(rec *vectorstore.Record) { rec.Meta = map[string]string{"tag": "common"} },
			matchRec: func(rec *vectorstore.Record) { rec.Meta = map[string]string{"tag": "rare"} },
			filter:   vectorstore.Filter{Namespace: "ns", Meta: map[string]string{"tag": "rare"}},
		},
		{
			name:     "partition",
			crowdRec: func(rec *vectorstore.Record) { rec.Partition = "big" },
			matchRec: func(rec *vectorstore.Record) { rec.Partition = "small" },
			filter:   vectorstore.Filter{Namespace: "ns", Partition: vectorstore.PartitionOf("small")},
		},
		{
			name:     "namespace",
			crowdRec: func(rec *vectorstore.Record) { rec.Namespace = "crowd" },
			matchRec: func(*vectorstore.Record) {},
			filter:   vectorstore.Filter{Namespace: "ns"},
		},
		{
			name:     "expiry",
			crowdRec: func(rec *vectorstore.Record) { rec.ExpiresAt = time.Now().Add(-time.Hour) },
			matchRec: func(*vectorstore.Record) {},
			filter:   vectorstore.Filter{Namespace: "ns"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t, dim)
			var recs []vectorstore.Record
			for i := range crowd {
				rec := vectorstore.Record{ID: fmt.Sprintf("crowd%04d", i), Vector: near(r, q, 0.3), Namespace: "ns"}
				tc.crowdRec(&rec)
				recs = append(recs, rec)
			}
			var want []string
			for i := range matches {
				rec := vectorstore.Record{ID: fmt.Sprintf("match%02d", i), Vector: unitVec(r, dim), Namespace: "ns"}
				tc.matchRec(&rec)
				recs = append(recs, rec)
				want = append(want, rec.ID)
			}
			upsert(t, s, recs)
			hits := search(t, s, vectorstore.Query{Vector: q, K: matches, MinScore: -1, Filter: tc.filter})
			got := hitIDs(hits)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("got %v, want all of %v", got, want)
			}
			// Asking for fewer still yields the best matches, exactly.
			hits = search(t, s, vectorstore.Query{Vector: q, K: 3, MinScore: -1, Filter: tc.filter})
			checkExact(t, "K=3", hits, brute(recs[crowd:], q, 3, -1, nil), index(recs), q)
		})
	}
}

func testClosed(t *testing.T, open Opener) {
	const dim = 8
	s := open(t, dim)
	r := newRand(18)
	v := unitVec(r, dim)
	upsert(t, s, []vectorstore.Record{{ID: "a", Vector: v, Namespace: "ns"}})
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx := context.Background()
	f := vectorstore.Filter{Namespace: "ns"}
	checks := map[string]error{
		"Upsert": s.Upsert(ctx, []vectorstore.Record{{ID: "b", Vector: v, Namespace: "ns"}}),
		"Delete": s.Delete(ctx, []string{"a"}),
	}
	_, checks["Search"] = s.Search(ctx, vectorstore.Query{Vector: v, K: 1, Filter: f})
	_, checks["Count"] = s.Count(ctx, f)
	_, checks["DeleteWhere"] = s.DeleteWhere(ctx, f)
	for op, err := range checks {
		if !errors.Is(err, vectorstore.ErrClosed) {
			t.Errorf("%s after Close: err = %v, want ErrClosed", op, err)
		}
	}
}
