package cache

import (
	"encoding/binary"
	"errors"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"
)

// metaRecord is an entry's row in the meta bucket: what quotas and the
// janitor need without decoding the entry.
type metaRecord struct {
	Namespace string
	Size      int64
	// Expires and LastHit are unix nanoseconds (Expires 0: never).
	Expires, LastHit int64
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// encode lays the record out as expires(8) lastHit(8) size(8) namespace.
func (m metaRecord) encode() []byte {
	b := make([]byte, 24+len(m.Namespace))
	binary.BigEndian.PutUint64(b[0:], uint64(m.Expires))
	binary.BigEndian.PutUint64(b[8:], uint64(m.LastHit))
	binary.BigEndian.PutUint64(b[16:], uint64(m.Size))
	copy(b[24:], m.Namespace)
	return b
}

var errBadMeta = errors.New("cache: bad meta record")

func decodeMeta(b []byte) (metaRecord, error) {
	if len(b) < 24 {
		return metaRecord{}, errBadMeta
	}
	return metaRecord{
		Expires:   int64(binary.BigEndian.Uint64(b[0:])),
		LastHit:   int64(binary.BigEndian.Uint64(b[8:])),
		Size:      int64(binary.BigEndian.Uint64(b[16:])),
		Namespace: string(b[24:]),
	}, nil
}

// encodeVector stores a vector as little-endian float32s (nil: none, the
// replay embeds the entry's text again).
func encodeVector(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

func decodeVector(b []byte) []float32 {
	if len(b) == 0 || len(b)%4 != 0 {
		return nil
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

// diskBatch is what one write-back transaction does.
type diskBatch struct {
	puts []*Entry
	// encoded[i] is puts[i] as MarshalEntry writes it (nil: encoded in
	// the transaction); the indexer reuses it as the record's payload.
	encoded [][]byte
	// journal[i] marks puts[i] for the vector store; vectors[i] is its
	// vector when known.
	journal []bool
	vectors [][]float32
	// indexed are keys the vector store now holds: their journal rows go.
	indexed []Key
	// evict are entries to delete (quota victims), after the puts.
	evict []Key
}

// commit applies b in one transaction (one fsync).
func (d *diskTier) commit(b *diskBatch) error {
	return d.db.Update(func(tx *bolt.Tx) error {
		jb := tx.Bucket(bucketJournal)
		for i, e := range b.puts {
			var enc []byte
			if i < len(b.encoded) {
				enc = b.encoded[i]
			}
			if err := putEntryEncoded(tx, e, enc); err != nil {
				return err
			}
			if b.journal[i] {
				k, err := parseKey(e.Key)
				if err != nil {
					return err
				}
				if err := jb.Put(k[:], encodeVector(b.vectors[i])); err != nil {
					return err
				}
			}
		}
		for _, k := range b.indexed {
			if err := jb.Delete(k[:]); err != nil {
				return err
			}
		}
		for _, k := range b.evict {
			if err := deleteEntry(tx, k); err != nil {
				return err
			}
		}
		return nil
	})
}

// journalLen counts the entries waiting for the vector store.
func (d *diskTier) journalLen() int {
	n := 0
	_ = d.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketJournal).Stats().KeyN
		return nil
	})
	return n
}

// journalPage reads up to n journalled entries after key after (nil: from
// the first) with their vectors; rows whose entry is gone are skipped.
func (d *diskTier) journalPage(after *Key, n int) ([]writeJob, error) {
	var out []writeJob
	err := d.db.View(func(tx *bolt.Tx) error {
		eb := tx.Bucket(bucketEntries)
		cur := tx.Bucket(bucketJournal).Cursor()
		k, v := cur.First()
		if after != nil {
			k, v = cur.Seek(after[:])
			if k != nil && string(k) == string(after[:]) {
				k, v = cur.Next()
			}
		}
		for ; k != nil && len(out) < n; k, v = cur.Next() {
			raw := eb.Get(k)
			if raw == nil {
				continue
			}
			e, err := UnmarshalEntry(raw)
			if err != nil {
				continue
			}
			var key Key
			copy(key[:], k)
			out = append(out, writeJob{key: key, entry: e, vector: decodeVector(v), replay: true})
		}
		return nil
	})
	return out, err
}

// eachMeta calls fn for every meta record. Entries written before the
// meta bucket existed get their record first (one pass over the entries).
func (d *diskTier) eachMeta(fn func(k Key, m metaRecord)) error {
	if err := d.backfillMeta(); err != nil {
		return err
	}
	return d.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).ForEach(func(k, v []byte) error {
			m, err := decodeMeta(v)
			if err != nil || len(k) != len(Key{}) {
				return nil
			}
			var key Key
			copy(key[:], k)
			fn(key, m)
			return nil
		})
	})
}

