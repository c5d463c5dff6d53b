package memory

import (
	"math/rand/v2"
	"testing"
)

func BenchmarkDot(b *testing.B) {
	for _, dim := range []int{8, 384, 1536} {
		r := rand.New(rand.NewPCG(1, 2))
		x, y := make([]float32, dim), make([]float32, dim)
		for i := range x {
			x[i], y[i] = r.Float32(), r.Float32()
		}
		b.Run("vek32/"+itoa(dim), func(b *testing.B) {
			var s float32
			for b.Loop() {
				s += dot(x, y)
			}
			_ = s
		})
		b.Run("go/"+itoa(dim), func(b *testing.B) {
			var s float32
			for b.Loop() {
				s += dotGo(x, y)
			}
			_ = s
		})
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var buf [20]byte
	i := len(buf)
	for n > 0 {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	return string(buf[i:])
}
