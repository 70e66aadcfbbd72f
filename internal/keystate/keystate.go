// Package keystate is the life of a gateway key: its four states, the
// times at which the schedule moves a key on, and every transition. The
// key ring in storage records it, the gateway publishes and decrypts by
// it, and the admin plane rotates and retires through it. It imports the
// standard library only, so the gateway may use it (DESIGN.md).
//
//		current ──rotate──▶ active ──DrainAfter──▶ draining ──RetireAfter──▶ retired
//		      (admin retire of an active or draining key goes straight to retired)
//
//	  - current: published, first in the keys document; new clients use it.
//	  - active: still published and accepted after a rotation, for the grace
//	    period, so clients holding the previous document keep working.
//	  - draining: no longer published, still decrypts until every copy of a
//	    keys document that listed it has expired (Drain, the longest max-age
//	    the gateway gives the document).
//	  - retired: refused; storage wipes its secret.
package keystate

import (
	"errors"
	"fmt"
	"time"
)

// State is where a key is in its life. Its values are the key ring's
// state column.
type State string

// The states, in the order a key passes through them.
const (
	Current  State = "current"
	Active   State = "active"
	Draining State = "draining"
	Retired  State = "retired"
)

// Drain is how long a key keeps decrypting once it is no longer
// published: the longest max-age the gateway gives its keys document, so
// that every cached copy that still lists the key has expired before the
// key is refused. The gateway refuses a longer KeysMaxAge; its default
// is shorter (gateway.DefaultKeysMaxAge).
const Drain = time.Hour

// Transition errors.
var (
	// ErrRetireCurrent refuses to retire the current key: clients would
	// have no key to use. Rotate its KEM first.
	ErrRetireCurrent = errors.New("keystate: the current key cannot be retired; rotate its KEM first, then retire the old key")
	// ErrRetired reports a transition asked of a retired key.
	ErrRetired = errors.New("keystate: the key is retired")
	// ErrNotCurrent reports a rotation of a key that is not current.
	ErrNotCurrent = errors.New("keystate: only the current key is rotated")
)

// Parse reads a state as stored.
func Parse(s string) (State, error) {
	switch st := State(s); st {
	case Current, Active, Draining, Retired:
		return st, nil
	}
	return "", fmt.Errorf("keystate: unknown key state %q", s)
}

// Published reports whether a key in state s is listed in the keys
// document.
func (s State) Published() bool { return s == Current || s == Active }

// Decrypts reports whether a key in state s may open requests.
func (s State) Decrypts() bool { return s == Current || s == Active || s == Draining }

// Life is one key's recorded state and the times at which the schedule
// moves it on. Its zero times mean "not scheduled".
type Life struct {
	State State
	// DrainAfter is when an active key stops being published.
	DrainAfter time.Time
	// RetireAfter is when a key stops decrypting and is retired.
	RetireAfter time.Time
}

// At is the key's state at now: the recorded state moved on by the
// schedule. Storage records the timed moves only periodically (retention),
// so readers always ask At rather than read State. An unknown state is
// retired: nothing decrypts with a key whose state is not understood, nor
// with a draining key that has no end.
func (l Life) At(now time.Time) State {
	switch l.State {
	case Current:
		return Current
	case Active:
		if !l.RetireAfter.IsZero() && !now.Before(l.RetireAfter) {
			return Retired
		}
		if !l.DrainAfter.IsZero() && !now.Before(l.DrainAfter) {
			return Draining
		}
		return Active
	case Draining:
		if l.RetireAfter.IsZero() || !now.Before(l.RetireAfter) {
			return Retired
		}
		return Draining
	}
	return Retired
}

// Rotate is the current key replaced at now by a new one: it stays
// published for grace, then drains for Drain.
func (l Life) Rotate(now time.Time, grace time.Duration) (Life, error) {
	if l.State != Current {
		return l, fmt.Errorf("%w (it is %s)", ErrNotCurrent, l.State)
	}
	if grace < 0 {
		return l, fmt.Errorf("keystate: negative grace period %v", grace)
	}
	drain := now.Add(grace)
	return Life{State: Active, DrainAfter: drain, RetireAfter: drain.Add(Drain)}, nil
}

// Retire is the key retired at once, as the admin API asks: an active or
// draining key is refused from now on. The current key cannot be retired
// (ErrRetireCurrent), nor a retired one (ErrRetired).
func (l Life) Retire(now time.Time) (Life, error) {
	switch l.At(now) {
	case Current:
		return l, ErrRetireCurrent
	case Retired:
		return l, ErrRetired
	}
	return Life{State: Retired, DrainAfter: l.DrainAfter, RetireAfter: now}, nil
}
