//go:build unix

package redeem

import (
	"syscall"
	"testing"
	"time"
)

// processCPU is the CPU time (user + system) this process has used:
// benchmarks report CPU per operation from it, since wall time on a shared
// machine also counts the other processes.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}

// reportCPU runs f under b.Loop and reports its CPU time per operation.
func reportCPU(b *testing.B, f func()) {
	start, ok := processCPU()
	n := 0
	for b.Loop() {
		f()
		n++
	}
	if end, ok2 := processCPU(); ok && ok2 && n > 0 {
		b.ReportMetric(float64((end-start).Nanoseconds())/float64(n), "cpu-ns/op")
	}
}
