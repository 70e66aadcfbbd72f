package sdk

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

var (
	// ErrClosed is returned by Record and Flush after Close.
	ErrClosed = errors.New("veil: client closed")
	// ErrQueueFull is returned by Record when MaxQueueEvents events, or
	// MaxMemoryBytes of them, are already waiting in memory. The event is
	// dropped (drop newest) and reported to OnResult with ReasonQueueFull.
	ErrQueueFull = errors.New("veil: queue full, event dropped")
	// ErrEventTooLarge is returned by Record for an event that could not
	// fit in a batch of MaxBatchBytes on its own.
	ErrEventTooLarge = errors.New("veil: event larger than MaxBatchBytes")
	// ErrInvalidEvent is returned by Record for an empty schema name, a
	// version below 1, or fields that cannot be encoded as JSON.
	ErrInvalidEvent = errors.New("veil: invalid event")
	// ErrQueueDirInUse is returned by New when another Client, in this
	// process or another, has Config.QueueDir open (Unix systems).
	ErrQueueDirInUse = errors.New("veil: queue directory in use by another client")
)

// Client batches events and delivers them through an Oblivious HTTP relay.
// It is safe for concurrent use. Create it with New and stop it with Close.
type Client struct {
	cfg   *config
	q     *queueDir // nil without Config.QueueDir
	stats counters
	keys  keyCache

	mu         sync.Mutex
	closed     bool
	seq        uint64  // last Seq given out
	pending    []event // recorded, not yet in a batch
	pendingLen int     // eventsSize(pending)
	cutAll     bool    // Flush asked for every pending event to be cut now
	cutting    uint64  // smallest seq being cut and persisted, 0 when none
	units      []*unit // cut and not yet answered, in order
	memEvents  int     // events held in memory: pending and memory-only units
	memBytes   int64   // eventsSize of those events
	arena      []byte  // chunk the encoded events of Record are copied into
	changed    chan struct{}

	batchWake chan struct{}
	sendWake  chan struct{}
	stop      chan struct{}
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

// unit is one entry of the send queue: a batch kept in memory, or a queue
// file (one batch, or the halves of a split one). A queue file's batches
// are loaded only when it reaches the head of the queue.
type unit struct {
	file    *queueFile
	batches []*batch
	n       int    // events, when known
	minSeq  uint64 // 0 for units restored from the queue directory
	// seqs holds the Seq of each event of a queue file this Client cut, in
	// file order, so that results carry it once the file is loaded back.
	// It is nil for files restored from an earlier process.
	seqs []uint64
}

// New starts a Client. It checks cfg, opens the queue directory (picking
// up batches an earlier process left there) and starts the Client's two
// goroutines, which run until Close. It does no network I/O: keys are
// fetched with the first batch.
func New(cfg Config) (*Client, error) {
	rc, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	c := &Client{
		cfg:       rc,
		changed:   make(chan struct{}),
		batchWake: make(chan struct{}, 1),
		sendWake:  make(chan struct{}, 1),
		stop:      make(chan struct{}),
	}
	if rc.QueueDir != "" {
		q, files, err := openQueueDir(rc.QueueDir, rc.MaxQueueBytes, int64(rc.MaxBatchBytes)+queueFileOverhead, rc.QueueKey, rc.Logger)
		if err != nil {
			return nil, err
		}
		c.q = q
		for _, f := range files {
			c.units = append(c.units, &unit{file: f})
		}
		if len(files) > 0 {
			rc.Logger.Info("veil: resuming queued batches", "files", len(files))
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.wg.Add(2)
	go c.batchLoop()
	go c.sendLoop(ctx)
	return c, nil
}

// Record queues one event for delivery and returns without waiting for the
// network. The fields are encoded at once, so the map may be reused after
// Record returns. Each field value should be a string, bool, integer or
// float (the schema decides which); other values are encoded as
// encoding/json would.
//
// Record fails with ErrInvalidEvent, ErrEventTooLarge, ErrClosed or ctx's
// error without queuing the event. When the queue is full it drops the event,
// reports it to OnResult and returns ErrQueueFull.
func (c *Client) Record(ctx context.Context, schema string, version int, fields map[string]any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if schema == "" || version < 1 {
		return fmt.Errorf("%w: schema name and a version of at least 1 are required", ErrInvalidEvent)
	}
	// Encode into a stack buffer, then copy into the shared arena under
	// the lock: one allocation per arena chunk instead of one per event.
	var buf [512]byte
	data, err := appendEvent(buf[:0], schema, version, fields)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidEvent, err)
	}
	if len(data)+1+batchOverhead > c.cfg.MaxBatchBytes {
		return ErrEventTooLarge
	}
	now := c.cfg.clock.Now()

	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	c.seq++
	seq := c.seq
	c.stats.recorded.Add(1)
	if c.memEvents >= c.cfg.MaxQueueEvents || c.memBytes+int64(len(data)+1) > c.cfg.MaxMemoryBytes {
		c.mu.Unlock()
		c.report(Result{Seq: seq, Schema: schema, Version: version, Status: StatusDropped, Reason: ReasonQueueFull})
		return ErrQueueFull
	}
	if len(c.pending) == cap(c.pending) {
		// Room for a whole batch at once, not doubling from one.
		c.pending = slices.Grow(c.pending, c.cfg.MaxBatchEvents)
	}
	c.pending = append(c.pending, event{seq: seq, at: now, schema: schema, version: version, data: c.store(data)})
	c.pendingLen += len(data) + 1
	c.memEvents++
	c.memBytes += int64(len(data) + 1)
	wake := len(c.pending) == 1 || len(c.pending) >= c.cfg.MaxBatchEvents ||
		c.pendingLen+batchOverhead >= c.cfg.MaxBatchBytes
	c.mu.Unlock()
	if wake {
		signal(c.batchWake)
	}
	return nil
}

// arenaChunk is the size of the chunks Record copies encoded events into.
// A chunk lives as long as the last event in it is queued.
const arenaChunk = 16 << 10

// store copies an encoded event into the arena and returns the copy,
// clipped so that no append can reach a neighbour. Events never change
// once stored, so sharing a chunk is safe. c.mu must be held.
func (c *Client) store(data []byte) []byte {
	if cap(c.arena)-len(c.arena) < len(data) {
		c.arena = make([]byte, 0, max(arenaChunk, len(data)))
	}
	off := len(c.arena)
	c.arena = append(c.arena, data...)
	return c.arena[off:len(c.arena):len(c.arena)]
}

// Flush cuts every event recorded so far into batches and waits until all
// of them, and any batch restored from the queue directory, are answered
// (accepted, duplicate, rejected or dropped). It returns ctx's error if ctx
// ends first; the events then stay queued.
func (c *Client) Flush(ctx context.Context) error {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return ErrClosed
	}
	return c.flush(ctx)
}

