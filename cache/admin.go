package cache

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/semcache/semcache/vectorstore"
)

// Administration: listing, searching, exporting, deleting and warming the
// entries of a namespace. These run off the request path (the admin API)
// and may scan the disk tier; they never hold a bbolt read transaction for
// longer than one page of entries, so a slow export cannot pin the file.
//
// The hot tier (ristretto) cannot be enumerated, so listing, searching,
// exporting and deleting by short entry id need the disk tier (Options.Dir,
// which `semcache serve` always sets); without it they return ErrNeedsDisk.
// Deleting a namespace or entries older than a time works on every tier:
// it records an invalidation time for the namespace, so entries created
// before it die at once wherever they live.

var (
	// ErrNeedsDisk is returned by operations that must enumerate entries
	// when the cache has no disk tier.
	ErrNeedsDisk = errors.New("cache: this operation needs the disk tier (Options.Dir)")
	// ErrInvalid is wrapped by errors in an admin operation's arguments.
	ErrInvalid = errors.New("cache: invalid argument")
	// ErrNotFound is returned when an entry does not exist (or is dead).
	ErrNotFound = errors.New("cache: entry not found")
)

// ListQuery selects entries of a namespace.
type ListQuery struct {
	// Search keeps entries whose prompt, answer content, entry id or
	// request model contains it, ignoring case. Empty keeps all.
	Search string
	// Limit bounds the result (default 100, at most 10000).
	Limit int
}

const (
	defaultListLimit = 100
	maxListLimit     = 10000
	scanPageSize     = 512
)

// List returns the live entries of ns matching q, newest first. It needs
// the disk tier; entries not yet written back are included.
func (c *Cache) List(ctx context.Context, ns string, q ListQuery) ([]*Entry, error) {
	if ns == "" {
		return nil, fmt.Errorf("%w: empty namespace", ErrInvalid)
	}
	if q.Limit < 0 {
		return nil, fmt.Errorf("%w: negative limit", ErrInvalid)
	}
	if c.disk == nil {
		return nil, ErrNeedsDisk
	}
	limit := q.Limit
	if limit == 0 {
		limit = defaultListLimit
	}
	limit = min(limit, maxListLimit)
	needle := strings.ToLower(q.Search)
	now := c.now()
	var out []*Entry
	keep := func(e *Entry) {
		if e.Namespace != ns || !c.live(e, now) || !entryMatches(e, needle) {
			return
		}
		out = append(out, e)
		if len(out) >= 2*limit { // keep memory bounded on big namespaces
			sortNewestFirst(out)
			out = out[:limit]
		}
	}
	err := c.eachEntry(ctx, func(e *Entry) error { keep(e); return nil })
	if err != nil {
		return nil, err
	}
	sortNewestFirst(out)
	return out[:min(len(out), limit)], nil
}

func entryMatches(e *Entry, lowerNeedle string) bool {
	if lowerNeedle == "" {
		return true
	}
	for _, s := range []string{e.Prompt, e.Answer.Text, e.ID, e.RequestModel} {
		if strings.Contains(strings.ToLower(s), lowerNeedle) {
			return true
		}
	}
	return false
}

