package rag

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/semcache/semcache/vectorstore"
)

// registryNS is the store namespace of the registry records; collection
// names cannot start with '_', so it never clashes with one.
const registryNS = "__registry__"

// Registry record kinds (Meta "kind").
const (
	kindDoc     = "doc"
	kindVersion = "version"
	kindPurge   = "purge"
)

// validName is a collection name: lower-case letters, digits, '-' and '_',
// starting with a letter or digit.
var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// ValidCollectionName reports whether name may name a collection.
func ValidCollectionName(name string) bool { return validName.MatchString(name) }

// escapeID makes a document id safe inside a chunk id: commas (the
// X-Semcache-Sources separator), '%', '#', white space and control
// characters are %-escaped.
func escapeID(id string) string {
	if !strings.ContainsFunc(id, needsEscape) {
		return id
	}
	var b strings.Builder
	for _, r := range id {
		if needsEscape(r) {
			for _, c := range []byte(string(r)) {
				fmt.Fprintf(&b, "%%%02X", c)
			}
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func needsEscape(r rune) bool {
	return r == ',' || r == '%' || r == '#' || r <= ' ' || r == 0x7f || (r >= 0x80 && r <= 0x9f) ||
		r == '\u2028' || r == '\u2029' || r == 0xa0
}

// ChunkID is the id of a document's chunk, as recorded by cache entries and
// listed in X-Semcache-Sources.
func ChunkID(collection, docID string, position int) string {
	return collection + "/" + escapeID(docID) + "#" + strconv.Itoa(position)
}

func chunkIDs(collection, docID string, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = ChunkID(collection, docID, i)
	}
	return ids
}

// docRecord is the registry's record of one ingested document.
type docRecord struct {
	ID      string    `json:"id"`
	Source  string    `json:"source,omitempty"`
	Title   string    `json:"title,omitempty"`
	Hash    string    `json:"hash"`
	Chunks  int       `json:"chunks"`
	Updated time.Time `json:"updated"`
}

// versionRecord is a collection's current content version.
type versionRecord struct {
	Version string    `json:"version"`
	Updated time.Time `json:"updated"`
}

// purgeRecord lists chunk ids whose cached answers still need purging.
type purgeRecord struct {
	Collection string   `json:"collection"`
	IDs        []string `json:"ids"`
}

// chunkPayload is a chunk record's payload.
type chunkPayload struct {
	Doc      string `json:"doc"`
	Source   string `json:"source,omitempty"`
	Title    string `json:"title,omitempty"`
	Heading  string `json:"heading,omitempty"`
	Position int    `json:"position"`
	Text     string `json:"text"`
}

// registry keeps the document and version records in the chunk store.
type registry struct {
	store vectorstore.Store
	// unit is the vector every registry record carries (stores need one).
	unit []float32
}

func newRegistry(st vectorstore.Store, dim int) *registry {
	unit := make([]float32, dim)
	unit[0] = 1
	return &registry{store: st, unit: unit}
}

func docRecordID(collection, docID string) string {
	return registryNS + "/doc/" + collection + "/" + escapeID(docID)
}

func versionRecordID(collection string) string { return registryNS + "/version/" + collection }

// find returns up to k registry records matching meta.
func (r *registry) find(ctx context.Context, meta map[string]string, k int) ([]vectorstore.Hit, error) {
	hits, err := r.store.Search(ctx, vectorstore.Query{
		Vector: r.unit, K: k, MinScore: -1,
		Filter: vectorstore.Filter{Namespace: registryNS, Meta: meta},
	})
	if err != nil {
		return nil, fmt.Errorf("rag: registry: %w", err)
	}
	return hits, nil
}

// one decodes the payload of the single record matching meta into v; it
// reports false when there is none.
func (r *registry) one(ctx context.Context, meta map[string]string, v any) (bool, error) {
	hits, err := r.find(ctx, meta, 1)
	if err != nil || len(hits) == 0 {
		return false, err
	}
	if err := json.Unmarshal(hits[0].Record.Payload, v); err != nil {
		return false, fmt.Errorf("rag: registry record %s: %w", hits[0].Record.ID, err)
	}
	return true, nil
}

func (r *registry) record(id string, meta map[string]string, v any) (vectorstore.Record, error) {
	payload, err := json.Marshal(v)
	if err != nil {
		return vectorstore.Record{}, err
	}
	return vectorstore.Record{ID: id, Vector: r.unit, Namespace: registryNS, Meta: meta, Payload: payload}, nil
}

func (r *registry) put(ctx context.Context, id string, meta map[string]string, v any) error {
	rec, err := r.record(id, meta, v)
	if err != nil {
		return err
	}
	if err := r.store.Upsert(ctx, []vectorstore.Record{rec}); err != nil {
		return fmt.Errorf("rag: registry: %w", err)
	}
	return nil
}

func (r *registry) doc(ctx context.Context, collection, docID string) (docRecord, bool, error) {
	var d docRecord
	ok, err := r.one(ctx, map[string]string{"kind": kindDoc, "collection": collection, "doc_id": docID}, &d)
	return d, ok, err
}

func (r *registry) putDoc(ctx context.Context, collection string, d docRecord) error {
	return r.put(ctx, docRecordID(collection, d.ID),
		map[string]string{"kind": kindDoc, "collection": collection, "doc_id": d.ID}, d)
}

func (r *registry) deleteDoc(ctx context.Context, collection, docID string) error {
	if err := r.store.Delete(ctx, []string{docRecordID(collection, docID)}); err != nil {
		return fmt.Errorf("rag: registry: %w", err)
	}
	return nil
}

func (r *registry) documents(ctx context.Context, collection string) (int, error) {
	n, err := r.store.Count(ctx, vectorstore.Filter{Namespace: registryNS,
		Meta: map[string]string{"kind": kindDoc, "collection": collection}})
	if err != nil {
		return 0, fmt.Errorf("rag: registry: %w", err)
	}
	return n, nil
}

func (r *registry) version(ctx context.Context, collection string) (versionRecord, error) {
	var v versionRecord
	_, err := r.one(ctx, map[string]string{"kind": kindVersion, "collection": collection}, &v)
	return v, err
}

// bump gives collection a new random version and returns it.
func (r *registry) bump(ctx context.Context, collection string, now time.Time) (string, error) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	v := versionRecord{Version: hex.EncodeToString(b[:]), Updated: now}
	err := r.put(ctx, versionRecordID(collection), map[string]string{"kind": kindVersion, "collection": collection}, v)
	return v.Version, err
}

func (r *registry) addPurge(ctx context.Context, collection string, ids []string) error {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return r.put(ctx, registryNS+"/purge/"+hex.EncodeToString(b[:]), map[string]string{"kind": kindPurge},
		purgeRecord{Collection: collection, IDs: ids})
}

// purges returns up to 100 pending purges with their record ids.
func (r *registry) purges(ctx context.Context) ([]string, []purgeRecord, error) {
	hits, err := r.find(ctx, map[string]string{"kind": kindPurge}, 100)
	if err != nil {
		return nil, nil, err
	}
	ids := make([]string, 0, len(hits))
	recs := make([]purgeRecord, 0, len(hits))
	for _, h := range hits {
		var p purgeRecord
		_ = json.Unmarshal(h.Record.Payload, &p) // a corrupt record is dropped
		ids = append(ids, h.Record.ID)
		recs = append(recs, p)
	}
	return ids, recs, nil
}