func (c *Client) flush(ctx context.Context) error {
	c.mu.Lock()
	target := c.seq
	if len(c.pending) > 0 {
		c.cutAll = true
		signal(c.batchWake)
	}
	for !c.settledLocked(target) {
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		c.mu.Lock()
	}
	c.mu.Unlock()
	return nil
}

// settledLocked reports whether every event with a Seq up to target (and
// every restored batch) has its final result.
func (c *Client) settledLocked(target uint64) bool {
	if len(c.pending) > 0 && c.pending[0].seq <= target {
		return false
	}
	if c.cutting != 0 && c.cutting <= target {
		return false
	}
	return len(c.units) == 0 || c.units[0].minSeq > target
}

// Close flushes (see Flush) and stops the Client's goroutines. If ctx ends
// before everything is answered, batches in the queue directory stay there
// for the next Client and their events are reported StatusQueued (events
// not yet cut are written there first), while events held only in memory
// are reported dropped with ReasonClosed. Close returns ctx's error in that
// case. Either way every event Record took has had its last OnResult call
// when Close returns. It is safe to call more than once; later calls return
// ErrClosed.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	c.closed = true
	c.mu.Unlock()

	err := c.flush(ctx)
	close(c.stop)
	c.cancel()
	c.wg.Wait()

	// Both goroutines have stopped; what is left is ours alone.
	c.mu.Lock()
	pending := c.pending
	units := c.units
	c.pending, c.units, c.pendingLen = nil, nil, 0
	c.mu.Unlock()
	// Every event this Client took gets a last result here: kept in the
	// queue directory for the next Client (StatusQueued), or dropped.
	var rs []Result
	if len(pending) > 0 && c.q != nil {
		rest := c.persist(pending)
		rs = appendResults(rs, pending[:len(pending)-len(rest)], StatusQueued, "")
		pending = rest
	}
	rs = appendResults(rs, pending, StatusDropped, ReasonClosed)
	for _, u := range units {
		switch {
		case u.file == nil:
			for _, b := range u.batches {
				rs = appendResults(rs, b.events, StatusDropped, ReasonClosed)
			}
		case u.batches != nil:
			for _, b := range u.batches {
				rs = appendResults(rs, b.events, StatusQueued, "")
			}
		case u.seqs != nil:
			rs = c.appendFileResults(rs, u, StatusQueued, "")
		}
	}
	c.report(rs...)
	if c.q != nil {
		// Everything is on disk or answered: the next Client may take
		// the directory.
		c.q.close()
	}
	if c.cfg.ownClient {
		c.cfg.HTTPClient.CloseIdleConnections()
	}
	c.mu.Lock()
	c.memEvents, c.memBytes = 0, 0
	c.notifyLocked()
	c.mu.Unlock()
	return err
}

