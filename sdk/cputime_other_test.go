//go:build !unix

package veil_test

import "time"

func processCPU() (time.Duration, bool) { return 0, false }
