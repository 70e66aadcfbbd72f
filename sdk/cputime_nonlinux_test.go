//go:build !linux

package sdk_test

import "time"

// threadCPU measures f's wall time where thread CPU time is unavailable.
func threadCPU(f func()) time.Duration {
	start := time.Now()
	f()
	return time.Since(start)
}
