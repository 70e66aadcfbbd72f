package config

import (
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"
)

// Soft memory limit (runtime/debug.SetMemoryLimit) of veil serve and veil
// relay. Their in-flight limits bound what they hold; the soft limit makes
// the collector return garbage sooner when a burst nears it, well below
// the 512 MiB a 2-core deployment is sized for.
const (
	DefaultMemoryLimit = 384 << 20
	MinMemoryLimit     = 32 << 20
)

// DefaultGCPercent is veil serve's collector target. Its live heap is
// small (a few MiB: pools, key ring, caches), so at the runtime's default
// of 100 the collector runs every few MiB allocated — every couple of
// hundred gateway requests — and its fixed per-cycle cost came to about a
// fifth of the process's CPU per request under gateway load. At 400 the
// heap settles at a few tens of MiB and the memory limit still bounds a
// burst.
const DefaultGCPercent = 400

// ByteSize is a flag value in bytes, written as GOMEMLIMIT is: a number
// with an optional B, KiB, MiB or GiB suffix.
type ByteSize int64

func (b ByteSize) String() string {
	switch v := int64(b); {
	case v == 0:
		return "0"
	case v%(1<<30) == 0:
		return strconv.FormatInt(v>>30, 10) + "GiB"
	case v%(1<<20) == 0:
		return strconv.FormatInt(v>>20, 10) + "MiB"
	case v%(1<<10) == 0:
		return strconv.FormatInt(v>>10, 10) + "KiB"
	default:
		return strconv.FormatInt(v, 10) + "B"
	}
}

// Set parses a size.
func (b *ByteSize) Set(s string) error {
	num, mul := strings.TrimSpace(s), int64(1)
	for _, u := range []struct {
		suffix string
		mul    int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"B", 1}} {
		if n, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mul = n, u.mul
			break
		}
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v < 0 || v > (1<<62)/mul {
		return fmt.Errorf("%q: want a size such as 384MiB", s)
	}
	*b = ByteSize(v * mul)
	return nil
}

// Type names the flag's kind in help.
func (*ByteSize) Type() string { return "size" }

// checkMemoryLimit refuses a limit too small to run with.
func checkMemoryLimit(limit ByteSize) error {
	if limit != 0 && limit < MinMemoryLimit {
		return fmt.Errorf("--memory-limit %v: must be 0 or at least %v", limit, ByteSize(MinMemoryLimit))
	}
	return nil
}

// ApplyMemoryLimit sets the runtime's soft memory limit from a flag. A
// flag left at its default (changed false) yields to GOMEMLIMIT in the
// environment; 0 leaves the runtime alone.
func ApplyMemoryLimit(limit ByteSize, changed bool, getenv func(string) string) {
	if limit == 0 || (!changed && getenv("GOMEMLIMIT") != "") {
		return
	}
	debug.SetMemoryLimit(int64(limit))
}

// ApplyGCPercent sets the collector's target from a flag. A flag left at
// its default yields to GOGC in the environment.
func ApplyGCPercent(percent int, changed bool, getenv func(string) string) {
	if !changed && getenv("GOGC") != "" {
		return
	}
	debug.SetGCPercent(percent)
}
