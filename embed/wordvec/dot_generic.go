//go:build !amd64 || purego

package wordvec

// dot is the integer dot product of two int8 vectors of equal length. This
// build has no assembly.
func dot(a, b []byte) int32 { return dotGo(a, b) }
