package cache

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// diskTier keeps entries in a bbolt file: an entry whose write-back
// transaction committed survives a restart and kill -9 (see
// writeback.go for when that is).
//
// bbolt (etcd's B+tree) was chosen over pebble: one file, pure Go, ACID
// transactions with fsync on commit (survives kill -9 without a repair
// step), and reads are lock-free mmap lookups of a few microseconds, which
// is all an exact-key tier behind ristretto needs. Pebble's LSM strengths
// (write throughput, compaction) do not matter at cache write rates.
type diskTier struct {
	db *bolt.DB
}

var (
	bucketEntries = []byte("entries")  // key (32 bytes) → entry JSON
	bucketSources = []byte("sources")  // sourceID \x00 key → empty
	bucketInval   = []byte("invalids") // namespace → unix nanos; entries created before are void
	// bucketMeta keeps what quotas and the janitor need of each entry
	// without decoding it (see metaRecord); written with the entry.
	bucketMeta = []byte("meta")
	// bucketJournal lists the entries not yet in the vector store, with
	// their vector when the write-back had one: the similarity tier's
	// journal, replayed after a restart or a store outage.
	bucketJournal = []byte("unindexed")
)

func openDiskTier(dir string) (*diskTier, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cache: create data dir: %w", err)
	}
	db, err := bolt.Open(filepath.Join(dir, "entries.db"), 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("cache: open entries.db (is another semcache using %s?): %w", dir, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketEntries, bucketSources, bucketInval, bucketMeta, bucketJournal} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("cache: init entries.db: %w", err)
	}
	return &diskTier{db: db}, nil
}

func (d *diskTier) get(k Key) (*Entry, error) {
	var e *Entry
	err := d.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketEntries).Get(k[:])
		if v == nil {
			return nil
		}
		var err error
		e, err = UnmarshalEntry(v)
		return err
	})
	return e, err
}

// putBatch writes entries in one transaction (one fsync).
func (d *diskTier) putBatch(entries []*Entry) error {
	return d.db.Update(func(tx *bolt.Tx) error {
		for _, e := range entries {
			if err := putEntry(tx, e); err != nil {
				return err
			}
		}
		return nil
	})
}

// putEntry writes e, its meta record and its source rows in tx.
func putEntry(tx *bolt.Tx, e *Entry) error { return putEntryEncoded(tx, e, nil) }

// putEntryEncoded is putEntry with e already encoded as b (nil: encoded
// here).
func putEntryEncoded(tx *bolt.Tx, e *Entry, b []byte) error {
	k, err := parseKey(e.Key)
	if err != nil {
		return err
	}
	if b == nil {
		if b, err = MarshalEntry(e); err != nil {
			return err
		}
	}
	if err := tx.Bucket(bucketEntries).Put(k[:], b); err != nil {
		return err
	}
	m := metaRecord{Namespace: e.Namespace, Size: e.Size(), Expires: unixNano(e.ExpiresAt), LastHit: e.CreatedAt.UnixNano()}
	if err := tx.Bucket(bucketMeta).Put(k[:], m.encode()); err != nil {
		return err
	}
	sb := tx.Bucket(bucketSources)
	for _, s := range e.Sources {
		if err := sb.Put(sourceKey(s, k), nil); err != nil {
			return err
		}
	}
	return nil
}

func sourceKey(source string, k Key) []byte {
	b := make([]byte, 0, len(source)+1+len(k))
	b = append(b, source...)
	b = append(b, 0)
	return append(b, k[:]...)
}

func (d *diskTier) delete(keys []Key) error {
	return d.db.Update(func(tx *bolt.Tx) error {
		for _, k := range keys {
			if err := deleteEntry(tx, k); err != nil {
				return err
			}
		}
		return deleteBudgetState(tx, keys)
	})
}

// deleteEntry removes the entry under k, its meta record and its journal
// row in tx (source rows go when their source is purged).
func deleteEntry(tx *bolt.Tx, k Key) error {
	for _, b := range [][]byte{bucketEntries, bucketMeta, bucketJournal} {
		if err := tx.Bucket(b).Delete(k[:]); err != nil {
			return err
		}
	}
	return nil
}

// keysBySource lists the keys of entries built on any of the sources and
// drops those index rows.
func (d *diskTier) takeKeysBySource(sources []string) ([]Key, error) {
	var keys []Key
	err := d.db.Update(func(tx *bolt.Tx) error {
		sb := tx.Bucket(bucketSources)
		for _, s := range sources {
			prefix := append([]byte(s), 0)
			c := sb.Cursor()
			var dead [][]byte
			for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
				var key Key
				copy(key[:], k[len(prefix):])
				keys = append(keys, key)
				dead = append(dead, bytes.Clone(k))
			}
			for _, k := range dead {
				if err := sb.Delete(k); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return keys, err
}

func (d *diskTier) setInvalidation(ns string, before time.Time) error {
	return d.db.Update(func(tx *bolt.Tx) error {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(before.UnixNano()))
		return tx.Bucket(bucketInval).Put([]byte(ns), b[:])
	})
}

func (d *diskTier) invalidations() (map[string]time.Time, error) {
	out := map[string]time.Time{}
	err := d.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketInval).ForEach(func(k, v []byte) error {
			if len(v) == 8 {
				out[string(k)] = time.Unix(0, int64(binary.BigEndian.Uint64(v)))
			}
			return nil
		})
	})
	return out, err
}

func (d *diskTier) count() int {
	n := 0
	_ = d.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketEntries).Stats().KeyN
		return nil
	})
	return n
}

func (d *diskTier) close() error { return d.db.Close() }

func parseKey(s string) (Key, error) {
	var k Key
	if len(s) != 2*len(k) {
		return k, fmt.Errorf("cache: bad entry key %q", s)
	}
	if _, err := hex.Decode(k[:], []byte(s)); err != nil {
		return k, fmt.Errorf("cache: bad entry key %q: %w", s, err)
	}
	return k, nil
}
