//go:build amd64 && !purego

package use

import (
	"context"
	"testing"
)

// TestWideKernelSameVectors: the golden sentences embed to the same bits
// with the AVX-512 kernel as with the AVX2 kernel alone.
func TestWideKernelSameVectors(t *testing.T) {
	if !useAVX512 {
		t.Skipf("no AVX-512 on this CPU (%s)", kernelName())
	}
	enc := testEncoder(t)
	var g golden
	readJSON(t, "golden.json", &g)
	wide, err := enc.Embed(context.Background(), g.Sentences)
	if err != nil {
		t.Fatal(err)
	}
	useAVX512 = false
	narrow, err := enc.Embed(context.Background(), g.Sentences)
	useAVX512 = true
	if err != nil {
		t.Fatal(err)
	}
	for i := range wide {
		if !equalVec(wide[i], narrow[i]) {
			t.Errorf("sentence %d %q: AVX-512 and AVX2 vectors differ", i, g.Sentences[i])
		}
	}
}
