package wordnet

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// reseal recomputes the checksum so a test reaches the checks behind it.
func reseal(data []byte) []byte {
	if len(data) >= headerSize {
		binary.LittleEndian.PutUint32(data[checksumAt:], checksum(data))
	}
	return data
}

func TestLoadRejects(t *testing.T) {
	good := syntheticFile(t)
	h := decodeHeader(good)
	l := h.layout()
	if l.size != uint64(len(good)) {
		t.Fatalf("synthetic file is %d bytes, layout says %d", len(good), l.size)
	}
	le := binary.LittleEndian
	edit := func(f func(b []byte) []byte) []byte {
		return f(append([]byte(nil), good...))
	}
	put := func(off uint64, u uint32) func([]byte) []byte {
		return func(b []byte) []byte { le.PutUint32(b[off:], u); return b }
	}
	sealed := func(f func([]byte) []byte) []byte { return edit(func(b []byte) []byte { return reseal(f(b)) }) }
	// Entries of a string with senses, and of one with exceptions.
	w, err := parse(good)
	if err != nil {
		t.Fatal(err)
	}
	dog, _ := lookup(w, "dog")
	mice, _ := lookup(w, "mice")
	dogEntry := l.entries + 4*uint64(le.Uint32(good[l.entryOffs+4*uint64(dog):]))
	miceEntry := l.entries + 4*uint64(le.Uint32(good[l.entryOffs+4*uint64(mice):]))
	firstPtr := func() uint64 { // a synset's first pointer, where it has two or more
		for s := range w.synsets {
			if lo, hi := w.pointerRange(uint32(s)); hi-lo >= 2 {
				return l.pointers + 4*uint64(lo)
			}
		}
		t.Fatal("no synset with two pointers")
		return 0
	}()
	tests := []struct {
		name    string
		data    []byte
		wantErr string
	}{
		{"empty", nil, "shorter than the 64-byte header"},
		{"header only", good[:headerSize], "the header describes"},
		{"truncated by one byte", good[:len(good)-1], "truncated"},
		{"padded", append(append([]byte(nil), good...), 0), "padded"},
		{"bad magic", edit(func(b []byte) []byte { b[0] = 'X'; return b }), "bad magic"},
		{"newer version", edit(put(8, 2)), "format version 2"},
		{"flipped entry byte", edit(func(b []byte) []byte { b[l.entries+1] ^= 1; return b }), "checksum"},
		{"flipped string byte", edit(func(b []byte) []byte { b[l.blob] ^= 1; return b }), "checksum"},
		{"flipped licence byte", edit(func(b []byte) []byte { b[l.licence] ^= 1; return b }), "checksum"},
		{"no strings", sealed(put(12, 0)), "0 strings"},
		{"slots not a power of two", sealed(put(20, h.slots-1)), "hash slots"},
		{"no synsets", sealed(func(b []byte) []byte {
			for i := range numClasses {
				le.PutUint32(b[28+4*i:], 0)
			}
			return b
		}), "0 synsets"},
		{"huge licence", sealed(put(52, 1<<20)), "licence"},
		{"several bad fields", sealed(func(b []byte) []byte { return put(20, 3)(put(12, 0)(b)) }), "hash slots"},
		{"string offsets out of order", sealed(put(l.strOffs+8, 1)), "string 1 spans"},
		{"first string offset not 0", sealed(put(l.strOffs, 1)), "first string offset"},
		{"uppercase string", sealed(func(b []byte) []byte { b[l.blob] = 'A'; return b }), "not lowercase"},
		{"string starting with a space", sealed(func(b []byte) []byte { b[l.blob] = ' '; return b }), "single inner spaces"},
		{"entry offsets past the end", sealed(put(l.entryOffs+4, h.entries+1)), "entry 0 spans"},
		{"sense beyond the synsets", sealed(put(dogEntry, uint32(h.synsets()))), "beyond"},
		{"sense with stray bits", sealed(put(dogEntry, le.Uint32(good[dogEntry:])|1<<26)), "beyond"},
		{"exception beyond the strings", sealed(put(miceEntry, excBit|h.strings)), "beyond"},
		{"exception to a base without that part of speech", sealed(put(miceEntry, le.Uint32(good[miceEntry:])|1<<excPOSShift)), "has no verb sense"},
		{"table entry past the strings", sealed(func(b []byte) []byte { return fillSlot(b, l, h.strings+1) }), "beyond"},
		{"extra table entry", sealed(func(b []byte) []byte { return fillSlot(b, l, 1) }), "entries for"},
		{"entry moved", sealed(func(b []byte) []byte { return moveEntry(b, l) }), "not where the hash table says"},
		{"pointer of unknown kind", sealed(put(firstPtr, 15<<kindShift)), "unknown kind"},
		{"pointer beyond the synsets", sealed(put(firstPtr, uint32(ptrHypernym)<<kindShift|uint32(h.synsets()))), "beyond"},
		{"pointers out of order", sealed(func(b []byte) []byte {
			x, y := le.Uint32(b[firstPtr:]), le.Uint32(b[firstPtr+4:])
			le.PutUint32(b[firstPtr:], y)
			le.PutUint32(b[firstPtr+4:], x)
			return b
		}), "out of order"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := parse(tt.data)
			if err == nil || !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("parse = %v, %v; want an ErrFormat containing %q", w != nil, err, tt.wantErr)
			}
		})
	}
	if _, err := parse(good); err != nil {
		t.Fatalf("the unmodified file does not parse: %v", err)
	}
}

