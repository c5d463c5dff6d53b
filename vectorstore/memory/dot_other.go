//go:build !amd64

package memory

func dotCodes(q []int8, codes []uint8, ids []uint32, out []int32) {
	dotCodesGo(q, codes, ids, out)
}

func dotCodesSeq(q []int8, codes []uint8, first int, out []int32) {
	stride := len(q) / 2
	dotCodesSeqGo(q, codes[first*stride:(first+len(out))*stride], out)
}
