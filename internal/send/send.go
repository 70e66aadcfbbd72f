// Package send is `veil send`: it reads events from flags or JSON Lines,
// delivers them through a relay with the Go SDK, and prints one result line
// per event in input order. Unlike the SDK, which keeps retrying for an app
// whose relay may come back, a run ends at once, with one line on standard
// error, when the relay cannot be used at all (see failures).
package send

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/veil-telemetry/veil/sdk"
)

// Defaults of the flags of `veil send`.
const (
	DefaultMaxAttempts = 8
	DefaultTimeout     = 5 * time.Minute
)

// chunk is how many events a run queues before waiting for them to be
// answered, which bounds its memory for any input size. A variable so
// that a test can deliver a whole chunk quickly on a loaded machine.
var chunk = 5000

// maxInputErrors bounds the input errors written to standard error; the
// result lines still name every refused line.
const maxInputErrors = 10

// Help is the long help of `veil send`.
const Help = `send delivers events the way the Go SDK does: batched, padded, encrypted to
the gateway's key (fetched through the relay) and POSTed to the relay.

One event from flags:

  veil send --relay https://relay.example/gateway --key-pin "$PIN" \
    --schema app.launch --schema-version 1 --fields '{"os":"ios","cold_start_ms":420}'

--key-pin is the collector's key pin, printed by "veil admin keys pin" on
the collector. With it the keys are fetched signed (from the relay's origin
+ /ohttp-keys-signed) and used only if the pinned key signed them, so the
relay cannot substitute keys of its own and read the events. It is required
unless the relay is on loopback (localhost, 127.0.0.1, ::1) or
--insecure-no-key-pin is given; a plain http:// relay that is not on
loopback is refused unless --insecure-http is given.

or JSON Lines from a file or standard input, one event per line:

  {"schema": "app.launch", "version": 1, "fields": {"os": "ios"}}

It prints one JSON line per event, in input order:

  {"index":0,"status":"accepted"}
  {"index":1,"status":"rejected","reason":"identifier_email","field":"note"}
  {"index":2,"line":3,"status":"dropped","reason":"invalid_event"}
  {"index":3,"status":"dropped","reason":"retries_exhausted"}
  {"index":4,"status":"queued"}

"index" counts events (blank lines are skipped); a line that is not an event
(invalid_event) or longer than 1 MiB (too_large) also gets its "line"
number, and standard error says what is wrong with it. "duplicate" means an
earlier attempt of the same batch was stored; "queued" (only with
--queue-dir) that the event was not answered before --timeout or an
interrupt and is kept in the directory: it is not lost, the next run with
the same directory sends it. Reason codes are listed in
docs/reason-codes.md. A progress bar is drawn on standard error when it is
a terminal and the input is large.

What retrying cannot fix ends the run at once, with exit status 1 and one
line on standard error naming the cause and the URL: the key URL answering
a client error such as 404, a key document that cannot be used or is not
signed by --key-pin (nothing is sent then), a TLS
certificate that does not verify, the relay refusing the encrypted request
even after the keys were fetched again, or connections refused for 3
seconds before anything has answered. Trouble that passes (429, 5xx,
timeouts) is retried with backoff: standard error says so once, when it
starts, and the run ends with a summary of the results and of the failed
attempts.

With --queue-dir, each batch is written to the directory before it is first
sent and removed once answered. A run that is killed leaves its unanswered
batches there; the next run with the same directory sends them first, with
the same batch ids, so the gateway stores each batch once (a batch stored
before the kill is answered "duplicate"). Their results have no input line;
a summary goes to standard error:

  send: 300 events from an earlier run in --queue-dir: 200 accepted, 100 duplicate, 0 rejected, 0 dropped

(followed by ", N still queued" when some of them are kept again).

Events read but not yet written to the directory (the last, partial batch)
are lost if the process is killed; on a normal exit they are sent, or on
--timeout written to the directory and reported "queued".

Exit status: 0 when every event was delivered (accepted or duplicate); 1
when any was rejected or dropped, the input was not read to its end before
--timeout, or the relay could not be used; 3 when none was rejected or
dropped but some are queued for the next run; 2 on a usage error.`

