package cache

import (
	"cmp"
	"slices"
	"sync"
)

// Quota bounds what one namespace keeps across the disk tier and the
// similarity tier. Past either bound the least recently hit entries of the
// namespace are evicted (an entry never hit counts from its creation).
// Zero fields are unbounded.
type Quota struct {
	// Entries is the most entries a namespace keeps.
	Entries int
	// Bytes is the most bytes (Entry.Size) a namespace keeps.
	Bytes int64
}

// Defaults of Quota (--quota-entries, --quota-bytes).
const (
	DefaultQuotaEntries = 100_000
	DefaultQuotaBytes   = 512 << 20
)

// quotaSlack is the share of a quota one eviction pass frees: evicting a
// little below the bound lets one scan of the namespace serve many
// writes (a pass is O(entries of the namespace)).
const quotaSlack = 20 // 1/20 = 5 %

// usage is the per-namespace accounting quotas and the janitor read: one
// small record per stored entry (about 60 bytes with the map's overhead).
type usage struct {
	mu sync.Mutex
	ns map[string]*nsUsage
	// dirty holds the last hits not yet written to the disk tier.
	dirty map[Key]int64
}

type nsUsage struct {
	entries int
	bytes   int64
	recs    map[Key]useRec
}

type useRec struct {
	size             int64
	lastHit, expires int64 // unix nanos; expires 0: never
}

func newUsage() *usage {
	return &usage{ns: map[string]*nsUsage{}, dirty: map[Key]int64{}}
}

func (u *usage) nsOf(ns string) *nsUsage {
	ns = ParentNamespace(ns) // a sub-namespace counts against its parent
	n := u.ns[ns]
	if n == nil {
		n = &nsUsage{recs: map[Key]useRec{}}
		u.ns[ns] = n
	}
	return n
}

// add accounts an entry written (or rewritten) under k.
func (u *usage) add(ns string, k Key, r useRec) {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := u.nsOf(ns)
	if old, ok := n.recs[k]; ok {
		n.bytes -= old.size
		n.entries--
	}
	n.recs[k] = r
	n.bytes += r.size
	n.entries++
}

// has reports whether an entry under k is accounted in namespace ns (or
// its parent): every entry on disk is, from before its transaction
// commits until it is deleted, so a key it lacks is not on disk.
func (u *usage) has(ns string, k Key) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := u.ns[ParentNamespace(ns)]
	if n == nil {
		return false
	}
	_, ok := n.recs[k]
	return ok
}

// touch records a hit on the entry under k.
func (u *usage) touch(ns string, k Key, now int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := u.ns[ParentNamespace(ns)]
	if n == nil {
		return
	}
	if r, ok := n.recs[k]; ok {
		r.lastHit = now
		n.recs[k] = r
		u.dirty[k] = now
	}
}

// remove forgets the entries under keys, in any namespace.
func (u *usage) remove(keys []Key) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, k := range keys {
		delete(u.dirty, k)
		for name, n := range u.ns {
			if r, ok := n.recs[k]; ok {
				delete(n.recs, k)
				n.entries--
				n.bytes -= r.size
				if n.entries == 0 {
					delete(u.ns, name)
				}
				break
			}
		}
	}
}

// over returns the entries of ns to evict so it fits q (least recently hit
// first, down to the quota less quotaSlack) and forgets them; nil when it
// fits.
func (u *usage) over(ns string, q Quota) []Key {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := u.ns[ParentNamespace(ns)]
	if n == nil || ((q.Entries <= 0 || n.entries <= q.Entries) && (q.Bytes <= 0 || n.bytes <= q.Bytes)) {
		return nil
	}
	type aged struct {
		k Key
		r useRec
	}
	all := make([]aged, 0, len(n.recs))
	for k, r := range n.recs {
		all = append(all, aged{k, r})
	}
	slices.SortFunc(all, func(a, b aged) int { return cmp.Compare(a.r.lastHit, b.r.lastHit) })
	maxEntries, maxBytes := n.entries, n.bytes
	if q.Entries > 0 {
		maxEntries = min(maxEntries, q.Entries-q.Entries/quotaSlack)
	}
	if q.Bytes > 0 {
		maxBytes = min(maxBytes, q.Bytes-q.Bytes/quotaSlack)
	}
	var victims []Key
	for _, a := range all {
		if n.entries <= maxEntries && n.bytes <= maxBytes {
			break
		}
		victims = append(victims, a.k)
		delete(n.recs, a.k)
		delete(u.dirty, a.k)
		n.entries--
		n.bytes -= a.r.size
	}
	return victims
}

// expired lists (and forgets) up to max entries expired at now; the
// janitor uses it without a disk tier.
func (u *usage) expired(now int64, max int) []Key {
	u.mu.Lock()
	defer u.mu.Unlock()
	var keys []Key
	for name, n := range u.ns {
		for k, r := range n.recs {
			if len(keys) >= max {
				return keys
			}
			if r.expires != 0 && r.expires <= now {
				keys = append(keys, k)
				delete(n.recs, k)
				delete(u.dirty, k)
				n.entries--
				n.bytes -= r.size
			}
		}
		if n.entries == 0 {
			delete(u.ns, name)
		}
	}
	return keys
}

// takeDirty returns the last hits recorded since the previous call.
func (u *usage) takeDirty() map[Key]int64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.dirty) == 0 {
		return nil
	}
	d := u.dirty
	u.dirty = map[Key]int64{}
	return d
}

// NamespaceUsage is what a namespace holds as quotas count it.
type NamespaceUsage struct {
	Entries int
	Bytes   int64
}

// Usage returns what ns holds as quotas count it (a sub-namespace's
// entries count against its parent: both report the parent's usage).
func (c *Cache) Usage(ns string) NamespaceUsage {
	c.usage.mu.Lock()
	defer c.usage.mu.Unlock()
	n := c.usage.ns[ParentNamespace(ns)]
	if n == nil {
		return NamespaceUsage{}
	}
	return NamespaceUsage{Entries: n.entries, Bytes: n.bytes}
}
