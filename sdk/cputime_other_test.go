//go:build !unix

package sdk_test

import "time"

func processCPU() (time.Duration, bool) { return 0, false }
