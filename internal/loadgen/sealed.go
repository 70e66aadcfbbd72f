package loadgen

import (
	"context"
	"errors"
	randv2 "math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// ErrExhausted ends a run whose workload has no request left (Sealed):
// Run stops starting requests, as at its deadline, and reports what was
// sent.
var ErrExhausted = errors.New("loadgen: the pre-sealed requests are used up")

// Sealed is a workload whose requests were all prepared — built and
// encapsulated — before the run, so the timed run spends no CPU sealing
// and the target's share of the cores shows. Each request is sent once.
type Sealed struct {
	target string
	reqs   []*Prepared
	next   atomic.Int64
	// Sealing is the CPU time (this process, user+system) the preparation
	// took, and Count how many requests it prepared.
	Sealing time.Duration
	Count   int
}

// Preseal prepares n requests of w with workers goroutines and returns
// them as a workload. Its CPU cost is measured apart (Sealed.Sealing).
func Preseal(ctx context.Context, w Workload, n, workers int) (*Sealed, error) {
	if n < 1 || workers < 1 {
		return nil, errors.New("loadgen: Preseal needs n ≥ 1 and workers ≥ 1")
	}
	s := &Sealed{target: w.Target(), reqs: make([]*Prepared, n), Count: n}
	before := SelfUsage()
	var (
		wg    sync.WaitGroup
		next  atomic.Int64
		first error
		once  sync.Once
	)
	seed := uint64(time.Now().UnixNano())
	for g := range workers {
		wg.Go(func() {
			rng := randv2.New(randv2.NewPCG(seed, uint64(g)+1<<32))
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				p, err := w.Prepare(rng)
				if err != nil {
					once.Do(func() { first = err })
					return
				}
				s.reqs[i] = p
			}
		})
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	after := SelfUsage()
	s.Sealing = after.CPU - before.CPU
	return s, nil
}

// Target implements Workload.
func (s *Sealed) Target() string { return s.target }

// Prepare implements Workload: the next sealed request, or ErrExhausted.
func (s *Sealed) Prepare(*randv2.Rand) (*Prepared, error) {
	i := s.next.Add(1) - 1
	if i >= int64(len(s.reqs)) {
		return nil, ErrExhausted
	}
	p := s.reqs[i]
	s.reqs[i] = nil // sent once; let it go
	return p, nil
}

// Used is how many requests Prepare handed out (at most Count).
func (s *Sealed) Used() int { return int(min(s.next.Load(), int64(len(s.reqs)))) }
