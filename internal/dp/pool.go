package dp

import (
	"context"
	"io"
	"math/big"
	"sync"
)

// Pool hands out discrete Laplace draws made ahead of time by Run, so the
// code that asks for noise waits for a channel receive, not for a sampler
// whose running time depends on the value it returns (the rejection loops
// above take longer for larger draws). Each scale has its own queue,
// created on first use and refilled in the background.
type Pool struct {
	r    io.Reader
	size int

	mu     sync.Mutex
	queues map[string]chan *big.Int
	order  []string // scales in first-use order, for the filler
	scales map[string]*big.Rat
	wake   chan struct{}
	failed chan struct{}
	err    error
}

// NewPool returns a pool that keeps up to size draws per scale (at least
// 1), read from r (crypto/rand.Reader in production).
func NewPool(r io.Reader, size int) *Pool {
	return &Pool{
		r: r, size: max(size, 1),
		queues: map[string]chan *big.Int{},
		scales: map[string]*big.Rat{},
		wake:   make(chan struct{}, 1),
		failed: make(chan struct{}),
	}
}

// queue returns the queue of scale b, creating it.
func (p *Pool) queue(b *big.Rat) chan *big.Int {
	key := b.RatString()
	p.mu.Lock()
	defer p.mu.Unlock()
	q, ok := p.queues[key]
	if !ok {
		q = make(chan *big.Int, p.size)
		p.queues[key] = q
		p.scales[key] = new(big.Rat).Set(b)
		p.order = append(p.order, key)
	}
	return q
}

func (p *Pool) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Laplace returns one discrete Laplace draw of scale b > 0 from the pool,
// waiting for the filler when the queue is empty. It fails with ctx's
// error, or with the reader's error once the filler has stopped on one.
func (p *Pool) Laplace(ctx context.Context, b *big.Rat) (*big.Int, error) {
	if b.Sign() <= 0 {
		return nil, ErrParameter
	}
	q := p.queue(b)
	for {
		select {
		case v := <-q:
			p.signal()
			return v, nil
		default:
		}
		p.signal()
		select {
		case v := <-q:
			p.signal()
			return v, nil
		case <-p.failed:
			return nil, p.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Prepare creates the queues of the given scales so Run fills them before
// anyone asks.
func (p *Pool) Prepare(scales ...*big.Rat) {
	for _, b := range scales {
		if b.Sign() > 0 {
			p.queue(b)
		}
	}
	p.signal()
}

// Run fills the queues until ctx ends (returning nil) or the reader fails
// (returning its error, which Laplace then returns too). Only one Run may
// run at a time.
func (p *Pool) Run(ctx context.Context) error {
	for {
		filled := false
		p.mu.Lock()
		keys := append([]string(nil), p.order...)
		p.mu.Unlock()
		for _, key := range keys {
			p.mu.Lock()
			q, b := p.queues[key], p.scales[key]
			p.mu.Unlock()
			if len(q) == cap(q) {
				continue
			}
			v, err := Laplace(p.r, b)
			if err != nil {
				p.err = err
				close(p.failed)
				return err
			}
			q <- v // only Run sends, so there is room
			filled = true
		}
		if ctx.Err() != nil {
			return nil
		}
		if filled {
			continue
		}
		select {
		case <-p.wake:
		case <-ctx.Done():
			return nil
		}
	}
}