// Stats returns the Client's counters.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	queued := len(c.pending)
	for _, u := range c.units {
		queued += u.n
	}
	c.mu.Unlock()
	return Stats{
		Recorded:   c.stats.recorded.Load(),
		Accepted:   c.stats.accepted.Load(),
		Duplicate:  c.stats.duplicate.Load(),
		Rejected:   c.stats.rejected.Load(),
		Dropped:    c.stats.dropped.Load(),
		Requests:   c.stats.requests.Load(),
		Retries:    c.stats.retries.Load(),
		KeyFetches: c.stats.keyFetches.Load(),
		Kept:       c.stats.kept.Load(),
		Queued:     uint64(queued),
	}
}

func (c *Client) report(rs ...Result) {
	for _, r := range rs {
		c.stats.count(r.Status)
		if c.cfg.OnResult != nil {
			c.cfg.OnResult(r)
		}
	}
}

func appendResults(dst []Result, evs []event, s Status, reason string) []Result {
	for _, e := range evs {
		dst = append(dst, Result{Seq: e.seq, Schema: e.schema, Version: e.version, Status: s, Reason: reason})
	}
	return dst
}

func (c *Client) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// signal wakes a goroutine waiting on ch without blocking.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// batchLoop cuts pending events into batches: when MaxBatchEvents or
// MaxBatchBytes is reached, when the oldest has waited FlushInterval, or
// when Flush asks. Cut batches are persisted (with a QueueDir) and handed to
// sendLoop. Cutting runs apart from sending so that batches keep reaching
// the disk while the sender waits out a backoff.
func (c *Client) batchLoop() {
	defer c.wg.Done()
	for {
		c.mu.Lock()
		for {
			n := c.readyLocked()
			if n == 0 {
				break
			}
			evs := c.pending[:n:n]
			c.pending = c.pending[n:]
			c.pendingLen -= eventsSize(evs)
			c.cutting = evs[0].seq
			c.mu.Unlock()
			c.cut(evs)
			c.mu.Lock()
		}
		if len(c.pending) == 0 {
			c.pending = nil
			c.cutAll = false
		}
		wait := time.Duration(-1)
		if len(c.pending) > 0 {
			wait = max(0, c.pending[0].at.Add(c.cfg.FlushInterval).Sub(c.cfg.clock.Now()))
		}
		c.mu.Unlock()

		var timer <-chan time.Time
		release := func() {}
		if wait >= 0 {
			timer, release = c.cfg.clock.Timer(wait)
		}
		select {
		case <-c.batchWake:
		case <-timer:
		case <-c.stop:
			release()
			return
		}
		release()
	}
}

