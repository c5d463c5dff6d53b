package rag

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/semcache/semcache/vectorstore"
	"github.com/semcache/semcache/vectorstore/memory"
	"github.com/semcache/semcache/vectorstore/pgvector"
	"github.com/semcache/semcache/vectorstore/qdrant"
	"github.com/semcache/semcache/vectorstore/qdrant/qdranttest"
)

// backend opens a fresh 256-d store for a test.
type backend struct {
	name string
	open func(t *testing.T) vectorstore.Store
}

// backends are the stores RAG runs on: the embedded one, the Qdrant fake,
// and PostgreSQL when SEMCACHE_PG_DSN names one (required under CI).
func backends(t *testing.T) []backend {
	t.Helper()
	bs := []backend{
		{"memory", func(t *testing.T) vectorstore.Store {
			st, err := memory.Open(context.Background(), memory.Options{Dimension: 256})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}},
		{"qdrant", func(t *testing.T) vectorstore.Store {
			host, port := qdranttest.Start(t)
			st, err := qdrant.Open(context.Background(), qdrant.Options{Host: host, Port: port, Collection: "rag", Dimension: 256})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}},
	}
	dsn := os.Getenv("SEMCACHE_PG_DSN")
	if dsn == "" && os.Getenv("CI") != "" {
		t.Fatal("SEMCACHE_PG_DSN is not set under CI")
	}
	if dsn != "" {
		bs = append(bs, backend{"pgvector", func(t *testing.T) vectorstore.Store {
			var b [6]byte
			_, _ = rand.Read(b[:])
			table := "rag_test_" + hex.EncodeToString(b[:])
			ctx := context.Background()
			st, err := pgvector.Open(ctx, pgvector.Options{DSN: dsn, Table: table, Dimension: 256, Exact: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				st.Close()
				if conn, err := pgx.Connect(ctx, dsn); err == nil {
					_, _ = conn.Exec(ctx, "DROP TABLE IF EXISTS "+pgx.Identifier{table}.Sanitize())
					conn.Close(ctx)
				}
			})
			return st
		}})
	}
	return bs
}
