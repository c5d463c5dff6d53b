package pgvector

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"math"
	mrand "math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// testDSN returns the DSN of the test database from SEMCACHE_PG_DSN. Without
// one the test is skipped, except under CI (env CI set), where a missing or
// unreachable database fails the test: CI never silently skips.
func testDSN(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv("SEMCACHE_PG_DSN")
	if dsn == "" {
		if os.Getenv("CI") != "" {
			tb.Fatal("SEMCACHE_PG_DSN is not set under CI; run .ci/postgres.sh and export its last line")
		}
		tb.Skip("SEMCACHE_PG_DSN not set; run .ci/postgres.sh and export its last line to test against PostgreSQL")
	}
	reach.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			reach.err = err
			return
		}
		reach.err = conn.Ping(ctx)
		conn.Close(ctx)
	})
	if reach.err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("SEMCACHE_PG_DSN unreachable under CI: %v", reach.err)
		}
		tb.Skipf("SEMCACHE_PG_DSN unreachable: %v", reach.err)
	}
	return dsn
}

var reach struct {
	sync.Once
	err error
}

// uniqueTable returns a fresh table name, unique across test processes.
func uniqueTable(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + "_" + hex.EncodeToString(b[:])
}

// dropTable removes a test table and its migration records.
func dropTable(tb testing.TB, dsn, table string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Errorf("drop table %s: %v", table, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP TABLE IF EXISTS "+pgx.Identifier{table}.Sanitize()); err != nil {
		tb.Errorf("drop table %s: %v", table, err)
	}
	if _, err := conn.Exec(ctx, "DELETE FROM "+migrationsTable+" WHERE table_name = $1", table); err != nil {
		tb.Errorf("forget migrations of %s: %v", table, err)
	}
}

// openTest opens a store on a fresh table that is dropped when the test ends.
func openTest(tb testing.TB, dim int, tweak func(*Options)) *Store {
	tb.Helper()
	dsn := testDSN(tb)
	opts := Options{DSN: dsn, Table: uniqueTable("test"), Dimension: dim}
	if tweak != nil {
		tweak(&opts)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, opts)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
		dropTable(tb, dsn, opts.Table)
	})
	return s
}

// randUnit returns a random unit vector.
func randUnit(r *mrand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	var n float64
	for i := range v {
		x := r.NormFloat64()
		v[i] = float32(x)
		n += x * x
	}
	n = math.Sqrt(n)
	for i := range v {
		v[i] = float32(float64(v[i]) / n)
	}
	return v
}

func cosine(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return dot / math.Sqrt(na*nb)
}
