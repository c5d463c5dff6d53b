package memory

import (
	"math/rand/v2"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
)

func threadCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestDotCost(t *testing.T) {
	if os.Getenv("SEMCACHE_TUNE") == "" {
		t.Skip("tuning aid")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	n, dim := 100000, 384
	vs := randomUnit(1, n, dim)
	slab := make([]float32, 0, n*dim)
	for _, v := range vs {
		slab = append(slab, v...)
	}
	q := vs[0]
	order := rand.Perm(n)
	var s float32
	c0, w0 := threadCPU(), time.Now()
	for rep := 0; rep < 3; rep++ {
		for _, i := range order {
			s += dot(q, slab[i*dim:(i+1)*dim])
		}
	}
	c1, w1 := threadCPU(), time.Now()
	t.Logf("random order: cpu %v/dot wall %v/dot", (c1-c0)/time.Duration(3*n), w1.Sub(w0)/time.Duration(3*n))
	c0, w0 = threadCPU(), time.Now()
	for rep := 0; rep < 3; rep++ {
		for i := range n {
			s += dot(q, slab[i*dim:(i+1)*dim])
		}
	}
	c1, w1 = threadCPU(), time.Now()
	t.Logf("sequential:   cpu %v/dot wall %v/dot", (c1-c0)/time.Duration(3*n), w1.Sub(w0)/time.Duration(3*n))
	c0, w0 = threadCPU(), time.Now()
	for rep := 0; rep < 3*n; rep++ {
		s += dot(q, slab[:dim])
	}
	c1, w1 = threadCPU(), time.Now()
	t.Logf("cached:       cpu %v/dot wall %v/dot %v", (c1-c0)/time.Duration(3*n), w1.Sub(w0)/time.Duration(3*n), s > 0)
}

func TestMemCost(t *testing.T) {
	if os.Getenv("SEMCACHE_TUNE") == "" {
		t.Skip("tuning aid")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	n := 100000
	for _, stride := range []int{48, 192, 384, 1536} {
		buf := make([]uint64, n*stride/8)
		for i := range buf {
			buf[i] = uint64(i)
		}
		order := rand.Perm(n)
		var s uint64
		c0 := threadCPU()
		w0 := time.Now()
		for rep := 0; rep < 3; rep++ {
			for _, i := range order {
				row := buf[i*stride/8 : (i+1)*stride/8]
				for _, x := range row {
					s += x
				}
			}
		}
		t.Logf("stride %4dB (%5.1f MB): cpu %v/row wall %v/row %v", stride, float64(n*stride)/1e6, (threadCPU()-c0)/time.Duration(3*n), time.Since(w0)/time.Duration(3*n), s > 0)
	}
}