// Config is one run of `veil send`: its flags, input and outputs.
type Config struct {
	Relay       string
	KeysURL     string
	Schema      string
	Version     int
	Fields      string
	PostQuantum bool
	QueueDir    string
	MaxAttempts int           // 0: retry until Timeout
	Timeout     time.Duration // must be positive
	Verbose     bool

	// KeyPin, InsecureNoKeyPin and InsecureHTTP are the SDK's (see
	// sdk.Config): --key-pin, --insecure-no-key-pin, --insecure-http.
	KeyPin           string
	InsecureNoKeyPin bool
	InsecureHTTP     bool

	// Input names the events file; "" or "-" reads Stdin. Ignored with
	// Schema (one event from flags).
	Input  string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer

	// FirstContact is how long connections may fail as unreachable before
	// anything has answered (default DefaultFirstContact).
	FirstContact time.Duration
	// HTTPClient sends every request (default: a client of its own, as
	// the SDK's). Tests give one that serves in process.
	HTTPClient *http.Client
}

// ExitError ends a run with a process exit status other than 0: 1 when an
// event was not delivered or the relay could not be used, 2 for a usage
// error or unreadable input, 3 when events are kept in --queue-dir for the
// next run. Err is nil when the output already says everything.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

func usageError(format string, a ...any) error {
	return &ExitError{Code: 2, Err: fmt.Errorf("send: "+format, a...)}
}

// configError turns an sdk.New error into a usage error that names the
// flags rather than the SDK's fields.
func configError(err error) error {
	switch {
	case errors.Is(err, sdk.ErrKeyPinRequired):
		return usageError("--key-pin is required for a relay that is not on loopback: without it the relay could hand out keys of its own and read every event. " +
			"Print the pin with \"veil admin keys pin\" on the collector, or give --insecure-no-key-pin to accept the risk")
	case errors.Is(err, sdk.ErrInsecureURL):
		return usageError("--relay and --keys-url must be https:// unless they are on loopback: over plain HTTP anyone on the network path could watch, block or impersonate the relay; give --insecure-http to accept that")
	case errors.Is(err, sdk.ErrInvalidKeyPin):
		// The SDK's message names Config.KeyPin; keep only the reason.
		reason := strings.TrimPrefix(err.Error(), sdk.ErrInvalidKeyPin.Error()+": ")
		reason, _, _ = strings.Cut(reason, " (copy it whole")
		return usageError("--key-pin: %s; copy it whole from \"veil admin keys pin\"", strings.TrimPrefix(reason, "signedkeys: "))
	}
	return usageError("%w", err)
}

// errInputStopped reports that --timeout (or an interrupt) ended the run
// before the input was read to its end: the lines not read have no result
// line, so the run must not exit 0.
var errInputStopped = errors.New("stopped reading input")

// lockedWriter serialises writes to standard error, which the SDK's
// goroutines share with the run.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// run is the state of one Run.
type run struct {
	cfg      Config
	p        *resultPrinter
	fails    *failures
	client   *sdk.Client
	restored restoredCounts

	mu          sync.Mutex
	index       []int // a result's Seq-1 → its event's index
	inputErrors int
}

