package pgvector

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/semcache/semcache/vectorstore"
)

// migrationLockKey is the pg_advisory_xact_lock key that serialises schema
// migrations of every semcache process sharing a database ("semcache" in ASCII).
const migrationLockKey int64 = 0x73656d6361636865

// migrationsTable records, per collection table, which schema versions are applied.
const migrationsTable = "semcache_schema_migrations"

// migration is one schema version of a collection table; up returns its
// statements for the (already quoted) table t.
type migration struct {
	version     int
	description string
	up          func(t string, opts Options) []string
}

// migrations are applied in order; append new versions, never edit old ones.
var migrations = []migration{
	{
		version:     1,
		description: "collection table, HNSW cosine index, filter indexes",
		up: func(t string, o Options) []string {
			name := o.Table
			return []string{
				`CREATE TABLE IF NOT EXISTS ` + t + ` (
	id         text PRIMARY KEY,
	namespace  text NOT NULL,
	partition  text NOT NULL DEFAULT '',
	meta       jsonb NOT NULL DEFAULT '{}',
	payload    bytea,
	embedding  vector(` + strconv.Itoa(o.Dimension) + `) NOT NULL,
	expires_at timestamptz,
	created_at timestamptz NOT NULL DEFAULT now()
)`,
				`CREATE INDEX IF NOT EXISTS ` + pgx.Identifier{name + "_embedding_hnsw"}.Sanitize() + ` ON ` + t +
					` USING hnsw (embedding vector_cosine_ops) WITH (m = ` + strconv.Itoa(o.HNSWM) +
					`, ef_construction = ` + strconv.Itoa(o.HNSWEfConstruction) + `)`,
				`CREATE INDEX IF NOT EXISTS ` + pgx.Identifier{name + "_ns_partition"}.Sanitize() + ` ON ` + t + ` (namespace, partition)`,
				`CREATE INDEX IF NOT EXISTS ` + pgx.Identifier{name + "_meta"}.Sanitize() + ` ON ` + t + ` USING gin (meta jsonb_path_ops)`,
				`CREATE INDEX IF NOT EXISTS ` + pgx.Identifier{name + "_expires_at"}.Sanitize() + ` ON ` + t + ` (expires_at) WHERE expires_at IS NOT NULL`,
			}
		},
	},
}

// migrate brings the collection table to the latest schema version on a
// dedicated connection, inside one transaction holding an advisory lock so
// that processes starting together migrate one after the other. It then
// checks that the table's embedding dimension is the one asked for.
func migrate(ctx context.Context, cc *pgx.ConnConfig, opts Options) error {
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return fmt.Errorf("pgvector: connect: %w", classify(err))
	}
	defer conn.Close(context.WithoutCancel(ctx))

	t := pgx.Identifier{opts.Table}.Sanitize()
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		// Index builds on a large existing table may outlast statement_timeout.
		if _, err := tx.Exec(ctx, "SET LOCAL statement_timeout = 0"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLockKey); err != nil {
			return fmt.Errorf("take migration lock: %w", err)
		}
		if _, err := tx.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS vector"); err != nil {
			return fmt.Errorf("create extension vector (install pgvector, or create the extension as a superuser): %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+migrationsTable+` (
	table_name  text NOT NULL,
	version     integer NOT NULL,
	description text NOT NULL,
	applied_at  timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (table_name, version)
)`); err != nil {
			return fmt.Errorf("create %s: %w", migrationsTable, err)
		}
		var current int
		if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM "+migrationsTable+" WHERE table_name = $1",
			opts.Table).Scan(&current); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		for _, m := range migrations {
			if m.version <= current {
				continue
			}
			for _, stmt := range m.up(t, opts) {
				if _, err := tx.Exec(ctx, stmt); err != nil {
					return fmt.Errorf("migration %d (%s): %w", m.version, m.description, err)
				}
			}
			if _, err := tx.Exec(ctx, "INSERT INTO "+migrationsTable+" (table_name, version, description) VALUES ($1, $2, $3)",
				opts.Table, m.version, m.description); err != nil {
				return fmt.Errorf("record migration %d: %w", m.version, err)
			}
		}
		return checkDimension(ctx, tx, t, opts)
	})
	if err != nil {
		if errors.Is(err, vectorstore.ErrDimension) {
			return fmt.Errorf("pgvector: %w", err)
		}
		return fmt.Errorf("pgvector: migrate table %s: %w", opts.Table, classify(err))
	}
	return nil
}

// checkDimension compares the embedding column's declared dimension (the
// vector type's typmod) with opts.Dimension.
func checkDimension(ctx context.Context, tx pgx.Tx, t string, opts Options) error {
	var dim int32
	err := tx.QueryRow(ctx, `SELECT a.atttypmod FROM pg_attribute a
WHERE a.attrelid = to_regclass($1) AND a.attname = 'embedding' AND NOT a.attisdropped`, t).Scan(&dim)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("table %s has no embedding column", opts.Table)
	}
	if err != nil {
		return fmt.Errorf("read embedding dimension: %w", err)
	}
	if int(dim) != opts.Dimension {
		return fmt.Errorf("table %s holds %d-dimensional vectors but Options.Dimension is %d (use another table or migrate the data): %w",
			opts.Table, dim, opts.Dimension, vectorstore.ErrDimension)
	}
	return nil
}
