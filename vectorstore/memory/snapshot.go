package memory

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/bbolt"

	"github.com/semcache/semcache/vectorstore"
)

// A graph snapshot saves the HNSW topology of every indexed group so that
// Open need not rebuild graphs (minutes for 100k records). It is a cache:
// bbolt stays the source of truth. Each slot carries the ID and sequence
// number of the record it held; on load a slot is kept only if bbolt has
// that record with that sequence number in that group, so a stale
// snapshot (crash after later writes) costs re-inserting the difference,
// never a wrong answer. The file is written to a temporary name, synced
// and renamed, and ends in a CRC-32C; anything unreadable is ignored.
//
// Layout (little endian):
//
//	"SCHNSW01" | u32 dim | u32 M | u32 groups
//	per group: str ns | str part | u32 slots | u32 entry | u32 maxLevel
//	  per slot: str id ("" for a tombstone) | u64 seq | u8 level
//	            [tombstone: u8 hasVec, dim × f32 when 1]
//	            per layer 0..level: u32 n | n × u32 neighbour
//	u32 crc32c of all the above
//
// str is u32 length + bytes.

const (
	snapFile  = "graph.snap"
	snapMagic = "SCHNSW01"
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

type snapWriter struct{ b []byte }

func (w *snapWriter) u8(v uint8)   { w.b = append(w.b, v) }
func (w *snapWriter) u32(v uint32) { w.b = binary.LittleEndian.AppendUint32(w.b, v) }
func (w *snapWriter) u64(v uint64) { w.b = binary.LittleEndian.AppendUint64(w.b, v) }
func (w *snapWriter) str(s string) { w.u32(uint32(len(s))); w.b = append(w.b, s...) }

// encodeSnapshot serializes every group that has a graph. The caller holds
// writeMu (or mu).
func (s *Store) encodeSnapshot() (data []byte, groups int) {
	w := &snapWriter{}
	w.b = append(w.b, snapMagic...)
	w.u32(uint32(s.opts.Dimension))
	w.u32(uint32(s.opts.M))
	var gs []*group
	for _, parts := range s.spaces {
		for _, gr := range parts {
			if gr.g != nil && gr.g.maxLevel >= 0 {
				gs = append(gs, gr)
			}
		}
	}
	w.u32(uint32(len(gs)))
	for _, gr := range gs {
		g := gr.g
		w.str(gr.ns)
		w.str(gr.part)
		w.u32(uint32(len(gr.recs)))
		w.u32(g.entry)
		w.u32(uint32(g.maxLevel))
		for slot, r := range gr.recs {
			level := 0
			if slot < len(g.levels) {
				level = int(g.levels[slot])
			}
			if r != nil {
				w.str(r.id)
				w.u64(r.seq)
				w.u8(uint8(level))
			} else {
				w.str("")
				w.u64(0)
				w.u8(uint8(level))
				// A tombstone still routes searches: keep its vector if it
				// has links.
				linked := slot < len(g.levels) && len(g.nbrs(uint32(slot), 0, nil)) > 0
				if linked {
					w.u8(1)
					for _, x := range gr.vec(uint32(slot)) {
						w.u32(math.Float32bits(x))
					}
				} else {
					w.u8(0)
				}
			}
			for l := 0; l <= level; l++ {
				var ns []uint32
				if slot < len(g.levels) {
					ns = g.nbrs(uint32(slot), l, nil)
				}
				w.u32(uint32(len(ns)))
				for _, n := range ns {
					w.u32(n)
				}
			}
		}
	}
	w.u32(crc32.Checksum(w.b, crcTable))
	return w.b, len(gs)
}

// saveSnapshot writes the snapshot atomically (or removes a stale one when
// no group is indexed). The caller holds writeMu.
func (s *Store) saveSnapshot() error {
	path := filepath.Join(s.opts.Dir, snapFile)
	data, n := s.encodeSnapshot()
	s.dirty = 0
	s.lastSnap = time.Now()
	if n == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("memory: snapshot: %w", err)
		}
		return nil
	}
	if err := writeFileAtomic(path, data); err != nil {
		return fmt.Errorf("memory: snapshot: %w", err)
	}
	return nil
}

func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		err = d.Sync()
		_ = d.Close()
		return err
	}
	return nil
}

type snapReader struct {
	b   []byte
	err error
}

var errSnapCorrupt = errors.New("corrupt snapshot")

