//go:build linux

package schema

import (
	"syscall"
	"time"
	"unsafe"
)

// clockThreadCPUTime is CLOCK_THREAD_CPUTIME_ID (clock_gettime(2)).
const clockThreadCPUTime = 3

// threadCPU is the CPU time the calling thread has used. The timing tests
// lock their goroutine to its thread and read this rather than the wall
// clock, which on a shared machine also counts other processes.
func threadCPU() (time.Duration, bool) {
	var ts syscall.Timespec
	if _, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTime, uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}