// fillSlot puts value into the first empty hash slot.
func fillSlot(b []byte, l layout, value uint32) []byte {
	for off := l.table; off < l.ptrOffs; off += 4 {
		if binary.LittleEndian.Uint32(b[off:]) == 0 {
			binary.LittleEndian.PutUint32(b[off:], value)
			return b
		}
	}
	panic("no empty slot")
}

// moveEntry moves an entry that sits in its home slot (the slot before it
// is empty) to another empty slot, where lookups cannot reach it.
func moveEntry(b []byte, l layout) []byte {
	le := binary.LittleEndian
	slots := (l.ptrOffs - l.table) / 4
	slot := func(i uint64) uint64 { return l.table + 4*(i%slots) }
	for i := uint64(0); i < slots; i++ {
		e := le.Uint32(b[slot(i):])
		if e == 0 || le.Uint32(b[slot(i+slots-1):]) != 0 {
			continue
		}
		for j := i + 2; j < i+slots; j++ {
			if le.Uint32(b[slot(j):]) == 0 {
				le.PutUint32(b[slot(i):], 0)
				le.PutUint32(b[slot(j):], e)
				return b
			}
		}
	}
	panic("no entry to move")
}

func TestLoadFile(t *testing.T) {
	good := syntheticFile(t)
	dir := t.TempDir()
	if err := os.WriteFile(File(dir), good, 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := Load(File(dir))
	if err != nil || w.Synsets() != len(synthetic().synsets) || w.Strings() == 0 {
		t.Fatalf("Load = %v, %v", w, err)
	}
	if !Present(dir) {
		t.Error("Present = false for a valid file")
	}
	if err := os.WriteFile(File(dir), good[:100], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(File(dir)); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), File(dir)) {
		t.Errorf("Load(truncated) = %v, want ErrFormat naming the file", err)
	}
	if Present(dir) {
		t.Error("Present = true for a truncated file")
	}
	if _, err := Load(filepath.Join(dir, "missing.bin")); err == nil || errors.Is(err, ErrFormat) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want a not-exist error", err)
	}
	if Present(filepath.Join(dir, "nope")) {
		t.Error("Present = true for a missing directory")
	}
}

func FuzzLoad(f *testing.F) {
	good := syntheticFile(f)
	for _, seed := range [][]byte{good, good[:headerSize], good[:len(good)-7], []byte(magic), nil} {
		f.Add(seed, false)
		f.Add(append([]byte(nil), seed...), true)
	}
	words := []string{"dog", "puppies", "mice", "heart rates", "hotter", "looked up", "scorching", "egypt", "", "a b c"}
	f.Fuzz(func(t *testing.T, data []byte, resealed bool) {
		if resealed {
			// Let mutations through the checksum to reach the
			// structural checks.
			data = reseal(data)
		}
		w, err := parse(data)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("parse error %v does not wrap ErrFormat", err)
			}
			return
		}
		// Whatever parses must answer every query without panicking.
		for i := range min(w.Strings(), 50) {
			s := string(w.str(i))
			if !w.Known(strings.ToUpper(s)) && w.hasAnySense(uint32(i)) {
				t.Fatalf("string %d (%q) has senses but is not known", i, s)
			}
			w.Lemmas(s)
			w.Relate(s, words[i%len(words)])
		}
		for _, a := range words {
			w.Relate(a, "dog")
			w.Phrase(strings.Fields(a))
		}
	})
}
