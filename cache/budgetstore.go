package cache

import (
	"errors"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// The error-budget learner's state (cache/budget) lives with the entries:
// in the disk tier's bbolt file when there is one, keyed by entry key and
// deleted with the entry, or in memory otherwise.
var (
	bucketBudget   = []byte("budget")            // key (32 bytes) → entry state
	bucketBudgetNS = []byte("budget-namespaces") // namespace → namespace state
)

// maxMemBudgetEntries bounds the in-memory store's entry states (the
// oldest arbitrary one is forgotten beyond it).
const maxMemBudgetEntries = 200_000

// BudgetStore keeps the error-budget learner's state with the cache's
// entries. It implements budget.Store.
type BudgetStore struct {
	disk *diskTier // nil: in memory

	mu  sync.Mutex
	mem map[Key][]byte
	nss map[string][]byte
}

// BudgetStore returns the store of the learner's state of this cache.
func (c *Cache) BudgetStore() *BudgetStore { return c.budget }

func newBudgetStore(d *diskTier) *BudgetStore {
	return &BudgetStore{disk: d, mem: map[Key][]byte{}, nss: map[string][]byte{}}
}

// LoadEntry returns an entry's state (nil when it has none).
func (s *BudgetStore) LoadEntry(key string) ([]byte, error) {
	k, err := parseKey(key)
	if err != nil {
		return nil, err
	}
	if s.disk == nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.mem[k], nil
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
	return out, err
}

// SaveEntry stores an entry's state.
func (s *BudgetStore) SaveEntry(key string, state []byte) error {
	k, err := parseKey(key)
	if err != nil {
		return err
	}
	if s.disk == nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := s.mem[k]; !ok && len(s.mem) >= maxMemBudgetEntries {
			for old := range s.mem {
				delete(s.mem, old)
				break
			}
		}
		s.mem[k] = append([]byte(nil), state...)
		return nil
	}
	return s.disk.db.Batch(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketBudget)
		if err != nil {
			return err
		}
		return b.Put(k[:], state)
	})
}

// LoadNamespaces returns every namespace's state.
func (s *BudgetStore) LoadNamespaces() (map[string][]byte, error) {
	out := map[string][]byte{}
	if s.disk == nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		for k, v := range s.nss {
			out[k] = v
		}
		return out, nil
	}
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
	return out, err
}

// SaveNamespace stores a namespace's state.
func (s *BudgetStore) SaveNamespace(ns string, state []byte) error {
	if ns == "" {
		return errors.New("cache: budget state needs a namespace")
	}
	if s.disk == nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.nss[ns] = append([]byte(nil), state...)
		return nil
	}
	return s.disk.db.Batch(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketBudgetNS)
		if err != nil {
			return err
		}
		return b.Put([]byte(ns), state)
	})
}

// forget drops the states of deleted entries kept in memory (the disk
// tier deletes its own with the entries).
func (s *BudgetStore) forget(keys []Key) {
	if s.disk != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		delete(s.mem, k)
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
