package memory

import (
	"math"
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

func TestDotCodes(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	for _, dim := range []int{1, 7, 32, 33, 64, 100, 384, 1536} {
		stride := codeStride(dim)
		n := 50
		codes := make([]uint8, n*stride)
		vs := make([][]float32, n)
		scales := make([]float32, n)
		for i := range vs {
			v := make([]float32, dim)
			var ss float64
			for j := range v {
				v[j] = float32(r.NormFloat64())
				ss += float64(v[j]) * float64(v[j])
			}
			for j := range v {
				v[j] /= float32(math.Sqrt(ss))
			}
			vs[i] = v
			scales[i] = encodeCode(v, codes[i*stride:(i+1)*stride])
		}
		q := newQueryCode(vs[0], dim)
		ids := []uint32{3, 0, 49, 7, 7, 12, 31}
		got := make([]int32, len(ids))
		want := make([]int32, len(ids))
		dotCodes(q.c, codes, ids, got)
		dotCodesGo(q.c, codes, ids, want)
		seq := make([]int32, n-2)
		dotCodesSeq(q.c, codes, 2, seq)
		for k := range seq {
			var one [1]int32
			dotCodesGo(q.c, codes, []uint32{uint32(k + 2)}, one[:])
			if seq[k] != one[0] {
				t.Errorf("dim %d row %d: sequential %d, portable %d", dim, k+2, seq[k], one[0])
			}
		}
		for k, id := range ids {
			if got[k] != want[k] {
				t.Errorf("dim %d id %d: SIMD %d, portable %d", dim, id, got[k], want[k])
			}
			exact := float64(dot(vs[0], vs[id]))
			approx := 1 - float64(q.dist(got[k], scales[id]))
			if math.Abs(approx-exact) > 0.05 {
				t.Errorf("dim %d id %d: quantized cosine %.4f, exact %.4f", dim, id, approx, exact)
			}
		}
	}
}

func BenchmarkDotCodes(b *testing.B) {
	const dim, n = 384, 100_000
	stride := codeStride(dim)
	r := rand.New(rand.NewPCG(1, 2))
	codes := make([]uint8, n*stride)
	for i := range codes {
		codes[i] = uint8(r.IntN(256))
	}
	q := make([]int8, 2*stride)
	for i := range q {
		q[i] = int8(r.IntN(255) - 127)
	}
	out := make([]int32, 256)
	b.Run("random48", func(b *testing.B) {
		ids := make([]uint32, 48)
		for b.Loop() {
			for i := range ids {
				ids[i] = uint32(r.IntN(n))
			}
			dotCodes(q, codes, ids, out)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ids)), "ns/row")
	})
	b.Run("scan100k", func(b *testing.B) {
		for b.Loop() {
			for start := 0; start < n; start += len(out) {
				dotCodesSeq(q, codes, start, out[:min(len(out), n-start)])
			}
		}
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
