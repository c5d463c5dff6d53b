package memory

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

//go:noescape
func dotU4S8BatchAVX2(q *int8, base *uint8, stride int, ids *uint32, n int, out *int32)

// dotCodes sets out[k] to the raw product of the query code q with the
// code row of ids[k] in codes (rows of len(q)/2 bytes).
func dotCodes(q []int8, codes []uint8, ids []uint32, out []int32) {
	if len(ids) == 0 {
		return
	}
	if !cpu.X86.HasAVX2 {
		dotCodesGo(q, codes, ids, out)
		return
	}
	stride := len(q) / 2
	_ = out[len(ids)-1]
	for _, id := range ids {
		if (int(id)+1)*stride > len(codes) {
			panic("memory: code row out of range")
		}
	}
	dotU4S8BatchAVX2(unsafe.SliceData(q), unsafe.SliceData(codes), stride, unsafe.SliceData(ids), len(ids), unsafe.SliceData(out))
}

//go:noescape
func dotU4S8SeqAVX2(q *int8, rows *uint8, stride int, n int, out *int32)

// dotCodesSeq sets out[k] to the raw product of q with code row first+k,
// for k < len(out).
func dotCodesSeq(q []int8, codes []uint8, first int, out []int32) {
	if len(out) == 0 {
		return
	}
	stride := len(q) / 2
	rows := codes[first*stride : (first+len(out))*stride]
	if !cpu.X86.HasAVX2 {
		dotCodesSeqGo(q, rows, out)
		return
	}
	dotU4S8SeqAVX2(unsafe.SliceData(q), unsafe.SliceData(rows), stride, len(out), unsafe.SliceData(out))
}
