package wordvec

import "testing"

// TestDot checks the dot product in use (assembly on amd64) against a
// plain loop, on lengths around the 16-byte rounds and on extreme values.
func TestDot(t *testing.T) {
	seed := uint32(7)
	next := func() byte {
		seed = seed*1664525 + 1013904223
		return byte(seed >> 24)
	}
	for _, n := range []int{0, 1, 3, 4, 15, 16, 17, 31, 32, 33, 100, 300, 1024} {
		for round := range 4 {
			a, b := make([]byte, n), make([]byte, n)
			for i := range a {
				switch round {
				case 0:
					a[i], b[i] = next(), next()
				case 1:
					a[i], b[i] = 0x80, 0x80 // -128 · -128
				case 2:
					a[i], b[i] = 0x7f, 0x80 // 127 · -128
				case 3:
					a[i], b[i] = byte(i), byte(255-i)
				}
			}
			var want int32
			for i := range a {
				want += int32(int8(a[i])) * int32(int8(b[i]))
			}
			if got := dot(a, b); got != want {
				t.Errorf("dot, n=%d round %d = %d, want %d", n, round, got, want)
			}
			if got := dotGo(a, b); got != want {
				t.Errorf("dotGo, n=%d round %d = %d, want %d", n, round, got, want)
			}
		}
	}
}
