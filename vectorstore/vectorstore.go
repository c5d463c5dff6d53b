// Package vectorstore defines the small contract the similarity tier and RAG
// retrieval need from a vector index, and the record types that cross it.
// Implementations live in subpackages: memory (embedded HNSW, the default),
// pgvector (PostgreSQL) and qdrant (gRPC). Every implementation must pass the
// conformance suite in vectorstore/storetest.
//
// One Store instance is one collection: all its vectors share one dimension.
// Scores are cosine similarities in [-1, 1]; callers pass unit vectors.
package vectorstore

import (
	"context"
	"errors"
	"time"
)

// Record is one vector with the fields a query can filter on.
type Record struct {
	// ID is unique within the store. Upserting an existing ID replaces it.
	ID string
	// Vector has the store's dimension and unit norm.
	Vector []float32
	// Namespace is the tenant; every query is confined to one namespace.
	Namespace string
	// Partition narrows a namespace further (the similarity tier's context
	// partition, a RAG collection version). Empty is a valid partition.
	Partition string
	// Meta holds small string attributes a filter may match exactly
	// (document id, source). Nil is fine.
	Meta map[string]string
	// Payload is opaque bytes returned with a hit (e.g. an encoded cache
	// entry or chunk text). Stores do not interpret it.
	Payload []byte
	// ExpiresAt is when the record stops being returned; zero means never.
	ExpiresAt time.Time
}

// Filter selects records. Namespace is required; the others narrow further.
type Filter struct {
	Namespace string
	// Partition, when non-nil, must match exactly (a pointer so that the
	// empty partition can be asked for).
	Partition *string
	// Meta pairs must all match exactly.
	Meta map[string]string
}

// Query is a top-k nearest-neighbour search.
type Query struct {
	Vector []float32
	// K is the maximum number of hits (>= 1).
	K int
	// MinScore drops hits scoring below it.
	MinScore float32
	Filter   Filter
}

// Hit is one search result.
type Hit struct {
	Record Record
	Score  float32
}

// Store is the contract every vector store implements.
type Store interface {
	// Upsert inserts or replaces records by ID. It is durable when it
	// returns nil: an acknowledged record survives a restart.
	Upsert(ctx context.Context, recs []Record) error
	// Search returns at most q.K hits matching q.Filter with score >=
	// q.MinScore, best first; expired records are never returned.
	Search(ctx context.Context, q Query) ([]Hit, error)
	// Delete removes records by ID; unknown IDs are ignored.
	Delete(ctx context.Context, ids []string) error
	// DeleteWhere removes every record matching f and reports how many.
	DeleteWhere(ctx context.Context, f Filter) (int, error)
	// Count reports how many live records match f.
	Count(ctx context.Context, f Filter) (int, error)
	// Close releases resources; the store is unusable afterwards.
	Close() error
}

// Errors stores wrap so callers can tell causes apart with errors.Is.
var (
	// ErrDimension: a vector's length differs from the store's dimension.
	ErrDimension = errors.New("vectorstore: dimension mismatch")
	// ErrInvalid: a malformed record, query or filter (e.g. empty namespace).
	ErrInvalid = errors.New("vectorstore: invalid argument")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("vectorstore: store closed")
	// ErrUnavailable: the backend could not be reached; the caller should
	// degrade (serve from upstream) rather than fail.
	ErrUnavailable = errors.New("vectorstore: backend unavailable")
)

// PartitionOf is a helper to take the address of a partition literal.
func PartitionOf(p string) *string { return &p }
