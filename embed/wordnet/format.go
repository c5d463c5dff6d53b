package wordnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// The converted file (FileName in a model directory), little-endian:
//
//	header    64 bytes: magic "SCWORDNT", then uint32 version, strings,
//	          blobLen, slots, entries, the five synset class counts
//	          (noun, verb, adjective head, adjective satellite, adverb),
//	          pointers, licenceLen; zero padding; uint32 checksum at 60
//	strOffs   (strings+1) × uint32: string i is blob[strOffs[i]:strOffs[i+1]]
//	entryOffs (strings+1) × uint32: string i's entries are
//	          entries[entryOffs[i]:entryOffs[i+1]]
//	entries   entries × uint32, per string its senses, then its exceptions:
//	          a sense is the synset id (bits 0–23) with bit 30 set when the
//	          sense is rare; an exception (bit 31 set) names a base form:
//	          its string id (bits 0–23) and part of speech (bits 24–25)
//	table     slots × uint32, an open-addressed hash table of the strings
//	          (FNV-1a 32 of the lowercase string, linear probing): 0 is
//	          empty, else string id+1
//	ptrOffs   (synsets+1) × uint32: synset s's pointers are
//	          pointers[ptrOffs[s]:ptrOffs[s+1]]
//	pointers  pointers × uint32: target synset id (bits 0–23) and kind
//	          (bits 24–27), sorted by kind then target
//	blob      the strings, lowercase, collocations with single spaces
//	licence   the WordNet licence text, as the source states it
//
// Synset ids run over the classes in the header's order, so a synset's
// part of speech (and whether an adjective is a satellite) is its id
// range. A string's senses are grouped by part of speech (noun, verb,
// adjective, adverb) and, within one, in WordNet's sense order (most
// frequent first); so a sense's rank is its place in its group.
//
// The checksum is CRC-32C over everything after the header, then over the
// header's first 60 bytes (the converter writes the body first).
// Everything a query needs is in the file: Load reads it, checks it and
// builds nothing.
const (
	magic         = "SCWORDNT"
	formatVersion = 1
	headerSize    = 64
	checksumAt    = 60

	maxStrings   = 1 << 22
	maxSynsets   = 1 << 22
	maxEntries   = 1 << 23
	maxPointers  = 1 << 23
	maxSlots     = 1 << 24
	maxBlob      = 1 << 26
	maxLicence   = 1 << 16
	maxStringLen = 255

	idMask      = 1<<24 - 1
	excBit      = 1 << 31
	rareBit     = 1 << 30
	excPOSShift = 24
	kindShift   = 24
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrFormat is wrapped by every error about a malformed WordNet file.
var ErrFormat = errors.New("wordnet: malformed file")

func formatErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrFormat}, args...)...)
}

// Synset classes, in id order.
const (
	classNoun = iota
	classVerb
	classAdj
	classSat
	classAdv
	numClasses
)

// header is the fixed part at the start of the file.
type header struct {
	strings, blobLen, slots, entries uint32
	classes                          [numClasses]uint32
	pointers, licenceLen             uint32
}

func (h header) synsets() uint64 {
	var n uint64
	for _, c := range h.classes {
		n += uint64(c)
	}
	return n
}

func (h header) encode(checksum uint32) []byte {
	b := make([]byte, headerSize)
	copy(b, magic)
	le := binary.LittleEndian
	le.PutUint32(b[8:], formatVersion)
	le.PutUint32(b[12:], h.strings)
	le.PutUint32(b[16:], h.blobLen)
	le.PutUint32(b[20:], h.slots)
	le.PutUint32(b[24:], h.entries)
	for i, c := range h.classes {
		le.PutUint32(b[28+4*i:], c)
	}
	le.PutUint32(b[48:], h.pointers)
	le.PutUint32(b[52:], h.licenceLen)
	le.PutUint32(b[checksumAt:], checksum)
	return b
}

func decodeHeader(b []byte) header {
	le := binary.LittleEndian
	h := header{
		strings:    le.Uint32(b[12:]),
		blobLen:    le.Uint32(b[16:]),
		slots:      le.Uint32(b[20:]),
		entries:    le.Uint32(b[24:]),
		pointers:   le.Uint32(b[48:]),
		licenceLen: le.Uint32(b[52:]),
	}
	for i := range h.classes {
		h.classes[i] = le.Uint32(b[28+4*i:])
	}
	return h
}

