package send

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/veil-telemetry/veil/sdk"
)

// DefaultFirstContact is how long connections may keep failing as
// unreachable (refused, unknown host, no route) before anything has
// answered, until `veil send` gives up: long enough for a relay that is
// starting, short enough that a wrong address is reported at once.
const DefaultFirstContact = 3 * time.Second

// failures applies `veil send`'s policy to the SDK's failed attempts: it
// ends the run on the first failure that retrying cannot fix, tells the
// user once when retrying starts, and tallies every failed attempt for the
// summary. The SDK itself retries everything; a one-shot command should
// not wait minutes for a typo.
type failures struct {
	cfg   *Config
	watch *contactWatch
	// stop ends the run; called once, with the fatal error.
	stop func(error)

	mu       sync.Mutex
	fatal    *sdk.DeliveryError
	retrying bool           // the retry line was printed
	byKind   map[string]int // failed attempts per status or transport failure
	last     *sdk.DeliveryError
}

func newFailures(cfg *Config, stop func(error)) *failures {
	f := &failures{cfg: cfg, stop: stop, byKind: map[string]int{}}
	f.watch = &contactWatch{budget: cmp.Or(cfg.FirstContact, DefaultFirstContact), fail: f.fail}
	return f
}

// onError is the SDK's Config.OnError.
func (f *failures) onError(err error) {
	de, ok := errors.AsType[*sdk.DeliveryError](err)
	if !ok {
		return
	}
	f.mu.Lock()
	f.byKind[kindOf(de)]++
	f.last = de
	f.mu.Unlock()
	switch {
	case errors.Is(de, sdk.ErrKeysRefused), errors.Is(de, sdk.ErrKeyConfig), errors.Is(de, sdk.ErrTLS),
		errors.Is(de, sdk.ErrKeysUnauthenticated):
		f.fail(de)
		return
	case errors.Is(de, sdk.ErrRelayRefused) && de.Attempt > 1:
		// Refused again after the SDK refetched the keys: not a key
		// the gateway forgot, but the wrong URL.
		f.fail(de)
		return
	case errors.Is(de, sdk.ErrUnreachable) && f.watch.unreachable(de):
		// Nothing has ever answered: the watch ends the run if that
		// lasts, and the retry line would only precede its message.
		return
	}
	if de.RetryIn <= 0 {
		return
	}
	f.mu.Lock()
	first := !f.retrying && f.fatal == nil
	f.retrying = true
	f.mu.Unlock()
	if first {
		limit := fmt.Sprintf("until --timeout %v", f.cfg.Timeout)
		if f.cfg.MaxAttempts > 0 {
			limit = fmt.Sprintf("up to %d attempts per batch, %s", f.cfg.MaxAttempts, limit)
		}
		fmt.Fprintf(f.cfg.Stderr, "send: %s; retrying with backoff (%s)\n", strings.TrimPrefix(de.Error(), "veil: "), limit)
	}
}

// fail ends the run with de, once.
func (f *failures) fail(de *sdk.DeliveryError) {
	f.mu.Lock()
	first := f.fatal == nil
	if first {
		f.fatal = de
	}
	f.mu.Unlock()
	if first {
		f.stop(errFatal)
	}
}

// errFatal is the cause of a run's context ended by a failure.
var errFatal = errors.New("delivery cannot succeed")

// fatalError returns the error that ended the run, or nil.
func (f *failures) fatalError() *sdk.DeliveryError {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fatal
}

