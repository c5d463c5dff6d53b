package pgvector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/semcache/semcache/vectorstore"
)

func TestOptionsValidate(t *testing.T) {
	valid := Options{DSN: "postgres://x@localhost/db", Table: "cache_v1", Dimension: 384}
	tests := []struct {
		name   string
		tweak  func(*Options)
		wantIn []string // substrings of the error; none means valid
	}{
		{name: "valid", tweak: func(*Options) {}},
		{name: "missing everything", tweak: func(o *Options) { *o = Options{} },
			wantIn: []string{"DSN is required", "Table", "Dimension 0"}},
		{name: "upper-case table", tweak: func(o *Options) { o.Table = "Cache" }, wantIn: []string{`Table "Cache"`}},
		{name: "injection in table", tweak: func(o *Options) { o.Table = "x; DROP TABLE y" }, wantIn: []string{"Table"}},
		{name: "table too long", tweak: func(o *Options) { o.Table = strings.Repeat("a", 49) }, wantIn: []string{"Table"}},
		{name: "dimension too large for HNSW", tweak: func(o *Options) { o.Dimension = 3072 }, wantIn: []string{"HNSW"}},
		{name: "bad ef_search", tweak: func(o *Options) { o.EfSearch = 5000 }, wantIn: []string{"EfSearch"}},
		{name: "negative pool", tweak: func(o *Options) { o.MaxConns = -1; o.ConnectTimeout = -time.Second },
			wantIn: []string{"MaxConns", "ConnectTimeout"}},
		{name: "bad hnsw build", tweak: func(o *Options) { o.HNSWM = 1; o.HNSWEfConstruction = 2 },
			wantIn: []string{"HNSWM", "HNSWEfConstruction"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := valid
			tc.tweak(&o)
			err := o.validate()
			if len(tc.wantIn) == 0 {
				if err != nil {
					t.Fatalf("validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("validate() = nil, want errors mentioning %q", tc.wantIn)
			}
			for _, w := range tc.wantIn {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("validate() = %q, want it to mention %q", err, w)
				}
			}
		})
	}
}

// freePort returns a loopback port nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func TestOpenUnreachableIsUnavailable(t *testing.T) {
	dsn := fmt.Sprintf("postgres://semcache:semcache@127.0.0.1:%d/semcache_test?sslmode=disable", freePort(t))
	start := time.Now()
	s, err := Open(context.Background(), Options{DSN: dsn, Table: "unreachable", Dimension: 8, ConnectTimeout: 2 * time.Second})
	if err == nil {
		s.Close()
		t.Fatal("Open on a closed port succeeded")
	}
	if !errors.Is(err, vectorstore.ErrUnavailable) {
		t.Errorf("Open error = %v, want it to wrap ErrUnavailable", err)
	}
	if !strings.HasPrefix(err.Error(), "pgvector: ") {
		t.Errorf("Open error = %q, want the package prefix", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Open took %v to fail, want it prompt", d)
	}
}

func TestOpenDimensionMismatch(t *testing.T) {
	s := openTest(t, 8, nil)
	_, err := Open(context.Background(), Options{DSN: s.opts.DSN, Table: s.opts.Table, Dimension: 16})
	if !errors.Is(err, vectorstore.ErrDimension) {
		t.Fatalf("Open with another dimension: err = %v, want ErrDimension", err)
	}
	if !strings.Contains(err.Error(), "8-dimensional") {
		t.Errorf("error %q should name the table's dimension", err)
	}
	// The same dimension reopens fine and sees the data.
	ctx := context.Background()
	if err := s.Upsert(ctx, []vectorstore.Record{{ID: "a", Namespace: "n", Vector: randUnit(mrand.New(mrand.NewPCG(1, 1)), 8)}}); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(ctx, Options{DSN: s.opts.DSN, Table: s.opts.Table, Dimension: 8})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s2.Close()
	if n, err := s2.Count(ctx, vectorstore.Filter{Namespace: "n"}); err != nil || n != 1 {
		t.Errorf("Count after reopen = %d, %v; want 1", n, err)
	}
}

func TestConcurrentOpenMigratesOnce(t *testing.T) {
	dsn := testDSN(t)
	table := uniqueTable("migr")
	t.Cleanup(func() { dropTable(t, dsn, table) })
	const n = 4
	var wg sync.WaitGroup
	errs := make([]error, n)
	stores := make([]*Store, n)
	for i := range n {
		wg.Go(func() {
			stores[i], errs[i] = Open(context.Background(), Options{DSN: dsn, Table: table, Dimension: 4, JanitorInterval: -1})
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Errorf("Open #%d: %v", i, errs[i])
			continue
		}
		stores[i].Close()
	}
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var versions []int32
	rows, _ := conn.Query(context.Background(), "SELECT version FROM "+migrationsTable+" WHERE table_name = $1 ORDER BY version", table)
	versions, err = pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		t.Fatal(err)
	}
	want := make([]int32, 0, len(migrations))
	for _, m := range migrations {
		want = append(want, int32(m.version))
	}
	if !slices.Equal(versions, want) {
		t.Errorf("recorded migrations = %v, want %v exactly once each", versions, want)
	}
	var indexes []string
	rows, _ = conn.Query(context.Background(), "SELECT indexdef FROM pg_indexes WHERE tablename = $1", table)
	indexes, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(indexes, func(d string) bool { return strings.Contains(d, "USING hnsw (embedding vector_cosine_ops)") }) {
		t.Errorf("no HNSW cosine index among %q", indexes)
	}
}

// bruteForce returns the IDs of the k records nearest to q by cosine.
func bruteForce(recs []vectorstore.Record, q []float32, k int) []string {
	type scored struct {
		id string
		s  float64
	}
	all := make([]scored, len(recs))
	for i, r := range recs {
		all[i] = scored{r.ID, cosine(r.Vector, q)}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].s > all[j].s })
	ids := make([]string, 0, k)
	for _, s := range all[:min(k, len(all))] {
		ids = append(ids, s.id)
	}
	return ids
}

