package sdk

import (
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Test hooks for the external test package.

var PaddedSize = paddedSize

const MaxClockCorrection = maxClockCorrection

const SealedMagic = sealedMagic

// QueueFileJSON returns the JSON sealed in the queue file at path, opened
// with key, or with the key file of its directory when key is nil.
func QueueFileJSON(path string, key []byte) ([]byte, error) {
	if key == nil {
		var err error
		if key, err = os.ReadFile(filepath.Join(filepath.Dir(path), queueKeyFile)); err != nil {
			return nil, err
		}
	}
	aead, err := newQueueAEAD(key)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return unseal(aead, data)
}

// SetClock makes a Client built from cfg use clk.
func SetClock(cfg *Config, clk *FakeClock) { cfg.clock = clk }

// FakeClock is a manually advanced clock. Every timer it hands out is also
// reported on Armed, so a test can see (and check) each wait the Client
// starts before advancing past it.
type FakeClock struct {
	Armed chan time.Duration

	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func NewFakeClock(now time.Time) *FakeClock {
	return &FakeClock{now: now, Armed: make(chan time.Duration, 1024)}
}

func (f *FakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *FakeClock) Timer(d time.Duration) (<-chan time.Time, func()) {
	f.mu.Lock()
	t := &fakeTimer{at: f.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.ch <- f.now
	} else {
		f.timers = append(f.timers, t)
	}
	f.mu.Unlock()
	select {
	case f.Armed <- d:
	default:
	}
	return t.ch, func() { f.stop(t) }
}

func (f *FakeClock) stop(t *fakeTimer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, x := range f.timers {
		if x == t {
			f.timers = append(f.timers[:i], f.timers[i+1:]...)
			return
		}
	}
}

// Advance moves the clock forward and fires the timers that are due.
func (f *FakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	kept := f.timers[:0]
	for _, t := range f.timers {
		if !t.at.After(f.now) {
			t.ch <- f.now
		} else {
			kept = append(kept, t)
		}
	}
	f.timers = kept
}

var TransportClass = transportClass
