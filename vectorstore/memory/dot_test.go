package memory

import (
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"
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

func TestDotCodes(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	for _, dim := range []int{1, 7, 32, 33, 64, 100, 384, 512, 1536} {
		n := 50
		codes := newSlab[int8](codeDims(dim))
		codes.grow(n)
		vs := make([][]float32, n)
		info := make([]slotInfo, n)
		for i := range vs {
			v := make([]float32, dim)
			var ss float64
			for j := range v {
				v[j] = float32(r.NormFloat64())
				if r.IntN(4) == 0 {
					v[j] = 0 // sparse, like lexical embeddings
				}
				ss += float64(v[j]) * float64(v[j])
			}
			if ss == 0 {
				v[0], ss = 1, 1
			}
			for j := range v {
				v[j] /= float32(math.Sqrt(ss))
			}
			vs[i] = v
			info[i].scale, info[i].err = encodeCode(v, codes.row(uint32(i)))
		}
		q := newQueryCode(vs[0], dim)
		ids := []uint32{3, 0, 49, 7, 7, 12, 31}
		ptrs := make([]unsafe.Pointer, len(ids))
		for k, id := range ids {
			ptrs[k] = unsafe.Pointer(&codes.row(id)[0])
		}
		got := make([]int32, len(ids))
		want := make([]int32, len(ids))
		dotRows(&q, ptrs, got)
		dotRowsGo(&q, ptrs, want)
		rows, m := codes.span(2, n-2)
		seq := make([]int32, m)
		dotSeq(&q, rows, seq)
		for k := range seq {
			if w := dotRowGo(q.c, codes.row(uint32(k+2))); seq[k] != w {
				t.Errorf("dim %d row %d: sequential %d, portable %d", dim, k+2, seq[k], w)
			}
		}
		for k, id := range ids {
			if got[k] != want[k] {
				t.Errorf("dim %d id %d: SIMD %d, portable %d", dim, id, got[k], want[k])
			}
			// The error bound holds.
			exact := float64(distance(vs[0], vs[id]))
			approx := float64(q.dist(got[k], info[id].scale))
			if b := float64(q.bound(info[id].err)); math.Abs(approx-exact) > b {
				t.Errorf("dim %d id %d: code distance %.5f, exact %.5f, beyond the bound %.5f", dim, id, approx, exact, b)
			}
		}
	}
}

// TestCodeExtremes: values at the clamp limits, all-equal vectors and
// one-hot vectors code without overflow and with exact products.
func TestCodeExtremes(t *testing.T) {
	tests := []struct {
		name string
		v    []float32
	}{
		{"one-hot", append([]float32{1}, make([]float32, 63)...)},
		{"negative one-hot", append([]float32{-1}, make([]float32, 63)...)},
		{"flat", func() []float32 {
			v := make([]float32, 64)
			for i := range v {
				v[i] = 0.125
			}
			return v
		}()},
		{"alternating", func() []float32 {
			v := make([]float32, 64)
			for i := range v {
				v[i] = 0.125
				if i%2 == 1 {
					v[i] = -0.125
				}
			}
			return v
		}()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := make([]int8, codeDims(len(tc.v)))
			scale, e := encodeCode(tc.v, c)
			if e > 1e-6 {
				t.Errorf("error norm %v, want 0 for an exactly representable vector", e)
			}
			q := newQueryCode(tc.v, len(tc.v))
			out := make([]int32, 1)
			dotRows(&q, []unsafe.Pointer{unsafe.Pointer(&c[0])}, out)
			if d := q.dist(out[0], scale); math.Abs(float64(d)) > 1e-5 {
				t.Errorf("self distance %v, want 0", d)
			}
		})
	}
}

func BenchmarkDotCodes(b *testing.B) {
	const dim, n = 512, 100_000
	r := rand.New(rand.NewPCG(1, 2))
	codes := newSlab[int8](codeDims(dim))
	codes.grow(n)
	for i := range n {
		row := codes.row(uint32(i))
		for j := range row {
			row[j] = int8(r.IntN(255) - 127)
		}
	}
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	q := newQueryCode(v, dim)
	out := make([]int32, 512)
	b.Run("random48", func(b *testing.B) {
		ptrs := make([]unsafe.Pointer, 48)
		for b.Loop() {
			for i := range ptrs {
				ptrs[i] = unsafe.Pointer(&codes.row(uint32(r.IntN(n)))[0])
			}
			dotRows(&q, ptrs, out)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ptrs)), "ns/row")
	})
	b.Run("scan100k", func(b *testing.B) {
		for b.Loop() {
			for start := 0; start < n; {
				rows, m := codes.span(start, min(len(out), n-start))
				dotSeq(&q, rows, out[:m])
				start += m
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/row")
	})
}

// dotGo is a portable 8-way unrolled inner product, the baseline the
// vek32 kernel is benchmarked against.
func dotGo(a, b []float32) float32 {
	n := len(a)
	b = b[:n]
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	i := 0
	for ; i+8 <= n; i += 8 {
		x := a[i : i+8 : i+8]
		y := b[i : i+8 : i+8]
		s0 += x[0] * y[0]
		s1 += x[1] * y[1]
		s2 += x[2] * y[2]
		s3 += x[3] * y[3]
		s4 += x[4] * y[4]
		s5 += x[5] * y[5]
		s6 += x[6] * y[6]
		s7 += x[7] * y[7]
	}
	for ; i < n; i++ {
		s0 += a[i] * b[i]
	}
	return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
}

// TestAbsCodes: the vector kernel and the Go loop agree on every code
// value and length (tails that are not a multiple of 32 take the loop).
func TestAbsCodes(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for _, n := range []int{0, 1, 31, 32, 33, 64, 100, 384, 512, 1536} {
		src := make([]int8, n)
		for i := range src {
			src[i] = int8(rng.IntN(255) - 127) // codes are in [-127, 127]
		}
		if n >= 2 {
			src[0], src[n-1] = -127, 127
		}
		got, want := make([]uint8, n), make([]uint8, n)
		absCodes(got, src)
		absCodesGo(want, src)
		for i := range want {
			if got[i] != want[i] || int(want[i]) != max(int(src[i]), -int(src[i])) {
				t.Fatalf("n=%d: |%d| = %d (Go loop %d)", n, src[i], got[i], want[i])
			}
		}
	}
}