func hitIDs(hits []vectorstore.Hit) []string {
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = h.Record.ID
	}
	return ids
}

func TestSearchMatchesBruteForce(t *testing.T) {
	for _, exact := range []bool{false, true} {
		t.Run(fmt.Sprintf("exact=%v", exact), func(t *testing.T) {
			const dim = 16
			s := openTest(t, dim, func(o *Options) { o.Exact = exact })
			ctx := context.Background()
			r := mrand.New(mrand.NewPCG(7, 7))
			recs := make([]vectorstore.Record, 300)
			for i := range recs {
				recs[i] = vectorstore.Record{ID: fmt.Sprintf("r%03d", i), Namespace: "ns", Vector: randUnit(r, dim)}
			}
			if err := s.Upsert(ctx, recs); err != nil {
				t.Fatal(err)
			}
			for qi := range 10 {
				q := randUnit(r, dim)
				hits, err := s.Search(ctx, vectorstore.Query{Vector: q, K: 5, MinScore: -1, Filter: vectorstore.Filter{Namespace: "ns"}})
				if err != nil {
					t.Fatal(err)
				}
				if want := bruteForce(recs, q, 5); !slices.Equal(hitIDs(hits), want) {
					t.Errorf("query %d: hits %v, brute force %v", qi, hitIDs(hits), want)
				}
				for _, h := range hits {
					idx := slices.IndexFunc(recs, func(r vectorstore.Record) bool { return r.ID == h.Record.ID })
					if want := cosine(recs[idx].Vector, q); abs(float64(h.Score)-want) > 1e-5 {
						t.Errorf("query %d: %s score %v, want %v", qi, h.Record.ID, h.Score, want)
					}
					if !slices.Equal(h.Record.Vector, recs[idx].Vector) {
						t.Errorf("query %d: %s vector not returned as stored", qi, h.Record.ID)
					}
				}
			}
		})
	}
}

