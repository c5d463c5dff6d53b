//go:build unix

package use

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time (user + system) the process has used.
// Benchmarks report it per op next to ns/op: on a shared machine wall time
// includes time spent descheduled, CPU time does not.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