// Run sends the events cfg names and prints their results. It returns nil
// when every event was delivered, else an *ExitError.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Relay == "" {
		return usageError("--relay is required")
	}
	if cfg.MaxAttempts < 0 || cfg.Timeout <= 0 || cfg.FirstContact < 0 {
		return usageError("--max-attempts must not be negative and --timeout must be positive")
	}
	cfg.Stderr = &lockedWriter{w: cfg.Stderr}
	single := cfg.Schema != ""
	var one event
	var in io.Reader
	switch {
	case single && cfg.Input != "":
		return usageError("give either --schema with --schema-version and --fields, or an events file, not both")
	case single:
		if cfg.Version < 1 {
			return usageError("--schema-version must be at least 1")
		}
		one = event{Schema: cfg.Schema, Version: cfg.Version}
		if b := []byte(cfg.Fields); len(b) > 0 {
			err := checkJSON(b)
			if err == nil {
				one.Fields, err = parseFields(b)
			}
			if err == nil && one.Fields == nil {
				err = errors.New("must be an object, not null")
			}
			if err != nil {
				return usageError("--fields: %v", err)
			}
		}
	case cfg.Version != 0 || cfg.Fields != "":
		return usageError("--schema-version and --fields need --schema")
	case cfg.Input != "" && cfg.Input != "-":
		fh, err := os.Open(cfg.Input)
		if err != nil {
			return usageError("%w", err)
		}
		defer fh.Close()
		in = fh
	default:
		in = cfg.Stdin
		if fh, ok := in.(*os.File); ok && term.IsTerminal(int(fh.Fd())) {
			return usageError("give --schema, an events file, or JSON lines on standard input")
		}
	}

	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)

	r := &run{cfg: cfg, p: newResultPrinter(cfg.Stdout)}
	r.fails = newFailures(&r.cfg, stop)
	if fh, ok := cfg.Stderr.(*lockedWriter).w.(*os.File); ok && !single && term.IsTerminal(int(fh.Fd())) {
		r.p.progressTo = fh
	}
	hc := r.httpClient()
	defer hc.CloseIdleConnections()
	defer r.fails.watch.stop()
	logLevel := slog.LevelError
	if cfg.Verbose {
		logLevel = slog.LevelDebug
	}
	c, err := sdk.New(sdk.Config{
		RelayURL:       cfg.Relay,
		KeysURL:        cfg.KeysURL,
		HTTPClient:     hc,
		PostQuantum:    cfg.PostQuantum,
		QueueDir:       cfg.QueueDir,
		MaxAttempts:    cfg.MaxAttempts,
		MaxQueueEvents: 2 * chunk,
		Logger:         slog.New(slog.NewTextHandler(cfg.Stderr, &slog.HandlerOptions{Level: logLevel})),
		OnResult:       r.onResult,
		OnError:        r.fails.onError,

		KeyPin:           cfg.KeyPin,
		InsecureNoKeyPin: cfg.InsecureNoKeyPin,
		InsecureHTTP:     cfg.InsecureHTTP,
	})
	if err != nil {
		return configError(err)
	}
	r.client = c

	var readErr error
	if single {
		r.p.expect(1)
		r.record(ctx, 0, 0, one)
	} else {
		readErr = r.readEvents(ctx, in)
	}
	closeErr := c.Close(ctx)
	r.fails.watch.stop()
	r.p.finish()
	return r.finish(readErr, closeErr)
}

// httpClient returns the client the SDK sends with: the configured one, or
// one like the SDK's own, behind the first-contact watch.
func (r *run) httpClient() *http.Client {
	base := r.cfg.HTTPClient
	if base == nil {
		base = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone(), Timeout: sdk.DefaultRequestTimeout}
	}
	r.fails.watch.next = base.Transport
	if r.fails.watch.next == nil {
		r.fails.watch.next = http.DefaultTransport
	}
	return &http.Client{Transport: r.fails.watch, Timeout: base.Timeout, CheckRedirect: base.CheckRedirect}
}

func (r *run) onResult(res sdk.Result) {
	if res.Seq == 0 {
		r.restored.add(res) // left in --queue-dir by an earlier run
		return
	}
	r.mu.Lock()
	i := r.index[res.Seq-1]
	r.mu.Unlock()
	r.p.set(result{Index: i, Status: string(res.Status), Reason: res.Reason, Field: res.Field})
}

// record hands one event to the SDK; line is its input line (0 for the
// event from flags).
func (r *run) record(ctx context.Context, i, line int, ev event) {
	r.mu.Lock()
	r.index = append(r.index, i)
	r.mu.Unlock()
	err := r.client.Record(ctx, ev.Schema, ev.Version, ev.Fields)
	switch {
	case err == nil, errors.Is(err, sdk.ErrQueueFull):
		// Queued, or already reported through OnResult.
		return
	case errors.Is(err, sdk.ErrEventTooLarge):
		r.inputError(line, fmt.Sprintf("the event is larger than a batch may be (%d KiB encoded); not sent", sdk.DefaultMaxBatchBytes>>10))
		r.p.set(result{Index: i, Line: line, Status: string(sdk.StatusDropped), Reason: sdk.ReasonTooLarge})
	case errors.Is(err, sdk.ErrInvalidEvent):
		r.inputError(line, err.Error())
		r.p.set(result{Index: i, Line: line, Status: string(sdk.StatusDropped), Reason: reasonInvalidEvent})
	default:
		r.p.set(result{Index: i, Status: string(sdk.StatusDropped), Reason: sdk.ReasonClosed})
	}
	// Record gave this event no Seq.
	r.mu.Lock()
	r.index = r.index[:len(r.index)-1]
	r.mu.Unlock()
}

// reasonInvalidEvent is the reason of an input line that is not an event.
const reasonInvalidEvent = "invalid_event"

