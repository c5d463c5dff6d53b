package memory

import (
	"encoding/binary"
	"errors"
	"math"
	"slices"
)

// Record values in bbolt are, in order:
//
//	byte     format version (1)
//	uvarint  seq (store-wide, strictly increasing across restarts)
//	varint   expires (Unix nanoseconds, 0 = never)
//	string   namespace          (uvarint length + bytes)
//	string   partition
//	uvarint  number of meta pairs, then key/value strings, sorted by key
//	dim × float32 little-endian vector
//	the rest is the payload
//
// The key is the record ID.

const codecVersion = 1

var errCorrupt = errors.New("memory: corrupt record")

// stored is a decoded record value.
type stored struct {
	seq      uint64
	expires  int64
	ns, part string
	meta     map[string]string
	vec      []float32
	payload  []byte
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func encodeRecord(s *stored) []byte {
	n := 1 + 2*binary.MaxVarintLen64 + 2*binary.MaxVarintLen32 + len(s.ns) + len(s.part) +
		binary.MaxVarintLen32 + 4*len(s.vec) + len(s.payload)
	keys := make([]string, 0, len(s.meta))
	for k, v := range s.meta {
		keys = append(keys, k)
		n += 2*binary.MaxVarintLen32 + len(k) + len(v)
	}
	slices.Sort(keys)
	b := make([]byte, 0, n)
	b = append(b, codecVersion)
	b = binary.AppendUvarint(b, s.seq)
	b = binary.AppendVarint(b, s.expires)
	b = appendString(b, s.ns)
	b = appendString(b, s.part)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = appendString(b, k)
		b = appendString(b, s.meta[k])
	}
	for _, x := range s.vec {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return append(b, s.payload...)
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.err = errCorrupt
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// decodeRecord parses a value; the vector and the payload only when asked
// for. The payload is copied (bbolt memory is only valid inside its
// transaction).
func decodeRecord(b []byte, dim int, wantVec, wantPayload bool) (*stored, error) {
	if len(b) == 0 || b[0] != codecVersion {
		return nil, errCorrupt
	}
	d := decoder{b: b[1:]}
	s := &stored{}
	s.seq = d.uvarint()
	s.expires = d.varint()
	s.ns = d.str()
	s.part = d.str()
	nm := d.uvarint()
	if d.err == nil && nm > uint64(len(d.b)) {
		return nil, errCorrupt
	}
	if nm > 0 && d.err == nil {
		s.meta = make(map[string]string, nm)
		for range nm {
			k := d.str()
			s.meta[k] = d.str()
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) < 4*dim {
		return nil, errCorrupt
	}
	if wantVec {
		s.vec = make([]float32, dim)
		decodeVec(d.b, s.vec)
	}
	if rest := d.b[4*dim:]; wantPayload && len(rest) > 0 {
		s.payload = append([]byte(nil), rest...)
	}
	return s, nil
}

func (d *decoder) skip() {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)) {
		d.err = errCorrupt
	}
	if d.err == nil {
		d.b = d.b[n:]
	}
}

// decodeHead parses only what a re-rank needs: the sequence number and
// the offset of the vector (the payload follows it).
func decodeHead(b []byte, dim int) (seq uint64, vecAt int, err error) {
	if len(b) == 0 || b[0] != codecVersion {
		return 0, 0, errCorrupt
	}
	d := decoder{b: b[1:]}
	seq = d.uvarint()
	d.varint()
	d.skip() // namespace
	d.skip() // partition
	nm := d.uvarint()
	if d.err == nil && nm > uint64(len(d.b)) {
		return 0, 0, errCorrupt
	}
	for i := uint64(0); i < 2*nm && d.err == nil; i++ {
		d.skip()
	}
	if d.err != nil {
		return 0, 0, d.err
	}
	if len(d.b) < 4*dim {
		return 0, 0, errCorrupt
	}
	return seq, len(b) - len(d.b), nil
}
