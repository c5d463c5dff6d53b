//go:build amd64 && !purego

package wordvec

// dot16 is the int8 dot product of the first n bytes of a and b, n a
// multiple of 16, in SSE2 assembly (dot_amd64.s; SSE2 is part of every
// amd64 CPU, so there is no feature check).
//
//go:noescape
func dot16(a, b *byte, n int) int32

// dot is the integer dot product of two int8 vectors of equal length.
func dot(a, b []byte) int32 {
	b = b[:len(a)]
	n := len(a) &^ 15
	if n == 0 {
		return dotGo(a, b)
	}
	return dot16(&a[0], &b[0], n) + dotGo(a[n:], b[n:])
}
