//go:build unix

package relay_test

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user and system) this test process has
// used, for BenchmarkRelay's cpu-ns/op.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
