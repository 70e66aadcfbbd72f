// Package bodyread reads a request body before the request takes one of a
// server's processing slots: under a minimum transfer rate, so a client
// trickling its body is cut off after a short grace, and against a byte
// budget shared by every body being read, so many slow or large bodies
// cannot move the exhaustion from the slots to memory.
package bodyread

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// Defaults for a zero Policy field.
const (
	// DefaultGrace is how long a body may take before the minimum rate
	// applies: enough for a slow mobile link to send a typical batch.
	DefaultGrace = 2 * time.Second
	// DefaultMinRate is the slowest transfer, in bytes per second, a body
	// may keep up after the grace.
	DefaultMinRate = 16 << 10
	// DefaultMaxTime bounds a whole body, whatever its rate.
	DefaultMaxTime = 30 * time.Second
	// PresizeBytes bounds how much of a declared Content-Length is
	// allocated (and charged) before the bytes arrive: a claim is not
	// bytes received, and slow senders claiming large bodies must not
	// hold the budget.
	PresizeBytes = 4 << 10
)

// ErrTooSlow reports a body that did not arrive within its deadline; the
// client should be answered 408.
var ErrTooSlow = errors.New("request body arrived too slowly")

// ErrOverBudget reports that the bodies being read already hold the whole
// byte budget; the client should be answered 503 with Retry-After.
var ErrOverBudget = errors.New("too many request bytes being read at once")

// Budget is a byte semaphore: the bytes of request bodies held at once.
// It is safe for concurrent use.
type Budget struct {
	max  int64
	used atomic.Int64
}

// NewBudget returns a budget of max bytes.
func NewBudget(max int64) *Budget { return &Budget{max: max} }

// TryAcquire takes n bytes if they are free and reports whether it did.
func (b *Budget) TryAcquire(n int64) bool {
	for {
		u := b.used.Load()
		if u+n > b.max {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

// Release returns n bytes taken by TryAcquire.
func (b *Budget) Release(n int64) { b.used.Add(-n) }

// Used reports the bytes held now.
func (b *Budget) Used() int64 { return b.used.Load() }

// Policy is how fast a body must arrive.
type Policy struct {
	// Grace is the time before MinRate applies (default DefaultGrace).
	Grace time.Duration
	// MinRate is in bytes per second (default DefaultMinRate): a body of
	// n bytes so far may take Grace + n/MinRate.
	MinRate int64
	// MaxTime bounds the whole body (default DefaultMaxTime).
	MaxTime time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (p Policy) withDefaults() Policy {
	if p.Grace <= 0 {
		p.Grace = DefaultGrace
	}
	if p.MinRate <= 0 {
		p.MinRate = DefaultMinRate
	}
	if p.MaxTime <= 0 {
		p.MaxTime = DefaultMaxTime
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	return p
}

// Read reads r's body into buf, at most limit bytes, under p's deadline
// (set on the connection or stream through http.ResponseController) and
// charging every byte read to b. It returns the bytes read and the bytes
// charged; the caller releases the charge once it no longer holds the
// body, also on error. Errors: ErrTooSlow, ErrOverBudget,
// *http.MaxBytesError for a body over limit, or the read error.
//
// After the body is read whole the request's read deadline is cleared, so
// work that follows is not cut off by it (the server's WriteTimeout still
// bounds the answer); after an error it stays, so that whatever net/http
// drains of the rest of the body is bounded by it too.
func Read(w http.ResponseWriter, r *http.Request, buf *bytes.Buffer, limit int64, b *Budget, p Policy) (n, charged int64, err error) {
	p = p.withDefaults()
	rc := http.NewResponseController(w)
	start := p.Now()
	cr := &chargingReader{
		r:      http.MaxBytesReader(w, r.Body, limit),
		rc:     rc,
		budget: b,
		start:  start,
		pol:    p,
	}
	if pre := min(r.ContentLength, PresizeBytes); pre > 0 && buf.Available() < int(pre) && b.TryAcquire(pre) {
		cr.charged, cr.credit = pre, pre
		buf.Grow(int(pre))
	}
	// A server that cannot set a deadline (a test recorder) keeps its own.
	cr.deadlines = rc.SetReadDeadline(cr.deadline()) == nil
	n, err = buf.ReadFrom(cr)
	// On error the deadline stays: net/http may drain what is left of the
	// body after the handler, and that drain must not outlive it.
	if cr.deadlines && err == nil {
		rc.SetReadDeadline(time.Time{})
	}
	if err != nil && !errors.Is(err, ErrOverBudget) {
		var tooBig *http.MaxBytesError
		if !errors.As(err, &tooBig) && (errors.Is(err, os.ErrDeadlineExceeded) || isTimeout(err)) {
			err = fmt.Errorf("%w: %w", ErrTooSlow, err)
		}
	}
	return n, cr.charged, err
}

func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}

type chargingReader struct {
	r         io.Reader
	rc        *http.ResponseController
	budget    *Budget
	start     time.Time
	pol       Policy
	n         int64
	charged   int64
	credit    int64 // bytes charged ahead (the presize) not yet read
	deadlines bool
}

func (c *chargingReader) deadline() time.Time {
	d := c.pol.Grace + time.Duration(c.n)*time.Second/time.Duration(c.pol.MinRate)
	return c.start.Add(min(d, c.pol.MaxTime))
}

func (c *chargingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	if k > 0 {
		use := min(c.credit, int64(k))
		c.credit -= use
		if more := int64(k) - use; more > 0 {
			if !c.budget.TryAcquire(more) {
				return 0, ErrOverBudget
			}
			c.charged += more
		}
		c.n += int64(k)
		if c.deadlines && err == nil {
			c.rc.SetReadDeadline(c.deadline())
		}
	}
	return k, err
}