func TestEscapeRoundTrip(t *testing.T) {
	tests := []struct{ in, stored string }{
		{"", ""},
		{"plain ü", "plain ü"},
		{"\x00", "\x01\x02"},
		{"\x01", "\x01\x01"},
		{"a\x00\x01\x02b\x01", "a\x01\x02\x01\x01\x02b\x01\x01"},
		{"\x01\x02", "\x01\x01\x02"}, // must differ from the escape of "\x00"
	}
	seen := map[string]string{}
	for _, tc := range tests {
		got := escape(tc.in)
		if got != tc.stored {
			t.Errorf("escape(%q) = %q, want %q", tc.in, got, tc.stored)
		}
		if strings.IndexByte(got, 0) >= 0 {
			t.Errorf("escape(%q) = %q still holds NUL", tc.in, got)
		}
		if back := unescape(got); back != tc.in {
			t.Errorf("unescape(escape(%q)) = %q", tc.in, back)
		}
		if prev, ok := seen[got]; ok {
			t.Errorf("escape(%q) and escape(%q) collide", prev, tc.in)
		}
		seen[got] = tc.in
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// TestSelectiveFilterIsExact: 10 matching records far from the query hide
// behind 2,000 nearer non-matching ones; an HNSW scan alone would stop early.
func TestSelectiveFilterIsExact(t *testing.T) {
	const dim = 32
	s := openTest(t, dim, nil)
	ctx := context.Background()
	r := mrand.New(mrand.NewPCG(3, 4))
	q := randUnit(r, dim)
	var recs []vectorstore.Record
	near := func() []float32 { // q plus a little noise
		v := randUnit(r, dim)
		for i := range v {
			v[i] = q[i] + 0.05*v[i]
		}
		return v
	}
	for i := range 2000 {
		recs = append(recs, vectorstore.Record{ID: fmt.Sprintf("near%04d", i), Namespace: "ns", Partition: "common", Vector: near(), Meta: map[string]string{"doc": "other"}})
	}
	for i := range 10 {
		id := fmt.Sprintf("rare%02d", i)
		recs = append(recs, vectorstore.Record{ID: id, Namespace: "ns", Partition: "rare", Vector: randUnit(r, dim), Meta: map[string]string{"doc": "rare"}})
	}
	if err := s.Upsert(ctx, recs); err != nil {
		t.Fatal(err)
	}
	filters := map[string]vectorstore.Filter{
		"partition": {Namespace: "ns", Partition: vectorstore.PartitionOf("rare")},
		"meta":      {Namespace: "ns", Meta: map[string]string{"doc": "rare"}},
	}
	for name, f := range filters {
		t.Run(name, func(t *testing.T) {
			hits, err := s.Search(ctx, vectorstore.Query{Vector: q, K: 10, MinScore: -1, Filter: f})
			if err != nil {
				t.Fatal(err)
			}
			got := hitIDs(hits)
			if want := bruteForce(recs[2000:], q, 10); !slices.Equal(got, want) {
				t.Errorf("hits %v, want %v", got, want)
			}
		})
	}
}

func TestFilters(t *testing.T) {
	const dim = 8
	s := openTest(t, dim, nil)
	ctx := context.Background()
	r := mrand.New(mrand.NewPCG(5, 6))
	recs := []vectorstore.Record{
		{ID: "a1", Namespace: "a", Partition: "", Meta: map[string]string{"src": "x", "doc": "1"}},
		{ID: "a2", Namespace: "a", Partition: "p", Meta: map[string]string{"src": "x", "doc": "2"}},
		{ID: "a3", Namespace: "a", Partition: "p", Meta: map[string]string{"src": "y"}},
		{ID: "b1", Namespace: "b", Partition: "", Meta: map[string]string{"src": "x", "doc": "1"}},
	}
	for i := range recs {
		recs[i].Vector = randUnit(r, dim)
	}
	if err := s.Upsert(ctx, recs); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		f    vectorstore.Filter
		want []string
	}{
		{"namespace a", vectorstore.Filter{Namespace: "a"}, []string{"a1", "a2", "a3"}},
		{"namespace b", vectorstore.Filter{Namespace: "b"}, []string{"b1"}},
		{"unknown namespace", vectorstore.Filter{Namespace: "c"}, nil},
		{"empty partition", vectorstore.Filter{Namespace: "a", Partition: vectorstore.PartitionOf("")}, []string{"a1"}},
		{"partition p", vectorstore.Filter{Namespace: "a", Partition: vectorstore.PartitionOf("p")}, []string{"a2", "a3"}},
		{"meta one pair", vectorstore.Filter{Namespace: "a", Meta: map[string]string{"src": "x"}}, []string{"a1", "a2"}},
		{"meta all pairs", vectorstore.Filter{Namespace: "a", Meta: map[string]string{"src": "x", "doc": "2"}}, []string{"a2"}},
		{"meta no match", vectorstore.Filter{Namespace: "a", Meta: map[string]string{"src": "x", "doc": "3"}}, nil},
		{"partition and meta", vectorstore.Filter{Namespace: "a", Partition: vectorstore.PartitionOf("p"), Meta: map[string]string{"src": "y"}}, []string{"a3"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hits, err := s.Search(ctx, vectorstore.Query{Vector: randUnit(r, dim), K: 10, MinScore: -1, Filter: tc.f})
			if err != nil {
				t.Fatal(err)
			}
			got := hitIDs(hits)
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("Search ids = %v, want %v", got, tc.want)
			}
			n, err := s.Count(ctx, tc.f)
			if err != nil || n != len(tc.want) {
				t.Errorf("Count = %d, %v; want %d", n, err, len(tc.want))
			}
		})
	}
}

