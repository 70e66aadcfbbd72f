package loadgen

import (
	"context"
	"sync/atomic"
	"time"
)

// Pacer spaces request starts to a target rate, open loop: the k-th call
// to Wait returns no earlier than start + k/rate, however many workers
// share it, so a slow answer does not lower the offered load (a worker
// that falls behind its schedule sends at once until it catches up). A nil
// Pacer, or one made with rate 0, never waits.
type Pacer struct {
	start    time.Time
	interval time.Duration
	next     atomic.Int64
}

// NewPacer returns a Pacer for rate requests per second starting now; rate
// 0 means no limit.
func NewPacer(rate float64) *Pacer {
	if rate <= 0 {
		return nil
	}
	return &Pacer{start: time.Now(), interval: time.Duration(float64(time.Second) / rate)}
}

// Wait blocks until the caller's slot is due or ctx ends.
func (p *Pacer) Wait(ctx context.Context) error {
	if p == nil || p.interval <= 0 {
		return ctx.Err()
	}
	k := p.next.Add(1) - 1
	d := time.Until(p.start.Add(time.Duration(k) * p.interval))
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