// message is the one stderr line of a run that failed: the cause, the URL
// and what to check.
func (f *failures) message(de *sdk.DeliveryError) string {
	path := sdk.KeysPath
	if f.cfg.KeyPin != "" {
		path = sdk.SignedKeysPath
	}
	check := "check --relay (the keys are fetched from its origin + " + path + ") or give --keys-url"
	if f.cfg.KeysURL != "" {
		check = "check --keys-url"
	}
	switch {
	case errors.Is(de, sdk.ErrUnreachable):
		return fmt.Sprintf("cannot connect to %s: %v (nothing answered for %v); is the relay running at that address? Check --relay",
			de.URL, de.Err, f.watch.budget)
	case errors.Is(de, sdk.ErrKeysRefused):
		return fmt.Sprintf("fetching the gateway's keys from %s: HTTP %d %s; %s",
			de.URL, de.Status, http.StatusText(de.Status), check)
	case errors.Is(de, sdk.ErrKeyConfig):
		return fmt.Sprintf("fetching the gateway's keys from %s: %v; %s", de.URL, de.Err, check)
	case errors.Is(de, sdk.ErrKeysUnauthenticated):
		return fmt.Sprintf("refusing the gateway's keys from %s: %v; nothing was sent. "+
			"Check --key-pin against \"veil admin keys pin\" on the collector: if they match, the relay or something on the way is substituting keys",
			de.URL, de.Err)
	case errors.Is(de, sdk.ErrTLS):
		return fmt.Sprintf("cannot verify the TLS certificate of %s: %v", de.URL, de.Err)
	case errors.Is(de, sdk.ErrRelayRefused):
		return fmt.Sprintf("the relay at %s answered HTTP %d %s to the encrypted request, twice; check the path of --relay",
			de.URL, de.Status, http.StatusText(de.Status))
	}
	return strings.TrimPrefix(de.Error(), "veil: ")
}

// tally returns "N failed attempts: HTTP 503: 5, timeout: 2; last: …", or
// "" when no attempt failed.
func (f *failures) tally() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.last == nil {
		return ""
	}
	kinds := make([]string, 0, len(f.byKind))
	n := 0
	for k, c := range f.byKind {
		kinds = append(kinds, fmt.Sprintf("%s: %d", k, c))
		n += c
	}
	slices.Sort(kinds)
	return fmt.Sprintf("%d failed %s (%s); last: %s", n, plural(n, "attempt"), strings.Join(kinds, ", "),
		strings.TrimPrefix(f.last.Error(), "veil: "))
}

// kindOf names what went wrong in a failed attempt, for the tally.
func kindOf(de *sdk.DeliveryError) string {
	err := de.Err
	switch {
	case de.Status != 0:
		return fmt.Sprintf("HTTP %d", de.Status)
	case errors.Is(de, sdk.ErrKeyConfig):
		return "unusable key document"
	case errors.Is(de, sdk.ErrKeysUnauthenticated):
		return "unauthenticated key document"
	case errors.Is(de, sdk.ErrTLS):
		return "TLS"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(de, sdk.ErrUnreachable):
		return "unreachable"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
		return "connection lost"
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return "timeout"
	}
	return "other"
}

// contactWatch ends the run when connections keep failing as unreachable,
// from the start, for longer than budget: it is the HTTP client's
// transport, so it knows whether any server has ever answered, and whether
// a request is under way (the relay may just have come up).
type contactWatch struct {
	next   http.RoundTripper
	budget time.Duration
	fail   func(*sdk.DeliveryError)

	mu       sync.Mutex
	answered bool
	inflight int
	last     *sdk.DeliveryError // the latest unreachable failure
	timer    *time.Timer
	expired  bool
}

func (w *contactWatch) RoundTrip(r *http.Request) (*http.Response, error) {
	w.mu.Lock()
	w.inflight++
	w.mu.Unlock()
	resp, err := w.next.RoundTrip(r)
	w.mu.Lock()
	w.inflight--
	if err == nil && !w.answered {
		w.answered = true
		if w.timer != nil {
			w.timer.Stop()
		}
	}
	w.mu.Unlock()
	return resp, err
}

// unreachable notes an unreachable failure. It reports false once some
// server has answered: the failure is then trouble that may pass.
func (w *contactWatch) unreachable(de *sdk.DeliveryError) bool {
	w.mu.Lock()
	if w.answered {
		w.mu.Unlock()
		return false
	}
	w.last = de
	if w.timer == nil {
		w.timer = time.AfterFunc(w.budget, w.expire)
	}
	now := w.expired && w.inflight == 0
	w.mu.Unlock()
	if now {
		w.fail(de)
	}
	return true
}

// expire runs when the budget has passed since the first failure. With a
// request under way, the failure it may bring decides instead.
func (w *contactWatch) expire() {
	w.mu.Lock()
	w.expired = true
	now := !w.answered && w.inflight == 0
	de := w.last
	w.mu.Unlock()
	if now {
		w.fail(de)
	}
}

// CloseIdleConnections passes on to the transport, so that the SDK's
// client can release its connections.
func (w *contactWatch) CloseIdleConnections() {
	if c, ok := w.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func (w *contactWatch) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.timer != nil {
		w.timer.Stop()
	}
}