// inputError tells the user what is wrong with an input line, for the
// first maxInputErrors of them.
func (r *run) inputError(line int, msg string) {
	r.mu.Lock()
	r.inputErrors++
	n := r.inputErrors
	r.mu.Unlock()
	where := "the event"
	if line > 0 {
		where = fmt.Sprintf("line %d", line)
	}
	switch {
	case n <= maxInputErrors:
		fmt.Fprintf(r.cfg.Stderr, "send: %s: %s\n", where, msg)
	case n == maxInputErrors+1:
		fmt.Fprintf(r.cfg.Stderr, "send: more lines are not events; their results give their \"line\"\n")
	}
}

// readEvents records every JSON line of in, waiting for answers every
// chunk events. It fails with errInputStopped when ctx ends before the end
// of the input.
func (r *run) readEvents(ctx context.Context, in io.Reader) error {
	// The input is read on its own goroutine so that --timeout ends the
	// run even while a read blocks (a pipe whose writer is silent). Such a
	// read cannot be interrupted; the goroutine ends with the process.
	lines := make(chan line)
	readErr := make(chan error, 1)
	go func() {
		defer close(lines)
		lr := newLineReader(in, MaxLine)
		for {
			l, err := lr.next()
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				readErr <- err
				return
			}
			select {
			case lines <- l:
			case <-ctx.Done():
				return
			}
		}
	}()
	i := 0
	for {
		var l line
		var ok bool
		select {
		case l, ok = <-lines:
		case <-ctx.Done():
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%w after %d events: %w", errInputStopped, i, context.Cause(ctx))
		}
		if !ok {
			return <-readErr
		}
		switch text := bytes.TrimSpace(l.text); {
		case l.tooLong:
			r.p.expect(i + 1)
			r.inputError(l.n, fmt.Sprintf("longer than the limit of %d bytes (1 MiB); not sent", MaxLine))
			r.p.set(result{Index: i, Line: l.n, Status: string(sdk.StatusDropped), Reason: sdk.ReasonTooLarge})
		case len(text) == 0:
			continue
		default:
			r.p.expect(i + 1)
			ev, err := parseEvent(text)
			if err != nil {
				r.inputError(l.n, err.Error())
				r.p.set(result{Index: i, Line: l.n, Status: string(sdk.StatusDropped), Reason: reasonInvalidEvent})
			} else {
				r.record(ctx, i, l.n, ev)
			}
		}
		i++
		if i%chunk == 0 {
			if err := r.client.Flush(ctx); err != nil {
				return fmt.Errorf("%w after %d events: %w", errInputStopped, i, context.Cause(ctx))
			}
		}
	}
}

// finish writes what standard error still needs and returns the run's
// exit.
func (r *run) finish(readErr, closeErr error) error {
	p := r.p
	queued := p.queued + r.restored.queuedCount()
	if de := r.fails.fatalError(); de != nil {
		// One line: the cause, the URL, what to check.
		msg := r.fails.message(de)
		if queued > 0 {
			msg += fmt.Sprintf(" (%d %s kept in --queue-dir for the next run)", queued, plural(queued, "event"))
		}
		return &ExitError{Code: 1, Err: errors.New("send: " + msg)}
	}
	stderr := r.cfg.Stderr
	if r.restored.total() > 0 {
		fmt.Fprintf(stderr, "send: %s\n", &r.restored)
	}
	tally := r.fails.tally()
	if tally != "" || p.failed > 0 || p.queued > 0 {
		summary := p.counts()
		if tally != "" {
			summary += "; " + tally
		}
		fmt.Fprintf(stderr, "send: %s\n", summary)
	}
	if err := p.err(); err != nil {
		return &ExitError{Code: 1, Err: fmt.Errorf("send: %w", err)}
	}
	if readErr != nil {
		code := 2 // unreadable input
		if errors.Is(readErr, errInputStopped) {
			code = 1
		}
		return &ExitError{Code: code, Err: fmt.Errorf("send: %w", readErr)}
	}
	failed, total := p.failed+r.restored.failed(), p.total+r.restored.total()
	if failed > 0 {
		if closeErr != nil && !errors.Is(closeErr, sdk.ErrClosed) {
			return &ExitError{Code: 1, Err: fmt.Errorf("send: %d of %d events not delivered: %w", failed, total, closeErr)}
		}
		return &ExitError{Code: 1}
	}
	if queued > 0 {
		return &ExitError{Code: 3, Err: fmt.Errorf("send: %d of %d events not delivered yet, kept in --queue-dir for the next run", queued, total)}
	}
	return nil
}