// backfillMeta writes the meta records of entries that lack one (a data
// directory of an older semcache).
func (d *diskTier) backfillMeta() error {
	var need bool
	_ = d.db.View(func(tx *bolt.Tx) error {
		need = tx.Bucket(bucketMeta).Stats().KeyN < tx.Bucket(bucketEntries).Stats().KeyN
		return nil
	})
	if !need {
		return nil
	}
	return d.db.Update(func(tx *bolt.Tx) error {
		mb := tx.Bucket(bucketMeta)
		return tx.Bucket(bucketEntries).ForEach(func(k, v []byte) error {
			if mb.Get(k) != nil {
				return nil
			}
			e, err := UnmarshalEntry(v)
			if err != nil {
				return nil
			}
			m := metaRecord{Namespace: e.Namespace, Size: e.Size(), Expires: unixNano(e.ExpiresAt), LastHit: e.CreatedAt.UnixNano()}
			return mb.Put(k, m.encode())
		})
	})
}

// expired lists up to n keys whose meta says they expired at now.
func (d *diskTier) expired(now time.Time, n int) ([]Key, error) {
	var keys []Key
	t := now.UnixNano()
	err := d.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).ForEach(func(k, v []byte) error {
			if len(keys) >= n {
				return errStop
			}
			m, err := decodeMeta(v)
			if err == nil && m.Expires != 0 && m.Expires <= t && len(k) == len(Key{}) {
				var key Key
				copy(key[:], k)
				keys = append(keys, key)
			}
			return nil
		})
	})
	if errors.Is(err, errStop) {
		err = nil
	}
	return keys, err
}

var errStop = errors.New("stop")

// purgeExpired deletes the entries under keys that are still expired at
// now (one written again meanwhile stays), with their source rows, and
// returns the keys it deleted.
func (d *diskTier) purgeExpired(keys []Key, now time.Time) ([]Key, error) {
	var gone []Key
	t := now.UnixNano()
	err := d.db.Update(func(tx *bolt.Tx) error {
		mb, eb, sb := tx.Bucket(bucketMeta), tx.Bucket(bucketEntries), tx.Bucket(bucketSources)
		for _, k := range keys {
			m, err := decodeMeta(mb.Get(k[:]))
			if err != nil || m.Expires == 0 || m.Expires > t {
				continue
			}
			if raw := eb.Get(k[:]); raw != nil {
				if e, err := UnmarshalEntry(raw); err == nil {
					for _, s := range e.Sources {
						if err := sb.Delete(sourceKey(s, k)); err != nil {
							return err
						}
					}
				}
			}
			if err := deleteEntry(tx, k); err != nil {
				return err
			}
			gone = append(gone, k)
		}
		return nil
	})
	return gone, err
}

// setLastHits records when entries were last hit (quotas evict the least
// recently hit first, across restarts too).
func (d *diskTier) setLastHits(hits map[Key]int64) error {
	return d.db.Update(func(tx *bolt.Tx) error {
		mb := tx.Bucket(bucketMeta)
		for k, t := range hits {
			v := mb.Get(k[:])
			if len(v) < 24 {
				continue
			}
			nv := append([]byte(nil), v...)
			binary.BigEndian.PutUint64(nv[8:], uint64(t))
			if err := mb.Put(k[:], nv); err != nil {
				return err
			}
		}
		return nil
	})
}
