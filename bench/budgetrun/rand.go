package budgetrun

import "math/rand/v2"

func newRand(seed uint64) func() float64 {
	return rand.New(rand.NewPCG(seed, 99)).Float64
}