func TestUpsertRoundTripAndReplace(t *testing.T) {
	const dim = 4
	for _, threshold := range []int{1, 1000} { // COPY path and batch path
		t.Run(fmt.Sprintf("copy_threshold=%d", threshold), func(t *testing.T) {
			s := openTest(t, dim, func(o *Options) { o.CopyThreshold = threshold })
			ctx := context.Background()
			expires := time.Now().Add(time.Hour).Truncate(time.Microsecond)
			recs := []vectorstore.Record{
				{ID: "nil-payload", Namespace: "n", Vector: []float32{1, 0, 0, 0}},
				{ID: "empty-payload", Namespace: "n", Vector: []float32{0, 1, 0, 0}, Payload: []byte{}},
				{ID: "binary", Namespace: "n", Partition: "p", Vector: []float32{0, 0, 1, 0},
					Payload: []byte{0, 1, 2, 0xff, 0xfe, '\n', 0}, Meta: map[string]string{"k": "v é \" \\ <>&", "": "empty key"},
					ExpiresAt: expires},
				{ID: "dup", Namespace: "n", Vector: []float32{0, 0, 0, 1}, Payload: []byte("first")},
				{ID: "dup", Namespace: "n", Vector: []float32{0, 0, 0, 1}, Payload: []byte("second")},
				{ID: "nul\x00\x01id", Namespace: "n", Partition: "p\x00", Vector: []float32{-1, 0, 0, 0},
					Meta: map[string]string{"k\x00": "\x01\x00v\x01", "\x01": "\x02"}},
			}
			if err := s.Upsert(ctx, recs); err != nil {
				t.Fatal(err)
			}
			get := func(id string, v []float32) vectorstore.Record {
				t.Helper()
				hits, err := s.Search(ctx, vectorstore.Query{Vector: v, K: 1, Filter: vectorstore.Filter{Namespace: "n"}})
				if err != nil || len(hits) != 1 || hits[0].Record.ID != id {
					t.Fatalf("Search for %s = %v, %v", id, hits, err)
				}
				if hits[0].Score < 0.999 {
					t.Errorf("%s: self score %v", id, hits[0].Score)
				}
				return hits[0].Record
			}
			if got := get("nil-payload", recs[0].Vector); got.Payload != nil || got.Meta != nil || !got.ExpiresAt.IsZero() {
				t.Errorf("nil-payload came back as %+v", got)
			}
			if got := get("empty-payload", recs[1].Vector); got.Payload == nil || len(got.Payload) != 0 {
				t.Errorf("empty payload came back as %#v", got.Payload)
			}
			got := get("binary", recs[2].Vector)
			if !bytes.Equal(got.Payload, recs[2].Payload) || !maps.Equal(got.Meta, recs[2].Meta) ||
				got.Partition != "p" || got.Namespace != "n" || !got.ExpiresAt.Equal(expires) {
				t.Errorf("binary came back as %+v, want %+v", got, recs[2])
			}
			if got := get("dup", recs[3].Vector); string(got.Payload) != "second" {
				t.Errorf("duplicate ID in one batch: payload %q, want the last one", got.Payload)
			}
			nul := recs[5]
			if got := get(nul.ID, nul.Vector); got.Partition != nul.Partition || !maps.Equal(got.Meta, nul.Meta) {
				t.Errorf("NUL bytes came back as %q/%q, want %q/%q", got.Partition, got.Meta, nul.Partition, nul.Meta)
			}
			if n, err := s.Count(ctx, vectorstore.Filter{Namespace: "n", Partition: &nul.Partition, Meta: map[string]string{"\x01": "\x02"}}); err != nil || n != 1 {
				t.Errorf("filter on NUL-bearing partition and meta: Count = %d, %v; want 1", n, err)
			}
			// Replace moves the record to another partition and vector.
			repl := vectorstore.Record{ID: "binary", Namespace: "n", Partition: "q", Vector: []float32{1, 0, 0, 0}, Payload: []byte("new")}
			if err := s.Upsert(ctx, []vectorstore.Record{repl}); err != nil {
				t.Fatal(err)
			}
			if n, _ := s.Count(ctx, vectorstore.Filter{Namespace: "n", Partition: vectorstore.PartitionOf("p")}); n != 0 {
				t.Errorf("old partition still counts %d", n)
			}
			if n, _ := s.Count(ctx, vectorstore.Filter{Namespace: "n"}); n != 5 {
				t.Errorf("Count = %d after replace, want 5", n)
			}
			hits, err := s.Search(ctx, vectorstore.Query{Vector: repl.Vector, K: 1, Filter: vectorstore.Filter{Namespace: "n", Partition: vectorstore.PartitionOf("q")}})
			if err != nil || len(hits) != 1 || string(hits[0].Record.Payload) != "new" || hits[0].Record.Meta != nil {
				t.Errorf("replaced record = %+v, %v", hits, err)
			}
		})
	}
}

