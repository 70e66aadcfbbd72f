package sdk

import "time"

// clock is the Client's source of time. Tests substitute a fake one so that
// batching intervals, backoff and Retry-After run without sleeping.
type clock interface {
	Now() time.Time
	// Timer returns a channel that receives once d has elapsed, and a
	// function that releases the timer early.
	Timer(d time.Duration) (<-chan time.Time, func())
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) Timer(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTimer(d)
	return t.C, func() { t.Stop() }
}
