// Package pgvector is the PostgreSQL implementation of vectorstore.Store, for
// deployments that run several semcache replicas against one shared index.
//
// One Store is one table (a collection) with a fixed embedding dimension. Open
// migrates the table idempotently (versioned, serialised across processes by
// an advisory lock), refuses a table whose dimension differs from the one
// asked for, and then serves searches through an HNSW cosine index. The
// index is approximate; filtered searches use pgvector's iterative index scans
// (hnsw.iterative_scan = relaxed_order) and fall back to an exact scan when the
// index returns fewer rows than asked for, so a selective filter never hides a
// matching record. Expired records are excluded from every query and purged by
// a background janitor. Failures to reach the database wrap
// vectorstore.ErrUnavailable; the connection pool reconnects by itself.
//
// It needs the pgvector extension (0.8 or later) in the database; .ci/postgres.sh
// sets one up for the tests.
package pgvector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	pgv "github.com/pgvector/pgvector-go"
	pgxvec "github.com/pgvector/pgvector-go/pgx"

	"github.com/semcache/semcache/vectorstore"
)

var _ vectorstore.Store = (*Store)(nil)

// Defaults applied by Open to zero Options fields.
const (
	DefaultConnectTimeout   = 5 * time.Second
	DefaultStatementTimeout = 10 * time.Second
	DefaultEfSearch         = 100
	DefaultMaxScanTuples    = 20000
	DefaultJanitorInterval  = time.Minute
	DefaultCopyThreshold    = 256
	defaultHNSWM            = 16
	defaultHNSWEfConstruct  = 64
	maxDimension            = 16000 // pgvector's limit for the vector type
	maxHNSWDimension        = 2000  // pgvector's limit for an HNSW index on vector
	janitorBatch            = 1000
)