// layout gives the byte offset of each section and the total file size.
type layout struct {
	strOffs, entryOffs, entries, table, ptrOffs, pointers, blob, licence, size uint64
}

func (h header) layout() layout {
	var l layout
	l.strOffs = headerSize
	l.entryOffs = l.strOffs + 4*(uint64(h.strings)+1)
	l.entries = l.entryOffs + 4*(uint64(h.strings)+1)
	l.table = l.entries + 4*uint64(h.entries)
	l.ptrOffs = l.table + 4*uint64(h.slots)
	l.pointers = l.ptrOffs + 4*(h.synsets()+1)
	l.blob = l.pointers + 4*uint64(h.pointers)
	l.licence = l.blob + uint64(h.blobLen)
	l.size = l.licence + uint64(h.licenceLen)
	return l
}

// check validates the header fields on their own.
func (h header) check() error {
	var errs []error
	if h.strings == 0 || h.strings > maxStrings {
		errs = append(errs, formatErr("%d strings, want 1..%d", h.strings, maxStrings))
	}
	if h.slots <= h.strings || h.slots > maxSlots || h.slots&(h.slots-1) != 0 {
		errs = append(errs, formatErr("%d hash slots for %d strings, want a power of two above the count, at most %d", h.slots, h.strings, maxSlots))
	}
	if h.blobLen < h.strings || h.blobLen > maxBlob {
		errs = append(errs, formatErr("%d bytes of strings for %d strings", h.blobLen, h.strings))
	}
	if h.entries > maxEntries {
		errs = append(errs, formatErr("%d entries, at most %d", h.entries, maxEntries))
	}
	if n := h.synsets(); n == 0 || n > maxSynsets {
		errs = append(errs, formatErr("%d synsets, want 1..%d", n, maxSynsets))
	}
	if h.pointers > maxPointers {
		errs = append(errs, formatErr("%d pointers, at most %d", h.pointers, maxPointers))
	}
	if h.licenceLen > maxLicence {
		errs = append(errs, formatErr("licence of %d bytes, at most %d", h.licenceLen, maxLicence))
	}
	return errors.Join(errs...)
}

// checksum computes the file's checksum from its body and header.
func checksum(data []byte) uint32 {
	c := crc32.Update(0, castagnoli, data[headerSize:])
	return crc32.Update(c, castagnoli, data[:checksumAt])
}

// parse checks data as a whole WordNet file and returns the WordNet over
// it (aliasing data). Every index a query can reach is validated here, so
// no input makes a query panic or loop.
func parse(data []byte) (*WordNet, error) {
	if len(data) < headerSize {
		return nil, formatErr("%d bytes, shorter than the %d-byte header (truncated?)", len(data), headerSize)
	}
	if string(data[:len(magic)]) != magic {
		return nil, formatErr("bad magic %q, want %q (not a semcache WordNet file)", data[:len(magic)], magic)
	}
	if v := binary.LittleEndian.Uint32(data[8:]); v != formatVersion {
		return nil, formatErr("format version %d, this build reads version %d (run 'semcache model pull' again)", v, formatVersion)
	}
	h := decodeHeader(data)
	if err := h.check(); err != nil {
		return nil, err
	}
	l := h.layout()
	if uint64(len(data)) != l.size {
		return nil, formatErr("%d bytes, the header describes %d (truncated or padded)", len(data), l.size)
	}
	if got, want := checksum(data), binary.LittleEndian.Uint32(data[checksumAt:]); got != want {
		return nil, formatErr("checksum %08x, header says %08x (corrupt)", got, want)
	}
	w := &WordNet{
		strings:   int(h.strings),
		synsets:   int(h.synsets()),
		mask:      h.slots - 1,
		strOffs:   data[l.strOffs:l.entryOffs],
		entryOffs: data[l.entryOffs:l.entries],
		entries:   data[l.entries:l.table],
		table:     data[l.table:l.ptrOffs],
		ptrOffs:   data[l.ptrOffs:l.pointers],
		pointers:  data[l.pointers:l.blob],
		blob:      data[l.blob:l.licence],
		licence:   string(data[l.licence:l.size]),
	}
	end := uint32(0)
	for c, n := range h.classes {
		end += n
		w.classEnd[c] = end
	}
	if err := w.checkSections(); err != nil {
		return nil, err
	}
	return w, nil
}

