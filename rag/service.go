package rag

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/semcache/semcache/embed"
	"github.com/semcache/semcache/rag/chunk"
	"github.com/semcache/semcache/vectorstore"
)

// Sentinel errors of the service; the admin API maps them to statuses.
var (
	// ErrUnknownCollection: the collection is not configured.
	ErrUnknownCollection = errors.New("rag: unknown collection")
	// ErrNotFound: no such document.
	ErrNotFound = errors.New("rag: document not found")
)

// Purger deletes cached answers built on chunks (cache.Cache does).
type Purger interface {
	PurgeSources(ctx context.Context, sources []string) (int, error)
}

// DefaultMaxDocBytes is the document size limit when Options.MaxDocBytes
// is 0.
const DefaultMaxDocBytes = 10 << 20

// DefaultEmbedTimeout and DefaultSearchTimeout bound retrieval on the
// request path when Options leave them zero.
const (
	DefaultEmbedTimeout  = 150 * time.Millisecond
	DefaultSearchTimeout = 100 * time.Millisecond
)

// Options configure a Service.
type Options struct {
	// Store holds the chunks and the registry (required). The service does
	// not close it.
	Store vectorstore.Store
	// Embedder embeds chunks and, when the lookup's vector cannot be
	// reused, prompts (required).
	Embedder embed.Embedder
	// LookupModel is the ModelID of the embedder that computed the
	// vectors Enrich receives; when it equals Embedder's, Enrich reuses
	// them instead of embedding the prompt again.
	LookupModel string
	// Collections are the configured collections.
	Collections []Collection
	// Chunking configures the splitter.
	Chunking chunk.Options
	// MaxDocBytes limits a document's content (default 10 MiB).
	MaxDocBytes int
	// Purger removes cached answers built on replaced chunks; nil records
	// the chunk ids as pending purges for the next server to apply.
	Purger Purger
	// Refresh, when positive, re-reads collection versions from the store
	// this often (for stores shared by several replicas).
	Refresh time.Duration
	// EmbedTimeout and SearchTimeout bound the request path (defaults
	// 150ms and 100ms).
	EmbedTimeout, SearchTimeout time.Duration
	// EmbedBatch is how many chunks go to the embedder at once (default
	// 64).
	EmbedBatch int
	Logger     *slog.Logger
	Now        func() time.Time
}

// Service ingests documents and enriches requests; it implements
// engine.Enricher. It is safe for concurrent use.
type Service struct {
	o     Options
	store vectorstore.Store
	emb   embed.Embedder
	reg   *registry
	split *chunk.Splitter
	// set holds the configured collections (swapped by SetCollections).
	set   atomic.Pointer[collectionSet]
	reuse bool
	log   *slog.Logger
	now   func() time.Time
	// versions maps collection name → current version (copy on write).
	versions atomic.Pointer[map[string]string]
	// mu serialises writes (ingest, delete).
	mu   sync.Mutex
	stop chan struct{}
	done chan struct{}
}

