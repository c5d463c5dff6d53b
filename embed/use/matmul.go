package use

import "fmt"

// The matmuls are C[m×n] = [C +] bias + A[m×k]·B[k×n] (then optionally
// ReLU), computed by a micro-kernel that produces a block of mr rows × nr
// columns at a time. B is packed at load time into n/nr column panels, each
// k×nr and contiguous, so the kernel streams it linearly; A stays row-major.
// Callers pad the row count to a multiple of mr (pad rows are computed and
// ignored: rows of a matmul are independent).
const (
	mr = 3  // rows per kernel call
	nr = 32 // columns per packed panel (four 8-float AVX vectors)
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

// kernelFunc computes one mr×nr block of c from k steps: c[r][j] =
// [c[r][j] +] bias[j] + Σ_p a[r*lda+p]·b[p*nr+j], then ReLU if
// flags&kReLU. kernel (per platform) and kernelGo implement it. A wide
// kernel (kernelWide, where the CPU has one) computes 2·mr rows the same
// way.
type kernelFunc func(k int, a []float32, lda int, b, bias, c []float32, ldc int, flags int)

// kernelSet is the kernels gemm uses: narrow for mr rows, and wide (nil
// when unavailable) for 2·mr rows. The assembly kernels accumulate each
// element with one fused multiply-add per step in increasing k order, so
// which rows go to which of them does not change results; the portable Go
// kernel rounds differently (within float32 tolerance).
type kernelSet struct {
	narrow, wide kernelFunc
}

// mul computes rows [0, m) of c = [c +] bias + a·W (then ReLU if asked); m
// must be a multiple of mr.
func (w *packedMat) mul(c []float32, ldc int, a []float32, lda, m int, bias []float32, flags int) {
	gemm(c, ldc, a, lda, m, w.in, w.data, w.out, bias, flags)
}

// gemm computes c[i*ldc+j] = [c +] bias[j] + Σ_p a[i*lda+p]·B[p][j] for
// i < m, j < n, where B is packed in panels (see packPanels).
func gemm(c []float32, ldc int, a []float32, lda, m, k int, b []float32, n int, bias []float32, flags int) {
	gemmWith(platformKernels(), c, ldc, a, lda, m, k, b, n, bias, flags)
}

func gemmWith(ks kernelSet, c []float32, ldc int, a []float32, lda, m, k int, b []float32, n int, bias []float32, flags int) {
	if m%mr != 0 || n%nr != 0 || k < 1 || m < mr ||
		len(a) < (m-1)*lda+k || len(c) < (m-1)*ldc+n ||
		len(b) < n*k || len(bias) < n {
		panic(fmt.Sprintf("use: gemm bounds: m=%d k=%d n=%d lda=%d ldc=%d len(a)=%d len(b)=%d len(c)=%d len(bias)=%d",
			m, k, n, lda, ldc, len(a), len(b), len(c), len(bias)))
	}
	// Panel-outer: one k×nr panel (≤ 192 KiB) stays in L2 while every row
	// block of A streams past it.
	wideRows := 0
	if ks.wide != nil {
		wideRows = m / (2 * mr) * (2 * mr)
	}
	for p := 0; p < n/nr; p++ {
		panel := b[p*k*nr : (p+1)*k*nr]
		pb := bias[p*nr : p*nr+nr]
		i := 0
		for ; i < wideRows; i += 2 * mr {
			ks.wide(k, a[i*lda:], lda, panel, pb, c[i*ldc+p*nr:], ldc, flags)
		}
		for ; i < m; i += mr {
			ks.narrow(k, a[i*lda:], lda, panel, pb, c[i*ldc+p*nr:], ldc, flags)
		}
	}
}

// kernelGo is the portable micro-kernel: an mr×nr block of c from k steps,
// computed in register tiles of two rows (or one) × four columns: eight
// accumulators stay in registers, larger tiles spill in Go.
func kernelGo(k int, a []float32, lda int, b, bias, c []float32, ldc int, flags int) {
	b = b[:k*nr]
	for j := 0; j < nr; j += 4 {
		bb := b[j:]
		r := 0
		for ; r+1 < mr; r += 2 {
			tileGo2x4(k, a[r*lda:r*lda+k], a[(r+1)*lda:(r+1)*lda+k], bb, bias[j:j+4],
				c[r*ldc+j:r*ldc+j+4], c[(r+1)*ldc+j:(r+1)*ldc+j+4], flags)
		}
		if r < mr {
			tileGo1x4(k, a[r*lda:r*lda+k], bb, bias[j:j+4], c[r*ldc+j:r*ldc+j+4], flags)
		}
	}
}

// tileGo2x4 computes columns [0,4) of two rows; b starts at the tile's
// first column and has row stride nr.
func tileGo2x4(k int, a0, a1, b, bias, o0, o1 []float32, flags int) {
	a0, a1, bias, o0, o1 = a0[:k], a1[:k], bias[:4:4], o0[:4:4], o1[:4:4]
	c00, c01, c02, c03 := bias[0], bias[1], bias[2], bias[3]
	c10, c11, c12, c13 := c00, c01, c02, c03
	if flags&kAccumulate != 0 {
		c00, c01, c02, c03 = c00+o0[0], c01+o0[1], c02+o0[2], c03+o0[3]
		c10, c11, c12, c13 = c10+o1[0], c11+o1[1], c12+o1[2], c13+o1[3]
	}
	for p := range k {
		q := b[p*nr : p*nr+4 : p*nr+4]
		b0, b1, b2, b3 := q[0], q[1], q[2], q[3]
		x, y := a0[p], a1[p]
		c00 += x * b0
		c01 += x * b1
		c02 += x * b2
		c03 += x * b3
		c10 += y * b0
		c11 += y * b1
		c12 += y * b2
		c13 += y * b3
	}
	if flags&kReLU != 0 {
		c00, c01, c02, c03 = max(c00, 0), max(c01, 0), max(c02, 0), max(c03, 0)
		c10, c11, c12, c13 = max(c10, 0), max(c11, 0), max(c12, 0), max(c13, 0)
	}
	o0[0], o0[1], o0[2], o0[3] = c00, c01, c02, c03
	o1[0], o1[1], o1[2], o1[3] = c10, c11, c12, c13
}

// tileGo1x4 is tileGo2x4 for a single row.
func tileGo1x4(k int, a0, b, bias, o0 []float32, flags int) {
	a0, bias, o0 = a0[:k], bias[:4:4], o0[:4:4]
	c00, c01, c02, c03 := bias[0], bias[1], bias[2], bias[3]
	if flags&kAccumulate != 0 {
		c00, c01, c02, c03 = c00+o0[0], c01+o0[1], c02+o0[2], c03+o0[3]
	}
	for p, x := range a0 {
		q := b[p*nr : p*nr+4 : p*nr+4]
		c00 += x * q[0]
		c01 += x * q[1]
		c02 += x * q[2]
		c03 += x * q[3]
	}
	if flags&kReLU != 0 {
		c00, c01, c02, c03 = max(c00, 0), max(c01, 0), max(c02, 0), max(c03, 0)
	}
	o0[0], o0[1], o0[2], o0[3] = c00, c01, c02, c03
}
