package use

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"regexp"
	"testing"
)

// naiveGemm is the definition gemm must match: c = [c +] bias + a·w (w
// row-major [k, n]), then ReLU if asked.
func naiveGemm(c []float32, ldc int, a []float32, lda, m, k int, w []float32, n int, bias []float32, flags int) {
	for i := range m {
		for j := range n {
			s := float64(bias[j])
			if flags&kAccumulate != 0 {
				s += float64(c[i*ldc+j])
			}
			for p := range k {
				s += float64(a[i*lda+p]) * float64(w[p*n+j])
			}
			if flags&kReLU != 0 {
				s = max(s, 0)
			}
			c[i*ldc+j] = float32(s)
		}
	}
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}

func TestGemm(t *testing.T) {
	kernels := []struct {
		name string
		kern kernelSet
	}{
		{"platform-" + kernelName(), platformKernels()},
		{"narrow", kernelSet{narrow: kernel}},
		{"go", kernelSet{narrow: kernelGo}},
	}
	shapes := []struct{ m, k, n int }{
		{mr, 1, nr},         // single step: only the k-tail loop runs
		{mr, 3, nr},         // tail only
		{mr, 4, nr},         // one unrolled iteration
		{2 * mr, 7, 2 * nr}, // unrolled + tail
		{4 * mr, 64, 3 * nr},
		{5 * mr, 256, 2 * nr},
		{mr, 513, nr},
		{2 * mr, 5, nr},       // one wide block
		{3 * mr, 9, 2 * nr},   // wide + narrow remainder
		{7 * mr, 130, 2 * nr}, // three wide blocks + remainder
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, kn := range kernels {
		for _, sh := range shapes {
			for _, flags := range []int{0, kAccumulate, kReLU, kAccumulate | kReLU} {
				t.Run(fmt.Sprintf("%s/m%d_k%d_n%d_flags%d", kn.name, sh.m, sh.k, sh.n, flags), func(t *testing.T) {
					// Leading dimensions larger than the matrices catch
					// stride mistakes.
					lda, ldc := sh.k+5, sh.n+nr
					a := randSlice(r, (sh.m-1)*lda+sh.k)
					w := randSlice(r, sh.k*sh.n)
					bias := randSlice(r, sh.n)
					c0 := randSlice(r, (sh.m-1)*ldc+sh.n)
					want := append([]float32(nil), c0...)
					got := append([]float32(nil), c0...)
					naiveGemm(want, ldc, a, lda, sh.m, sh.k, w, sh.n, bias, flags)
					p := packMat(w, sh.k, sh.n)
					gemmWith(kn.kern, got, ldc, a, lda, sh.m, sh.k, p.data, sh.n, bias, flags)
					tol := 1e-5 * float64(sh.k+1)
					for i := range got {
						if d := math.Abs(float64(got[i] - want[i])); d > tol {
							t.Fatalf("element %d (row %d, col %d): got %g, want %g", i, i/ldc, i%ldc, got[i], want[i])
						}
					}
				})
			}
		}
	}
}

// TestKernelsBitIdentical: with and without the wide kernel, gemm gives
// exactly the same bits, so batched rows (which land in wide blocks) embed
// exactly as a sentence alone.
func TestKernelsBitIdentical(t *testing.T) {
	wide := platformKernels()
	if wide.wide == nil {
		t.Skipf("no wide kernel on this CPU (%s)", kernelName())
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, m := range []int{2 * mr, 3 * mr, 9 * mr} {
		for _, flags := range []int{0, kAccumulate, kReLU, kAccumulate | kReLU} {
			k, n := 77, 3*nr
			a := randSlice(r, m*k)
			w := packMat(randSlice(r, k*n), k, n)
			bias := randSlice(r, n)
			c0 := randSlice(r, m*n)
			got := append([]float32(nil), c0...)
			want := append([]float32(nil), c0...)
			gemmWith(wide, got, n, a, k, m, k, w.data, n, bias, flags)
			gemmWith(kernelSet{narrow: kernel}, want, n, a, k, m, k, w.data, n, bias, flags)
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("m=%d flags=%d element %d: wide %g, narrow %g", m, flags, i, got[i], want[i])
				}
			}
		}
	}
}

// TestPackPanelsTranspose checks the strided (transposing) packing used
// for the attention keys.
func TestPackPanelsTranspose(t *testing.T) {
	const k, n, ld = 5, 2 * nr, 40
	src := make([]float32, n*ld)
	for i := range src {
		src[i] = float32(i)
	}
	// Element (r, j) of the packed matrix is src[j*ld + r]: a transpose.
	dst := make([]float32, k*n)
	packPanels(dst, src, 1, k, n, ld)
	for r := range k {
		for j := range n {
			got := dst[(j/nr)*k*nr+r*nr+j%nr]
			if want := src[j*ld+r]; got != want {
				t.Fatalf("(%d,%d) = %g, want %g", r, j, got, want)
			}
		}
	}
}

func TestGemmBoundsPanic(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("gemm with a short A did not panic")
		}
	}()
	p := packMat(make([]float32, 8*nr), 8, nr)
	c := make([]float32, mr*nr)
	gemm(c, nr, make([]float32, mr*8-1), 8, mr, 8, p.data, nr, make([]float32, nr), 0)
}

// TestKernelAsmIsAVX2Only guards the generated assembly against registers
// that exist only with AVX-512 (X/Y16–31, Z, K masks): the assembler
// encodes them with EVEX without complaint, and the kernel would then fault
// on AVX2-only CPUs although it is selected by the AVX2 check.
func TestKernelAsmIsAVX2Only(t *testing.T) {
	src, err := os.ReadFile("kernel_amd64.s")
	if err != nil {
		t.Fatal(err)
	}
	evex := regexp.MustCompile(`\b([XY](1[6-9]|2[0-9]|3[01])|Z[0-9]+|K[1-7])\b`)
	if m := evex.FindAll(src, -1); len(m) > 0 {
		t.Fatalf("kernel_amd64.s uses AVX-512-only registers: %q", m)
	}
	if !regexp.MustCompile(`VFMADD231PS`).Match(src) {
		t.Fatal("kernel_amd64.s has no FMA: not the expected kernel")
	}
}
