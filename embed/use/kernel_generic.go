//go:build !amd64 || purego

package use

// kernel computes one mr×nr block; see gemm. This build has no assembly.
func kernel(k int, a []float32, lda int, b, bias, c []float32, ldc int, flags int) {
	kernelGo(k, a, lda, b, bias, c, ldc, flags)
}

// platformKernels returns the kernels gemm uses: the portable one only.
func platformKernels() kernelSet { return kernelSet{narrow: kernel} }

// kernelName names the micro-kernel in use, for benchmarks and logs.
func kernelName() string { return "go" }