// checkOffsets validates an offsets section: it starts at 0, never
// decreases (or, with strict, always increases by at most maxStep) and
// ends at total.
func checkOffsets(offs []byte, n int, total uint32, strict bool, maxStep uint32, what string) error {
	le := binary.LittleEndian
	if o := le.Uint32(offs); o != 0 {
		return formatErr("first %s offset %d, want 0", what, o)
	}
	prev := uint32(0)
	for i := 1; i <= n; i++ {
		o := le.Uint32(offs[4*i:])
		if o < prev || strict && (o == prev || o-prev > maxStep) || o > total {
			return formatErr("%s %d spans %d..%d of %d", what, i-1, prev, o, total)
		}
		prev = o
	}
	if prev != total {
		return formatErr("%ss end at %d of %d", what, prev, total)
	}
	return nil
}

// checkSections validates what the checksum cannot: that every offset,
// id and kind is in range and the hash table finds every string.
func (w *WordNet) checkSections() error {
	le := binary.LittleEndian
	if err := checkOffsets(w.strOffs, w.strings, uint32(len(w.blob)), true, maxStringLen, "string"); err != nil {
		return err
	}
	for i := range w.strings {
		s := w.str(i)
		for j, c := range s {
			if c >= 'A' && c <= 'Z' || c == ' ' && (j == 0 || j == len(s)-1 || s[j-1] == ' ') {
				return formatErr("string %d (%q) is not lowercase with single inner spaces", i, s)
			}
		}
	}
	if err := checkOffsets(w.entryOffs, w.strings, uint32(len(w.entries)/4), false, 0, "entry"); err != nil {
		return err
	}
	for i := range w.strings {
		lo, hi := w.entryRange(i)
		lastPOS, inExc := -1, false
		for k := lo; k < hi; k++ {
			e := le.Uint32(w.entries[4*k:])
			if e&excBit == 0 {
				if inExc {
					return formatErr("string %d has a sense after its exceptions", i)
				}
				if e&^(rareBit|idMask) != 0 || int(e&idMask) >= w.synsets {
					return formatErr("string %d has a sense entry %08x beyond %d synsets", i, e, w.synsets)
				}
				p := w.synsetPOS(e & idMask)
				if p < lastPOS {
					return formatErr("string %d has its senses out of part-of-speech order", i)
				}
				lastPOS = p
				continue
			}
			inExc = true
			base := int(e & idMask)
			if e&^(excBit|3<<excPOSShift|idMask) != 0 || base >= w.strings {
				return formatErr("string %d has an exception entry %08x beyond %d strings", i, e, w.strings)
			}
			if b, _ := w.senses(uint32(base), POS(e>>excPOSShift&3)); b == 0 {
				return formatErr("string %d has an exception to %q, which has no %s sense", i, w.str(base), POS(e>>excPOSShift&3))
			}
		}
	}
	used := 0
	for i := 0; i < len(w.table); i += 4 {
		e := le.Uint32(w.table[i:])
		if e > uint32(w.strings) {
			return formatErr("hash slot %d holds %d, beyond %d strings", i/4, e, w.strings)
		}
		if e != 0 {
			used++
		}
	}
	if used != w.strings {
		return formatErr("hash table holds %d entries for %d strings", used, w.strings)
	}
	// Each string must be found at its own id: this proves the table has
	// no duplicates or unreachable entries and (with the count check
	// above) that an empty slot ends every probe sequence.
	for i := range w.strings {
		if id, ok := lookup(w, w.str(i)); !ok || id != uint32(i) {
			return formatErr("string %d (%q) is not where the hash table says", i, w.str(i))
		}
	}
	if err := checkOffsets(w.ptrOffs, w.synsets, uint32(len(w.pointers)/4), false, 0, "pointer"); err != nil {
		return err
	}
	for s := range w.synsets {
		lo, hi := w.pointerRange(uint32(s))
		prev := uint32(0)
		for k := lo; k < hi; k++ {
			p := le.Uint32(w.pointers[4*k:])
			kind := pointer(p >> kindShift)
			if kind == 0 || kind >= numPointers || int(p&idMask) >= w.synsets {
				return formatErr("synset %d has a pointer %08x of an unknown kind or beyond %d synsets", s, p, w.synsets)
			}
			if k > lo && p <= prev {
				return formatErr("synset %d has its pointers out of order", s)
			}
			prev = p
		}
	}
	return nil
}
