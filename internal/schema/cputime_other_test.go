//go:build !linux

package schema

import "time"

func threadCPU() (time.Duration, bool) { return 0, false }