func TestMinScoreAndK(t *testing.T) {
	s := openTest(t, 2, nil)
	ctx := context.Background()
	recs := []vectorstore.Record{
		{ID: "0deg", Namespace: "n", Vector: []float32{1, 0}},
		{ID: "60deg", Namespace: "n", Vector: []float32{0.5, 0.8660254}},
		{ID: "90deg", Namespace: "n", Vector: []float32{0, 1}},
		{ID: "180deg", Namespace: "n", Vector: []float32{-1, 0}},
	}
	if err := s.Upsert(ctx, recs); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		k        int
		minScore float32
		want     []string
	}{
		{4, -1, []string{"0deg", "60deg", "90deg", "180deg"}},
		{2, -1, []string{"0deg", "60deg"}},
		{4, 0.4, []string{"0deg", "60deg"}},
		{4, 0.99, []string{"0deg"}},
		{1, 0, []string{"0deg"}},
		{4, -0.5, []string{"0deg", "60deg", "90deg"}},
	}
	for _, tc := range tests {
		hits, err := s.Search(ctx, vectorstore.Query{Vector: []float32{1, 0}, K: tc.k, MinScore: tc.minScore, Filter: vectorstore.Filter{Namespace: "n"}})
		if err != nil {
			t.Fatal(err)
		}
		if got := hitIDs(hits); !slices.Equal(got, tc.want) {
			t.Errorf("K=%d MinScore=%v: %v, want %v", tc.k, tc.minScore, got, tc.want)
		}
	}
}

