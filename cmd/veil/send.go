package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/veil-telemetry/veil/sdk"
)

const (
	// sendChunk is how many events `veil send` queues before waiting for
	// them to be answered, which bounds its memory for any input size.
	sendChunk = 5000
	// progressThreshold is the input size from which a progress bar is
	// shown (on a terminal only).
	progressThreshold = 1000
)

// sendOptions is the configuration of `veil send`.
type sendOptions struct {
	Relay       string
	KeysURL     string
	Schema      string
	Version     int
	Fields      string
	PostQuantum bool
	QueueDir    string
	MaxAttempts int
	Timeout     time.Duration
	Verbose     bool
}

func newSendCmd() *cobra.Command {
	o := sendOptions{MaxAttempts: 8, Timeout: 5 * time.Minute}
	cmd := &cobra.Command{
		Use:   "send --relay URL (--schema NAME --version N [--fields JSON] | [EVENTS.jsonl|-])",
		Short: "Send events through an Oblivious HTTP relay",
		Long: `send delivers events the way the Go SDK does: batched, padded, encrypted to
the gateway's key (fetched through the relay) and POSTed to the relay.

One event from flags:

  veil send --relay https://relay.example/gateway --schema app.launch --version 1 \
    --fields '{"os":"ios","cold_start_ms":420}'

or JSON Lines from a file or standard input, one event per line:

  {"schema": "app.launch", "version": 1, "fields": {"os": "ios"}}

It prints one JSON line per event, in input order:

  {"index":0,"status":"accepted"}
  {"index":1,"status":"rejected","reason":"identifier_email","field":"note"}
  {"index":2,"status":"dropped","reason":"retries_exhausted"}
  {"index":3,"status":"queued"}

"duplicate" means an earlier attempt of the same batch was stored;
"queued" (only with --queue-dir) that the event was not answered before
--timeout or an interrupt and is kept in the directory: it is not lost, the
next run with the same directory sends it. A
progress bar is drawn on standard error when it is a terminal and the input
is large.

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
when any was rejected or dropped, or the input was not read to its end
before --timeout; 3 when none was rejected or dropped but some are queued
for the next run; 2 on a usage error.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSend(cmd, o, args)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Relay, "relay", "", "relay URL that encapsulated requests are POSTed to (required)")
	f.StringVar(&o.KeysURL, "keys-url", "", "key configuration URL (default: the relay's origin + /ohttp-keys)")
	f.StringVar(&o.Schema, "schema", "", "schema name of a single event")
	f.IntVar(&o.Version, "schema-version", 0, "schema version of a single event")
	f.IntVar(&o.Version, "version", 0, "schema version of a single event")
	_ = f.MarkDeprecated("version", "use --schema-version (veil --version prints veil's own version)")
	f.StringVar(&o.Fields, "fields", "", `fields of a single event, a JSON object (default "{}")`)
	f.BoolVar(&o.PostQuantum, "post-quantum", false, "prefer the gateway's X-Wing key")
	f.StringVar(&o.QueueDir, "queue-dir", "", "keep batches in this directory until they are answered, and first send what an earlier run left there")
	f.IntVar(&o.MaxAttempts, "max-attempts", o.MaxAttempts, "requests per batch before its events are reported dropped (0: retry until --timeout)")
	f.DurationVar(&o.Timeout, "timeout", o.Timeout, "give up on what is not delivered after this long")
	f.BoolVar(&o.Verbose, "verbose", false, "log delivery attempts on standard error")
	return cmd
}

// sendEvent is one input line.
type sendEvent struct {
	Schema  string         `json:"schema"`
	Version int            `json:"version"`
	Fields  map[string]any `json:"fields"`
}

// sendResult is one output line, in the field order of DESIGN.md.
type sendResult struct {
	Index  int    `json:"index"`
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	Field  string `json:"field,omitempty"`
}

func sendUsageError(format string, a ...any) error {
	return &exitError{code: 2, err: fmt.Errorf("send: "+format, a...)}
}

func runSend(cmd *cobra.Command, o sendOptions, args []string) error {
	if o.Relay == "" {
		return sendUsageError("--relay is required")
	}
	if o.MaxAttempts < 0 || o.Timeout <= 0 {
		return sendUsageError("--max-attempts must not be negative and --timeout must be positive")
	}
	single := o.Schema != ""
	var one sendEvent
	var in io.Reader
	switch {
	case single && len(args) > 0:
		return sendUsageError("give either --schema with --version and --fields, or an events file, not both")
	case single:
		if o.Version < 1 {
			return sendUsageError("--version must be at least 1")
		}
		one = sendEvent{Schema: o.Schema, Version: o.Version}
		if o.Fields != "" {
			if err := decodeJSON([]byte(o.Fields), &one.Fields); err != nil || one.Fields == nil {
				return sendUsageError("--fields must be a JSON object")
			}
		}
	case o.Version != 0 || o.Fields != "":
		return sendUsageError("--version and --fields need --schema")
	case len(args) == 1 && args[0] != "-":
		fh, err := os.Open(args[0])
		if err != nil {
			return sendUsageError("%w", err)
		}
		defer fh.Close()
		in = fh
	default:
		in = cmd.InOrStdin()
		if fh, ok := in.(*os.File); ok && term.IsTerminal(int(fh.Fd())) {
			return sendUsageError("give --schema, an events file, or JSON lines on standard input")
		}
	}

	ctx, cancel := context.WithTimeout(cmd.Context(), o.Timeout)
	defer cancel()

	p := newResultPrinter(cmd.OutOrStdout())
	if fh, ok := cmd.ErrOrStderr().(*os.File); ok && !single && term.IsTerminal(int(fh.Fd())) {
		p.progressTo = fh
	}
	logLevel := slog.LevelError
	if o.Verbose {
		logLevel = slog.LevelDebug
	}
	// index maps a result's Seq (1, 2, …: the Record calls that queued an
	// event or dropped it for a full queue) to its input line.
	var (
		mu       sync.Mutex
		index    []int
		restored restoredCounts
	)
	c, err := sdk.New(sdk.Config{
		RelayURL:       o.Relay,
		KeysURL:        o.KeysURL,
		PostQuantum:    o.PostQuantum,
		QueueDir:       o.QueueDir,
		MaxAttempts:    o.MaxAttempts,
		MaxQueueEvents: 2 * sendChunk,
		Logger:         slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: logLevel})),
		OnResult: func(r sdk.Result) {
			if r.Seq == 0 {
				restored.add(r) // left in --queue-dir by an earlier run
				return
			}
			mu.Lock()
			i := index[r.Seq-1]
			mu.Unlock()
			p.set(sendResult{Index: i, Status: string(r.Status), Reason: r.Reason, Field: r.Field})
		},
	})
	if err != nil {
		return sendUsageError("%w", err)
	}

	record := func(i int, ev sendEvent) {
		mu.Lock()
		index = append(index, i)
		mu.Unlock()
		err := c.Record(ctx, ev.Schema, ev.Version, ev.Fields)
		switch {
		case err == nil, errors.Is(err, sdk.ErrQueueFull):
			// Queued, or already reported through OnResult.
			return
		case errors.Is(err, sdk.ErrEventTooLarge):
			p.set(sendResult{Index: i, Status: string(sdk.StatusDropped), Reason: sdk.ReasonTooLarge})
		case errors.Is(err, sdk.ErrInvalidEvent):
			p.set(sendResult{Index: i, Status: string(sdk.StatusDropped), Reason: "invalid_event"})
		default:
			p.set(sendResult{Index: i, Status: string(sdk.StatusDropped), Reason: sdk.ReasonClosed})
		}
		// Record gave this event no Seq.
		mu.Lock()
		index = index[:len(index)-1]
		mu.Unlock()
	}

	var readErr error
	if single {
		p.expect(1)
		record(0, one)
	} else {
		readErr = readEvents(ctx, in, p, record, func() error { return c.Flush(ctx) })
	}
	closeErr := c.Close(ctx)
	p.finish()
	if restored.total() > 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "send: %s\n", &restored)
	}
	if err := p.err(); err != nil {
		return &exitError{code: 1, err: fmt.Errorf("send: %w", err)}
	}
	if readErr != nil {
		code := 2 // unreadable input
		if errors.Is(readErr, errInputStopped) {
			code = 1
		}
		return &exitError{code: code, err: fmt.Errorf("send: %w", readErr)}
	}
	failed, queued, total := p.failed+restored.failed(), p.queued+restored.queuedCount(), p.total+restored.total()
	if failed > 0 {
		if closeErr != nil && !errors.Is(closeErr, sdk.ErrClosed) {
			return &exitError{code: 1, err: fmt.Errorf("send: %d of %d events not delivered: %w", failed, total, closeErr)}
		}
		return &exitError{code: 1}
	}
	if queued > 0 {
		return &exitError{code: 3, err: fmt.Errorf("send: %d of %d events not delivered yet, kept in --queue-dir for the next run", queued, total)}
	}
	return nil
}

// restoredCounts tallies the results of events an earlier run left in the
// queue directory.
type restoredCounts struct {
	mu                                             sync.Mutex
	accepted, duplicate, rejected, dropped, queued int
}

func (r *restoredCounts) add(res sdk.Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch res.Status {
	case sdk.StatusAccepted:
		r.accepted++
	case sdk.StatusDuplicate:
		r.duplicate++
	case sdk.StatusRejected:
		r.rejected++
	case sdk.StatusQueued:
		r.queued++
	default:
		r.dropped++
	}
}

func (r *restoredCounts) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.accepted + r.duplicate + r.rejected + r.dropped + r.queued
}

func (r *restoredCounts) queuedCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.queued
}

func (r *restoredCounts) failed() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rejected + r.dropped
}

func (r *restoredCounts) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := fmt.Sprintf("%d events from an earlier run in --queue-dir: %d accepted, %d duplicate, %d rejected, %d dropped",
		r.accepted+r.duplicate+r.rejected+r.dropped+r.queued, r.accepted, r.duplicate, r.rejected, r.dropped)
	if r.queued > 0 {
		s += fmt.Sprintf(", %d still queued", r.queued)
	}
	return s
}

// errInputStopped reports that --timeout (or an interrupt) ended the run
// before the input was read to its end: the lines not read have no result
// line, so the run must not exit 0.
var errInputStopped = errors.New("stopped reading input")

// readEvents records every JSON line of in, waiting for answers every
// sendChunk events. A line that is not an event is reported dropped with
// reason invalid_event. It fails with errInputStopped when ctx ends before
// the end of the input.
func readEvents(ctx context.Context, in io.Reader, p *resultPrinter, record func(int, sendEvent), flush func() error) error {
	// The input is scanned on its own goroutine so that --timeout ends the
	// run even while a read blocks (a pipe whose writer is silent). Such a
	// read cannot be interrupted; the goroutine ends with the process.
	lines := make(chan []byte)
	scanErr := make(chan error, 1)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 0, 64<<10), maxEventLine)
		for sc.Scan() {
			select {
			case lines <- bytes.Clone(sc.Bytes()):
			case <-ctx.Done():
				return
			}
		}
		scanErr <- sc.Err()
	}()
	i := 0
	for {
		var raw []byte
		var ok bool
		select {
		case raw, ok = <-lines:
		case <-ctx.Done():
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%w after %d events: %w", errInputStopped, i, err)
		}
		if !ok {
			return <-scanErr
		}
		line := bytes.TrimSpace(raw)
		if len(line) == 0 {
			continue
		}
		p.expect(i + 1)
		var ev sendEvent
		if err := decodeJSON(line, &ev); err != nil || ev.Schema == "" || ev.Version < 1 {
			p.set(sendResult{Index: i, Status: string(sdk.StatusDropped), Reason: "invalid_event"})
		} else {
			record(i, ev)
		}
		i++
		if i%sendChunk == 0 {
			if err := flush(); err != nil {
				return fmt.Errorf("%w after %d events: %w", errInputStopped, i, err)
			}
		}
	}
}

// decodeJSON decodes one JSON value, keeping numbers exact.
func decodeJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	return nil
}

// resultPrinter writes result lines in input order as they arrive, and
// draws the progress bar.
type resultPrinter struct {
	progressTo *os.File

	mu      sync.Mutex
	w       *bufio.Writer
	enc     *json.Encoder
	ready   map[int]sendResult
	next    int // next index to print
	total   int // events read so far
	failed  int // rejected or dropped
	queued  int // kept in --queue-dir for the next run
	bar     *progressbar.ProgressBar
	lastOut time.Time
	werr    error
}

func newResultPrinter(out io.Writer) *resultPrinter {
	w := bufio.NewWriter(out)
	return &resultPrinter{w: w, enc: json.NewEncoder(w), ready: map[int]sendResult{}}
}

// expect notes that n events have been read.
func (p *resultPrinter) expect(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total = n
	if p.bar == nil && p.progressTo != nil && n >= progressThreshold {
		p.bar = progressbar.NewOptions(-1,
			progressbar.OptionSetWriter(p.progressTo),
			progressbar.OptionSetDescription("sending"),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("events"),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
		p.bar.Set(p.next)
	}
	if p.bar != nil {
		p.bar.ChangeMax(n)
	}
}

func (p *resultPrinter) set(r sendResult) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch r.Status {
	case string(sdk.StatusAccepted), string(sdk.StatusDuplicate):
	case string(sdk.StatusQueued):
		p.queued++
	default:
		p.failed++
	}
	p.ready[r.Index] = r
	printed := 0
	for {
		res, ok := p.ready[p.next]
		if !ok {
			break
		}
		delete(p.ready, p.next)
		if err := p.enc.Encode(res); err != nil && p.werr == nil {
			p.werr = err
		}
		p.next++
		printed++
	}
	if p.bar != nil && printed > 0 {
		p.bar.Add(printed)
	}
	// Let results show up while a long input is still being sent.
	if now := time.Now(); printed > 0 && now.Sub(p.lastOut) > 200*time.Millisecond {
		p.lastOut = now
		if err := p.w.Flush(); err != nil && p.werr == nil {
			p.werr = err
		}
	}
}

// finish prints what is left, reporting any event that got no result
// (which Close should rule out) as dropped.
func (p *resultPrinter) finish() {
	p.mu.Lock()
	missing := []int{}
	for i := p.next; i < p.total; i++ {
		if _, ok := p.ready[i]; !ok {
			missing = append(missing, i)
		}
	}
	p.mu.Unlock()
	for _, i := range missing {
		p.set(sendResult{Index: i, Status: string(sdk.StatusDropped), Reason: sdk.ReasonClosed})
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.bar.Finish()
	}
	if err := p.w.Flush(); err != nil && p.werr == nil {
		p.werr = err
	}
}

func (p *resultPrinter) err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.werr
}
