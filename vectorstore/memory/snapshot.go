package memory

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"time"
	"unsafe"

	"go.etcd.io/bbolt"

	"github.com/semcache/semcache/vectorstore"
)

// The snapshot saves everything memory holds for a persistent store: per
// group the records' IDs, fields, int8 codes and graph links, so that
// Open restores a million records by reading one file sequentially
// (~0.8 KB per 512-d record, straight into the slabs) instead of reading
// and re-indexing every record in bbolt (4.7 KB each with a cache entry
// payload). bbolt stays the source of truth. The snapshot names the
// database it was taken of (a random ID in bbolt's meta bucket) and the
// sequence number it covers; on Open the change log entries after that
// number are replayed from bbolt, so a snapshot older than the last
// writes (a crash) costs replaying the difference, never a wrong answer.
// A snapshot that is unreadable, of another database, or older than the
// log reaches back is ignored: Open then reads every record and builds
// graphs in the background. The file is written to a temporary name,
// synced and renamed, and ends in a CRC-32C of everything before it.
//
// Layout (little endian; raw arrays are in the host's layout, which must
// be little endian):
//
//	"SCSNAP02" | u32 dim | u32 M | 16 bytes database ID | u64 seq | u32 groups
//	per group:
//	  str ns | str part | u32 slots | u8 hasGraph [u32 entry | u32 maxLevel]
//	  slots × u32 ID length | the IDs' bytes ("" for a free slot)
//	  slots × slotInfo (24 bytes: seq, expires, scale, err)
//	  u32 n | n × (u32 slot | u32 pairs | pairs × (str key | str value))
//	  slots × codeDims(dim) bytes of codes
//	  [graph: slots × u8 level | slots × (2M+1) × u32 layer-0 lists |
//	   u32 words | words × u32 upper lists, in slot order]
//	u32 crc32c of all the above
//
// str is u32 length + bytes.

const (
	snapFile  = "graph.snap"
	snapMagic = "SCSNAP02"
	// snapDirtyMax (or a quarter of the records, if more) is the number
	// of changes after which the janitor writes a snapshot without
	// waiting for SnapshotInterval, which bounds what Open replays after
	// a crash (a replayed upsert into an indexed group costs a graph
	// insert) while keeping the snapshots' cost per change bounded.
	snapDirtyMax = 16 << 10
	// logPruneBatch is how many log entries one transaction prunes.
	logPruneBatch = 16 << 10
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

var errSnapCorrupt = errors.New("corrupt snapshot")

// littleEndian: raw arrays are only portable between little-endian hosts;
// elsewhere the snapshot is neither written nor read.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// asBytes views a slice of fixed-size, pointer-free values as bytes.
func asBytes[T any](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	var z T
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(z)))
}

// snapWriter streams the snapshot, checksumming what it writes.
type snapWriter struct {
	w   *bufio.Writer
	crc uint32
	err error
	tmp [8]byte
}

func (w *snapWriter) raw(b []byte) {
	if w.err != nil {
		return
	}
	w.crc = crc32.Update(w.crc, crcTable, b)
	_, w.err = w.w.Write(b)
}

func (w *snapWriter) u8(v uint8) { w.raw([]byte{v}) }
func (w *snapWriter) u32(v uint32) {
	binary.LittleEndian.PutUint32(w.tmp[:4], v)
	w.raw(w.tmp[:4])
}
func (w *snapWriter) u64(v uint64) {
	binary.LittleEndian.PutUint64(w.tmp[:8], v)
	w.raw(w.tmp[:8])
}
func (w *snapWriter) str(s string) { w.u32(uint32(len(s))); w.raw([]byte(s)) }