// tableNameRE accepts lower-case SQL identifiers short enough that the derived
// index names (table + "_embedding_hnsw") stay within PostgreSQL's 63 bytes.
var tableNameRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,47}$`)

// Options configures Open. DSN, Table and Dimension are required.
type Options struct {
	// DSN is a PostgreSQL connection string (URL or key=value form).
	DSN string
	// Table is the collection: a lower-case SQL identifier, at most 48
	// characters ([a-z_][a-z0-9_]*). Each table has its own dimension.
	Table string
	// Dimension is the vector length; an existing table with another
	// dimension makes Open fail with vectorstore.ErrDimension.
	Dimension int
	// ConnectTimeout bounds each connection attempt (default 5s).
	ConnectTimeout time.Duration
	// StatementTimeout is the server-side statement_timeout of the store's
	// connections (default 10s). Negative disables it.
	StatementTimeout time.Duration
	// MaxConns caps the pool (default: pgxpool's, max(4, GOMAXPROCS)).
	MaxConns int32
	// EfSearch is hnsw.ef_search, the size of the HNSW candidate list
	// (1..1000, default 100). Larger is more accurate and slower.
	EfSearch int
	// MaxScanTuples is hnsw.max_scan_tuples, how far an iterative scan may go
	// before giving up (default 20000); an exact scan covers the rest.
	MaxScanTuples int
	// Exact disables the HNSW index for searches: every search is an exact
	// scan of the rows matching the filter. For small tables and tests.
	Exact bool
	// HNSWM and HNSWEfConstruction are the index build parameters used when
	// the table is created (defaults 16 and 64, pgvector's).
	HNSWM, HNSWEfConstruction int
	// JanitorInterval is how often expired rows are purged (default 1m).
	// Negative disables the janitor; expired rows stay invisible anyway.
	JanitorInterval time.Duration
	// CopyThreshold is the batch size from which Upsert goes through COPY
	// into a temporary table instead of a pipelined batch of INSERTs
	// (default 256).
	CopyThreshold int
	// ApplicationName is the connections' application_name, as shown in
	// pg_stat_activity (default "semcache").
	ApplicationName string
	// Logger receives the janitor's failures (default slog.Default()).
	Logger *slog.Logger
}

func (o *Options) validate() error {
	var errs []error
	if strings.TrimSpace(o.DSN) == "" {
		errs = append(errs, errors.New("DSN is required"))
	}
	if !tableNameRE.MatchString(o.Table) {
		errs = append(errs, fmt.Errorf("Table %q must match %s", o.Table, tableNameRE))
	}
	switch {
	case o.Dimension < 1 || o.Dimension > maxDimension:
		errs = append(errs, fmt.Errorf("Dimension %d must be in [1, %d]", o.Dimension, maxDimension))
	case o.Dimension > maxHNSWDimension:
		errs = append(errs, fmt.Errorf("Dimension %d exceeds %d, the largest pgvector can index with HNSW", o.Dimension, maxHNSWDimension))
	}
	if o.ConnectTimeout < 0 {
		errs = append(errs, fmt.Errorf("ConnectTimeout %v must not be negative", o.ConnectTimeout))
	}
	if o.MaxConns < 0 {
		errs = append(errs, fmt.Errorf("MaxConns %d must not be negative", o.MaxConns))
	}
	if o.EfSearch < 0 || o.EfSearch > 1000 {
		errs = append(errs, fmt.Errorf("EfSearch %d must be in [1, 1000] (0 for the default)", o.EfSearch))
	}
	if o.MaxScanTuples < 0 {
		errs = append(errs, fmt.Errorf("MaxScanTuples %d must not be negative", o.MaxScanTuples))
	}
	if o.HNSWM != 0 && (o.HNSWM < 2 || o.HNSWM > 100) {
		errs = append(errs, fmt.Errorf("HNSWM %d must be in [2, 100]", o.HNSWM))
	}
	if o.HNSWEfConstruction != 0 && (o.HNSWEfConstruction < 4 || o.HNSWEfConstruction > 1000) {
		errs = append(errs, fmt.Errorf("HNSWEfConstruction %d must be in [4, 1000]", o.HNSWEfConstruction))
	}
	if o.CopyThreshold < 0 {
		errs = append(errs, fmt.Errorf("CopyThreshold %d must not be negative", o.CopyThreshold))
	}
	return errors.Join(errs...)
}

func (o *Options) withDefaults() {
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.StatementTimeout == 0 {
		o.StatementTimeout = DefaultStatementTimeout
	}
	if o.EfSearch == 0 {
		o.EfSearch = DefaultEfSearch
	}
	if o.MaxScanTuples == 0 {
		o.MaxScanTuples = DefaultMaxScanTuples
	}
	if o.HNSWM == 0 {
		o.HNSWM = defaultHNSWM
	}
	if o.HNSWEfConstruction == 0 {
		o.HNSWEfConstruction = defaultHNSWEfConstruct
	}
	if o.JanitorInterval == 0 {
		o.JanitorInterval = DefaultJanitorInterval
	}
	if o.CopyThreshold == 0 {
		o.CopyThreshold = DefaultCopyThreshold
	}
	if o.ApplicationName == "" {
		o.ApplicationName = "semcache"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Store is a vectorstore.Store backed by one PostgreSQL table.
type Store struct {
	pool   *pgxpool.Pool
	opts   Options
	table  string // quoted identifier
	sql    statements
	closed atomic.Bool

	stopJanitor context.CancelFunc
	janitorDone chan struct{}
	closeOnce   sync.Once
}

// statements are the SQL texts, built once per table.
type statements struct {
	upsert       string
	upsertFrom   string // INSERT ... SELECT from the COPY staging table
	stageCreate  string
	selectCols   string
	deleteIDs    string
	purgeExpired string
}

// Open connects, migrates the table and starts the janitor.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("pgvector: invalid options: %w", err)
	}
	opts.withDefaults()

	cfg, err := pgxpool.ParseConfig(opts.DSN)
	if err != nil {
		return nil, fmt.Errorf("pgvector: parse DSN: %w", err)
	}
	cfg.ConnConfig.ConnectTimeout = opts.ConnectTimeout
	cfg.ConnConfig.RuntimeParams["application_name"] = opts.ApplicationName
	if opts.StatementTimeout > 0 {
		cfg.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(opts.StatementTimeout.Milliseconds(), 10)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}

	// Migrate on a connection of its own: the pool's connections register the
	// vector type when they connect, which needs the extension to exist.
	if err := migrate(ctx, cfg.ConnConfig, opts); err != nil {
		return nil, err
	}

	// Session settings: the pool's connections serve only this store, so the
	// search parameters are set once per connection rather than with SET LOCAL
	// in a transaction around every search (which costs three round trips).
	session := fmt.Sprintf("SET hnsw.ef_search = %d; SET hnsw.iterative_scan = relaxed_order; SET hnsw.max_scan_tuples = %d",
		opts.EfSearch, opts.MaxScanTuples)
	cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		if err := pgxvec.RegisterTypes(ctx, conn); err != nil {
			return fmt.Errorf("register vector type: %w", err)
		}
		if _, err := conn.Exec(ctx, session); err != nil {
			return fmt.Errorf("set search parameters: %w", err)
		}
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgvector: create pool: %w", classify(err))
	}
	// Fail now, not on the first query, if the pool cannot connect.
	pingCtx, cancel := context.WithTimeout(ctx, opts.ConnectTimeout)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgvector: connect: %w", classify(err))
	}

	s := &Store{
		pool:  pool,
		opts:  opts,
		table: pgx.Identifier{opts.Table}.Sanitize(),
	}
	s.sql = buildStatements(s.table)
	jctx, stop := context.WithCancel(context.Background())
	s.stopJanitor = stop
	s.janitorDone = make(chan struct{})
	if opts.JanitorInterval > 0 {
		go s.janitor(jctx)
	} else {
		close(s.janitorDone)
	}
	return s, nil
}

func buildStatements(t string) statements {
	const cols = "id, namespace, partition, meta, payload, embedding, expires_at"
	const set = `namespace = EXCLUDED.namespace, partition = EXCLUDED.partition, meta = EXCLUDED.meta,
	payload = EXCLUDED.payload, embedding = EXCLUDED.embedding, expires_at = EXCLUDED.expires_at, created_at = now()`
	return statements{
		upsert: "INSERT INTO " + t + " (" + cols + ") VALUES ($1, $2, $3, $4, $5, $6, $7) " +
			"ON CONFLICT (id) DO UPDATE SET " + set,
		stageCreate: "CREATE TEMP TABLE semcache_upsert_stage (LIKE " + t + " INCLUDING DEFAULTS) ON COMMIT DROP",
		upsertFrom: "INSERT INTO " + t + " (" + cols + ") SELECT " + cols + " FROM semcache_upsert_stage " +
			"ON CONFLICT (id) DO UPDATE SET " + set,
		selectCols:   cols,
		deleteIDs:    "DELETE FROM " + t + " WHERE id = ANY($1)",
		purgeExpired: "DELETE FROM " + t + " WHERE id IN (SELECT id FROM " + t + " WHERE expires_at <= $1 LIMIT " + strconv.Itoa(janitorBatch) + ")",
	}
}

// Close stops the janitor and closes the pool. It is safe to call twice.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.stopJanitor()
		<-s.janitorDone
		s.pool.Close()
	})
	return nil
}

func (s *Store) checkOpen() error {
	if s.closed.Load() {
		return vectorstore.ErrClosed
	}
	return nil
}

// fail wraps an operation's error, mapping a race with Close to ErrClosed.
func (s *Store) fail(op string, err error) error {
	if s.closed.Load() {
		return fmt.Errorf("pgvector: %s: %w", op, vectorstore.ErrClosed)
	}
	return fmt.Errorf("pgvector: %s: %w", op, classify(err))
}

// retry runs fn, and once more if the first attempt failed because a pooled
// connection had died (e.g. the server restarted or terminated it): every
// operation of this store is idempotent, and the pool replaces the connection.
func (s *Store) retry(ctx context.Context, fn func(context.Context) error) error {
	err := fn(ctx)
	if err == nil || !lostConnection(err) || ctx.Err() != nil || s.closed.Load() {
		return err
	}
	return fn(ctx)
}

// Upsert inserts or replaces records by ID in one transaction.
func (s *Store) Upsert(ctx context.Context, recs []vectorstore.Record) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if len(recs) == 0 {
		return nil
	}
	rows := make([][]any, 0, len(recs))
	seen := make(map[string]int, len(recs))
	for i := range recs {
		row, err := s.row(&recs[i])
		if err != nil {
			return fmt.Errorf("pgvector: upsert record %d: %w", i, err)
		}
		// A statement may not touch the same row twice: the last one wins.
		if j, ok := seen[recs[i].ID]; ok {
			rows[j] = row
			continue
		}
		seen[recs[i].ID] = len(rows)
		rows = append(rows, row)
	}
	var err error
	if len(rows) >= s.opts.CopyThreshold {
		err = s.retry(ctx, func(ctx context.Context) error { return s.upsertCopy(ctx, rows) })
	} else {
		err = s.retry(ctx, func(ctx context.Context) error { return s.upsertBatch(ctx, rows) })
	}
	if err != nil {
		return s.fail("upsert", err)
	}
	return nil
}

// row validates a record and converts it to the table's column values.
func (s *Store) row(r *vectorstore.Record) ([]any, error) {
	if r.ID == "" {
		return nil, fmt.Errorf("empty ID: %w", vectorstore.ErrInvalid)
	}
	if r.Namespace == "" {
		return nil, fmt.Errorf("record %q: empty namespace: %w", r.ID, vectorstore.ErrInvalid)
	}
	if len(r.Vector) != s.opts.Dimension {
		return nil, fmt.Errorf("record %q: vector length %d, store dimension %d: %w", r.ID, len(r.Vector), s.opts.Dimension, vectorstore.ErrDimension)
	}
	if err := checkText(r.ID, r.Namespace, r.Partition); err != nil {
		return nil, fmt.Errorf("record %q: %w", r.ID, err)
	}
	meta, err := encodeMeta(r.Meta)
	if err != nil {
		return nil, fmt.Errorf("record %q: %w", r.ID, err)
	}
	var expires *time.Time
	if !r.ExpiresAt.IsZero() {
		t := r.ExpiresAt
		expires = &t
	}
	return []any{escape(r.ID), escape(r.Namespace), escape(r.Partition), meta, r.Payload, pgv.NewVector(r.Vector), expires}, nil
}

func (s *Store) upsertBatch(ctx context.Context, rows [][]any) error {
	var b pgx.Batch
	for _, row := range rows {
		b.Queue(s.sql.upsert, row...)
	}
	// A batch runs in one implicit transaction: all rows or none.
	return s.pool.SendBatch(ctx, &b).Close()
}

func (s *Store) upsertCopy(ctx context.Context, rows [][]any) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, s.sql.stageCreate); err != nil {
			return err
		}
		cols := []string{"id", "namespace", "partition", "meta", "payload", "embedding", "expires_at"}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"semcache_upsert_stage"}, cols, pgx.CopyFromRows(rows)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, s.sql.upsertFrom)
		return err
	})
}

// Search returns the q.K nearest live records matching q.Filter.
func (s *Store) Search(ctx context.Context, q vectorstore.Query) ([]vectorstore.Hit, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if q.K < 1 {
		return nil, fmt.Errorf("pgvector: search: K %d < 1: %w", q.K, vectorstore.ErrInvalid)
	}
	if len(q.Vector) != s.opts.Dimension {
		return nil, fmt.Errorf("pgvector: search: vector length %d, store dimension %d: %w", len(q.Vector), s.opts.Dimension, vectorstore.ErrDimension)
	}
	args := []any{pgv.NewVector(q.Vector)}
	where, err := whereClause(q.Filter, time.Now(), &args)
	if err != nil {
		return nil, fmt.Errorf("pgvector: search: %w", err)
	}
	args = append(args, q.K)
	limit := "$" + strconv.Itoa(len(args))
	head := "SELECT " + s.sql.selectCols + ", embedding <=> $1 FROM " + s.table + " WHERE " + where
	// "<=>" alone can use the HNSW index; "+ 0" hides the operator from the
	// planner so it filters by the btree/GIN indexes and sorts exactly.
	indexed := head + " ORDER BY embedding <=> $1 LIMIT " + limit
	exact := head + " ORDER BY (embedding <=> $1) + 0 LIMIT " + limit

	var hits []vectorstore.Hit
	err = s.retry(ctx, func(ctx context.Context) error {
		var err error
		if s.opts.Exact {
			hits, err = s.query(ctx, exact, args)
			return err
		}
		hits, err = s.query(ctx, indexed, args)
		if err != nil || len(hits) >= q.K {
			return err
		}
		// The index gave up before finding K rows (a selective filter, or
		// hnsw.max_scan_tuples reached): the exact scan is authoritative.
		hits, err = s.query(ctx, exact, args)
		return err
	})
	if err != nil {
		return nil, s.fail("search", err)
	}
	// relaxed_order may return rows slightly out of order.
	slices.SortStableFunc(hits, func(a, b vectorstore.Hit) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return strings.Compare(a.Record.ID, b.Record.ID)
	})
	n := 0
	for _, h := range hits {
		if h.Score >= q.MinScore {
			hits[n] = h
			n++
		}
	}
	return hits[:n], nil
}

func (s *Store) query(ctx context.Context, sql string, args []any) ([]vectorstore.Hit, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var hits []vectorstore.Hit
	for rows.Next() {
		var (
			h       vectorstore.Hit
			meta    map[string]string
			vec     pgv.Vector
			expires *time.Time
			dist    float64
		)
		if err := rows.Scan(&h.Record.ID, &h.Record.Namespace, &h.Record.Partition, &meta, &h.Record.Payload, &vec, &expires, &dist); err != nil {
			return nil, err
		}
		h.Record.ID = unescape(h.Record.ID)
		h.Record.Namespace = unescape(h.Record.Namespace)
		h.Record.Partition = unescape(h.Record.Partition)
		if len(meta) > 0 {
			h.Record.Meta = make(map[string]string, len(meta))
			for k, v := range meta {
				h.Record.Meta[unescape(k)] = unescape(v)
			}
		}
		h.Record.Vector = vec.Slice()
		if expires != nil {
			h.Record.ExpiresAt = *expires
		}
		h.Score = float32(min(max(1-dist, -1), 1))
		hits = append(hits, h)
	}
	return hits, rows.Err()
}

// Delete removes records by ID.
func (s *Store) Delete(ctx context.Context, ids []string) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if len(ids) == 0 {
		return nil
	}
	esc := make([]string, len(ids))
	for i, id := range ids {
		if err := checkText(id); err != nil {
			return fmt.Errorf("pgvector: delete: %w", err)
		}
		esc[i] = escape(id)
	}
	err := s.retry(ctx, func(ctx context.Context) error {
		_, err := s.pool.Exec(ctx, s.sql.deleteIDs, esc)
		return err
	})
	if err != nil {
		return s.fail("delete", err)
	}
	return nil
}

// DeleteWhere removes every record matching f, expired ones included, and
// reports how many live records it removed (expired ones were already gone
// as far as callers can tell).
func (s *Store) DeleteWhere(ctx context.Context, f vectorstore.Filter) (int, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	now := time.Now()
	args := []any{now}
	where, err := whereClause(f, time.Time{}, &args)
	if err != nil {
		return 0, fmt.Errorf("pgvector: delete where: %w", err)
	}
	sql := "WITH d AS (DELETE FROM " + s.table + " WHERE " + where + " RETURNING expires_at) " +
		"SELECT count(*) FROM d WHERE expires_at IS NULL OR expires_at > $1"
	var n int64
	err = s.retry(ctx, func(ctx context.Context) error {
		return s.pool.QueryRow(ctx, sql, args...).Scan(&n)
	})
	if err != nil {
		return 0, s.fail("delete where", err)
	}
	return int(n), nil
}

// Count reports how many live records match f.
func (s *Store) Count(ctx context.Context, f vectorstore.Filter) (int, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	var args []any
	where, err := whereClause(f, time.Now(), &args)
	if err != nil {
		return 0, fmt.Errorf("pgvector: count: %w", err)
	}
	var n int64
	err = s.retry(ctx, func(ctx context.Context) error {
		return s.pool.QueryRow(ctx, "SELECT count(*) FROM "+s.table+" WHERE "+where, args...).Scan(&n)
	})
	if err != nil {
		return 0, s.fail("count", err)
	}
	return int(n), nil
}

// whereClause renders f as SQL, appending its parameters to args. A non-zero
// now also excludes records expired at that instant.
func whereClause(f vectorstore.Filter, now time.Time, args *[]any) (string, error) {
	if f.Namespace == "" {
		return "", fmt.Errorf("empty namespace: %w", vectorstore.ErrInvalid)
	}
	param := func(v any) string {
		*args = append(*args, v)
		return "$" + strconv.Itoa(len(*args))
	}
	if err := checkText(f.Namespace); err != nil {
		return "", err
	}
	conds := []string{"namespace = " + param(escape(f.Namespace))}
	if f.Partition != nil {
		if err := checkText(*f.Partition); err != nil {
			return "", err
		}
		conds = append(conds, "partition = "+param(escape(*f.Partition)))
	}
	if len(f.Meta) > 0 {
		meta, err := encodeMeta(f.Meta)
		if err != nil {
			return "", err
		}
		conds = append(conds, "meta @> "+param(meta)+"::jsonb")
	}
	if !now.IsZero() {
		conds = append(conds, "(expires_at IS NULL OR expires_at > "+param(now)+")")
	}
	return strings.Join(conds, " AND "), nil
}

// checkText rejects strings PostgreSQL text cannot hold (it must be UTF-8).
func checkText(ss ...string) error {
	for _, s := range ss {
		if !utf8.ValidString(s) {
			return fmt.Errorf("%q is not valid UTF-8: %w", s, vectorstore.ErrInvalid)
		}
	}
	return nil
}

// PostgreSQL text and jsonb cannot hold NUL, so strings are stored escaped:
// \x01 stands for itself doubled and \x00 becomes \x01\x02. The mapping is
// injective, so exact matches on escaped values are exact matches on the
// originals, and strings without either byte are stored unchanged.
const escByte = '\x01'

func escape(s string) string {
	if !strings.ContainsAny(s, "\x00\x01") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 4)
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case 0:
			b.WriteString("\x01\x02")
		case escByte:
			b.WriteString("\x01\x01")
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func unescape(s string) string {
	if strings.IndexByte(s, escByte) < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == escByte && i+1 < len(s) {
			i++
			if s[i] == 2 {
				b.WriteByte(0)
			} else {
				b.WriteByte(escByte)
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// encodeMeta renders meta as a JSON object for the jsonb column.
func encodeMeta(meta map[string]string) (string, error) {
	for k, v := range meta {
		if err := checkText(k, v); err != nil {
			return "", fmt.Errorf("meta: %w", err)
		}
	}
	if len(meta) == 0 {
		return "{}", nil
	}
	esc := make(map[string]string, len(meta))
	for k, v := range meta {
		esc[escape(k)] = escape(v)
	}
	b, err := json.Marshal(esc)
	if err != nil {
		return "", fmt.Errorf("meta: %w", err)
	}
	return string(b), nil
}

// janitor purges expired rows every JanitorInterval until ctx is cancelled.
func (s *Store) janitor(ctx context.Context) {
	defer close(s.janitorDone)
	t := time.NewTicker(s.opts.JanitorInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.PurgeExpired(ctx); err != nil && ctx.Err() == nil {
				s.opts.Logger.WarnContext(ctx, "pgvector: purge expired records", "table", s.opts.Table, "err", err)
			}
		}
	}
}

// PurgeExpired deletes every expired row now and reports how many; the
// janitor calls it periodically.
func (s *Store) PurgeExpired(ctx context.Context) (int, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	total := 0
	now := time.Now()
	for {
		tag, err := s.pool.Exec(ctx, s.sql.purgeExpired, now)
		if err != nil {
			return total, s.fail("purge expired", err)
		}
		total += int(tag.RowsAffected())
		if tag.RowsAffected() < janitorBatch {
			return total, nil
		}
	}
}
