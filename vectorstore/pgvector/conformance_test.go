package pgvector

import (
	"context"
	"testing"
	"time"

	"github.com/semcache/semcache/vectorstore"
	"github.com/semcache/semcache/vectorstore/storetest"
)

// TestConformance runs the shared vectorstore suite against PostgreSQL with
// default options: the HNSW index path, not the Exact one.
func TestConformance(t *testing.T) {
	dsn := testDSN(t)
	storetest.Run(t, func(t *testing.T, dim int) vectorstore.Store {
		table := uniqueTable("conf")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s, err := Open(ctx, Options{DSN: dsn, Table: table, Dimension: dim})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() {
			s.Close() // the suite may have closed it already; Close is idempotent
			dropTable(t, dsn, table)
		})
		return s
	})
}
