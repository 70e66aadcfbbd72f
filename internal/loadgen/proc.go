package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// userHZ is the unit of the times in /proc/PID/stat. Linux fixes it at 100
// for user space whatever the kernel's internal tick (proc(5), USER_HZ).
const userHZ = 100

// ErrProcFormat reports /proc content that does not parse.
var ErrProcFormat = errors.New("loadgen: unexpected /proc format")

// Usage is what a process has used so far.
type Usage struct {
	// CPU is user plus system time. With Children set it includes the
	// waited-for children's time (cutime, cstime).
	CPU time.Duration
	// PeakRSS is the peak resident set size in bytes (VmHWM).
	PeakRSS int64
}

// statTimes parses utime, stime, cutime and cstime (fields 14–17, in
// clock ticks) out of the contents of /proc/PID/stat. The second field,
// the command name, is in parentheses and may itself hold spaces and
// parentheses, so fields are counted after the last ')'.
func statTimes(b []byte) (utime, stime, cutime, cstime int64, err error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, 0, 0, fmt.Errorf("%w: stat has no command name", ErrProcFormat)
	}
	// After ')' come field 3 (state) onwards.
	f := strings.Fields(string(b[i+1:]))
	const first = 3
	if len(f) < 17-first+1 {
		return 0, 0, 0, 0, fmt.Errorf("%w: stat has %d fields", ErrProcFormat, len(f)+first-1)
	}
	var v [4]int64
	for j := range v {
		v[j], err = strconv.ParseInt(f[14+j-first], 10, 64)
		if err != nil {
			return 0, 0, 0, 0, fmt.Errorf("%w: stat field %d: %v", ErrProcFormat, 14+j, err)
		}
	}
	return v[0], v[1], v[2], v[3], nil
}

// statPPID parses the parent PID (field 4) out of /proc/PID/stat.
func statPPID(b []byte) (int, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("%w: stat has no command name", ErrProcFormat)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, fmt.Errorf("%w: stat too short", ErrProcFormat)
	}
	return strconv.Atoi(f[1])
}

// statusKiB returns the value in bytes of a "Key:   123 kB" line of
// /proc/PID/status.
func statusKiB(b []byte, key string) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		k, v, ok := strings.Cut(line, ":")
		if !ok || k != key {
			continue
		}
		num, unit, _ := strings.Cut(strings.TrimSpace(v), " ")
		if unit != "kB" {
			return 0, fmt.Errorf("%w: %s unit %q", ErrProcFormat, key, unit)
		}
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: %s: %v", ErrProcFormat, key, err)
		}
		return n * 1024, nil
	}
	return 0, fmt.Errorf("%w: no %s line", ErrProcFormat, key)
}

// ReadUsage reads a live process's CPU time and peak RSS from procRoot
// (normally "/proc"). With children it adds the CPU time of the children
// it has waited for.
func ReadUsage(procRoot string, pid int, children bool) (Usage, error) {
	dir := filepath.Join(procRoot, strconv.Itoa(pid))
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return Usage{}, err
	}
	ut, st, cut, cst, err := statTimes(stat)
	if err != nil {
		return Usage{}, err
	}
	ticks := ut + st
	if children {
		ticks += cut + cst
	}
	status, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		return Usage{}, err
	}
	hwm, err := statusKiB(status, "VmHWM")
	if err != nil {
		return Usage{}, err
	}
	return Usage{CPU: time.Duration(ticks) * time.Second / userHZ, PeakRSS: hwm}, nil
}

// ReadTreeUsage reads a process and its live children (one level, as a
// PostgreSQL postmaster and its backends): CPU is the sum, including the
// children the parent has already waited for; PeakRSS is the largest
// single process's peak, since the tree's processes share memory.
func ReadTreeUsage(procRoot string, pid int) (Usage, error) {
	u, err := ReadUsage(procRoot, pid, true)
	if err != nil {
		return Usage{}, err
	}
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		return u, err
	}
	for _, e := range ents {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join(procRoot, e.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		if pp, err := statPPID(stat); err != nil || pp != pid {
			continue
		}
		cu, err := ReadUsage(procRoot, child, false)
		if err != nil {
			continue
		}
		u.CPU += cu.CPU
		u.PeakRSS = max(u.PeakRSS, cu.PeakRSS)
	}
	return u, nil
}

// SelfUsage is this process's CPU time and peak RSS, from getrusage(2).
func SelfUsage() Usage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return Usage{}
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return Usage{CPU: cpu, PeakRSS: ru.Maxrss * 1024} // Maxrss is in KiB on Linux
}

// PostmasterPID reads the PID of the PostgreSQL server whose data
// directory is pgdata, from the first line of postmaster.pid.
func PostmasterPID(pgdata string) (int, error) {
	b, err := os.ReadFile(filepath.Join(pgdata, "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%w: postmaster.pid", ErrProcFormat)
	}
	return pid, nil
}
