//go:build !amd64

package memory

func dotCodes(q []int8, codes []uint8, ids []uint32, out []int32) {
	dotCodesGo(q, codes, ids, out)
}