// New validates o, reads the collection versions, and applies pending
// purges when it has a Purger.
func New(ctx context.Context, o Options) (*Service, error) {
	var errs []error
	if o.Store == nil {
		errs = append(errs, errors.New("rag: a store is required"))
	}
	if o.Embedder == nil {
		errs = append(errs, errors.New("rag: an embedder is required"))
	}
	if err := ValidateCollections(o.Collections); err != nil {
		errs = append(errs, err)
	}
	split, err := chunk.New(o.Chunking)
	if err != nil {
		errs = append(errs, err)
	}
	if o.MaxDocBytes < 0 {
		errs = append(errs, fmt.Errorf("rag: max document bytes %d is negative", o.MaxDocBytes))
	}
	if o.Refresh < 0 {
		errs = append(errs, fmt.Errorf("rag: refresh %v is negative", o.Refresh))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if o.MaxDocBytes == 0 {
		o.MaxDocBytes = DefaultMaxDocBytes
	}
	if o.EmbedTimeout <= 0 {
		o.EmbedTimeout = DefaultEmbedTimeout
	}
	if o.SearchTimeout <= 0 {
		o.SearchTimeout = DefaultSearchTimeout
	}
	if o.EmbedBatch <= 0 {
		o.EmbedBatch = 64
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Service{
		o: o, store: o.Store, emb: o.Embedder, reg: newRegistry(o.Store, o.Embedder.Dimension()), split: split,
		reuse: o.LookupModel != "" && o.LookupModel == o.Embedder.ModelID(),
		log:   o.Logger, now: o.Now, stop: make(chan struct{}), done: make(chan struct{}),
	}
	s.set.Store(compileSet(o.Collections))
	empty := map[string]string{}
	s.versions.Store(&empty)
	if err := s.refresh(ctx); err != nil {
		if !errors.Is(err, vectorstore.ErrUnavailable) || o.Refresh <= 0 {
			return nil, err
		}
		// A shared store that is down at start-up: the refresher reads the
		// versions once it is up; until then no request is enriched.
		s.log.Warn("rag: store unavailable; collection versions will be read when it is up", "err", err)
	}
	if o.Purger != nil {
		if err := s.applyPurges(ctx); err != nil {
			s.log.Warn("rag: pending purges not applied", "err", err)
		}
	}
	if o.Refresh > 0 {
		go s.refresher()
	} else {
		close(s.done)
	}
	return s, nil
}

// collectionSet is the configured collections, by name and in order.
type collectionSet struct {
	byName map[string]*collection
	order  []*collection
}

// compileSet compiles validated collections.
func compileSet(cs []Collection) *collectionSet {
	set := &collectionSet{byName: map[string]*collection{}}
	for _, c := range cs {
		cc, _ := c.compile()
		set.byName[c.Name] = cc
		set.order = append(set.order, cc)
	}
	return set
}

// SetCollections replaces the configured collections (semcache's config
// reload) and reads the versions of new ones; requests that already read
// the old set finish with it. Documents stay in the store either way.
func (s *Service) SetCollections(ctx context.Context, cs []Collection) error {
	if err := ValidateCollections(cs); err != nil {
		return err
	}
	s.set.Store(compileSet(cs))
	return s.refresh(ctx)
}

// Close stops the version refresher.
func (s *Service) Close() error {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
	return nil
}

func (s *Service) refresher() {
	defer close(s.done)
	t := time.NewTicker(s.o.Refresh)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), s.o.Refresh)
			if err := s.refresh(ctx); err != nil {
				s.log.Warn("rag: version refresh failed", "err", err)
			}
			cancel()
		}
	}
}

// refresh re-reads the versions of the configured collections. It holds
// the write lock so that it never overwrites a newer in-process version
// with one read before it.
func (s *Service) refresh(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := maps.Clone(*s.versions.Load())
	for _, c := range s.set.Load().order {
		v, err := s.reg.version(ctx, c.Name)
		if err != nil {
			return err
		}
		next[c.Name] = v.Version
	}
	s.versions.Store(&next)
	return nil
}

func (s *Service) setVersion(collection, v string) {
	next := maps.Clone(*s.versions.Load())
	next[collection] = v
	s.versions.Store(&next)
}

// applyPurges purges the cached answers recorded by offline ingests.
func (s *Service) applyPurges(ctx context.Context) error {
	for range 1000 {
		ids, recs, err := s.reg.purges(ctx)
		if err != nil || len(ids) == 0 {
			return err
		}
		for _, p := range recs {
			if len(p.IDs) == 0 {
				continue
			}
			n, err := s.o.Purger.PurgeSources(ctx, p.IDs)
			if err != nil {
				return err
			}
			s.log.Info("rag: purged cached answers built on replaced chunks", "collection", p.Collection, "answers", n)
		}
		if err := s.store.Delete(ctx, ids); err != nil {
			return fmt.Errorf("rag: registry: %w", err)
		}
	}
	return nil
}

// Collections returns the configured collection names in config order.
func (s *Service) Collections() []string {
	order := s.set.Load().order
	names := make([]string, len(order))
	for i, c := range order {
		names[i] = c.Name
	}
	return names
}

// Configured reports whether name is a configured collection.
func (s *Service) Configured(name string) bool { return s.set.Load().byName[name] != nil }

// Status is what an ingest did to a document.
type Status string

// Statuses of a Result.
const (
	StatusIngested  Status = "ingested"
	StatusUnchanged Status = "unchanged"
	StatusDeleted   Status = "deleted"
	StatusFailed    Status = "failed"
)

// Result reports one document's ingest or delete.
type Result struct {
	ID     string `json:"id"`
	Status Status `json:"status"`
	// Chunks is how many chunks the document has now (deleted: had).
	Chunks int `json:"chunks"`
	// Purged is how many cached answers were purged.
	Purged int `json:"purged,omitempty"`
	// Version is the collection's version afterwards.
	Version string `json:"version,omitempty"`
	// Error explains a failed document (on the wire).
	Error string `json:"error,omitempty"`
}

// hashVersion changes when chunking or payload rules change, so every
// document is re-ingested once after an upgrade.
const hashVersion = "rag-doc/v1"