// readyLocked returns how many pending events form the next batch, or 0 if
// no batch is due yet.
func (c *Client) readyLocked() int {
	if len(c.pending) == 0 {
		return 0
	}
	n, size := 0, batchOverhead
	for _, e := range c.pending {
		if n == c.cfg.MaxBatchEvents || size+len(e.data)+1 > c.cfg.MaxBatchBytes {
			return n // a limit is reached: cut what fits
		}
		n++
		size += len(e.data) + 1
	}
	if c.cutAll || n == c.cfg.MaxBatchEvents ||
		!c.cfg.clock.Now().Before(c.pending[0].at.Add(c.cfg.FlushInterval)) {
		return n
	}
	return 0
}

// cut makes evs a batch, persists it when there is a queue directory, and
// queues it for sending.
func (c *Client) cut(evs []event) {
	now := c.cfg.clock.Now()
	b := &batch{id: newBatchID(), created: now, events: evs}
	u := &unit{batches: []*batch{b}, n: len(evs), minSeq: evs[0].seq}
	var dropped []Result
	inMemory := true
	if c.q != nil {
		f, err := c.q.create(u.batches)
		switch {
		case err == nil:
			u.file, u.batches = f, nil
			u.seqs = make([]uint64, len(evs))
			for i, e := range evs {
				u.seqs[i] = e.seq
			}
			inMemory = false
		case errors.Is(err, errQueueDirFull):
			c.cfg.Logger.Warn("veil: queue directory full, dropping batch", "events", len(evs))
			dropped = appendResults(nil, evs, StatusDropped, ReasonQueueFull)
			u = nil
		default:
			// Keep the batch in memory rather than lose it; it is
			// still delivered, just not across a restart.
			c.cfg.Logger.Warn("veil: cannot write to queue directory, keeping batch in memory", "err", err)
		}
	}
	c.mu.Lock()
	if u != nil {
		c.units = append(c.units, u)
	}
	if !inMemory || u == nil {
		c.memEvents -= len(evs)
		c.memBytes -= int64(eventsSize(evs))
	}
	c.cutting = 0
	c.notifyLocked()
	c.mu.Unlock()
	c.report(dropped...)
	if u != nil {
		signal(c.sendWake)
	}
}

// appendFileResults appends a result for each event of u, a queue file
// this Client cut and has not loaded back. The file is read for the events'
// schema and version; if that fails they are reported with their Seq only.
func (c *Client) appendFileResults(dst []Result, u *unit, s Status, reason string) []Result {
	if bs, err := c.q.load(u.file); err == nil {
		n := 0
		for _, b := range bs {
			n += len(b.events)
		}
		if n == len(u.seqs) {
			i := 0
			for _, b := range bs {
				for _, e := range b.events {
					dst = append(dst, Result{Seq: u.seqs[i], Schema: e.schema, Version: e.version, Status: s, Reason: reason})
					i++
				}
			}
			return dst
		}
	}
	for _, seq := range u.seqs {
		dst = append(dst, Result{Seq: seq, Status: s, Reason: reason})
	}
	return dst
}

// persist writes events left at Close to the queue directory as batches. It
// returns the events it could not write.
func (c *Client) persist(evs []event) []event {
	now := c.cfg.clock.Now()
	for len(evs) > 0 {
		n, size := 0, batchOverhead
		for n < len(evs) && n < c.cfg.MaxBatchEvents && size+len(evs[n].data)+1 <= c.cfg.MaxBatchBytes {
			size += len(evs[n].data) + 1
			n++
		}
		b := &batch{id: newBatchID(), created: now, events: evs[:n]}
		if _, err := c.q.create([]*batch{b}); err != nil {
			c.cfg.Logger.Warn("veil: cannot keep events in queue directory at close", "err", err)
			return evs
		}
		evs = evs[n:]
	}
	return nil
}