// writeSnapshot streams the snapshot to w. The caller holds writeMu, so
// nothing changes meanwhile.
func (s *Store) writeSnapshot(out io.Writer) error {
	w := &snapWriter{w: bufio.NewWriterSize(out, 1<<20)}
	w.raw([]byte(snapMagic))
	w.u32(uint32(s.opts.Dimension))
	w.u32(uint32(s.opts.M))
	w.raw(s.dbID)
	w.u64(s.seq)
	var gs []*group
	for _, parts := range s.spaces {
		for _, gr := range parts {
			gs = append(gs, gr)
		}
	}
	w.u32(uint32(len(gs)))
	for _, gr := range gs {
		g := gr.g
		n := gr.slots()
		w.str(gr.ns)
		w.str(gr.part)
		w.u32(uint32(n))
		if g != nil && g.maxLevel >= 0 {
			w.u8(1)
			w.u32(g.entry)
			w.u32(uint32(g.maxLevel))
		} else {
			g = nil
			w.u8(0)
		}
		lens := make([]uint32, n)
		for i, id := range gr.ids {
			lens[i] = uint32(len(id))
		}
		w.raw(asBytes(lens))
		for _, id := range gr.ids {
			w.raw([]byte(id))
		}
		w.raw(asBytes(gr.info))
		nm := 0
		for _, m := range gr.metas {
			if len(m) > 0 {
				nm++
			}
		}
		w.u32(uint32(nm))
		for slot, m := range gr.metas {
			if len(m) == 0 {
				continue
			}
			w.u32(uint32(slot))
			w.u32(uint32(len(m)))
			for k, v := range m {
				w.str(k)
				w.str(v)
			}
		}
		for i := 0; i < n; {
			rows, m := gr.codes.span(i, n-i)
			w.raw(asBytes(rows))
			i += m
		}
		if g == nil {
			continue
		}
		g.grow(n)
		w.raw(g.levels[:n])
		for i := 0; i < n; {
			rows, m := g.links0.span(i, n-i)
			w.raw(asBytes(rows))
			i += m
		}
		words := 0
		for _, l := range g.levels[:n] {
			words += int(l) * (g.m + 1)
		}
		w.u32(uint32(words))
		for slot, l := range g.levels[:n] {
			if l > 0 {
				w.raw(asBytes(g.upper[g.upperAt[slot]-1 : int(g.upperAt[slot]-1)+int(l)*(g.m+1)]))
			}
		}
	}
	if w.err != nil {
		return w.err
	}
	binary.LittleEndian.PutUint32(w.tmp[:4], w.crc)
	if _, err := w.w.Write(w.tmp[:4]); err != nil {
		return err
	}
	return w.w.Flush()
}

// snapshotting is a snapshot in the making: written, not yet committed.
type snapshotting struct {
	tmp   string
	seq   uint64
	dirty int
}

// beginSnapshot writes the snapshot to a temporary file. The caller holds
// writeMu; it must call commitSnapshot (with or without writeMu) unless
// this fails.
func (s *Store) beginSnapshot() (*snapshotting, error) {
	if !littleEndian {
		return nil, errors.New("memory: snapshot: big-endian host")
	}
	f, err := os.CreateTemp(s.opts.Dir, snapFile+".tmp*")
	if err != nil {
		return nil, fmt.Errorf("memory: snapshot: %w", err)
	}
	err = s.writeSnapshot(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return nil, fmt.Errorf("memory: snapshot: %w", err)
	}
	sn := &snapshotting{tmp: f.Name(), seq: s.seq, dirty: s.dirty}
	s.dirty = 0
	s.lastSnap = time.Now()
	s.snapping = true
	return sn, nil
}

// commitSnapshot syncs and renames the snapshot into place, then prunes
// the change log entries it covers. It needs no lock but must not run
// concurrently with another snapshot (snapping guards that).
func (s *Store) commitSnapshot(sn *snapshotting) error {
	defer func() {
		s.writeMu.Lock()
		s.snapping = false
		s.writeMu.Unlock()
	}()
	if err := syncRename(sn.tmp, filepath.Join(s.opts.Dir, snapFile)); err != nil {
		_ = os.Remove(sn.tmp)
		s.writeMu.Lock()
		s.dirty += sn.dirty
		s.writeMu.Unlock()
		return fmt.Errorf("memory: snapshot: %w", err)
	}
	if err := s.pruneLog(sn.seq); err != nil {
		return fmt.Errorf("memory: snapshot: pruning the change log: %w", err)
	}
	return nil
}

// saveSnapshot writes and commits a snapshot. The caller holds writeMu
// (so writers wait for the whole of it; the janitor instead releases
// writeMu before the sync, see maybeSnapshot).
func (s *Store) saveSnapshot() error {
	if s.snapping {
		return nil // the one in flight covers most; dirty stays set
	}
	sn, err := s.beginSnapshot()
	if err != nil {
		return err
	}
	s.writeMu.Unlock()
	err = s.commitSnapshot(sn)
	s.writeMu.Lock()
	return err
}

