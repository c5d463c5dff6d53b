//go:build !amd64

package memory

import "unsafe"

// absCodes sets dst[i] to |src[i]| (len(dst) == len(src)).
func absCodes(dst []uint8, src []int8) { absCodesGo(dst, src) }

// dotRows sets out[k] to the raw product of q with the code row at
// rows[k] (each len(q.c) bytes).
func dotRows(q *queryCode, rows []unsafe.Pointer, out []int32) { dotRowsGo(q, rows, out) }

// dotSeq sets out[k] to the raw product of q with the k-th of the
// consecutive rows in rows.
func dotSeq(q *queryCode, rows []int8, out []int32) { dotSeqGo(q, rows, out) }