func TestDeleteDeleteWhereCountExpiry(t *testing.T) {
	const dim = 4
	s := openTest(t, dim, func(o *Options) { o.JanitorInterval = -1 })
	ctx := context.Background()
	r := mrand.New(mrand.NewPCG(9, 9))
	past, future := time.Now().Add(-time.Minute), time.Now().Add(time.Hour)
	var recs []vectorstore.Record
	for i := range 10 {
		rec := vectorstore.Record{ID: fmt.Sprintf("r%d", i), Namespace: "n", Partition: fmt.Sprint(i % 2), Vector: randUnit(r, dim)}
		switch i {
		case 8:
			rec.ExpiresAt = past
		case 9:
			rec.ExpiresAt = future
		}
		recs = append(recs, rec)
	}
	recs = append(recs, vectorstore.Record{ID: "other", Namespace: "m", Vector: randUnit(r, dim)})
	if err := s.Upsert(ctx, recs); err != nil {
		t.Fatal(err)
	}
	count := func(f vectorstore.Filter) int {
		t.Helper()
		n, err := s.Count(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(vectorstore.Filter{Namespace: "n"}); n != 9 {
		t.Errorf("Count = %d, want 9 (expired r8 excluded)", n)
	}
	hits, err := s.Search(ctx, vectorstore.Query{Vector: recs[8].Vector, K: 20, MinScore: -1, Filter: vectorstore.Filter{Namespace: "n"}})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(hitIDs(hits), "r8") || len(hits) != 9 {
		t.Errorf("Search returned %v: want the 9 live records, never expired r8", hitIDs(hits))
	}
	if err := s.Delete(ctx, []string{"r0", "r1", "missing"}); err != nil {
		t.Fatal(err)
	}
	if n := count(vectorstore.Filter{Namespace: "n"}); n != 7 {
		t.Errorf("Count after Delete = %d, want 7", n)
	}
	// Partition "0" now holds r2, r4, r6 and expired r8: three live.
	n, err := s.DeleteWhere(ctx, vectorstore.Filter{Namespace: "n", Partition: vectorstore.PartitionOf("0")})
	if err != nil || n != 3 {
		t.Errorf("DeleteWhere = %d, %v; want 3", n, err)
	}
	if n := count(vectorstore.Filter{Namespace: "n"}); n != 4 {
		t.Errorf("Count after DeleteWhere = %d, want 4", n)
	}
	if n := count(vectorstore.Filter{Namespace: "m"}); n != 1 {
		t.Errorf("other namespace Count = %d, want 1", n)
	}
	// r8 was expired and is gone from the table too; insert another expired one for the purge.
	if err := s.Upsert(ctx, []vectorstore.Record{{ID: "old", Namespace: "m", Vector: randUnit(r, dim), ExpiresAt: past}}); err != nil {
		t.Fatal(err)
	}
	purged, err := s.PurgeExpired(ctx)
	if err != nil || purged != 1 {
		t.Errorf("PurgeExpired = %d, %v; want 1", purged, err)
	}
	var rows int
	if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM "+s.table).Scan(&rows); err != nil || rows != 5 {
		t.Errorf("table holds %d rows (%v), want 5", rows, err)
	}
}

func TestJanitorPurges(t *testing.T) {
	s := openTest(t, 2, func(o *Options) { o.JanitorInterval = 50 * time.Millisecond })
	ctx := context.Background()
	if err := s.Upsert(ctx, []vectorstore.Record{
		{ID: "short", Namespace: "n", Vector: []float32{1, 0}, ExpiresAt: time.Now().Add(100 * time.Millisecond)},
		{ID: "forever", Namespace: "n", Vector: []float32{0, 1}},
	}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var rows int
		if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM "+s.table).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if rows == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("janitor left %d rows, want 1", rows)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestInvalidArguments(t *testing.T) {
	s := openTest(t, 3, nil)
	ctx := context.Background()
	v := []float32{1, 0, 0}
	ns := vectorstore.Filter{Namespace: "n"}
	tests := []struct {
		name string
		op   func() error
		want error
	}{
		{"upsert short vector", func() error {
			return s.Upsert(ctx, []vectorstore.Record{{ID: "a", Namespace: "n", Vector: []float32{1, 0}}})
		}, vectorstore.ErrDimension},
		{"upsert empty ID", func() error { return s.Upsert(ctx, []vectorstore.Record{{Namespace: "n", Vector: v}}) }, vectorstore.ErrInvalid},
		{"upsert empty namespace", func() error { return s.Upsert(ctx, []vectorstore.Record{{ID: "a", Vector: v}}) }, vectorstore.ErrInvalid},
		{"upsert invalid UTF-8 meta", func() error {
			return s.Upsert(ctx, []vectorstore.Record{{ID: "a", Namespace: "n", Vector: v, Meta: map[string]string{"k": "a\xc3"}}})
		}, vectorstore.ErrInvalid},
		{"upsert invalid UTF-8 ID", func() error {
			return s.Upsert(ctx, []vectorstore.Record{{ID: "\xff", Namespace: "n", Vector: v}})
		}, vectorstore.ErrInvalid},
		{"search long vector", func() error {
			_, err := s.Search(ctx, vectorstore.Query{Vector: []float32{1, 0, 0, 0}, K: 1, Filter: ns})
			return err
		}, vectorstore.ErrDimension},
		{"search K=0", func() error { _, err := s.Search(ctx, vectorstore.Query{Vector: v, K: 0, Filter: ns}); return err }, vectorstore.ErrInvalid},
		{"search empty namespace", func() error { _, err := s.Search(ctx, vectorstore.Query{Vector: v, K: 1}); return err }, vectorstore.ErrInvalid},
		{"count empty namespace", func() error { _, err := s.Count(ctx, vectorstore.Filter{}); return err }, vectorstore.ErrInvalid},
		{"delete where empty namespace", func() error { _, err := s.DeleteWhere(ctx, vectorstore.Filter{}); return err }, vectorstore.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.op(); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
	// A failed batch writes nothing.
	err := s.Upsert(ctx, []vectorstore.Record{{ID: "ok", Namespace: "n", Vector: v}, {ID: "bad", Namespace: "n", Vector: v[:1]}})
	if !errors.Is(err, vectorstore.ErrDimension) {
		t.Errorf("mixed batch err = %v", err)
	}
	if n, _ := s.Count(ctx, ns); n != 0 {
		t.Errorf("a rejected batch stored %d records", n)
	}
}

func TestClosedStore(t *testing.T) {
	s := openTest(t, 2, nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Upsert(ctx, []vectorstore.Record{{ID: "a", Namespace: "n", Vector: []float32{1, 0}}}); !errors.Is(err, vectorstore.ErrClosed) {
		t.Errorf("Upsert after Close: %v", err)
	}
	if _, err := s.Search(ctx, vectorstore.Query{Vector: []float32{1, 0}, K: 1, Filter: vectorstore.Filter{Namespace: "n"}}); !errors.Is(err, vectorstore.ErrClosed) {
		t.Errorf("Search after Close: %v", err)
	}
	if _, err := s.Count(ctx, vectorstore.Filter{Namespace: "n"}); !errors.Is(err, vectorstore.ErrClosed) {
		t.Errorf("Count after Close: %v", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	const dim = 8
	s := openTest(t, dim, func(o *Options) { o.MaxConns = 4 })
	ctx := context.Background()
	var wg sync.WaitGroup
	const workers, per = 4, 25
	errs := make(chan error, workers*per*2)
	for w := range workers {
		wg.Go(func() {
			r := mrand.New(mrand.NewPCG(uint64(w), 1))
			for i := range per {
				v := randUnit(r, dim)
				if err := s.Upsert(ctx, []vectorstore.Record{{ID: fmt.Sprintf("w%d-%d", w, i), Namespace: "n", Vector: v}}); err != nil {
					errs <- err
					return
				}
				hits, err := s.Search(ctx, vectorstore.Query{Vector: v, K: 1, Filter: vectorstore.Filter{Namespace: "n"}})
				if err != nil {
					errs <- err
					return
				}
				if len(hits) != 1 || hits[0].Record.ID != fmt.Sprintf("w%d-%d", w, i) {
					errs <- fmt.Errorf("worker %d: own record not found: %v", w, hitIDs(hits))
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n, err := s.Count(ctx, vectorstore.Filter{Namespace: "n"}); err != nil || n != workers*per {
		t.Errorf("Count = %d, %v; want %d", n, err, workers*per)
	}
}

// TestRecoversAfterTerminateBackend kills the pool's server processes; the
// next operations must succeed on fresh connections.
func TestRecoversAfterTerminateBackend(t *testing.T) {
	app := uniqueTable("semcache_test_app")
	s := openTest(t, 2, func(o *Options) { o.ApplicationName = app; o.MaxConns = 2 })
	ctx := context.Background()
	if err := s.Upsert(ctx, []vectorstore.Record{{ID: "a", Namespace: "n", Vector: []float32{1, 0}}}); err != nil {
		t.Fatal(err)
	}
	admin, err := pgx.Connect(ctx, s.opts.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	rows, _ := admin.Query(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", app)
	results, err := pgx.CollectRows(rows, pgx.RowTo[bool])
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	for _, ok := range results {
		if ok {
			killed++
		}
	}
	if killed == 0 {
		t.Fatal("no backend of the store's pool to terminate")
	}
	// Straight away, without waiting for the pool's idle ping.
	for i := range 3 {
		n, err := s.Count(ctx, vectorstore.Filter{Namespace: "n"})
		if err != nil || n != 1 {
			t.Fatalf("Count #%d after terminating %d backends = %d, %v; want 1, nil", i, killed, n, err)
		}
	}
}

// TestClusterRestart stops and starts the local cluster 15/main: operations
// fail with ErrUnavailable while it is down and succeed after. It disturbs
// every other user of the cluster, so it only runs with SEMCACHE_PG_RESTART_TEST=1.
func TestClusterRestart(t *testing.T) {
	if os.Getenv("SEMCACHE_PG_RESTART_TEST") != "1" {
		t.Skip("set SEMCACHE_PG_RESTART_TEST=1 to stop and restart cluster 15/main")
	}
	s := openTest(t, 2, func(o *Options) { o.ConnectTimeout = 2 * time.Second })
	ctx := context.Background()
	f := vectorstore.Filter{Namespace: "n"}
	if err := s.Upsert(ctx, []vectorstore.Record{{ID: "a", Namespace: "n", Vector: []float32{1, 0}}}); err != nil {
		t.Fatal(err)
	}
	pgctl := func(action string) {
		t.Helper()
		if out, err := exec.Command("pg_ctlcluster", "15", "main", action).CombinedOutput(); err != nil {
			t.Fatalf("pg_ctlcluster 15 main %s: %v\n%s", action, err, out)
		}
	}
	pgctl("stop")
	restarted := false
	defer func() {
		if !restarted {
			pgctl("start")
		}
	}()
	_, err := s.Count(ctx, f)
	if !errors.Is(err, vectorstore.ErrUnavailable) {
		t.Errorf("Count while down: %v, want ErrUnavailable", err)
	}
	_, err = s.Search(ctx, vectorstore.Query{Vector: []float32{1, 0}, K: 1, Filter: f})
	if !errors.Is(err, vectorstore.ErrUnavailable) {
		t.Errorf("Search while down: %v, want ErrUnavailable", err)
	}
	pgctl("start")
	restarted = true
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, err := s.Count(ctx, f)
		if err == nil {
			if n != 1 {
				t.Errorf("Count after restart = %d, want 1 (the acknowledged record survives)", n)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("store did not recover after restart: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
