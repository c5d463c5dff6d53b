package engine

// Histogram bucket sets, each sized for what it measures (upper bounds in
// seconds). One set for everything made a miss of 102 ms read as a p50 of
// 172 ms (the bucket above 100 ms ended at 250 ms); TestBucketRanges
// checks that each set resolves the values it exists for.
var (
	// FastBuckets measure what semcache does itself: lookup steps, hits,
	// gaps between stream chunks. 5 µs to 5 s in 1-2-5 steps, so 20 µs
	// (an exact hit) and 2 ms (an embedding) each have a bucket edge
	// within a factor of 2.5: a quantile reads within 75% of the truth at
	// worst, where one set for everything (its lowest bucket 1 ms) could
	// not tell 20 µs from 800 µs.
	FastBuckets = []float64{
		5e-6, 10e-6, 20e-6, 50e-6, 100e-6, 200e-6, 500e-6,
		1e-3, 2e-3, 5e-3, 10e-3, 20e-3, 50e-3, 100e-3, 200e-3, 500e-3,
		1, 2, 5,
	}
	// SlowBuckets measure what waits for the upstream model: upstream
	// calls, first tokens, misses and pass-through. 10 ms to 2 min, in
	// steps of at most 1.33× from 50 ms to 5 s where model latencies sit,
	// so an interpolated quantile is at most ~17% off there (102 ms reads
	// 115 ms at worst), and at most 2× beyond.
	SlowBuckets = []float64{
		.01, .025, .05, .065, .08, .1, .13, .16, .2, .25, .3, .4, .5, .65, .8,
		1, 1.3, 1.6, 2, 2.5, 3, 4, 5, 7.5, 10, 15, 20, 30, 60, 120,
	}
)
