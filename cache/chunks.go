package cache

import "encoding/binary"

// Chunks are the byte lengths of the pieces an answer's text was streamed
// in, each an unsigned varint (one byte for a piece under 128 bytes, so
// an answer keeps its stream boundaries for about a byte per token; JSON
// spells it in base64). A replayed stream cuts the text at them (see
// wire.Pieces); nil means the boundaries are unknown (a JSON answer, an
// answer stored before semcache kept them).
type Chunks []byte

// Append adds a piece of n bytes (pieces of 0 bytes are not kept).
func (c Chunks) Append(n int) Chunks {
	if n <= 0 {
		return c
	}
	return binary.AppendUvarint(c, uint64(n))
}

// Lens decodes the piece lengths; ok is false when c is malformed.
func (c Chunks) Lens() (lens []int, ok bool) {
	for b := []byte(c); len(b) > 0; {
		v, n := binary.Uvarint(b)
		if n <= 0 || v == 0 || v > 1<<31 {
			return nil, false
		}
		lens = append(lens, int(v))
		b = b[n:]
	}
	return lens, true
}
