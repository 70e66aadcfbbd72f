//go:build !unix

package ingest

import "time"

func processCPU() (time.Duration, bool) { return 0, false }
