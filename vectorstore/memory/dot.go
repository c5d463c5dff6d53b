package memory

import "github.com/viterin/vek/vek32"

// dot returns the inner product of two equal-length vectors. For unit
// vectors it is the cosine similarity.
func dot(a, b []float32) float32 {
	return vek32.Dot(a, b)
}

// Quantized codes. The graph walk and the quantized scan compare 4-bit
// codes instead of float32 vectors: a 384-d row shrinks from 1,536 to 192
// bytes, and memory traffic is what bounds the cost of touching many rows
// per search. Final answers are always re-ranked with float32.
//
// A stored vector v is coded per vector: u[i] = round(v[i]/s + 7.5),
// clamped to [0, 15], with s = max|v|/7.5, so v[i] ≈ s·(u[i] − 7.5). Codes
// are packed two per byte in 32-byte chunks: chunk c, byte j holds
// dimension 64c+j in the low nibble and 64c+32+j in the high one (the
// layout the AVX2 kernel unpacks with one shift). A query is coded into
// int8 [-127, 127] with its own scale, in natural order. Then
// v·q ≈ s_v·s_q·(Σ q[i]·u[i] − 7.5·Σ q[i]).

// codeDims is the number of coded dimensions for dim (a multiple of 64;
// padding dimensions get code 0 and a zero query weight).
func codeDims(dim int) int { return (dim + 63) &^ 63 }

// codeStride is the byte length of a code row for dim.
func codeStride(dim int) int { return codeDims(dim) / 2 }

// encodeCode writes v's packed code into dst (len codeStride) and returns
// its scale.
func encodeCode(v []float32, dst []uint8) float32 {
	var maxAbs float32
	for _, x := range v {
		maxAbs = max(maxAbs, x, -x)
	}
	clear(dst)
	if maxAbs == 0 {
		return 0
	}
	inv := 7.5 / maxAbs
	for i, x := range v {
		u := uint8(max(min(x*inv+8, 15), 0)) // round(x*inv + 7.5)
		b := (i/64)*32 + i%32
		if i%64 < 32 {
			dst[b] |= u
		} else {
			dst[b] |= u << 4
		}
	}
	return maxAbs / 7.5
}

// queryCode is a coded query.
type queryCode struct {
	c     []int8
	scale float32
	// bias is 7.5·Σc, the correction for the codes' offset.
	bias float32
}

func newQueryCode(v []float32, dim int) queryCode {
	q := queryCode{c: make([]int8, codeDims(dim))}
	var maxAbs float32
	for _, x := range v {
		maxAbs = max(maxAbs, x, -x)
	}
	if maxAbs == 0 {
		return q
	}
	inv := 127 / maxAbs
	var sum int32
	for i, x := range v {
		c := x * inv
		if c >= 0 {
			c += 0.5
		} else {
			c -= 0.5
		}
		q.c[i] = int8(max(min(c, 127), -127))
		sum += int32(q.c[i])
	}
	q.scale = maxAbs / 127
	q.bias = 7.5 * float32(sum)
	return q
}

// dist converts a raw code product into the approximate distance.
func (q *queryCode) dist(raw int32, scale float32) float32 {
	return 1 - q.scale*scale*(float32(raw)-q.bias)
}

func dotCodesGo(q []int8, codes []uint8, ids []uint32, out []int32) {
	stride := len(q) / 2
	for k, id := range ids {
		row := codes[int(id)*stride : (int(id)+1)*stride]
		var sum int32
		for c := 0; c < stride; c += 32 {
			qc := q[2*c : 2*c+64]
			for j, b := range row[c : c+32] {
				sum += int32(qc[j])*int32(b&15) + int32(qc[32+j])*int32(b>>4)
			}
		}
		out[k] = sum
	}
}

// distance is the exact cosine distance between unit vectors.
func distance(a, b []float32) float32 { return 1 - dot(a, b) }

func dotCodesSeqGo(q []int8, rows []uint8, out []int32) {
	ids := make([]uint32, len(out))
	for i := range ids {
		ids[i] = uint32(i)
	}
	dotCodesGo(q, rows, ids, out)
}
