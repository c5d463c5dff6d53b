//go:build !unix

package use

import "time"

// processCPU is unavailable here; benchmarks then omit the cpu-ms/op metric.
func processCPU() time.Duration { return 0 }
