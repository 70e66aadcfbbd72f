//go:build linux

package sdk_test

import (
	"runtime"
	"syscall"
	"time"
	"unsafe"
)

// threadCPU measures f's CPU time on its OS thread, so that time the
// thread spends descheduled on a busy machine is not counted.
func threadCPU(f func()) time.Duration {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t0, ok0 := threadClock()
	start := time.Now()
	f()
	t1, ok1 := threadClock()
	if !ok0 || !ok1 {
		return time.Since(start)
	}
	return t1 - t0
}

func threadClock() (time.Duration, bool) {
	const clockThreadCPUTimeID = 3
	var ts syscall.Timespec
	_, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0)
	return time.Duration(ts.Nano()), errno == 0
}