func (s *Service) docHash(d Document, e extracted) string {
	h := sha256.New()
	o := s.split.Options()
	fmt.Fprintf(h, "%s\x00%s\x00%s:%d:%d\x00%s\x00%s\x00", hashVersion, s.emb.ModelID(), o.Unit, o.Size, o.Overlap, d.Source, e.title)
	h.Write([]byte(e.text))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// validateDoc checks a document's id and size.
func (s *Service) validateDoc(d Document) error {
	switch {
	case strings.TrimSpace(d.ID) == "":
		return fmt.Errorf("%w: id is required", ErrInvalid)
	case len(d.ID) > 512 || !utf8.ValidString(d.ID):
		return fmt.Errorf("%w: id must be valid UTF-8 of at most 512 bytes", ErrInvalid)
	case len(d.Content) > s.o.MaxDocBytes:
		return fmt.Errorf("%w: %d bytes (limit %d)", ErrTooLarge, len(d.Content), s.o.MaxDocBytes)
	case strings.TrimSpace(d.Content) == "":
		return ErrEmpty
	}
	return nil
}

func checkCollection(name string) error {
	if !ValidCollectionName(name) {
		return fmt.Errorf("%w %q: names are lower-case letters, digits, '-' and '_'", ErrUnknownCollection, name)
	}
	return nil
}

// Ingest adds or replaces a document in a collection. A document whose
// content hash is unchanged is skipped. The collection need not be
// configured (nothing retrieves from it until it is).
func (s *Service) Ingest(ctx context.Context, collection string, d Document) (Result, error) {
	res := Result{ID: d.ID, Status: StatusFailed}
	if err := checkCollection(collection); err != nil {
		return res, err
	}
	if err := s.validateDoc(d); err != nil {
		return res, err
	}
	e, err := extract(d)
	if err != nil {
		return res, err
	}
	hash := s.docHash(d, e)
	chunks := s.split.Split(e.text)
	if len(chunks) == 0 {
		return res, ErrEmpty
	}

	// Embedding is the slow part: do it outside the write lock, after a
	// first unchanged check, and check again under the lock.
	old, had, err := s.reg.doc(ctx, collection, d.ID)
	if err != nil {
		return res, err
	}
	if had && old.Hash == hash {
		res.Status, res.Chunks, res.Version = StatusUnchanged, old.Chunks, (*s.versions.Load())[collection]
		return res, nil
	}
	recs, err := s.chunkRecords(ctx, collection, d, e, chunks)
	if err != nil {
		return res, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, had, err = s.reg.doc(ctx, collection, d.ID); err != nil {
		return res, err
	}
	if had && old.Hash == hash {
		res.Status, res.Chunks, res.Version = StatusUnchanged, old.Chunks, (*s.versions.Load())[collection]
		return res, nil
	}
	for i := 0; i < len(recs); i += 256 {
		if err := s.store.Upsert(ctx, recs[i:min(i+256, len(recs))]); err != nil {
			return res, fmt.Errorf("rag: store chunks: %w", err)
		}
	}
	var stale []string
	if had {
		stale = chunkIDs(collection, d.ID, old.Chunks)[min(old.Chunks, len(recs)):]
		if err := s.store.Delete(ctx, stale); err != nil {
			return res, fmt.Errorf("rag: delete stale chunks: %w", err)
		}
	}
	rec := docRecord{ID: d.ID, Source: d.Source, Title: e.title, Hash: hash, Chunks: len(recs), Updated: s.now()}
	if err := s.reg.putDoc(ctx, collection, rec); err != nil {
		return res, err
	}
	res.Status, res.Chunks = StatusIngested, len(recs)
	if res.Version, err = s.changed(ctx, collection); err != nil {
		return res, err
	}
	if had {
		res.Purged = s.purge(ctx, collection, chunkIDs(collection, d.ID, old.Chunks))
	}
	s.log.Info("rag: document ingested", "collection", collection, "doc", d.ID, "chunks", len(recs), "replaced", had)
	return res, nil
}

// chunkRecords embeds chunks into store records.
func (s *Service) chunkRecords(ctx context.Context, collection string, d Document, e extracted, chunks []chunk.Chunk) ([]vectorstore.Record, error) {
	texts := make([]string, len(chunks))
	for i, c := range chunks {
		texts[i] = embedText(e.title, c)
	}
	vecs := make([][]float32, 0, len(chunks))
	for i := 0; i < len(texts); i += s.o.EmbedBatch {
		v, err := s.emb.Embed(ctx, texts[i:min(i+s.o.EmbedBatch, len(texts))])
		if err != nil {
			return nil, fmt.Errorf("rag: embed chunks: %w", err)
		}
		vecs = append(vecs, v...)
	}
	if len(vecs) != len(chunks) {
		return nil, fmt.Errorf("rag: embedder returned %d vectors for %d chunks", len(vecs), len(chunks))
	}
	recs := make([]vectorstore.Record, len(chunks))
	for i, c := range chunks {
		payload, err := json.Marshal(chunkPayload{Doc: d.ID, Source: d.Source, Title: e.title, Heading: c.Heading,
			Position: c.Position, Text: c.Text})
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256([]byte(c.Text))
		recs[i] = vectorstore.Record{
			ID: ChunkID(collection, d.ID, i), Vector: vecs[i], Namespace: collection,
			Meta: map[string]string{"doc_id": d.ID, "source": d.Source, "title": e.title,
				"position": strconv.Itoa(i), "hash": hex.EncodeToString(sum[:8])},
			Payload: payload,
		}
	}
	return recs, nil
}

// embedText is what a chunk is embedded as: its title and heading path
// help retrieval find it.
func embedText(title string, c chunk.Chunk) string {
	var b strings.Builder
	b.WriteString(title)
	if c.Heading != "" && c.Heading != title {
		b.WriteString(" > ")
		b.WriteString(c.Heading)
	}
	b.WriteString("\n\n")
	b.WriteString(c.Text)
	return b.String()
}

// changed bumps a collection's version after its content changed.
func (s *Service) changed(ctx context.Context, collection string) (string, error) {
	v, err := s.reg.bump(ctx, collection, s.now())
	if err != nil {
		return "", err
	}
	s.setVersion(collection, v)
	return v, nil
}

// purge removes the cached answers built on ids, or records them for
// later when there is no purger (or it failed).
func (s *Service) purge(ctx context.Context, collection string, ids []string) int {
	if len(ids) == 0 {
		return 0
	}
	if s.o.Purger != nil {
		n, err := s.o.Purger.PurgeSources(ctx, ids)
		if err == nil {
			return n
		}
		s.log.Warn("rag: purging cached answers failed; kept as pending", "collection", collection, "err", err)
	}
	if err := s.reg.addPurge(ctx, collection, ids); err != nil {
		s.log.Warn("rag: recording a pending purge failed", "collection", collection, "err", err)
	}
	return 0
}

// Delete removes a document and purges the answers built on it.
func (s *Service) Delete(ctx context.Context, collection, docID string) (Result, error) {
	res := Result{ID: docID, Status: StatusFailed}
	if err := checkCollection(collection); err != nil {
		return res, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, had, err := s.reg.doc(ctx, collection, docID)
	if err != nil {
		return res, err
	}
	if !had {
		return res, fmt.Errorf("%w: %q in collection %s", ErrNotFound, docID, collection)
	}
	ids := chunkIDs(collection, docID, old.Chunks)
	if err := s.store.Delete(ctx, ids); err != nil {
		return res, fmt.Errorf("rag: delete chunks: %w", err)
	}
	if err := s.reg.deleteDoc(ctx, collection, docID); err != nil {
		return res, err
	}
	res.Status, res.Chunks = StatusDeleted, old.Chunks
	if res.Version, err = s.changed(ctx, collection); err != nil {
		return res, err
	}
	res.Purged = s.purge(ctx, collection, ids)
	s.log.Info("rag: document deleted", "collection", collection, "doc", docID, "chunks", old.Chunks)
	return res, nil
}

// Stats describe a collection.
type Stats struct {
	Collection string   `json:"collection"`
	Documents  int      `json:"documents"`
	Chunks     int      `json:"chunks"`
	Version    string   `json:"version"`
	Namespaces []string `json:"namespaces,omitempty"`
	Configured bool     `json:"configured"`
}

// Stats counts a collection's documents and chunks.
func (s *Service) Stats(ctx context.Context, collection string) (Stats, error) {
	if err := checkCollection(collection); err != nil {
		return Stats{}, err
	}
	docs, err := s.reg.documents(ctx, collection)
	if err != nil {
		return Stats{}, err
	}
	chunks, err := s.store.Count(ctx, vectorstore.Filter{Namespace: collection})
	if err != nil {
		return Stats{}, fmt.Errorf("rag: count chunks: %w", err)
	}
	v, err := s.reg.version(ctx, collection)
	if err != nil {
		return Stats{}, err
	}
	st := Stats{Collection: collection, Documents: docs, Chunks: chunks, Version: v.Version}
	if c := s.set.Load().byName[collection]; c != nil {
		st.Configured, st.Namespaces = true, c.Namespaces
	}
	return st, nil
}
