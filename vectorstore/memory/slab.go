package memory

// slab is a growable array of fixed-width rows stored in chunks of
// chunkRows rows, so that growing a large group never copies (and never
// briefly doubles) what it already holds: a million 512-byte code rows
// are 512 MiB. Only the first chunk grows by append, so a small group
// stays small. Writers append and overwrite under the store's write lock;
// a reader that copied the slab value (a builder's view) keeps seeing the
// rows that existed when it copied, which never move.
type slab[T any] struct {
	width  int
	rows   int
	chunks [][]T
}

const (
	chunkShift = 14
	chunkRows  = 1 << chunkShift
	chunkMask  = chunkRows - 1
)

func newSlab[T any](width int) slab[T] { return slab[T]{width: width} }

// row returns row i (aliasing the slab).
func (s *slab[T]) row(i uint32) []T {
	c := s.chunks[i>>chunkShift]
	o := int(i&chunkMask) * s.width
	return c[o : o+s.width : o+s.width]
}

// grow appends n zero rows.
func (s *slab[T]) grow(n int) {
	full := chunkRows * s.width
	for n > 0 {
		last := len(s.chunks) - 1
		if last < 0 || len(s.chunks[last]) == full {
			c := full
			if last < 0 {
				c = min(full, max(n, 16)*s.width)
			}
			s.chunks = append(s.chunks, make([]T, 0, c))
			last++
		}
		c := s.chunks[last]
		k := min(n, (full-len(c))/s.width)
		need := len(c) + k*s.width
		if need > cap(c) {
			nc := make([]T, len(c), min(full, max(need, 2*cap(c))))
			copy(nc, c)
			c = nc
		}
		c = c[:need]
		clear(c[need-k*s.width:])
		s.chunks[last] = c
		s.rows += k
		n -= k
	}
}

// span returns the rows [from, from+n) when they lie in one chunk, as one
// slice, and how many of them did (n is cut at the chunk's end).
func (s *slab[T]) span(from, n int) ([]T, int) {
	c := s.chunks[from>>chunkShift]
	o := from & chunkMask
	n = min(n, chunkRows-o, s.rows-from)
	return c[o*s.width : (o+n)*s.width], n
}

// frozen returns a copy of s that later growth does not touch (the chunk
// list is copied; the rows are shared), for a reader that works without
// the store's locks on rows that do not change.
func (s slab[T]) frozen() slab[T] {
	s.chunks = append([][]T(nil), s.chunks...)
	return s
}
