package use

func kernel(k int, a []float32, lda int, b, bias, c []float32, ldc int, flags int) {
	kernelGo(k, a, lda, b, bias, c, ldc, flags)
}
