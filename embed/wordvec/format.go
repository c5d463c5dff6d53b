package wordvec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
)

// The converted file (FileName in a model directory), little-endian:
//
//	header   64 bytes: magic "SCWORDVC", then uint32 version, dims, count,
//	         slots, blobLen; zero padding; uint32 checksum at offset 60
//	vectors  count × dims int8, row i is word i's quantised unit vector
//	scales   count × float32, 1/‖row i‖, so scale_a·scale_b·(row_a·row_b)
//	         is the cosine of the two quantised vectors
//	offsets  (count+1) × uint32, word i is blob[offsets[i]:offsets[i+1]]
//	table    slots × uint32, an open-addressed hash table (FNV-1a 32 of the
//	         lowercase word, linear probing): 0 is empty, else index+1
//	blob     the words, lowercase ASCII, most frequent first
//
// The checksum is CRC-32C over everything after the header, then over the
// header's first 60 bytes (so the converter can stream the body first).
// The hash table is part of the file so Load builds nothing: it reads the
// file, checks it, and queries run on the bytes as they are.
const (
	magic         = "SCWORDVC"
	formatVersion = 1
	headerSize    = 64
	checksumAt    = 60

	maxDims    = 1024
	maxCount   = 1 << 24
	maxSlots   = 1 << 26
	maxBlob    = 1 << 28
	maxWordLen = 255
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrFormat is wrapped by every error about a malformed vectors file.
var ErrFormat = errors.New("wordvec: malformed vectors file")

func formatErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrFormat}, args...)...)
}

// header is the fixed part at the start of the file.
type header struct {
	dims, count, slots, blobLen uint32
}

func (h header) encode(checksum uint32) []byte {
	b := make([]byte, headerSize)
	copy(b, magic)
	le := binary.LittleEndian
	le.PutUint32(b[8:], formatVersion)
	le.PutUint32(b[12:], h.dims)
	le.PutUint32(b[16:], h.count)
	le.PutUint32(b[20:], h.slots)
	le.PutUint32(b[24:], h.blobLen)
	le.PutUint32(b[checksumAt:], checksum)
	return b
}

// layout gives the byte offset of each section and the total file size.
type layout struct {
	vectors, scales, offsets, table, blob, size uint64
}

func (h header) layout() layout {
	var l layout
	l.vectors = headerSize
	l.scales = l.vectors + uint64(h.count)*uint64(h.dims)
	l.offsets = l.scales + 4*uint64(h.count)
	l.table = l.offsets + 4*(uint64(h.count)+1)
	l.blob = l.table + 4*uint64(h.slots)
	l.size = l.blob + uint64(h.blobLen)
	return l
}

// check validates the header fields on their own.
func (h header) check() error {
	var errs []error
	if h.dims == 0 || h.dims > maxDims {
		errs = append(errs, formatErr("dims %d, want 1..%d", h.dims, maxDims))
	}
	if h.count == 0 || h.count > maxCount {
		errs = append(errs, formatErr("count %d, want 1..%d", h.count, maxCount))
	}
	if h.slots <= h.count || h.slots > maxSlots || h.slots&(h.slots-1) != 0 {
		errs = append(errs, formatErr("%d hash slots for %d words, want a power of two above the count, at most %d", h.slots, h.count, maxSlots))
	}
	if h.blobLen < h.count || h.blobLen > maxBlob {
		errs = append(errs, formatErr("%d bytes of words for %d words", h.blobLen, h.count))
	}
	return errors.Join(errs...)
}

// checksum computes the file's checksum from its body and header.
func checksum(data []byte) uint32 {
	c := crc32.Update(0, castagnoli, data[headerSize:])
	return crc32.Update(c, castagnoli, data[:checksumAt])
}

// parse checks data as a whole vectors file and returns the Vectors over
// it (aliasing data). Every index a query can reach is validated here, so
// no input makes a query panic.
func parse(data []byte) (*Vectors, error) {
	if len(data) < headerSize {
		return nil, formatErr("%d bytes, shorter than the %d-byte header (truncated?)", len(data), headerSize)
	}
	if string(data[:len(magic)]) != magic {
		return nil, formatErr("bad magic %q, want %q (not a semcache word vectors file)", data[:len(magic)], magic)
	}
	le := binary.LittleEndian
	if v := le.Uint32(data[8:]); v != formatVersion {
		return nil, formatErr("format version %d, this build reads version %d (run 'semcache model pull' again)", v, formatVersion)
	}
	h := header{dims: le.Uint32(data[12:]), count: le.Uint32(data[16:]), slots: le.Uint32(data[20:]), blobLen: le.Uint32(data[24:])}
	if err := h.check(); err != nil {
		return nil, err
	}
	l := h.layout()
	if uint64(len(data)) != l.size {
		return nil, formatErr("%d bytes, the header describes %d (truncated or padded)", len(data), l.size)
	}
	if got, want := checksum(data), le.Uint32(data[checksumAt:]); got != want {
		return nil, formatErr("checksum %08x, header says %08x (corrupt)", got, want)
	}
	v := &Vectors{
		dims:    int(h.dims),
		count:   int(h.count),
		mask:    h.slots - 1,
		vectors: data[l.vectors:l.scales],
		scales:  data[l.scales:l.offsets],
		offsets: data[l.offsets:l.table],
		table:   data[l.table:l.blob],
		blob:    data[l.blob:l.size],
	}
	if err := v.checkSections(); err != nil {
		return nil, err
	}
	return v, nil
}

// checkSections validates what the checksum cannot: that the words,
// scales and hash table are consistent.
func (v *Vectors) checkSections() error {
	le := binary.LittleEndian
	if o := le.Uint32(v.offsets); o != 0 {
		return formatErr("first word offset %d, want 0", o)
	}
	prev := uint32(0)
	for i := 1; i <= v.count; i++ {
		o := le.Uint32(v.offsets[4*i:])
		if o <= prev || o-prev > maxWordLen || o > uint32(len(v.blob)) {
			return formatErr("word %d spans bytes %d..%d of %d", i-1, prev, o, len(v.blob))
		}
		for _, c := range v.blob[prev:o] {
			if c >= 'A' && c <= 'Z' || c >= 0x80 {
				return formatErr("word %d is not lowercase ASCII", i-1)
			}
		}
		prev = o
	}
	if prev != uint32(len(v.blob)) {
		return formatErr("words end at byte %d of %d", prev, len(v.blob))
	}
	for i := range v.count {
		s := math.Float32frombits(le.Uint32(v.scales[4*i:]))
		if !(s > 0) || math.IsInf(float64(s), 0) {
			return formatErr("word %d has scale %v", i, s)
		}
	}
	used := 0
	for i := 0; i < len(v.table); i += 4 {
		e := le.Uint32(v.table[i:])
		if e > uint32(v.count) {
			return formatErr("hash slot %d holds %d, beyond %d words", i/4, e, v.count)
		}
		if e != 0 {
			used++
		}
	}
	if used != v.count {
		return formatErr("hash table holds %d entries for %d words", used, v.count)
	}
	// Each word must be found at its own index: this proves the table
	// has no duplicates or unreachable entries, and (with the count check
	// above) that an empty slot ends every probe sequence.
	for i := range v.count {
		if id, ok := lookup(v, v.word(i)); !ok || id != i {
			return formatErr("word %d (%q) is not where the hash table says", i, v.word(i))
		}
	}
	return nil
}