func sortNewestFirst(es []*Entry) {
	slices.SortFunc(es, func(a, b *Entry) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
}

// NamespaceStats summarises the live entries of one namespace.
type NamespaceStats struct {
	Namespace string    `json:"namespace"`
	Entries   int       `json:"entries"`
	Bytes     int64     `json:"bytes"`
	Oldest    time.Time `json:"oldest"`
	Newest    time.Time `json:"newest"`
}

// Namespaces summarises every namespace holding live entries, by name. It
// scans the disk tier (ErrNeedsDisk without one).
func (c *Cache) Namespaces(ctx context.Context) ([]NamespaceStats, error) {
	if c.disk == nil {
		return nil, ErrNeedsDisk
	}
	now := c.now()
	by := map[string]*NamespaceStats{}
	err := c.eachEntry(ctx, func(e *Entry) error {
		if !c.live(e, now) {
			return nil
		}
		s := by[e.Namespace]
		if s == nil {
			s = &NamespaceStats{Namespace: e.Namespace, Oldest: e.CreatedAt, Newest: e.CreatedAt}
			by[e.Namespace] = s
		}
		s.Entries++
		s.Bytes += e.Size()
		if e.CreatedAt.Before(s.Oldest) {
			s.Oldest = e.CreatedAt
		}
		if e.CreatedAt.After(s.Newest) {
			s.Newest = e.CreatedAt
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]NamespaceStats, 0, len(by))
	for _, s := range by {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b NamespaceStats) int { return strings.Compare(a.Namespace, b.Namespace) })
	return out, nil
}

// Entry returns the live entry of ns with the given id: the 24-hex-digit
// entry id served in X-Semcache-Entry (needs the disk tier) or the
// 64-hex-digit key.
func (c *Cache) Entry(ctx context.Context, ns, id string) (*Entry, error) {
	e, _, err := c.findEntry(ctx, ns, id)
	if err != nil {
		return nil, err
	}
	if !c.live(e, c.now()) {
		return nil, ErrNotFound
	}
	return e, nil
}

// DeleteEntry removes one entry of ns from every tier. id is as for Entry.
// It reports whether the entry existed.
func (c *Cache) DeleteEntry(ctx context.Context, ns, id string) (bool, error) {
	_, k, err := c.findEntry(ctx, ns, id)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if _, err := c.deleteKeys(ctx, map[Key]struct{}{k: {}}); err != nil {
		return true, err
	}
	return true, nil
}

// findEntry locates an entry of ns by entry id or key in the hot tier, the
// write-back queue or on disk, dead or alive.
func (c *Cache) findEntry(ctx context.Context, ns, id string) (*Entry, Key, error) {
	var k Key
	if ns == "" {
		return nil, k, fmt.Errorf("%w: empty namespace", ErrInvalid)
	}
	raw, err := hex.DecodeString(id)
	if err != nil || (len(raw) != len(k) && len(raw) != 12) {
		return nil, k, fmt.Errorf("%w: entry id %q: want 24 or 64 hex digits", ErrInvalid, id)
	}
	if len(raw) == len(k) {
		copy(k[:], raw)
		if e, ok := c.hot.get(k); ok && e.Namespace == ns {
			return e, k, nil
		}
		c.pendingMu.RLock()
		e := c.pending[k]
		c.pendingMu.RUnlock()
		if e != nil && e.Namespace == ns {
			return e, k, nil
		}
		if c.disk != nil {
			e, err := c.disk.get(k)
			if err != nil {
				return nil, k, fmt.Errorf("cache: read entry: %w", err)
			}
			if e != nil && e.Namespace == ns {
				return e, k, nil
			}
		}
		return nil, k, ErrNotFound
	}
	// A short id is a key prefix: look through the queue, then the disk.
	c.pendingMu.RLock()
	for pk, e := range c.pending {
		if e.Namespace == ns && bytes.Equal(pk[:12], raw) {
			c.pendingMu.RUnlock()
			return e, pk, nil
		}
	}
	c.pendingMu.RUnlock()
	if c.disk == nil {
		return nil, k, fmt.Errorf("%w: finding an entry by its short id; pass the 64-digit key", ErrNeedsDisk)
	}
	if err := ctx.Err(); err != nil {
		return nil, k, err
	}
	e, err := c.disk.findByPrefix(raw, ns)
	if err != nil {
		return nil, k, fmt.Errorf("cache: read entry: %w", err)
	}
	if e == nil {
		return nil, k, ErrNotFound
	}
	k, err = parseKey(e.Key)
	return e, k, err
}

// DeleteNamespace removes every entry of ns from every tier and reports
// how many it removed. Entries in the hot tier die at once (the namespace
// is invalidated up to now, durably when there is a disk tier) and are
// reclaimed by ristretto later.
func (c *Cache) DeleteNamespace(ctx context.Context, ns string) (int, error) {
	if ns == "" {
		return 0, fmt.Errorf("%w: empty namespace", ErrInvalid)
	}
	n, err := c.deleteBefore(ctx, ns, c.now())
	if err != nil {
		return n, err
	}
	if sem := c.semantic(); sem != nil {
		// The index may hold entries the disk never saw (no disk tier, a
		// failed disk write, a dropped queue slot): clear it by filter.
		m, err := sem.Index.DeleteWhere(ctx, vectorstore.Filter{Namespace: ns})
		if err != nil {
			return n, fmt.Errorf("cache: delete namespace from similarity tier: %w", err)
		}
		n = max(n, m)
	}
	return n, nil
}

// DeleteOlderThan removes the entries of ns created at or before t and
// reports how many it removed from the disk tier and the write-back queue.
// Older entries in the hot tier die at once; without a disk tier their
// similarity-tier records stay (unreachable) until they expire.
func (c *Cache) DeleteOlderThan(ctx context.Context, ns string, t time.Time) (int, error) {
	if ns == "" {
		return 0, fmt.Errorf("%w: empty namespace", ErrInvalid)
	}
	if t.IsZero() || t.After(c.now()) {
		return 0, fmt.Errorf("%w: time %s is zero or in the future", ErrInvalid, t.Format(time.RFC3339))
	}
	return c.deleteBefore(ctx, ns, t)
}

// deleteBefore invalidates ns up to t and deletes the entries it finds.
func (c *Cache) deleteBefore(ctx context.Context, ns string, t time.Time) (int, error) {
	// Let queued writes land first so none reaches the disk after the scan
	// (they would be dead, but would take space). Bounded: a busy queue
	// must not block an admin call.
	fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_ = c.Flush(fctx)
	cancel()
	if err := c.invalidate(ns, t); err != nil {
		return 0, err
	}
	// A namespace's sub-namespaces go with it.
	dead := func(e *Entry) bool {
		return (e.Namespace == ns || ParentNamespace(e.Namespace) == ns) && !e.CreatedAt.After(t)
	}
	keys := map[Key]struct{}{}
	c.pendingMu.RLock()
	for k, e := range c.pending {
		if dead(e) {
			keys[k] = struct{}{}
		}
	}
	c.pendingMu.RUnlock()
	if c.disk != nil {
		err := c.disk.scanAll(ctx, func(e *Entry) error {
			if dead(e) {
				k, err := parseKey(e.Key)
				if err == nil {
					keys[k] = struct{}{}
				}
			}
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("cache: scan entries: %w", err)
		}
	}
	return c.deleteKeys(ctx, keys)
}

// invalidate voids every entry of ns created at or before t (it never
// moves an invalidation back in time).
func (c *Cache) invalidate(ns string, t time.Time) error {
	c.invalMu.Lock()
	defer c.invalMu.Unlock()
	if prev, ok := c.inval[ns]; ok && !t.After(prev) {
		return nil
	}
	if c.disk != nil {
		if err := c.disk.setInvalidation(ns, t); err != nil {
			return fmt.Errorf("cache: record invalidation: %w", err)
		}
	}
	c.inval[ns] = t
	return nil
}

// Export writes the live entries of ns to w as JSON Lines, one entry
// (the same encoding as the disk tier) per line. It needs the disk tier.
func (c *Cache) Export(ctx context.Context, ns string, w io.Writer) error {
	if ns == "" {
		return fmt.Errorf("%w: empty namespace", ErrInvalid)
	}
	if c.disk == nil {
		return ErrNeedsDisk
	}
	now := c.now()
	bw := bufio.NewWriterSize(w, 64<<10)
	err := c.eachEntry(ctx, func(e *Entry) error {
		if e.Namespace != ns || !c.live(e, now) {
			return nil
		}
		b, err := MarshalEntry(e)
		if err != nil {
			return err
		}
		b = append(b, '\n')
		if _, err := bw.Write(b); err != nil {
			return fmt.Errorf("cache: export: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("cache: export: %w", err)
	}
	return nil
}

// eachEntry calls fn for every entry still waiting in the write-back queue
// and then every entry on disk (each key once), stopping at fn's first
// error.
func (c *Cache) eachEntry(ctx context.Context, fn func(*Entry) error) error {
	c.pendingMu.RLock()
	queued := make(map[Key]*Entry, len(c.pending))
	for k, e := range c.pending {
		queued[k] = e
	}
	c.pendingMu.RUnlock()
	for _, e := range queued {
		if err := fn(e); err != nil {
			return err
		}
	}
	err := c.disk.scanAll(ctx, func(e *Entry) error {
		if k, err := parseKey(e.Key); err == nil {
			if _, seen := queued[k]; seen {
				return nil
			}
		}
		return fn(e)
	})
	return err
}

// scanAll calls fn for every readable entry, one page per read
// transaction, checking ctx between pages.
func (d *diskTier) scanAll(ctx context.Context, fn func(*Entry) error) error {
	var after []byte
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		page, last, err := d.scanPage(after, scanPageSize)
		if err != nil {
			return err
		}
		for _, e := range page {
			if err := fn(e); err != nil {
				return err
			}
		}
		if last == nil {
			return nil
		}
		after = last
	}
}

// scanPage reads up to n entries whose key follows after (nil: from the
// first) and returns the last key read, or nil when the bucket is done.
func (d *diskTier) scanPage(after []byte, n int) ([]*Entry, []byte, error) {
	var page []*Entry
	var last []byte
	err := d.db.View(func(tx *bolt.Tx) error {
		cur := tx.Bucket(bucketEntries).Cursor()
		k, v := cur.First()
		if after != nil {
			k, v = cur.Seek(after)
			if k != nil && bytes.Equal(k, after) {
				k, v = cur.Next()
			}
		}
		read := 0
		for ; k != nil && read < n; k, v = cur.Next() {
			read++
			last = bytes.Clone(k)
			if e, err := UnmarshalEntry(v); err == nil {
				page = append(page, e)
			}
		}
		if k == nil {
			last = nil
		}
		return nil
	})
	return page, last, err
}

// findByPrefix returns the entry of ns whose key starts with prefix.
func (d *diskTier) findByPrefix(prefix []byte, ns string) (*Entry, error) {
	var found *Entry
	err := d.db.View(func(tx *bolt.Tx) error {
		cur := tx.Bucket(bucketEntries).Cursor()
		for k, v := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
			e, err := UnmarshalEntry(v)
			if err == nil && e.Namespace == ns {
				found = e
				return nil
			}
		}
		return nil
	})
	return found, err
}

// WarmItem is one answer to store ahead of traffic.
type WarmItem struct {
	Lookup Lookup
	Answer Answer
	// TTL overrides the cache's default lifetime (0: default).
	TTL time.Duration
}

// warmBatch is how many items are written per transaction.
const warmBatch = 64

// Warm stores answers synchronously in every tier (disk and similarity
// tier included), so they are served by exact and semantic lookups as soon
// as Warm returns, and reports how many it stored. Items carry their own
// namespace and salt.
func (c *Cache) Warm(ctx context.Context, items []WarmItem) (int, error) {
	for _, it := range items {
		if it.Lookup.Namespace == "" {
			return 0, fmt.Errorf("%w: warm item without a namespace", ErrInvalid)
		}
	}
	stored := 0
	for batch := range slices.Chunk(items, warmBatch) {
		if err := ctx.Err(); err != nil {
			return stored, err
		}
		if err := c.warmBatch(ctx, batch); err != nil {
			return stored, err
		}
		stored += len(batch)
	}
	return stored, nil
}

// warmBatch writes a batch synchronously: disk, similarity tier, then the
// hot tier, so a lookup sees each entry once Warm returns.
func (c *Cache) warmBatch(ctx context.Context, items []WarmItem) error {
	now := c.now()
	pol := c.pol.Load()
	type slot struct {
		key Key
		ttl time.Duration
	}
	slots := make([]slot, len(items))
	entries := make([]*Entry, len(items))
	for i, it := range items {
		ttl := pol.lifetime(it.TTL)
		k := it.Lookup.key()
		e := &Entry{
			ID:           k.EntryID(),
			Key:          k.String(),
			Namespace:    it.Lookup.Namespace,
			RequestModel: it.Lookup.Model,
			Answer:       it.Answer,
			CreatedAt:    now,
			ExpiresAt:    now.Add(ttl),
		}
		e.remember()
		if it.Lookup.Prompt != "" {
			e.Prompt, e.Context, e.ContextAnswers = it.Lookup.Prompt, it.Lookup.Context, it.Lookup.ContextAnswers
			e.Partition = it.Lookup.partition()
		}
		slots[i] = slot{key: k, ttl: ttl}
		entries[i] = e
	}
	if c.disk != nil {
		if err := c.disk.putBatch(entries); err != nil {
			return fmt.Errorf("cache: warm: disk write: %w", err)
		}
	}
	if pol.sem != nil {
		if err := c.warmIndex(ctx, pol.sem, entries); err != nil {
			return err
		}
	}
	nss := map[string]bool{}
	for i, sl := range slots {
		c.hot.set(sl.key, entries[i], sl.ttl)
		e := entries[i]
		c.usage.add(e.Namespace, sl.key, useRec{size: e.Size(), lastHit: now.UnixNano(), expires: unixNano(e.ExpiresAt)})
		nss[e.Namespace] = true
	}
	for ns := range nss {
		if victims := c.usage.over(ns, pol.quota); len(victims) > 0 {
			c.stats.evicted.Add(uint64(len(victims)))
			set := make(map[Key]struct{}, len(victims))
			for _, k := range victims {
				set[k] = struct{}{}
			}
			if _, err := c.deleteKeys(ctx, set); err != nil {
				return fmt.Errorf("cache: warm: evict past the quota: %w", err)
			}
		}
	}
	return nil
}

// warmIndex embeds and indexes entries synchronously, reporting failures
// (the write-back path only counts them).
func (c *Cache) warmIndex(ctx context.Context, sem *SemanticOptions, entries []*Entry) error {
	var texts []string
	var semantic []*Entry
	for _, e := range entries {
		if e.Partition != "" && !tooLong(sem, e.Prompt, e.Context) {
			texts = append(texts, embedText(sem, e.Prompt, e.Context))
			semantic = append(semantic, e)
		}
	}
	if len(texts) == 0 {
		return nil
	}
	vecs, err := sem.Embedder.Embed(ctx, texts)
	if err == nil && len(vecs) != len(texts) {
		err = fmt.Errorf("embedder returned %d vectors for %d texts", len(vecs), len(texts))
	}
	if err != nil {
		c.stats.embedErrors.Add(1)
		return fmt.Errorf("cache: warm: embed: %w", err)
	}
	recs := make([]vectorstore.Record, len(semantic))
	for i, e := range semantic {
		payload, err := MarshalEntry(e)
		if err != nil {
			return err
		}
		recs[i] = vectorstore.Record{ID: e.Key, Vector: vecs[i], Namespace: e.Namespace, Partition: e.Partition,
			Payload: payload, ExpiresAt: e.ExpiresAt}
	}
	if err := sem.Index.Upsert(ctx, recs); err != nil {
		c.stats.storeErrors.Add(1)
		return fmt.Errorf("cache: warm: similarity tier: %w", err)
	}
	return nil
}