func (r *snapReader) take(n int) []byte {
	if r.err != nil || n < 0 || n > len(r.b) {
		r.err = errSnapCorrupt
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *snapReader) u8() uint8 {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *snapReader) u32() uint32 {
	if b := r.take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (r *snapReader) u64() uint64 {
	if b := r.take(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func (r *snapReader) str() string { return string(r.take(int(r.u32()))) }

// loaded is a record read from bbolt at Open.
type loaded struct {
	id     string
	key    groupKey
	vec    []float32
	r      *rec
	placed bool
}

// decodeSnapshot rebuilds the indexed groups from a snapshot, placing the
// verified records of recs (which it marks placed). It returns nothing
// (and places nothing) unless the whole file is sound.
func (s *Store) decodeSnapshot(data []byte, recs map[string]*loaded) ([]*group, error) {
	dim := s.opts.Dimension
	if len(data) < len(snapMagic)+4 {
		return nil, errSnapCorrupt
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, crcTable) != sum {
		return nil, errors.New("snapshot checksum mismatch")
	}
	r := &snapReader{b: body}
	if string(r.take(len(snapMagic))) != snapMagic {
		return nil, errors.New("not a snapshot")
	}
	if d, m := r.u32(), r.u32(); int(d) != dim || int(m) != s.opts.M {
		return nil, fmt.Errorf("snapshot has dim %d, M %d; want %d, %d", d, m, dim, s.opts.M)
	}
	ngroups := int(r.u32())
	var out []*group
	var placed []*loaded
	fail := func(err error) ([]*group, error) {
		for _, l := range placed {
			l.placed = false
		}
		return nil, err
	}
	for range ngroups {
		key := groupKey{r.str(), r.str()}
		nslots := int(r.u32())
		entry := r.u32()
		maxLevel := int(r.u32())
		if r.err != nil || nslots <= 0 || nslots > len(r.b) || int(entry) >= nslots || maxLevel >= maxLevels {
			return fail(errSnapCorrupt)
		}
		gr := newGroup(key.ns, key.part, dim)
		g := newGraph(s.opts.M, s.opts.EfConstruction, s.opts.Seed)
		g.grow(nslots)
		gr.vecs = make([]float32, nslots*dim)
		gr.recs = make([]*rec, nslots)
		gr.codes = make([]uint8, nslots*codeStride(dim))
		gr.scales = make([]float32, nslots)
		for slot := range nslots {
			id := r.str()
			seq := r.u64()
			level := int(r.u8())
			if level >= maxLevels {
				return fail(errSnapCorrupt)
			}
			if id != "" {
				if l := recs[id]; l != nil && !l.placed && l.r.seq == seq && l.key == key {
					copy(gr.vec(uint32(slot)), l.vec)
					gr.recs[slot] = l.r
					l.placed = true
					placed = append(placed, l)
				}
			} else if r.u8() == 1 {
				raw := r.take(4 * dim)
				if raw == nil {
					return fail(errSnapCorrupt)
				}
				v := gr.vec(uint32(slot))
				for i := range v {
					v[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
				}
			}
			gr.scales[slot] = encodeCode(gr.vec(uint32(slot)), gr.codeRow(uint32(slot)))
			// A slot whose record is gone keeps a zero vector: it still
			// routes (poorly) until an insert reuses it.
			g.levels[slot] = uint8(level)
			if level > 0 {
				g.upper[slot] = make([]uint32, level*(g.m+1))
			}
			for l := 0; l <= level; l++ {
				n := int(r.u32())
				if r.err != nil || n > g.maxConn(l) {
					return fail(errSnapCorrupt)
				}
				list := make([]uint32, n)
				for i := range list {
					list[i] = r.u32()
					if int(list[i]) >= nslots {
						return fail(errSnapCorrupt)
					}
				}
				g.setNbrs(uint32(slot), l, list)
			}
		}
		if r.err != nil || int(g.levels[entry]) != maxLevel {
			return fail(errSnapCorrupt)
		}
		// Every link must point at a node present on that layer.
		for slot := range nslots {
			for l := 0; l <= int(g.levels[slot]); l++ {
				for _, n := range g.nbrs(uint32(slot), l, nil) {
					if int(g.levels[n]) < l {
						return fail(errSnapCorrupt)
					}
				}
			}
		}
		g.entry, g.maxLevel = entry, maxLevel
		for slot := nslots - 1; slot >= 0; slot-- {
			if rc := gr.recs[slot]; rc != nil {
				gr.index(uint32(slot), rc)
			} else {
				gr.free = append(gr.free, uint32(slot))
			}
		}
		gr.g = g
		out = append(out, gr)
	}
	if r.err != nil || len(r.b) != 0 {
		return fail(errSnapCorrupt)
	}
	return out, nil
}

// loadStats describes what Open did.
type loadStats struct {
	records      int // live records loaded
	fromSnapshot int // placed from the graph snapshot
	reindexed    int // inserted into graphs the snapshot did not cover
	pending      int // in groups whose graph is built in the background
	expired      int // purged at load
	took         time.Duration
}

// load reads bbolt into memory at Open.
func (s *Store) load(ctx context.Context) error {
	start := time.Now()
	dim := s.opts.Dimension
	err := s.db.Update(func(tx *bbolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucketRecords); err != nil {
			return err
		}
		mb, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if d := mb.Get(keyDim); d != nil {
			if len(d) != 4 {
				return errCorrupt
			}
			if got := int(binary.LittleEndian.Uint32(d)); got != dim {
				return fmt.Errorf("database holds %d-d vectors, want %d: %w", got, dim, vectorstore.ErrDimension)
			}
		} else if err := mb.Put(keyDim, binary.LittleEndian.AppendUint32(nil, uint32(dim))); err != nil {
			return err
		}
		s.seq = getSeq(mb.Get(keySeq))
		return nil
	})
	if err != nil {
		return fmt.Errorf("memory: open: %w", err)
	}

	now := time.Now().UnixNano()
	recs := map[string]*loaded{}
	var order []*loaded
	var expired [][]byte
	err = s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketRecords).ForEach(func(k, v []byte) error {
			st, err := decodeRecord(v, dim, nil, false)
			if err != nil {
				return fmt.Errorf("record %q: %w", k, err)
			}
			if st.expires != 0 && st.expires <= now {
				expired = append(expired, append([]byte(nil), k...))
				return nil
			}
			s.seq = max(s.seq, st.seq)
			l := &loaded{
				id:  string(k),
				key: groupKey{st.ns, st.part},
				vec: st.vec,
				r:   &rec{id: string(k), seq: st.seq, expires: st.expires, meta: st.meta},
			}
			recs[l.id] = l
			order = append(order, l)
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("memory: open: %w", err)
	}

	if data, err := os.ReadFile(filepath.Join(s.opts.Dir, snapFile)); err == nil {
		groups, err := s.decodeSnapshot(data, recs)
		if err != nil {
			s.log.Warn("memory: ignoring graph snapshot", "dir", s.opts.Dir, "err", err)
		}
		for _, gr := range groups {
			if gr.live == 0 {
				continue
			}
			if gr.live <= s.opts.ExactThreshold/2 {
				gr.g = nil
			}
			parts := s.spaces[gr.ns]
			if parts == nil {
				parts = map[string]*group{}
				s.spaces[gr.ns] = parts
			}
			parts[gr.part] = gr
			for slot, r := range gr.recs {
				if r != nil {
					s.byID[r.id] = loc{gr, uint32(slot)}
				}
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("memory: ignoring graph snapshot", "dir", s.opts.Dir, "err", err)
	}

	// Whatever the snapshot did not cover is inserted the normal way,
	// except that groups needing a new graph get it in the background.
	s.loading = true
	for i, l := range order {
		if l.placed {
			continue
		}
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("memory: open: %w", err)
			}
		}
		s.applyUpsert(l.key.ns, l.key.part, l.vec, l.r)
	}
	s.loading = false
	var later []*group
	pending := 0
	for _, parts := range s.spaces {
		for _, gr := range parts {
			if gr.g == nil && gr.live > s.opts.ExactThreshold {
				later = append(later, gr)
				pending += gr.live
			}
		}
	}
	rebuilt, fromSnap := 0, 0 // records the snapshot should have covered
	for _, l := range order {
		switch {
		case l.placed:
			fromSnap++
		case s.byID[l.id].gr.g != nil:
			rebuilt++
		}
	}

	if len(expired) > 0 {
		err := s.db.Update(func(tx *bbolt.Tx) error {
			b := tx.Bucket(bucketRecords)
			for _, k := range expired {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("memory: open: purging expired: %w", err)
		}
	}
	// Save the work of rebuilding so that the next start is fast even if
	// this process is killed.
	if rebuilt >= 1024 {
		if err := s.saveSnapshot(); err != nil {
			s.log.Warn("memory: writing graph snapshot", "dir", s.opts.Dir, "err", err)
		}
	} else {
		s.dirty = rebuilt
	}
	s.loadInfo = loadStats{
		records: len(order), fromSnapshot: fromSnap, reindexed: rebuilt,
		pending: pending, expired: len(expired), took: time.Since(start),
	}
	s.log.Info("memory: opened", "dir", s.opts.Dir, "records", len(order),
		"from_snapshot", fromSnap, "reindexed", rebuilt, "indexing_in_background", pending,
		"expired", len(expired), "took", s.loadInfo.took)
	s.buildLater(later)
	return nil
}