func syncRename(tmp, path string) error {
	f, err := os.OpenFile(tmp, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// pruneLog deletes the change log entries up to seq (a committed snapshot
// covers them), in batches so that writers are not held up long.
func (s *Store) pruneLog(seq uint64) error {
	for more := true; more; {
		err := s.db.Update(func(tx *bbolt.Tx) error {
			more = false
			c := tx.Bucket(bucketLog).Cursor()
			n := 0
			for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= seq; k, _ = c.First() {
				if n == logPruneBatch {
					more = true
					break
				}
				if err := c.Delete(); err != nil {
					return err
				}
				n++
			}
			mb := tx.Bucket(bucketMeta)
			if getSeq(mb.Get(keyLogFrom)) < seq+1 {
				return mb.Put(keyLogFrom, binary.LittleEndian.AppendUint64(nil, seq+1))
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// snapReader reads the snapshot, checksumming what it consumes. left is
// what remains of the file: a length read from it is checked against left
// before anything is allocated for it, so a corrupt length fails instead
// of allocating gigabytes.
type snapReader struct {
	r    *bufio.Reader
	crc  uint32
	err  error
	left int64
	tmp  [8]byte
}

func (r *snapReader) fill(b []byte) {
	if r.err != nil {
		return
	}
	if _, err := io.ReadFull(r.r, b); err != nil {
		r.err = errSnapCorrupt
		return
	}
	r.left -= int64(len(b))
	r.crc = crc32.Update(r.crc, crcTable, b)
}

// room reports whether n more bytes can still be in the file (and marks
// the snapshot corrupt when not).
func (r *snapReader) room(n int64) bool {
	if r.err == nil && (n < 0 || n > r.left) {
		r.err = errSnapCorrupt
	}
	return r.err == nil
}

func (r *snapReader) u8() uint8 {
	r.fill(r.tmp[:1])
	return r.tmp[0]
}

func (r *snapReader) u32() uint32 {
	r.fill(r.tmp[:4])
	return binary.LittleEndian.Uint32(r.tmp[:4])
}

func (r *snapReader) u64() uint64 {
	r.fill(r.tmp[:8])
	return binary.LittleEndian.Uint64(r.tmp[:8])
}

// maxSnapString bounds one string (an ID, a namespace, a meta key or
// value) so that a corrupt length cannot allocate gigabytes.
const maxSnapString = 1 << 24

func (r *snapReader) str() string {
	n := r.u32()
	if !r.room(int64(n)) || n > maxSnapString {
		r.err = errSnapCorrupt
		return ""
	}
	b := make([]byte, n)
	r.fill(b)
	return string(b)
}

// loadStats describes what Open did.
type loadStats struct {
	records      int  // live records loaded
	fromSnapshot int  // restored from the snapshot
	replayed     int  // change log entries applied after it
	fullScan     bool // the snapshot was unusable: every record was read
	pending      int  // in groups whose graph is built in the background
	expired      int  // purged at load
	took         time.Duration
}

// readSnapshot restores the groups from the snapshot at path into s
// (spaces and byID), returning the sequence number it covers. On any
// error s is left empty.
func (s *Store) readSnapshot(ctx context.Context, path string) (seq uint64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	defer func() {
		if err != nil {
			s.spaces = map[string]map[string]*group{}
			s.byID = map[string]loc{}
		}
	}()
	if !littleEndian {
		return 0, errors.New("big-endian host")
	}
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	r := &snapReader{r: bufio.NewReaderSize(f, 1<<20), left: fi.Size()}
	magic := make([]byte, len(snapMagic))
	r.fill(magic)
	if r.err != nil || string(magic) != snapMagic {
		return 0, errors.New("not a snapshot of this version")
	}
	dim, m := int(r.u32()), int(r.u32())
	if dim != s.opts.Dimension || m != s.opts.M {
		return 0, fmt.Errorf("snapshot has dim %d, M %d; want %d, %d", dim, m, s.opts.Dimension, s.opts.M)
	}
	id := make([]byte, len(s.dbID))
	r.fill(id)
	if string(id) != string(s.dbID) {
		return 0, errors.New("snapshot of another database")
	}
	seq = r.u64()
	ngroups := r.u32()
	if r.err != nil {
		return 0, r.err
	}
	for range ngroups {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		gr, err := s.readGroup(r)
		if err != nil {
			return 0, err
		}
		parts := s.spaces[gr.ns]
		if parts == nil {
			parts = map[string]*group{}
			s.spaces[gr.ns] = parts
		}
		if parts[gr.part] != nil {
			return 0, errSnapCorrupt
		}
		parts[gr.part] = gr
		if len(s.byID) == 0 {
			// Sized once: a map grown to a million IDs rehashes
			// repeatedly.
			s.byID = make(map[string]loc, gr.live)
		}
		for slot, id := range gr.ids {
			if id == "" {
				continue
			}
			if _, dup := s.byID[id]; dup {
				return 0, errSnapCorrupt
			}
			s.byID[id] = loc{gr, uint32(slot)}
		}
	}
	want := r.crc
	var sum [4]byte
	if _, err := io.ReadFull(r.r, sum[:]); err != nil || r.err != nil {
		return 0, errSnapCorrupt
	}
	if binary.LittleEndian.Uint32(sum[:]) != want {
		return 0, errors.New("snapshot checksum mismatch")
	}
	if _, err := r.r.ReadByte(); err != io.EOF {
		return 0, errors.New("trailing bytes after the snapshot")
	}
	return seq, nil
}

func (s *Store) readGroup(r *snapReader) (*group, error) {
	ns, part := r.str(), r.str()
	n := int(r.u32())
	hasGraph := r.u8()
	var entry uint32
	maxLevel := -1
	if hasGraph == 1 {
		entry, maxLevel = r.u32(), int(r.u32())
	}
	if r.err != nil || n <= 0 || n > math.MaxInt32 || hasGraph > 1 || (hasGraph == 1 && (int(entry) >= n || maxLevel >= maxLevels)) {
		return nil, errSnapCorrupt
	}
	// Each slot takes at least its ID length, its slotInfo and its code.
	if !r.room(int64(n) * int64(4+int(unsafe.Sizeof(slotInfo{}))+codeDims(s.opts.Dimension))) {
		return nil, errSnapCorrupt
	}
	gr := newGroup(ns, part, s.opts.Dimension, false)
	lens := make([]uint32, n)
	r.fill(asBytes(lens))
	total := 0
	for _, l := range lens {
		if l > maxSnapString {
			return nil, errSnapCorrupt
		}
		total += int(l)
	}
	if !r.room(int64(total)) {
		return nil, r.err
	}
	// One allocation holds every ID; the strings alias it (it is never
	// written again).
	idBytes := make([]byte, total)
	r.fill(idBytes)
	gr.ids = make([]string, n)
	off := 0
	for i, l := range lens {
		if l > 0 {
			gr.ids[i] = unsafe.String(&idBytes[off], int(l))
		}
		off += int(l)
	}
	gr.info = make([]slotInfo, n)
	r.fill(asBytes(gr.info))
	gr.metas = make([]map[string]string, n)
	nm := int(r.u32())
	if r.err != nil || nm > n {
		return nil, errSnapCorrupt
	}
	for range nm {
		slot, pairs := r.u32(), r.u32()
		if r.err != nil || int(slot) >= n || pairs == 0 || !r.room(8*int64(pairs)) || gr.metas[slot] != nil {
			return nil, errSnapCorrupt
		}
		m := make(map[string]string, min(pairs, 64))
		for range pairs {
			k := r.str()
			m[k] = r.str()
		}
		gr.metas[slot] = m
	}
	gr.codes.grow(n)
	for i := 0; i < n; {
		rows, k := gr.codes.span(i, n-i)
		r.fill(asBytes(rows))
		i += k
	}
	if r.err != nil {
		return nil, r.err
	}
	if hasGraph == 1 {
		g, err := s.readGraph(r, n, entry, maxLevel)
		if err != nil {
			return nil, err
		}
		// Snapshots written before orphans were adopted at build.
		if k := g.adoptOrphans(gr.view(), new(scratch), gr.isLive); k > 0 {
			s.log.Info("memory: linked unreachable graph nodes", "namespace", ns, "partition", part, "nodes", k)
		}
		gr.g = g
	}
	for slot := n - 1; slot >= 0; slot-- {
		switch {
		case gr.ids[slot] != "":
			if gr.info[slot].seq == 0 {
				return nil, errSnapCorrupt
			}
			gr.index(uint32(slot))
		default:
			if gr.metas[slot] != nil {
				return nil, errSnapCorrupt
			}
			gr.free = append(gr.free, uint32(slot))
		}
	}
	if gr.live == 0 {
		return nil, errSnapCorrupt
	}
	return gr, nil
}

func (s *Store) readGraph(r *snapReader, n int, entry uint32, maxLevel int) (*graph, error) {
	g := newGraph(s.opts.M, s.opts.EfConstruction, s.opts.Seed)
	if !r.room(int64(n) * int64(1+4*(2*s.opts.M+1))) {
		return nil, errSnapCorrupt
	}
	g.levels = make([]uint8, n)
	r.fill(g.levels)
	g.upperAt = make([]uint32, n)
	g.links0.grow(n)
	for i := 0; i < n; {
		rows, k := g.links0.span(i, n-i)
		r.fill(asBytes(rows))
		i += k
	}
	words := int(r.u32())
	need := 0
	for _, l := range g.levels {
		if int(l) >= maxLevels {
			return nil, errSnapCorrupt
		}
		need += int(l) * (g.m + 1)
	}
	if r.err != nil || words != need || !r.room(4*int64(words)) {
		return nil, errSnapCorrupt
	}
	g.upper = make([]uint32, words)
	r.fill(asBytes(g.upper))
	if r.err != nil {
		return nil, r.err
	}
	at := 0
	for slot, l := range g.levels {
		if l > 0 {
			g.upperAt[slot] = uint32(at) + 1
			at += int(l) * (g.m + 1)
		}
	}
	if int(g.levels[entry]) != maxLevel {
		return nil, errSnapCorrupt
	}
	// Every link must be in range and point at a node present on that
	// layer; counts within the degree.
	for slot := range n {
		for l := 0; l <= int(g.levels[slot]); l++ {
			var list []uint32
			if l == 0 {
				list = g.links0.row(uint32(slot))
			} else {
				list = g.upperList(uint32(slot), l)
			}
			if int(list[0]) > g.maxConn(l) {
				return nil, errSnapCorrupt
			}
			for _, nb := range list[1 : 1+list[0]] {
				if int(nb) >= n || int(g.levels[nb]) < l {
					return nil, errSnapCorrupt
				}
			}
		}
	}
	g.entry, g.maxLevel = entry, maxLevel
	return g, nil
}

// load brings memory up to date with bbolt at Open: from the snapshot
// plus the change log when they can be used, else by reading every
// record.
func (s *Store) load(ctx context.Context) error {
	if s.opts.beforeLoad != nil {
		s.opts.beforeLoad(ctx)
	}
	start := time.Now()
	dim := s.opts.Dimension
	var logFrom uint64
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
		if id := mb.Get(keyDBID); len(id) == 16 {
			s.dbID = append([]byte(nil), id...)
		} else {
			s.dbID = make([]byte, 16)
			_, _ = rand.Read(s.dbID)
			if err := mb.Put(keyDBID, s.dbID); err != nil {
				return err
			}
		}
		if tx.Bucket(bucketLog) == nil {
			// A database from before the log: it is complete from now on.
			if _, err := tx.CreateBucket(bucketLog); err != nil {
				return err
			}
			if err := mb.Put(keyLogFrom, binary.LittleEndian.AppendUint64(nil, s.seq+1)); err != nil {
				return err
			}
		}
		logFrom = getSeq(mb.Get(keyLogFrom))
		return nil
	})
	if err != nil {
		return fmt.Errorf("memory: open: %w", err)
	}

	// Writers wait for the load, but background builds started meanwhile
	// (rebuilds after replayed deletes) take writeMu to publish: hold it.
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.loading = true
	defer func() { s.loading = false }()
	info := loadStats{}
	snapSeq, err := s.readSnapshot(ctx, filepath.Join(s.opts.Dir, snapFile))
	switch {
	case err == nil && (snapSeq > s.seq || snapSeq+1 < logFrom):
		err = fmt.Errorf("snapshot at %d does not fit the database (seq %d, log from %d)", snapSeq, s.seq, logFrom)
		s.spaces, s.byID = map[string]map[string]*group{}, map[string]loc{}
	case err == nil:
		info.fromSnapshot = len(s.byID)
		info.replayed, err = s.replay(ctx, snapSeq)
		if err != nil {
			return fmt.Errorf("memory: open: replaying the change log: %w", err)
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("memory: open: %w", ctx.Err())
		}
		if !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("memory: ignoring snapshot", "dir", s.opts.Dir, "err", err)
		}
		info.fullScan = true
		if err := s.scanAll(ctx); err != nil {
			return fmt.Errorf("memory: open: %w", err)
		}
	}
	// Expired records are purged now (a snapshot may hold some).
	now := time.Now().UnixNano()
	var expired []string
	for id, l := range s.byID {
		if l.gr.expired(l.slot, now) {
			expired = append(expired, id)
		}
	}
	if err := s.deleteIDs(expired); err != nil {
		return fmt.Errorf("memory: open: purging expired: %w", err)
	}
	info.expired = len(expired)
	var later []*group
	for _, parts := range s.spaces {
		for _, gr := range parts {
			switch {
			case gr.g != nil && gr.live <= s.opts.ExactThreshold/2:
				gr.g = nil
			case gr.g == nil && gr.live > s.opts.ExactThreshold:
				later = append(later, gr)
				info.pending += gr.live
			}
		}
	}
	info.records = len(s.byID)
	info.took = time.Since(start)
	s.loadInfo = info
	s.log.Info("memory: opened", "dir", s.opts.Dir, "records", info.records,
		"from_snapshot", info.fromSnapshot, "replayed", info.replayed, "full_scan", info.fullScan,
		"indexing_in_background", info.pending, "expired", info.expired, "took", info.took)
	s.buildLater(later)
	s.startRebuilds()
	s.dirty = info.replayed + info.expired
	if info.fullScan && len(later) == 0 && info.records > 0 || info.replayed >= 1024 && len(later) == 0 {
		// Save the load's work so that the next start is fast even if
		// this process is killed (a background build saves its own).
		if err := s.saveSnapshot(); err != nil {
			s.log.Warn("memory: writing snapshot", "dir", s.opts.Dir, "err", err)
		}
	}
	return nil
}

// replay applies the change log entries after seq.
func (s *Store) replay(ctx context.Context, seq uint64) (int, error) {
	n := 0
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketRecords)
		c := tx.Bucket(bucketLog).Cursor()
		for k, v := c.Seek(logKey(seq + 1)); k != nil; k, v = c.Next() {
			if len(k) != 8 || len(v) < 2 {
				return errCorrupt
			}
			if n%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			n++
			at, id := binary.BigEndian.Uint64(k), string(v[1:])
			switch v[0] {
			case logDelete:
				if l, ok := s.byID[id]; ok {
					s.mu.Lock()
					s.removeLocked(l)
					s.mu.Unlock()
					delete(s.byID, id)
				}
			case logUpsert:
				val := b.Get(v[1:])
				if val == nil {
					continue // deleted later in the log
				}
				st, err := decodeRecord(val, s.opts.Dimension, true, false)
				if err != nil {
					return fmt.Errorf("record %q: %w", id, err)
				}
				if st.seq != at {
					continue // replaced later in the log
				}
				s.applyUpsert(st.ns, st.part, newCoded(st.vec, s.opts.Dimension),
					&recInfo{id: id, seq: st.seq, expires: st.expires, meta: st.meta})
			default:
				return errCorrupt
			}
		}
		return nil
	})
	return n, err
}

// scanAll reads every record from bbolt (no usable snapshot). Groups
// above the exact threshold get their graphs in the background.
func (s *Store) scanAll(ctx context.Context) error {
	dim := s.opts.Dimension
	i := 0
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketRecords).ForEach(func(k, v []byte) error {
			if i%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			i++
			st, err := decodeRecord(v, dim, true, false)
			if err != nil {
				return fmt.Errorf("record %q: %w", k, err)
			}
			s.seq = max(s.seq, st.seq)
			s.applyUpsert(st.ns, st.part, newCoded(st.vec, dim),
				&recInfo{id: string(k), seq: st.seq, expires: st.expires, meta: st.meta})
			return nil
		})
	})
	if err != nil {
		return err
	}
	// The scan touched every page of the database through bbolt's memory
	// map, which the process's resident size counts (clean file pages, but
	// gigabytes at a million records): reopening drops the mapping.
	return s.reopenDB()
}

func (s *Store) reopenDB() error {
	if err := s.db.Close(); err != nil {
		return err
	}
	db, err := bbolt.Open(filepath.Join(s.opts.Dir, dbFile), 0o600, &bbolt.Options{
		Timeout:      5 * time.Second,
		FreelistType: bbolt.FreelistMapType,
	})
	if err != nil {
		return err
	}
	s.db = db
	return nil
}
