package use

import "fmt"

// The matmuls are C[m×n] = [C +] bias + A[m×k]·B[k×n] (then optionally
// ReLU), computed by a micro-kernel that produces a block of mr rows × nr
// columns at a time. B is packed at load time into n/nr column panels, each
// k×nr and contiguous, so the kernel streams it linearly; A stays row-major.
// Callers pad the row count to a multiple of mr (pad rows are computed and
// ignored: rows of a matmul are independent).
const (
	mr = 4  // rows per kernel call
	nr = 16 // columns per packed panel (two 8-float AVX vectors)
)

// Kernel flags.
const (
	kAccumulate = 1 << iota // add into the existing C instead of overwriting it
	kReLU                   // apply max(0, ·) before storing
)

// packedMat is a [in, out] weight matrix stored as out/nr panels of in×nr.
type packedMat struct {
	in, out int
	data    []float32
}

// packMat packs a row-major [in, out] matrix (the model's Dense layout,
// y[o] = Σ_i x[i]·W[i·out+o]).
func packMat(w []float32, in, out int) packedMat {
	if out%nr != 0 || len(w) != in*out {
		panic(fmt.Sprintf("use: cannot pack %d floats as [%d,%d]", len(w), in, out))
	}
	p := packedMat{in: in, out: out, data: make([]float32, len(w))}
	packPanels(p.data, w, out, in, out, 1)
	return p
}

// packPanels packs the [k, n] matrix src (element (r, j) at
// src[r*rowStride + j*colStride]) into n/nr panels of k×nr in dst. With
// colStride 1 it packs a matrix; with rowStride 1 it packs a transpose.
// n must be a multiple of nr; dst needs n*k floats.
func packPanels(dst, src []float32, rowStride, k, n, colStride int) {
	for p := 0; p < n/nr; p++ {
		panel := dst[p*k*nr : (p+1)*k*nr]
		for r := range k {
			row := panel[r*nr : r*nr+nr]
			base := r*rowStride + p*nr*colStride
			if colStride == 1 {
				copy(row, src[base:base+nr])
				continue
			}
			for j := range row {
				row[j] = src[base+j*colStride]
			}
		}
	}
}

// mul computes rows [0, m) of c = [c +] bias + a·W (then ReLU if asked); m
// must be a multiple of mr.
func (w *packedMat) mul(c []float32, ldc int, a []float32, lda, m int, bias []float32, flags int) {
	gemm(c, ldc, a, lda, m, w.in, w.data, w.out, bias, flags)
}

// gemm computes c[i*ldc+j] = [c +] bias[j] + Σ_p a[i*lda+p]·B[p][j] for
// i < m, j < n, where B is packed in panels (see packPanels).
func gemm(c []float32, ldc int, a []float32, lda, m, k int, b []float32, n int, bias []float32, flags int) {
	if m%mr != 0 || n%nr != 0 || k < 1 || m < mr ||
		len(a) < (m-1)*lda+k || len(c) < (m-1)*ldc+n ||
		len(b) < n*k || len(bias) < n {
		panic(fmt.Sprintf("use: gemm bounds: m=%d k=%d n=%d lda=%d ldc=%d len(a)=%d len(b)=%d len(c)=%d len(bias)=%d",
			m, k, n, lda, ldc, len(a), len(b), len(c), len(bias)))
	}
	// Panel-outer: one k×nr panel (≤ 96 KiB) stays in L2 while every row
	// block of A streams past it.
	for p := 0; p < n/nr; p++ {
		panel := b[p*k*nr : (p+1)*k*nr]
		pb := bias[p*nr : p*nr+nr]
		for i := 0; i < m; i += mr {
			kernel(k, a[i*lda:], lda, panel, pb, c[i*ldc+p*nr:], ldc, flags)
		}
	}
}

// kernelGo is the portable micro-kernel: an mr×nr block of c from k steps.
// It works on a 4×4 register tile at a time.
func kernelGo(k int, a []float32, lda int, b, bias, c []float32, ldc int, flags int) {
	a0 := a[0*lda : 0*lda+k]
	a1 := a[1*lda : 1*lda+k]
	a2 := a[2*lda : 2*lda+k]
	a3 := a[3*lda : 3*lda+k]
	b = b[:k*nr]
	for j := 0; j < nr; j += 4 {
		bj := bias[j : j+4 : j+4]
		c00, c01, c02, c03 := bj[0], bj[1], bj[2], bj[3]
		c10, c11, c12, c13 := c00, c01, c02, c03
		c20, c21, c22, c23 := c00, c01, c02, c03
		c30, c31, c32, c33 := c00, c01, c02, c03
		if flags&kAccumulate != 0 {
			r := c[0*ldc+j : 0*ldc+j+4 : 0*ldc+j+4]
			c00, c01, c02, c03 = c00+r[0], c01+r[1], c02+r[2], c03+r[3]
			r = c[1*ldc+j : 1*ldc+j+4 : 1*ldc+j+4]
			c10, c11, c12, c13 = c10+r[0], c11+r[1], c12+r[2], c13+r[3]
			r = c[2*ldc+j : 2*ldc+j+4 : 2*ldc+j+4]
			c20, c21, c22, c23 = c20+r[0], c21+r[1], c22+r[2], c23+r[3]
			r = c[3*ldc+j : 3*ldc+j+4 : 3*ldc+j+4]
			c30, c31, c32, c33 = c30+r[0], c31+r[1], c32+r[2], c33+r[3]
		}
		for p := range k {
			bp := b[p*nr+j : p*nr+j+4 : p*nr+j+4]
			b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
			x := a0[p]
			c00 += x * b0
			c01 += x * b1
			c02 += x * b2
			c03 += x * b3
			x = a1[p]
			c10 += x * b0
			c11 += x * b1
			c12 += x * b2
			c13 += x * b3
			x = a2[p]
			c20 += x * b0
			c21 += x * b1
			c22 += x * b2
			c23 += x * b3
			x = a3[p]
			c30 += x * b0
			c31 += x * b1
			c32 += x * b2
			c33 += x * b3
		}
		store4(c[0*ldc+j:], c00, c01, c02, c03, flags)
		store4(c[1*ldc+j:], c10, c11, c12, c13, flags)
		store4(c[2*ldc+j:], c20, c21, c22, c23, flags)
		store4(c[3*ldc+j:], c30, c31, c32, c33, flags)
	}
}

func store4(c []float32, v0, v1, v2, v3 float32, flags int) {
	if flags&kReLU != 0 {
		v0, v1, v2, v3 = max(v0, 0), max(v1, 0), max(v2, 0), max(v3, 0)
	}
	c = c[:4:4]
	c[0], c[1], c[2], c[3] = v0, v1, v2, v3
}
