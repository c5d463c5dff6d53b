package memory

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

//go:noescape
func dotI8RowsAVX2(qs *int8, qa *uint8, dim int, rows *unsafe.Pointer, n int, out *int32)

//go:noescape
func dotI8SeqAVX2(qs *int8, qa *uint8, dim int, rows *int8, n int, out *int32)

//go:noescape
func absI8AVX2(dst *uint8, src *int8, n int)

// absCodes sets dst[i] to |src[i]| (len(dst) == len(src)).
func absCodes(dst []uint8, src []int8) {
	if n := len(src); n > 0 && n%32 == 0 && cpu.X86.HasAVX2 {
		_ = dst[n-1]
		absI8AVX2(unsafe.SliceData(dst), unsafe.SliceData(src), n)
		return
	}
	absCodesGo(dst, src)
}

// dotRows sets out[k] to the raw product of q with the code row at
// rows[k] (each len(q.c) bytes).
func dotRows(q *queryCode, rows []unsafe.Pointer, out []int32) {
	if len(rows) == 0 {
		return
	}
	if !cpu.X86.HasAVX2 {
		dotRowsGo(q, rows, out)
		return
	}
	_ = out[len(rows)-1]
	dotI8RowsAVX2(unsafe.SliceData(q.c), unsafe.SliceData(q.abs), len(q.c), unsafe.SliceData(rows), len(rows), unsafe.SliceData(out))
}

// dotSeq sets out[k] to the raw product of q with the k-th of the
// consecutive rows in rows.
func dotSeq(q *queryCode, rows []int8, out []int32) {
	if len(out) == 0 {
		return
	}
	if !cpu.X86.HasAVX2 {
		dotSeqGo(q, rows, out)
		return
	}
	_ = rows[len(out)*len(q.c)-1]
	dotI8SeqAVX2(unsafe.SliceData(q.c), unsafe.SliceData(q.abs), len(q.c), unsafe.SliceData(rows), len(out), unsafe.SliceData(out))
}
