// Package qdrant is the Qdrant implementation of vectorstore.Store, over
// Qdrant's gRPC API with the official go-client, for deployments that run an
// external Qdrant shared by several semcache replicas.
//
// One Store is one Qdrant collection (one unnamed dense vector, cosine
// distance). Open creates it if missing, with keyword payload indexes on the
// fields filters use, and refuses an existing collection of another vector
// size (vectorstore.ErrDimension). Qdrant point ids must be UUIDs or integers,
// so a record's string ID maps to a deterministic name-based (SHA-1, version 5)
// UUID and the original ID travels in the payload. The payload layout:
//
//	sc_id       string   the record ID
//	namespace   string   keyword index (tenant)
//	partition   string   keyword index
//	meta        object   the Meta map, for round-tripping
//	meta_kv     []string keyword index: one strconv.Quote(key)+"="+value per pair
//	payload     string   base64 (standard) of Payload; absent when Payload is nil
//	expires_at  integer  unix milliseconds; absent when the record never expires
//
// Expired points are excluded from every query by a must_not range condition
// (a missing expires_at never matches it) and deleted by a janitor. gRPC
// Unavailable, DeadlineExceeded and ResourceExhausted wrap
// vectorstore.ErrUnavailable; the gRPC connection reconnects by itself.
//
// Tests run against qdranttest, a protocol fake serving the client's own
// generated gRPC interfaces; set SEMCACHE_QDRANT_URL=host:port to run the
// conformance suite against a real server as well.
package qdrant

import (
	"cmp"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	qc "github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/semcache/semcache/vectorstore"
)

var _ vectorstore.Store = (*Store)(nil)

// Payload field names; see the package comment.
const (
	fieldID        = "sc_id"
	fieldNamespace = "namespace"
	fieldPartition = "partition"
	fieldMeta      = "meta"
	fieldMetaKV    = "meta_kv"
	fieldPayload   = "payload"
	fieldExpiresAt = "expires_at"
)

// Defaults applied by Open to zero Options fields.
const (
	DefaultPort            = 6334
	DefaultConnectTimeout  = 5 * time.Second
	DefaultRequestTimeout  = 10 * time.Second
	DefaultJanitorInterval = time.Minute
	DefaultUpsertBatch     = 256
)

// idNamespace is the name-space UUID of the version 5 UUIDs that stand for
// record IDs: eaaf837f-fc7e-5b25-a385-841542803fcd, itself the v5 UUID of
// "semcache" in RFC 4122's URL name-space. It must never change, or existing
// points become unreachable.
var idNamespace = [16]byte{0xea, 0xaf, 0x83, 0x7f, 0xfc, 0x7e, 0x5b, 0x25, 0xa3, 0x85, 0x84, 0x15, 0x42, 0x80, 0x3f, 0xcd}

var collectionNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,255}$`)

// Options configures Open. Collection and Dimension are required.
type Options struct {
	// Host is the Qdrant host (default "localhost").
	Host string
	// Port is Qdrant's gRPC port (default 6334).
	Port int
	// APIKey is sent as the api-key header when set.
	APIKey string
	// UseTLS dials with TLS (system roots, TLS 1.3).
	UseTLS bool
	// Collection is the collection name ([A-Za-z0-9_.-], at most 255).
	Collection string
	// Dimension is the vector size; an existing collection of another
	// size makes Open fail with vectorstore.ErrDimension.
	Dimension int
	// ConnectTimeout bounds Open's round trips (default 5s).
	ConnectTimeout time.Duration
	// RequestTimeout bounds each operation when the caller's context has
	// no earlier deadline (default 10s).
	RequestTimeout time.Duration
	// HNSWEf is the search-time hnsw_ef (0: the server's default).
	HNSWEf uint64
	// Exact makes every search exact (no HNSW), for small collections.
	Exact bool
	// UpsertBatch is the most points sent in one upsert request (default 256).
	UpsertBatch int
	// PoolSize is the number of gRPC connections (default 1).
	PoolSize uint
	// JanitorInterval is how often expired points are deleted (default
	// 1m); negative disables the janitor (they stay invisible).
	JanitorInterval time.Duration
	// Logger receives the janitor's failures (default slog.Default()).
	Logger *slog.Logger
}

func (o *Options) validate() error {
	var errs []error
	if !collectionNameRE.MatchString(o.Collection) {
		errs = append(errs, fmt.Errorf("Collection %q must match %s", o.Collection, collectionNameRE))
	}
	if o.Dimension < 1 || o.Dimension > 65536 {
		errs = append(errs, fmt.Errorf("Dimension %d must be in [1, 65536]", o.Dimension))
	}
	if o.Port < 0 || o.Port > 65535 {
		errs = append(errs, fmt.Errorf("Port %d must be in [1, 65535] (0 for %d)", o.Port, DefaultPort))
	}
	if strings.ContainsAny(o.Host, "/ ") {
		errs = append(errs, fmt.Errorf("Host %q must be a host name or address, not a URL", o.Host))
	}
	if o.ConnectTimeout < 0 || o.RequestTimeout < 0 {
		errs = append(errs, errors.New("ConnectTimeout and RequestTimeout must not be negative"))
	}
	if o.UpsertBatch < 0 {
		errs = append(errs, fmt.Errorf("UpsertBatch %d must not be negative", o.UpsertBatch))
	}
	return errors.Join(errs...)
}

func (o *Options) withDefaults() {
	if o.Host == "" {
		o.Host = "localhost"
	}
	if o.Port == 0 {
		o.Port = DefaultPort
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.RequestTimeout == 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.UpsertBatch == 0 {
		o.UpsertBatch = DefaultUpsertBatch
	}
	if o.PoolSize == 0 {
		o.PoolSize = 1
	}
	if o.JanitorInterval == 0 {
		o.JanitorInterval = DefaultJanitorInterval
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Store is a vectorstore.Store backed by one Qdrant collection.
type Store struct {
	client *qc.Client
	opts   Options
	closed atomic.Bool

	stopJanitor context.CancelFunc
	janitorDone chan struct{}
	closeOnce   sync.Once
	closeErr    error
}

// Open connects, creates the collection and its payload indexes if needed,
// checks its vector size and starts the janitor.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("qdrant: invalid options: %w", err)
	}
	opts.withDefaults()
	client, err := qc.NewClient(&qc.Config{
		Host:     opts.Host,
		Port:     opts.Port,
		APIKey:   opts.APIKey,
		UseTLS:   opts.UseTLS,
		PoolSize: opts.PoolSize,
		// The check blocks NewClient for up to a minute when the server is
		// down; Open's own health check below is bounded by ConnectTimeout.
		SkipCompatibilityCheck: true,
	})
	if err != nil {
		return nil, fmt.Errorf("qdrant: create client: %w", err)
	}
	s := &Store{client: client, opts: opts}
	if err := s.setup(ctx); err != nil {
		client.Close()
		return nil, err
	}
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

func (s *Store) setup(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.ConnectTimeout)
	defer cancel()
	name := s.opts.Collection
	if _, err := s.client.HealthCheck(ctx); err != nil {
		return fmt.Errorf("qdrant: connect to %s:%d: %w", s.opts.Host, s.opts.Port, classify(err))
	}
	exists, err := s.client.CollectionExists(ctx, name)
	if err != nil {
		return fmt.Errorf("qdrant: collection %s: %w", name, classify(err))
	}
	if !exists {
		err := s.client.CreateCollection(ctx, &qc.CreateCollection{
			CollectionName: name,
			VectorsConfig:  qc.NewVectorsConfig(&qc.VectorParams{Size: uint64(s.opts.Dimension), Distance: qc.Distance_Cosine}),
		})
		// Another replica may have created it in the meantime.
		if err != nil && !alreadyExists(err) {
			return fmt.Errorf("qdrant: create collection %s: %w", name, classify(err))
		}
	}
	info, err := s.client.GetCollectionInfo(ctx, name)
	if err != nil {
		return fmt.Errorf("qdrant: collection %s: %w", name, classify(err))
	}
	params := info.GetConfig().GetParams().GetVectorsConfig().GetParams()
	if params == nil {
		return fmt.Errorf("qdrant: collection %s has named or no vectors; semcache needs one unnamed dense vector: %w", name, vectorstore.ErrDimension)
	}
	if params.GetSize() != uint64(s.opts.Dimension) {
		return fmt.Errorf("qdrant: collection %s holds %d-dimensional vectors but Options.Dimension is %d: %w",
			name, params.GetSize(), s.opts.Dimension, vectorstore.ErrDimension)
	}
	if params.GetDistance() != qc.Distance_Cosine {
		return fmt.Errorf("qdrant: collection %s uses %v distance, semcache needs Cosine", name, params.GetDistance())
	}
	tenant := true
	indexes := []struct {
		field  string
		typ    qc.FieldType
		params *qc.PayloadIndexParams
	}{
		{fieldNamespace, qc.FieldType_FieldTypeKeyword, qc.NewPayloadIndexParamsKeyword(&qc.KeywordIndexParams{IsTenant: &tenant})},
		{fieldPartition, qc.FieldType_FieldTypeKeyword, nil},
		{fieldMetaKV, qc.FieldType_FieldTypeKeyword, nil},
		{fieldExpiresAt, qc.FieldType_FieldTypeInteger, nil},
	}
	wait := true
	for _, ix := range indexes {
		if _, ok := info.GetPayloadSchema()[ix.field]; ok {
			continue
		}
		typ := ix.typ
		if _, err := s.client.CreateFieldIndex(ctx, &qc.CreateFieldIndexCollection{
			CollectionName: name, Wait: &wait, FieldName: ix.field, FieldType: &typ, FieldIndexParams: ix.params,
		}); err != nil {
			return fmt.Errorf("qdrant: create payload index %s on %s: %w", ix.field, name, classify(err))
		}
	}
	return nil
}

// Close stops the janitor and closes the gRPC connections.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.stopJanitor()
		<-s.janitorDone
		s.closeErr = s.client.Close()
	})
	if s.closeErr != nil {
		return fmt.Errorf("qdrant: close: %w", s.closeErr)
	}
	return nil
}

// begin checks the store is open and bounds ctx by RequestTimeout.
func (s *Store) begin(ctx context.Context) (context.Context, context.CancelFunc, error) {
	if s.closed.Load() {
		return nil, nil, vectorstore.ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.RequestTimeout)
	return ctx, cancel, nil
}

func (s *Store) fail(op string, err error) error {
	if s.closed.Load() {
		return fmt.Errorf("qdrant: %s: %w", op, vectorstore.ErrClosed)
	}
	return fmt.Errorf("qdrant: %s: %w", op, classify(err))
}

// PointID is the Qdrant point id (a version 5 UUID) that stands for a record ID.
func PointID(id string) string {
	h := sha1.New()
	h.Write(idNamespace[:])
	h.Write([]byte(id))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = (u[6] & 0x0f) | 0x50 // version 5
	u[8] = (u[8] & 0x3f) | 0x80 // RFC 4122 variant
	x := hex.EncodeToString(u[:])
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}

// metaKV is the keyword that stands for one Meta pair in meta_kv: the quoted
// key makes the split unambiguous whatever the key holds.
func metaKV(k, v string) string { return strconv.Quote(k) + "=" + v }

// Upsert inserts or replaces records by ID, in requests of UpsertBatch
// points; each request is applied before the next is sent (wait=true).
func (s *Store) Upsert(ctx context.Context, recs []vectorstore.Record) error {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	points := make([]*qc.PointStruct, 0, len(recs))
	for i := range recs {
		p, err := s.point(&recs[i])
		if err != nil {
			return fmt.Errorf("qdrant: upsert record %d: %w", i, err)
		}
		points = append(points, p)
	}
	wait := true
	for batch := range slices.Chunk(points, s.opts.UpsertBatch) {
		if _, err := s.client.Upsert(ctx, &qc.UpsertPoints{CollectionName: s.opts.Collection, Wait: &wait, Points: batch}); err != nil {
			return s.fail("upsert", err)
		}
	}
	return nil
}

func (s *Store) point(r *vectorstore.Record) (*qc.PointStruct, error) {
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
	meta := make(map[string]*qc.Value, len(r.Meta))
	kvs := make([]*qc.Value, 0, len(r.Meta))
	for _, k := range slices.Sorted(maps.Keys(r.Meta)) {
		v := r.Meta[k]
		if err := checkText(k, v); err != nil {
			return nil, fmt.Errorf("record %q: meta: %w", r.ID, err)
		}
		meta[k] = qc.NewValueString(v)
		kvs = append(kvs, qc.NewValueString(metaKV(k, v)))
	}
	payload := map[string]*qc.Value{
		fieldID:        qc.NewValueString(r.ID),
		fieldNamespace: qc.NewValueString(r.Namespace),
		fieldPartition: qc.NewValueString(r.Partition),
		fieldMeta:      qc.NewValueFromFields(meta),
		fieldMetaKV:    qc.NewValueFromList(kvs...),
	}
	if r.Payload != nil {
		payload[fieldPayload] = qc.NewValueString(base64.StdEncoding.EncodeToString(r.Payload))
	}
	if !r.ExpiresAt.IsZero() {
		payload[fieldExpiresAt] = qc.NewValueInt(r.ExpiresAt.UnixMilli())
	}
	return &qc.PointStruct{
		Id:      qc.NewIDUUID(PointID(r.ID)),
		Vectors: qc.NewVectorsDense(slices.Clone(r.Vector)),
		Payload: payload,
	}, nil
}

// Search returns the q.K nearest live records matching q.Filter.
func (s *Store) Search(ctx context.Context, q vectorstore.Query) ([]vectorstore.Hit, error) {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	if q.K < 1 {
		return nil, fmt.Errorf("qdrant: search: K %d < 1: %w", q.K, vectorstore.ErrInvalid)
	}
	if len(q.Vector) != s.opts.Dimension {
		return nil, fmt.Errorf("qdrant: search: vector length %d, store dimension %d: %w", len(q.Vector), s.opts.Dimension, vectorstore.ErrDimension)
	}
	filter, err := buildFilter(q.Filter, time.Now())
	if err != nil {
		return nil, fmt.Errorf("qdrant: search: %w", err)
	}
	limit := uint64(q.K)
	// The server's threshold is lowered by one ulp-ish step so that a score
	// equal to MinScore survives whatever comparison the server makes; the
	// exact ">=" is applied below.
	threshold := math.Nextafter32(q.MinScore, float32(math.Inf(-1)))
	req := &qc.QueryPoints{
		CollectionName: s.opts.Collection,
		Query:          qc.NewQueryDense(q.Vector),
		Filter:         filter,
		Limit:          &limit,
		ScoreThreshold: &threshold,
		WithPayload:    qc.NewWithPayload(true),
		WithVectors:    qc.NewWithVectors(true),
	}
	if s.opts.Exact || s.opts.HNSWEf > 0 {
		req.Params = &qc.SearchParams{}
		if s.opts.Exact {
			req.Params.Exact = &s.opts.Exact
		}
		if s.opts.HNSWEf > 0 {
			req.Params.HnswEf = &s.opts.HNSWEf
		}
	}
	points, err := s.client.Query(ctx, req)
	if err != nil {
		return nil, s.fail("search", err)
	}
	hits := make([]vectorstore.Hit, 0, len(points))
	for _, p := range points {
		score := min(max(p.GetScore(), -1), 1)
		if score < q.MinScore {
			continue
		}
		rec, err := record(p.GetPayload(), p.GetVectors())
		if err != nil {
			return nil, fmt.Errorf("qdrant: search: point %s: %w", p.GetId().GetUuid(), err)
		}
		hits = append(hits, vectorstore.Hit{Record: rec, Score: score})
	}
	slices.SortStableFunc(hits, func(a, b vectorstore.Hit) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return strings.Compare(a.Record.ID, b.Record.ID)
	})
	return hits, nil
}

// record decodes a point written by this package.
func record(payload map[string]*qc.Value, vectors *qc.VectorsOutput) (vectorstore.Record, error) {
	str := func(k string) string { return payload[k].GetStringValue() }
	r := vectorstore.Record{
		ID:        str(fieldID),
		Namespace: str(fieldNamespace),
		Partition: str(fieldPartition),
	}
	if r.ID == "" {
		return r, errors.New("payload has no " + fieldID + "; the collection holds points semcache did not write")
	}
	if fields := payload[fieldMeta].GetStructValue().GetFields(); len(fields) > 0 {
		r.Meta = make(map[string]string, len(fields))
		for k, v := range fields {
			r.Meta[k] = v.GetStringValue()
		}
	}
	if v, ok := payload[fieldPayload]; ok {
		b, err := base64.StdEncoding.DecodeString(v.GetStringValue())
		if err != nil {
			return r, fmt.Errorf("payload is not base64: %w", err)
		}
		r.Payload = b
	}
	if v, ok := payload[fieldExpiresAt]; ok {
		r.ExpiresAt = time.UnixMilli(v.GetIntegerValue())
	}
	if v := vectors.GetVector(); v != nil {
		if d := v.GetDense(); d != nil {
			r.Vector = d.GetData()
		} else {
			r.Vector = v.GetData() // servers before the dense oneof
		}
	}
	return r, nil
}

// Delete removes records by ID.
func (s *Store) Delete(ctx context.Context, ids []string) error {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	if len(ids) == 0 {
		return nil
	}
	pids := make([]*qc.PointId, len(ids))
	for i, id := range ids {
		pids[i] = qc.NewIDUUID(PointID(id))
	}
	wait := true
	if _, err := s.client.Delete(ctx, &qc.DeletePoints{
		CollectionName: s.opts.Collection, Wait: &wait, Points: qc.NewPointsSelectorIDs(pids),
	}); err != nil {
		return s.fail("delete", err)
	}
	return nil
}

// DeleteWhere removes every record matching f, expired ones included, and
// reports how many live records it removed. It counts, then deletes by
// filter: a record written in between is deleted but not counted.
func (s *Store) DeleteWhere(ctx context.Context, f vectorstore.Filter) (int, error) {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer cancel()
	live, err := buildFilter(f, time.Now())
	if err != nil {
		return 0, fmt.Errorf("qdrant: delete where: %w", err)
	}
	all, _ := buildFilter(f, time.Time{})
	n, err := s.count(ctx, live)
	if err != nil {
		return 0, s.fail("delete where", err)
	}
	wait := true
	if _, err := s.client.Delete(ctx, &qc.DeletePoints{
		CollectionName: s.opts.Collection, Wait: &wait, Points: qc.NewPointsSelectorFilter(all),
	}); err != nil {
		return 0, s.fail("delete where", err)
	}
	return n, nil
}

// Count reports how many live records match f.
func (s *Store) Count(ctx context.Context, f vectorstore.Filter) (int, error) {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer cancel()
	filter, err := buildFilter(f, time.Now())
	if err != nil {
		return 0, fmt.Errorf("qdrant: count: %w", err)
	}
	n, err := s.count(ctx, filter)
	if err != nil {
		return 0, s.fail("count", err)
	}
	return n, nil
}

func (s *Store) count(ctx context.Context, f *qc.Filter) (int, error) {
	exact := true
	n, err := s.client.Count(ctx, &qc.CountPoints{CollectionName: s.opts.Collection, Filter: f, Exact: &exact})
	return int(n), err
}

// buildFilter renders f as a Qdrant filter; a non-zero now also excludes
// points expired at that instant.
func buildFilter(f vectorstore.Filter, now time.Time) (*qc.Filter, error) {
	if f.Namespace == "" {
		return nil, fmt.Errorf("empty namespace: %w", vectorstore.ErrInvalid)
	}
	if err := checkText(f.Namespace); err != nil {
		return nil, err
	}
	must := []*qc.Condition{qc.NewMatchKeyword(fieldNamespace, f.Namespace)}
	if f.Partition != nil {
		if err := checkText(*f.Partition); err != nil {
			return nil, err
		}
		must = append(must, qc.NewMatchKeyword(fieldPartition, *f.Partition))
	}
	for _, k := range slices.Sorted(maps.Keys(f.Meta)) {
		if err := checkText(k, f.Meta[k]); err != nil {
			return nil, err
		}
		must = append(must, qc.NewMatchKeyword(fieldMetaKV, metaKV(k, f.Meta[k])))
	}
	filter := &qc.Filter{Must: must}
	if !now.IsZero() {
		filter.MustNot = []*qc.Condition{expiredBy(now)}
	}
	return filter, nil
}

// expiredBy matches points whose expires_at is at or before now; a point
// without expires_at never matches.
func expiredBy(now time.Time) *qc.Condition {
	lte := float64(now.UnixMilli())
	return qc.NewRange(fieldExpiresAt, &qc.Range{Lte: &lte})
}

// checkText rejects strings protobuf cannot carry (they must be UTF-8).
func checkText(ss ...string) error {
	for _, s := range ss {
		if !utf8.ValidString(s) {
			return fmt.Errorf("%q is not valid UTF-8: %w", s, vectorstore.ErrInvalid)
		}
	}
	return nil
}

// janitor deletes expired points every JanitorInterval until ctx is cancelled.
func (s *Store) janitor(ctx context.Context) {
	defer close(s.janitorDone)
	t := time.NewTicker(s.opts.JanitorInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.PurgeExpired(ctx); err != nil && ctx.Err() == nil {
				s.opts.Logger.WarnContext(ctx, "qdrant: purge expired points", "collection", s.opts.Collection, "err", err)
			}
		}
	}
}

// PurgeExpired deletes every expired point now; the janitor calls it
// periodically.
func (s *Store) PurgeExpired(ctx context.Context) error {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	wait := true
	if _, err := s.client.Delete(ctx, &qc.DeletePoints{
		CollectionName: s.opts.Collection, Wait: &wait,
		Points: qc.NewPointsSelectorFilter(&qc.Filter{Must: []*qc.Condition{expiredBy(time.Now())}}),
	}); err != nil {
		return s.fail("purge expired", err)
	}
	return nil
}

// classify wraps err with vectorstore.ErrUnavailable when Qdrant could not
// be reached or could not answer in time.
func classify(err error) error {
	if err == nil || errors.Is(err, vectorstore.ErrUnavailable) {
		return err
	}
	var exhausted *qc.QdrantResourceExhaustedError
	if errors.As(err, &exhausted) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", vectorstore.ErrUnavailable, err)
	}
	if st, ok := status.FromError(err); ok {
		switch st.Code() {
		case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted:
			return fmt.Errorf("%w: %w", vectorstore.ErrUnavailable, err)
		}
	}
	return err
}

func alreadyExists(err error) bool {
	st, ok := status.FromError(err)
	return ok && (st.Code() == codes.AlreadyExists ||
		(st.Code() == codes.InvalidArgument && strings.Contains(st.Message(), "already exists")))
}
