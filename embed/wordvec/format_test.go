package wordvec

import (
	"encoding/binary"
	"errors"
	"math"
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
	good, _ := convertBytes(t, sourceJSON(synthetic()), 1000)
	h := header{dims: 4, count: 6, slots: 16, blobLen: uint32(len("alphabetagammae-maildeltamixed"))}
	l := h.layout()
	if l.size != uint64(len(good)) {
		t.Fatalf("synthetic file is %d bytes, layout says %d: the test's header is stale", len(good), l.size)
	}
	edit := func(f func(b []byte) []byte) []byte {
		return f(append([]byte(nil), good...))
	}
	put := func(off uint64, u uint32) func([]byte) []byte {
		return func(b []byte) []byte { binary.LittleEndian.PutUint32(b[off:], u); return b }
	}
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
		{"flipped vector byte", edit(func(b []byte) []byte { b[l.vectors+3] ^= 1; return b }), "checksum"},
		{"flipped word byte", edit(func(b []byte) []byte { b[l.blob] ^= 1; return b }), "checksum"},
		{"zero dims", edit(func(b []byte) []byte { return reseal(put(12, 0)(b)) }), "dims 0"},
		{"huge count", edit(func(b []byte) []byte { return reseal(put(16, 1<<30)(b)) }), "count"},
		{"slots not a power of two", edit(func(b []byte) []byte { return reseal(put(20, 15)(b)) }), "hash slots"},
		{"several bad fields", edit(func(b []byte) []byte { return reseal(put(20, 3)(put(12, 0)(b))) }), "dims 0"},
		{"offsets out of order", edit(func(b []byte) []byte { return reseal(put(l.offsets+8, 2)(b)) }), "word 1 spans"},
		{"first offset not 0", edit(func(b []byte) []byte { return reseal(put(l.offsets, 1)(b)) }), "first word offset"},
		{"uppercase word", edit(func(b []byte) []byte { b[l.blob] = 'A'; return reseal(b) }), "not lowercase"},
		{"NaN scale", edit(func(b []byte) []byte { return reseal(put(l.scales+4, math.Float32bits(float32(math.NaN())))(b)) }), "scale NaN"},
		{"negative scale", edit(func(b []byte) []byte { return reseal(put(l.scales, math.Float32bits(-1))(b)) }), "scale -1"},
		{"table entry past the words", edit(func(b []byte) []byte { return reseal(fillSlot(b, l, 7)) }), "beyond 6 words"},
		{"extra table entry", edit(func(b []byte) []byte { return reseal(fillSlot(b, l, 1)) }), "7 entries for 6 words"},
		{"entry moved", edit(func(b []byte) []byte { return reseal(moveEntry(b, l)) }), "not where the hash table says"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := parse(tt.data)
			if err == nil || !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("parse = %v, %v; want an ErrFormat containing %q", v, err, tt.wantErr)
			}
		})
	}
	if _, err := parse(good); err != nil {
		t.Fatalf("the unmodified file does not parse: %v", err)
	}
}

// fillSlot puts value into the first empty hash slot.
func fillSlot(b []byte, l layout, value uint32) []byte {
	for off := l.table; off < l.blob; off += 4 {
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
	slots := (l.blob - l.table) / 4
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
	good, _ := convertBytes(t, sourceJSON(synthetic()), 1000)
	dir := t.TempDir()
	if err := os.WriteFile(File(dir), good, 0o644); err != nil {
		t.Fatal(err)
	}
	v, err := Load(File(dir))
	if err != nil || v.Len() != 6 {
		t.Fatalf("Load = %v, %v; want 6 words", v, err)
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
	good, _ := convertBytes(f, sourceJSON(synthetic()), 1000)
	small, _ := convertBytes(f, sourceJSON(synthetic()), 2)
	for _, seed := range [][]byte{good, small, good[:headerSize], good[:len(good)-7], []byte(magic), nil} {
		f.Add(seed, false)
		f.Add(append([]byte(nil), seed...), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, resealed bool) {
		if resealed {
			// Let mutations through the checksum to reach the
			// structural checks.
			data = reseal(data)
		}
		v, err := parse(data)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("parse error %v does not wrap ErrFormat", err)
			}
			return
		}
		for i := range v.Len() {
			w := string(v.word(i))
			if _, ok := v.Vector(strings.ToUpper(w)); !ok {
				t.Fatalf("word %d (%q) not found", i, w)
			}
			s, ok := v.Similarity(w, string(v.word(0)))
			if !ok || s < -1 || s > 1 || s != s {
				t.Fatalf("Similarity(%q, %q) = %v, %v", w, v.word(0), s, ok)
			}
			if i < 4 {
				if n := v.Nearest(w, 3); len(n) > 3 {
					t.Fatalf("Nearest returned %d", len(n))
				}
			}
		}
	})
}
