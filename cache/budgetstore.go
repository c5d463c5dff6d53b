package cache

import (
	"errors"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The error-budget learner's state (cache/budget) lives with the entries:
// in the disk tier's bbolt file when there is one, keyed by entry key and
// deleted with the entry, or in memory otherwise.
//
// Reads and writes go to memory: the learner reads an entry's state on
// every semantic candidate and writes it on every label, and a bbolt write
// is an fsync. Changed states are written to the disk tier in batches
// (every budgetFlushEvery changes or budgetFlushAfter, and when the cache
// closes): a crash loses at most that much of what was learned, never an
// entry's deletion — a state is written only while its entry is on disk,
// in the same kind of transaction that deletes both.
var (
	bucketBudget   = []byte("budget")            // key (32 bytes) → entry state
	bucketBudgetNS = []byte("budget-namespaces") // namespace → namespace state
)

const (
	// maxMemBudgetEntries bounds the entry states kept in memory: beyond
	// it, a state already on disk (or, without a disk tier, any) is
	// forgotten.
	maxMemBudgetEntries = 200_000
	// budgetFlushEvery and budgetFlushAfter bound how much learned state
	// may wait in memory.
	budgetFlushEvery = 512
	budgetFlushAfter = time.Second
)

// BudgetStore keeps the error-budget learner's state with the cache's
// entries. It implements budget.Store.
type BudgetStore struct {
	disk *diskTier // nil: in memory only
	now  func() time.Time

	mu        sync.Mutex
	mem       map[Key][]byte
	dirty     map[Key]struct{}
	nss       map[string][]byte
	dirtyNS   map[string]struct{}
	lastFlush time.Time

	// flushMu orders flushes (a flush writes outside mu).
	flushMu sync.Mutex
}

// BudgetStore returns the store of the learner's state of this cache.
func (c *Cache) BudgetStore() *BudgetStore { return c.budget }

func newBudgetStore(d *diskTier) *BudgetStore {
	return &BudgetStore{disk: d, now: time.Now, mem: map[Key][]byte{}, dirty: map[Key]struct{}{},
		nss: map[string][]byte{}, dirtyNS: map[string]struct{}{}}
}

// LoadEntry returns an entry's state (nil when it has none).
func (s *BudgetStore) LoadEntry(key string) ([]byte, error) {
	k, err := parseKey(key)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	v, ok := s.mem[k]
	s.mu.Unlock()
	if ok || s.disk == nil {
		return v, nil
	}
	var out []byte
	err = s.disk.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketBudget); b != nil {
			if v := b.Get(k[:]); v != nil {
				out = append([]byte(nil), v...)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cache: read budget state: %w", err)
	}
	if out != nil {
		s.mu.Lock()
		if _, ok := s.mem[k]; !ok {
			s.keep(k, out)
		}
		s.mu.Unlock()
	}
	return out, nil
}

// keep puts a state in memory, making room; the caller holds mu.
func (s *BudgetStore) keep(k Key, state []byte) {
	if _, ok := s.mem[k]; !ok && len(s.mem) >= maxMemBudgetEntries {
		for old := range s.mem {
			if _, d := s.dirty[old]; !d || s.disk == nil {
				delete(s.mem, old)
				delete(s.dirty, old)
				break
			}
		}
	}
	s.mem[k] = state
}

// SaveEntry stores an entry's state.
func (s *BudgetStore) SaveEntry(key string, state []byte) error {
	k, err := parseKey(key)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.keep(k, append([]byte(nil), state...))
	flush := false
	if s.disk != nil {
		s.dirty[k] = struct{}{}
		flush = s.due()
	}
	s.mu.Unlock()
	if flush {
		return s.Flush()
	}
	return nil
}

// due reports whether the changes waiting should be written; the caller
// holds mu.
func (s *BudgetStore) due() bool {
	n := len(s.dirty) + len(s.dirtyNS)
	return n >= budgetFlushEvery || (n > 0 && s.now().Sub(s.lastFlush) >= budgetFlushAfter) || len(s.mem) >= maxMemBudgetEntries
}

// LoadNamespaces returns every namespace's state.
func (s *BudgetStore) LoadNamespaces() (map[string][]byte, error) {
	out := map[string][]byte{}
	if s.disk != nil {
		err := s.disk.db.View(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketBudgetNS)
			if b == nil {
				return nil
			}
			return b.ForEach(func(k, v []byte) error {
				out[string(k)] = append([]byte(nil), v...)
				return nil
			})
		})
		if err != nil {
			return nil, fmt.Errorf("cache: read budget namespaces: %w", err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.nss {
		out[k] = v
	}
	return out, nil
}

// SaveNamespace stores a namespace's state.
func (s *BudgetStore) SaveNamespace(ns string, state []byte) error {
	if ns == "" {
		return errors.New("cache: budget state needs a namespace")
	}
	s.mu.Lock()
	s.nss[ns] = append([]byte(nil), state...)
	flush := false
	if s.disk != nil {
		s.dirtyNS[ns] = struct{}{}
		flush = s.due()
	}
	s.mu.Unlock()
	if flush {
		return s.Flush()
	}
	return nil
}

// Flush writes the changed states to the disk tier in one transaction.
// An entry's state is written only while the entry is on disk; the state
// of an entry not written yet waits for a later flush.
func (s *BudgetStore) Flush() error {
	if s.disk == nil {
		return nil
	}
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	s.mu.Lock()
	s.lastFlush = s.now()
	entries := make(map[Key][]byte, len(s.dirty))
	for k := range s.dirty {
		entries[k] = s.mem[k]
	}
	nss := make(map[string][]byte, len(s.dirtyNS))
	for ns := range s.dirtyNS {
		nss[ns] = s.nss[ns]
	}
	clear(s.dirty)
	clear(s.dirtyNS)
	s.mu.Unlock()
	if len(entries) == 0 && len(nss) == 0 {
		return nil
	}
	var waiting []Key
	err := s.disk.db.Update(func(tx *bolt.Tx) error {
		eb := tx.Bucket(bucketEntries)
		b, err := tx.CreateBucketIfNotExists(bucketBudget)
		if err != nil {
			return err
		}
		for k, v := range entries {
			if eb.Get(k[:]) == nil {
				waiting = append(waiting, k)
				continue
			}
			if err := b.Put(k[:], v); err != nil {
				return err
			}
		}
		nb, err := tx.CreateBucketIfNotExists(bucketBudgetNS)
		if err != nil {
			return err
		}
		for ns, v := range nss {
			if err := nb.Put([]byte(ns), v); err != nil {
				return err
			}
		}
		return nil
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		// Everything waits for the next flush.
		for k := range entries {
			if _, ok := s.mem[k]; ok {
				s.dirty[k] = struct{}{}
			}
		}
		for ns := range nss {
			s.dirtyNS[ns] = struct{}{}
		}
		return fmt.Errorf("cache: write budget state: %w", err)
	}
	for _, k := range waiting {
		if _, ok := s.mem[k]; ok {
			s.dirty[k] = struct{}{}
		}
	}
	return nil
}

// forget drops the states of deleted entries from memory (the disk tier
// deletes its own with the entries, in the same transaction).
func (s *BudgetStore) forget(keys []Key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		delete(s.mem, k)
		delete(s.dirty, k)
	}
}

// deleteBudgetState deletes the learner's state of keys inside a disk
// tier transaction.
func deleteBudgetState(tx *bolt.Tx, keys []Key) error {
	b := tx.Bucket(bucketBudget)
	if b == nil {
		return nil
	}
	for _, k := range keys {
		if err := b.Delete(k[:]); err != nil {
			return err
		}
	}
	return nil
}
