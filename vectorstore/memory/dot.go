package memory

import (
	"math"
	"unsafe"

	"github.com/viterin/vek/vek32"
)

// dot returns the inner product of two equal-length vectors. For unit
// vectors it is the cosine similarity.
func dot(a, b []float32) float32 {
	return vek32.Dot(a, b)
}

// distance is the exact cosine distance between unit vectors.
func distance(a, b []float32) float32 { return 1 - dot(a, b) }

// Quantized codes. Searches compare int8 codes instead of float32
// vectors: a 512-d row shrinks from 2,048 to 512 bytes, and memory traffic
// is what bounds the cost of touching many rows per search. The float32
// vectors are not kept in memory by a persistent store (bbolt has them);
// final answers are re-ranked exactly (see rerank.go).
//
// A vector v is coded symmetrically with its own scale: c[i] =
// round(v[i]/s), s = max|v|/127, so c[i] ∈ [-127, 127] and zero stays
// exactly zero (lexical embeddings are sparse). Rows are padded with
// zeros to a multiple of 32 dimensions. The same format serves stored rows
// and queries, so v·q ≈ s_v·s_q·Σ c_v[i]·c_q[i] with an exact integer sum.
//
// Each code also records its error norm e = ‖v − s·c‖₂, which bounds the
// approximation: for unit q and v with codes q̃, ṽ,
//
//	|q·v − q̃·ṽ| ≤ e_q + (1 + e_q)·e_v
//
// (Cauchy–Schwarz on (q − q̃)·v + q̃·(v − ṽ)). The re-rank uses the bound
// to decide which candidates can still be in the top K.

// codeDims is the number of coded dimensions for dim (a multiple of 32;
// padding dimensions hold code 0).
func codeDims(dim int) int { return (dim + 31) &^ 31 }

// encodeCode writes v's code into dst (len codeDims) and returns its scale
// and error norm.
func encodeCode(v []float32, dst []int8) (scale, errNorm float32) {
	var maxAbs float32
	for _, x := range v {
		maxAbs = max(maxAbs, x, -x)
	}
	clear(dst)
	if maxAbs == 0 {
		return 0, 0
	}
	scale = maxAbs / 127
	inv := 127 / maxAbs
	var ee float64
	for i, x := range v {
		c := int8(max(min(float32(math.Round(float64(x*inv))), 127), -127))
		dst[i] = c
		d := float64(x) - float64(scale)*float64(c)
		ee += d * d
	}
	return scale, float32(math.Sqrt(ee))
}

// queryCode is a coded vector in the form the kernels take: the signed
// code and its absolute values (the unsigned operand of VPMADDUBSW).
type queryCode struct {
	c     []int8
	abs   []uint8
	scale float32
	// err is the code's error norm (0 for a code taken from a stored row:
	// node-to-node distances during construction need no bound).
	err float32
}

func newQueryCode(v []float32, dim int) queryCode {
	q := queryCode{c: make([]int8, codeDims(dim))}
	q.scale, q.err = encodeCode(v, q.c)
	q.fillAbs()
	return q
}

func (q *queryCode) fillAbs() {
	if cap(q.abs) < len(q.c) {
		q.abs = make([]uint8, len(q.c))
	}
	q.abs = q.abs[:len(q.c)]
	absCodes(q.abs, q.c)
}

// absCodesGo sets dst[i] to |src[i]|. Branch-free: the signs of a code
// are a coin toss, and graph construction codes every candidate neighbour
// (a branch here mispredicted half the time).
func absCodesGo(dst []uint8, src []int8) {
	dst = dst[:len(src)]
	for i, c := range src {
		m := c >> 7 // 0 or -1
		dst[i] = uint8((c ^ m) - m)
	}
}

// setRow makes q the code of a stored row with the given scale.
func (q *queryCode) setRow(row []int8, scale float32) {
	q.c = append(q.c[:0], row...)
	q.scale, q.err = scale, 0
	q.fillAbs()
}

// dist converts a raw code product into the approximate distance.
func (q *queryCode) dist(raw int32, scale float32) float32 {
	return 1 - q.scale*scale*float32(raw)
}

// bound is the largest possible gap between the approximate and the exact
// distance of q to a row with error norm e (plus float rounding slack).
func (q *queryCode) bound(e float32) float32 {
	return q.err + (1+q.err)*e + 1e-5
}

// dotRowGo is the portable kernel: Σ q[i]·row[i].
func dotRowGo(q []int8, row []int8) int32 {
	row = row[:len(q)]
	var s0, s1, s2, s3 int32
	i := 0
	for ; i+4 <= len(q); i += 4 {
		s0 += int32(q[i]) * int32(row[i])
		s1 += int32(q[i+1]) * int32(row[i+1])
		s2 += int32(q[i+2]) * int32(row[i+2])
		s3 += int32(q[i+3]) * int32(row[i+3])
	}
	for ; i < len(q); i++ {
		s0 += int32(q[i]) * int32(row[i])
	}
	return s0 + s1 + s2 + s3
}

func dotRowsGo(q *queryCode, rows []unsafe.Pointer, out []int32) {
	n := len(q.c)
	for k, p := range rows {
		out[k] = dotRowGo(q.c, unsafe.Slice((*int8)(p), n))
	}
}

func dotSeqGo(q *queryCode, rows []int8, out []int32) {
	n := len(q.c)
	for k := range out {
		out[k] = dotRowGo(q.c, rows[k*n:(k+1)*n])
	}
}
