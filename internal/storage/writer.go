package storage

import (
	"bytes"
	"cmp"
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Writer errors. Submit returns ErrOverloaded and ErrUnavailable at once, so
// the API can answer 503 with Retry-After instead of queueing without bound.
var (
	// ErrOverloaded reports a full writer queue.
	ErrOverloaded = errors.New("storage: writer queue is full")
	// ErrUnavailable reports that the database cannot be reached.
	ErrUnavailable = errors.New("storage: database unavailable")
	// ErrClosed reports a Submit after Close.
	ErrClosed = errors.New("storage: writer closed")
	// ErrInvalidRecord reports a record the writer cannot store (a
	// non-finite measure, a dimension of an unsupported type).
	ErrInvalidRecord = errors.New("storage: invalid record")
)

// Record is one accepted event, already coarsened and split by ingest.
type Record struct {
	// Bucket is the server's receive bucket (hour or day), in UTC.
	Bucket time.Time
	// Schema and Version name the event's registered schema.
	Schema  string
	Version int
	// Dimensions holds string, bool or int64 values.
	Dimensions map[string]any
	// Measures holds finite numbers.
	Measures map[string]float64
}

// OutcomeCount is a count of ingest outcomes, stored per hour.
type OutcomeCount struct {
	Bucket  time.Time
	Schema  string
	Version int
	Outcome string // "accepted" or "rejected"
	Reason  string // reason code; "" for accepted
	Count   int64
}

// Status is how a committed request was applied.
type Status int

const (
	// StatusCommitted: the request's rows are committed.
	StatusCommitted Status = iota + 1
	// StatusDuplicate: the request's idempotency key or enc hash was
	// already applied (or committed earlier in the same group); nothing of
	// it was written.
	StatusDuplicate
)

func (s Status) String() string {
	switch s {
	case StatusCommitted:
		return "committed"
	case StatusDuplicate:
		return "duplicate"
	case StatusTokenSpent:
		return "token_spent"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Batch is one ingest request handed to the Writer. It must not be modified
// after Submit.
type Batch struct {
	Records  []Record
	Outcomes []OutcomeCount
	// BatchKey is the request's idempotency key (the decoded batch_id),
	// kept for the dedup horizon. Empty: no idempotency check.
	BatchKey []byte
	// EncHash is sha256 of the OHTTP enc, kept for the replay window; nil
	// for requests that did not come through OHTTP.
	EncHash []byte
	// Token, if not nil, is the request's spent-token claim (spent.go).
	Token *TokenClaim
	// Done is called exactly once, after the transaction holding the
	// request has committed (status, nil) or failed (0, err). It runs on a
	// writer goroutine and must not block.
	Done func(Status, error)

	enc *encoded // the records as COPY tuples, from Submit until Done
}

// WriterConfig configures a Writer; the zero value works.
//
// Defaults, by measurement on the 2-core machine (fsync on, PostgreSQL
// and the load on the same cores; `veil bench --mode ingest --spawn
// --concurrency 64 --duration 15s`, 50 events/request, events/s and p50):
//
//	linger 2ms, 2 workers, group 5000   47.9k/s  67 ms
//	no linger,  2 workers, group 5000   49.7k/s  63 ms   (default)
//	no linger,  3 workers, group 5000   52.0k/s  60 ms   (within noise)
//	no linger,  4 workers, group 5000   45.7k/s  67 ms
//	no linger,  2 workers, group 20000  49.9k/s  63 ms
//
// Before the changes of this version (separate rollup_measures rows, 6-7
// round trips per group) the same run gave 37k/s at p50 85-88 ms. Groups
// form without lingering: a free worker takes everything queued, and while
// both workers commit the queue grows into the next group (group commit).
// A linger only added latency. One worker (a single committer, no rollup
// row contention) was slower: 27-30% of bare COPY in BenchmarkWriter vs
// 37-44% with two, since the second worker's COPY overlaps the first's
// upserts and commit, and its upserts then wait on the first's row locks
// in key order (no deadlock). At this point the ingest run is CPU-bound:
// the bench process (load generator and ingest pipeline) uses about 1.2 of
// the 2 cores, about 24 µs per event, and PostgreSQL most of the rest.
type WriterConfig struct {
	// QueueSize bounds queued requests (0: 4096). A Submit beyond it fails
	// with ErrOverloaded.
	QueueSize int
	// MaxGroupRows bounds the event rows of one transaction (0: 5000).
	MaxGroupRows int
	// Linger bounds how long a group waits for more requests, from its
	// first request, while it is not full and the queue is empty (0 or
	// negative: no wait, the default; see above).
	Linger time.Duration
	// Workers is the number of concurrent transactions (0: 2). A group
	// smaller than a fifth of MaxGroupRows does not start while another
	// transaction is in flight: it keeps gathering requests until that one
	// ends. Measured at 500 requests/s of 50 events (`veil bench --spawn
	// --mode full --rate 500`, 3 alternating runs): PostgreSQL CPU per
	// request 1,216-1,230 µs instead of 1,384-1,420, p99 63-81 ms instead
	// of 91-131; unchanged at saturation (42-51k events/s both ways).
	Workers int
	// DedupHorizon is how long idempotency keys are kept (0: 7 days).
	DedupHorizon time.Duration
	// EncHashTTL is how long enc hashes are kept (0: 10 minutes, twice the
	// gateway's default 5-minute replay window, since a request's Date may
	// be up to one window in the future when it first arrives).
	EncHashTTL time.Duration
	// CommitTimeout bounds one transaction (0: 30s).
	CommitTimeout time.Duration
	// Now is the clock for key expiry (nil: time.Now).
	Now func() time.Time
	// Rand seeds each group's shuffle (nil: crypto/rand).
	Rand io.Reader
	// Logger (nil: discard). The writer logs counts and errors, never
	// values.
	Logger *slog.Logger
}

// Writer is the durable batch writer: it groups many requests into one
// transaction — COPY for event rows, pre-aggregated upserts for rollups and
// outcomes, the dedup keys under their unique constraints —, commits, and
// only then completes each request.
type Writer struct {
	db  *DB
	cfg WriterConfig
	log *slog.Logger

	mu     sync.RWMutex // guards closed and sends on queue
	closed bool
	queue  chan *Batch

	ctx    context.Context // canceled when Close gives up draining
	cancel context.CancelFunc
	wg     sync.WaitGroup

	stats       struct{ groups, claimGroups, keyConflicts atomic.Int64 }
	up          atomic.Bool
	claimUntil  atomic.Int64 // unix nanos; until then groups check keys in claim mode (claimModeFor)
	lastOK      atomic.Int64 // unix nanos of the last successful commit or ping
	poke        chan struct{}
	monitorDone chan struct{}

	partMu     sync.Mutex
	parts      map[int64]bool // UTC days whose event partition is known to exist
	spentParts map[int64]bool // UTC days whose spent_tokens partition is known to exist

	// Transactions in flight, and a channel closed (and replaced) when
	// one ends: a small group waits for it (see smallGroup).
	active   atomic.Int32
	txMu     sync.Mutex
	txDoneCh chan struct{}
}

// Defaults of WriterConfig's zero fields (see WriterConfig for the
// measurements behind them).
const (
	DefaultQueueSize     = 4096
	DefaultMaxGroupRows  = 5000
	DefaultWorkers       = 2
	DefaultDedupHorizon  = 7 * 24 * time.Hour
	DefaultEncHashTTL    = 10 * time.Minute
	DefaultCommitTimeout = 30 * time.Second
)

// NewWriter starts a writer on db; stop it with Close (or Run). A negative
// size, count or duration in cfg (other than Linger) is an error.
func NewWriter(db *DB, cfg WriterConfig) (*Writer, error) {
	switch {
	case cfg.QueueSize < 0, cfg.MaxGroupRows < 0, cfg.Workers < 0:
		return nil, errors.New("storage: negative size or count in WriterConfig; leave it 0 for the default")
	case cfg.DedupHorizon < 0, cfg.EncHashTTL < 0, cfg.CommitTimeout < 0:
		return nil, errors.New("storage: negative duration in WriterConfig; leave it 0 for the default")
	}
	cfg.QueueSize = cmp.Or(cfg.QueueSize, DefaultQueueSize)
	cfg.MaxGroupRows = cmp.Or(cfg.MaxGroupRows, DefaultMaxGroupRows)
	cfg.Workers = cmp.Or(cfg.Workers, DefaultWorkers)
	cfg.DedupHorizon = cmp.Or(cfg.DedupHorizon, DefaultDedupHorizon)
	cfg.EncHashTTL = cmp.Or(cfg.EncHashTTL, DefaultEncHashTTL)
	cfg.CommitTimeout = cmp.Or(cfg.CommitTimeout, DefaultCommitTimeout)
	cfg.Rand = cmp.Or(cfg.Rand, crand.Reader)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler))
	w := &Writer{
		db: db, cfg: cfg, log: log,
		queue:       make(chan *Batch, cfg.QueueSize),
		poke:        make(chan struct{}, 1),
		monitorDone: make(chan struct{}),
		parts:       make(map[int64]bool),
		spentParts:  make(map[int64]bool),
		txDoneCh:    make(chan struct{}),
	}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	w.up.Store(true)
	w.lastOK.Store(time.Now().UnixNano())
	for range cfg.Workers {
		w.wg.Add(1)
		go w.work()
	}
	go w.monitor()
	return w, nil
}

// Submit queues b. It never blocks: it fails at once with ErrOverloaded
// when the queue is full and with ErrUnavailable while the database is
// unreachable. On nil error, b.Done will be called exactly once.
//
// Submit encodes b's records (see encodeBatch) on the caller's goroutine,
// so that the writer's workers, which commit one group at a time, spend
// their time on the database. b may be submitted again once its Done has
// been called.
func (w *Writer) Submit(b *Batch) error {
	if err := validateBatch(b); err != nil {
		return err
	}
	enc, err := encodeBatch(b.Records)
	if err != nil {
		return err
	}
	b.enc = enc
	w.mu.RLock()
	defer w.mu.RUnlock()
	err = ErrOverloaded
	switch {
	case w.closed:
		err = ErrClosed
	case !w.up.Load():
		err = ErrUnavailable
	default:
		select {
		case w.queue <- b:
			return nil
		default:
		}
	}
	b.enc = nil
	enc.release()
	return err
}

// Write submits b and waits for its completion. It replaces b.Done with a
// wrapper that calls the original, if any. When ctx ends first, Write
// returns ctx.Err() and the request may still commit.
func (w *Writer) Write(ctx context.Context, b *Batch) (Status, error) {
	type result struct {
		s   Status
		err error
	}
	ch := make(chan result, 1)
	orig := b.Done
	b.Done = func(s Status, err error) {
		if orig != nil {
			orig(s, err)
		}
		ch <- result{s, err}
	}
	if err := w.Submit(b); err != nil {
		return 0, err
	}
	select {
	case r := <-ch:
		return r.s, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// WriterStats counts the writer's transactions since it started.
type WriterStats struct {
	// Groups counts committed transactions.
	Groups int64
	// ClaimGroups counts the committed ones that checked their dedup keys
	// in claim mode (see claimModeFor).
	ClaimGroups int64
	// KeyConflicts counts transactions rolled back because a dedup key
	// was already stored (a duplicate found in insert mode, or a
	// concurrent claim); their groups ran again.
	KeyConflicts int64
}

// Stats returns the writer's counters.
func (w *Writer) Stats() WriterStats {
	return WriterStats{Groups: w.stats.groups.Load(), ClaimGroups: w.stats.claimGroups.Load(), KeyConflicts: w.stats.keyConflicts.Load()}
}

// Connected reports whether the writer believes the database is reachable.
func (w *Writer) Connected() bool { return w.up.Load() }

// Run waits for ctx to end, then drains the writer (up to 30s).
func (w *Writer) Run(ctx context.Context) error {
	<-ctx.Done()
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return w.Close(c)
}

// Close stops accepting requests and commits the queued ones. When ctx
// ends first, in-flight transactions are canceled and every request not yet
// committed completes with ErrUnavailable. Close is idempotent.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.queue)
	}
	w.mu.Unlock()
	done := make(chan struct{})
	go func() {
		w.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		w.cancel()
		<-done
		err = ctx.Err()
	}
	w.cancel()
	<-w.monitorDone
	return err
}

func validateBatch(b *Batch) error {
	if b == nil {
		return fmt.Errorf("%w: nil batch", ErrInvalidRecord)
	}
	if len(b.BatchKey) > 64 || len(b.EncHash) > 64 || (b.Token != nil && (len(b.Token.Hash) == 0 || len(b.Token.Hash) > 64)) {
		return fmt.Errorf("%w: dedup key longer than 64 bytes", ErrInvalidRecord)
	}
	return nil
}

// work collects groups from the queue and commits them.
func (w *Writer) work() {
	defer w.wg.Done()
	var timer *time.Timer
	sc := &scratch{}
	for {
		first, ok := <-w.queue
		if !ok {
			return
		}
		group := []*Batch{first}
		rows := len(first.Records)
		open := true
		// The linger bounds the group's wait from its first request, not
		// from each arrival: a steady trickle would otherwise hold a group
		// until it is full.
		deadline := time.Now().Add(w.cfg.Linger)
	collect:
		for rows < w.cfg.MaxGroupRows {
			select {
			case b, ok := <-w.queue:
				if !ok {
					open = false
					break collect
				}
				group = append(group, b)
				rows += len(b.Records)
				continue
			default:
			}
			wait := time.Until(deadline)
			if w.cfg.Linger <= 0 || wait <= 0 {
				if rows >= w.smallGroup() || w.active.Load() == 0 {
					break
				}
				// A small group while another transaction is in flight:
				// keep collecting until that one ends, then commit. At low
				// load this makes one committer at a time with groups that
				// grow during the other's commit, instead of many small
				// transactions, each paying for its rollup upserts (one
				// per dimension set, whatever the group's size) and its
				// commit; at high load groups reach smallGroup at once and
				// the workers commit side by side.
				txDone := w.txDone()
				if w.active.Load() == 0 {
					break
				}
				select {
				case b, ok := <-w.queue:
					if !ok {
						open = false
						break collect
					}
					group = append(group, b)
					rows += len(b.Records)
					continue
				case <-txDone:
				case <-w.ctx.Done():
				}
				break
			}
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			select {
			case b, ok := <-w.queue:
				timer.Stop()
				if !ok {
					open = false
					break collect
				}
				group = append(group, b)
				rows += len(b.Records)
			case <-timer.C:
				break collect
			}
		}
		w.commit(sc, group)
		if !open {
			return
		}
	}
}

// group-local working state of one request.
type pending struct {
	b       *Batch
	dupOf   *pending // an earlier request of the same group with the same key
	dup     bool     // already applied in the database
	spent   bool     // its token was spent (claim mode); also dup: nothing written
	spentOf *pending // an earlier request of the same group with the same token
	lo, hi  int      // its rows in the group's encoded rows, before the shuffle
	status  Status
	err     error
}

// smallGroup is the size below which a group waits for another worker's
// transaction to end before it commits (see work).
func (w *Writer) smallGroup() int { return max(1, w.cfg.MaxGroupRows/5) }

// txDone returns a channel closed when the next transaction ends.
func (w *Writer) txDone() <-chan struct{} {
	w.txMu.Lock()
	defer w.txMu.Unlock()
	return w.txDoneCh
}

// commit writes group in one transaction and completes each request.
func (w *Writer) commit(sc *scratch, group []*Batch) {
	w.active.Add(1)
	defer func() {
		w.active.Add(-1)
		w.txMu.Lock()
		close(w.txDoneCh)
		w.txDoneCh = make(chan struct{})
		w.txMu.Unlock()
	}()
	ps := make([]*pending, len(group))
	for i, b := range group {
		ps[i] = &pending{b: b}
	}
	// Within-group duplicates follow the first request with the same key:
	// duplicate if it commits, its error if it fails.
	byKey := make(map[string]*pending)
	byHash := make(map[string]*pending)
	byToken := make(map[string]*pending)
	var live []*pending
	for _, p := range ps {
		if p.dupOf = byKey[string(p.b.BatchKey)]; p.dupOf == nil || len(p.b.BatchKey) == 0 {
			p.dupOf = nil
			if len(p.b.EncHash) > 0 {
				p.dupOf = byHash[string(p.b.EncHash)]
			}
		}
		if p.dupOf != nil {
			continue
		}
		if p.b.Token != nil {
			if p.spentOf = byToken[p.b.Token.spentKey()]; p.spentOf != nil {
				continue
			}
			byToken[p.b.Token.spentKey()] = p
		}
		if len(p.b.BatchKey) > 0 {
			byKey[string(p.b.BatchKey)] = p
		}
		if len(p.b.EncHash) > 0 {
			byHash[string(p.b.EncHash)] = p
		}
		live = append(live, p)
	}
	w.commitLive(sc, live)
	for _, p := range ps {
		if p.dupOf != nil {
			p.status, p.err = StatusDuplicate, p.dupOf.err
			if p.err != nil {
				p.status = 0
			}
		}
		if p.spentOf != nil {
			p.status, p.err = StatusTokenSpent, p.spentOf.err
			if p.err != nil {
				p.status = 0
			}
		}
		// Release the encoding before Done: after Done the caller may
		// submit b again.
		p.b.enc.release()
		p.b.enc = nil
		if p.b.Done != nil {
			p.b.Done(p.status, p.err)
		}
	}
}

// commitLive commits requests with distinct keys, retrying transient
// conflicts and isolating a request that makes the transaction fail.
func (w *Writer) commitLive(sc *scratch, live []*pending) {
	if len(live) == 0 {
		return
	}
	fail := func(ps []*pending, err error) {
		for _, p := range ps {
			p.status, p.err = 0, err
		}
	}
	if w.ctx.Err() != nil || !w.up.Load() {
		fail(live, ErrUnavailable)
		return
	}
	var err error
	claim := w.cfg.Now().UnixNano() < w.claimUntil.Load()
	for attempt := 0; attempt < 4; attempt++ {
		for _, p := range live {
			p.dup, p.spent = false, false
		}
		err = w.tx(sc, live, claim)
		if err == nil {
			w.lastOK.Store(time.Now().UnixNano())
			w.stats.groups.Add(1)
			if claim {
				w.stats.claimGroups.Add(1)
			}
			for _, p := range live {
				p.status, p.err = StatusCommitted, nil
				if p.dup {
					p.status = StatusDuplicate
				}
				if p.spent {
					p.status = StatusTokenSpent
				}
			}
			return
		}
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23514" && strings.Contains(pe.Message, "partition") {
			// No partition for a row: retention dropped one we had cached.
			w.partMu.Lock()
			clear(w.parts)
			w.partMu.Unlock()
			continue
		}
		if errors.As(err, &pe) && pe.Code == "23505" && (pe.TableName == "batch_keys" || pe.TableName == "enc_hashes" || spentConflict(pe.TableName)) {
			// A stored dedup key: a duplicate in insert mode, or in claim
			// mode a key committed by a concurrent transaction after our
			// claim. Run the group again, claiming its keys.
			w.stats.keyConflicts.Add(1)
			if !claim {
				claim = true
				w.claimUntil.Store(w.cfg.Now().Add(claimModeFor).UnixNano())
			}
			continue
		}
		// Serialization failure or deadlock: run the group again.
		if !errors.As(err, &pe) || (pe.Code != "40001" && pe.Code != "40P01") {
			break
		}
	}
	if w.ctx.Err() != nil || unavailable(err) {
		w.markDown(err)
		fail(live, fmt.Errorf("%w: %v", ErrUnavailable, err))
		return
	}
	if len(live) > 1 {
		// One request's data made the transaction fail: commit the others
		// without it.
		for _, p := range live {
			w.commitLive(sc, []*pending{p})
		}
		return
	}
	w.log.Error("writer transaction failed", "requests", len(live), "err", err)
	fail(live, fmt.Errorf("storage: write: %w", err))
}

// unavailable reports an error that says the database cannot be reached,
// as opposed to one about the request.
func unavailable(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return true // network, timeout, closed pool: not a server verdict
	}
	switch {
	case len(pe.Code) == 5 && pe.Code[:2] == "08", // connection exception
		pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03", // shutdown, cannot connect now
		len(pe.Code) == 5 && pe.Code[:2] == "53": // insufficient resources
		return true
	}
	return false
}

func (w *Writer) markDown(err error) {
	if w.up.Swap(false) {
		w.log.Warn("database unavailable; writer refusing requests until it is back", "err", err)
	}
	select {
	case w.poke <- struct{}{}:
	default:
	}
}

// monitor pings the database when the writer is idle, and while it is
// down, retries with backoff until it answers.
func (w *Writer) monitor() {
	defer close(w.monitorDone)
	backoff := 100 * time.Millisecond
	t := time.NewTimer(time.Second)
	defer t.Stop()
	for {
		select {
		case <-w.ctx.Done():
			return
		case <-w.poke:
		case <-t.C:
		}
		if w.up.Load() && time.Since(time.Unix(0, w.lastOK.Load())) < time.Second {
			t.Reset(time.Second)
			continue
		}
		ctx, cancel := context.WithTimeout(w.ctx, 3*time.Second)
		err := w.db.pool.Ping(ctx)
		cancel()
		switch {
		case err == nil:
			w.lastOK.Store(time.Now().UnixNano())
			backoff = 100 * time.Millisecond
			if !w.up.Swap(true) {
				w.log.Info("database reachable again; writer accepting requests")
			}
			t.Reset(time.Second)
		case w.ctx.Err() != nil:
			return
		default:
			w.markDown(err)
			// Drain the poke markDown just sent; the timer paces retries.
			select {
			case <-w.poke:
			default:
			}
			jitter := time.Duration(rand.Int64N(int64(backoff) / 2))
			t.Reset(backoff + jitter)
			backoff = min(backoff*2, 3*time.Second)
		}
	}
}

// scratch is one worker's buffers, reused from group to group.
type scratch struct {
	rows []eventRow // the group's rows
	kept []eventRow // the rows of non-duplicate requests
}

type rollupKey struct {
	hour    int64
	schema  string
	version int32
	dims    string
}

type measureStat struct {
	n             int64
	sum, min, max float64
}

// rollupAgg is one rollup row's pre-aggregate: names are sorted, stats
// hold one entry per name.
type rollupAgg struct {
	count int64
	names []string
	stats []measureStat
}

// add adds one row's measures (names sorted) to a.
func (a *rollupAgg) add(names []string, vals []float64) {
	if a.count == 0 {
		a.names = names[:len(names):len(names)] // a later insert copies
		a.stats = make([]measureStat, len(names))
		for i, v := range vals {
			a.stats[i] = measureStat{n: 1, sum: v, min: v, max: v}
		}
		a.count = 1
		return
	}
	a.count++
	if !slices.Equal(a.names, names) {
		// A different measure set (rare): merge name by name.
		for i, name := range names {
			j, found := slices.BinarySearch(a.names, name)
			if !found {
				a.names = slices.Insert(a.names, j, name)
				a.stats = slices.Insert(a.stats, j, measureStat{n: 0, min: vals[i], max: vals[i]})
			}
			a.stats[j].addValue(vals[i])
		}
		return
	}
	for i, v := range vals {
		a.stats[i].addValue(v)
	}
}

func (s *measureStat) addValue(v float64) {
	s.n++
	s.sum += v
	s.min = min(s.min, v)
	s.max = max(s.max, v)
}

type outcomeKey struct {
	hour    int64
	schema  string
	version int32
	outcome string
	reason  string
}

// Key checks. A group's transaction checks its requests' dedup keys in one
// of two ways:
//
//   - insert (the fast path): the keys are inserted with a plain INSERT
//     after the COPY, in the batch that commits, as if no request were a
//     duplicate. A stored key (a duplicate, or an expired key retention has
//     not removed yet) fails the INSERT with a unique violation, the
//     transaction rolls back having written nothing, and the group runs
//     again in claim mode.
//   - claim: INSERT ... ON CONFLICT ... RETURNING in the transaction's first
//     exchange says which keys are stored (queueDedupClaims), and the
//     duplicates' rows are left out of the COPY.
//
// A plain INSERT of 1,000 random 32-byte keys into a 200,000-key table
// costs about 30% less server time than the claim (7.0 vs 10.0 ms, best of
// 8, 2 cores, fsync on), and the fast path needs no exchange of its own:
// BEGIN and SET LOCAL ROLE travel in the COPY's query, so a group takes two
// exchanges instead of three. With 10-event requests, the claims were a
// quarter of the writer's transaction time at 10,000-row groups.
//
// Duplicates come in bursts (clients retrying after an outage, a replay),
// and each costs the fast path a rolled-back group, so after one the
// writer stays in claim mode for claimModeFor.
const claimModeFor = 10 * time.Second

// tx runs one transaction for live; it marks requests found to be
// duplicates (p.dup) and writes nothing of them. claim selects the key
// check (see claimModeFor); in insert mode a duplicate fails the
// transaction with a unique violation on batch_keys or enc_hashes.
//
// Insert mode takes two exchanges with the server: BEGIN, SET LOCAL ROLE
// and the COPY in one query; then the key inserts, the rollup and outcome
// upserts and COMMIT in one pipelined batch. Claim mode adds one before
// the COPY: BEGIN, SET LOCAL ROLE and the claims. Every request's Done
// waits for these, so round trips are latency.
func (w *Writer) tx(sc *scratch, live []*pending, claim bool) (err error) {
	ctx, cancel := context.WithTimeout(w.ctx, w.cfg.CommitTimeout)
	defer cancel()
	now := w.cfg.Now()

	// The rows were encoded at Submit: the group's are their union.
	n := 0
	for _, p := range live {
		n += len(p.b.enc.rows)
	}
	rows := slices.Grow(sc.rows[:0], n)
	for _, p := range live {
		p.lo = len(rows)
		rows = append(rows, p.b.enc.rows...)
		p.hi = len(rows)
	}
	sc.rows = rows[:0]
	if err := w.ensurePartitions(ctx, rows); err != nil {
		return err
	}
	if err := w.ensureSpentPartitions(ctx, live); err != nil {
		return err
	}
	var seed [32]byte
	if _, err := io.ReadFull(w.cfg.Rand, seed[:]); err != nil {
		return fmt.Errorf("storage: shuffle seed: %w", err)
	}
	// The statements that open the transaction: in insert mode they travel
	// in the COPY's query; claim mode queues them before its claims.
	opening := []string{"BEGIN"}
	if w.db.setWriter != "" {
		opening = append(opening, w.db.setWriter)
	}
	begin := strings.Join(opening, "; ")

	// The batch that commits. In insert mode every statement of it is
	// known before a connection is taken: the rollups are aggregated here,
	// from the rows in request order (the shuffle comes later; walking the
	// buffer in order is also what keeps the aggregation cache-friendly).
	final := &pgx.Batch{}
	if !claim {
		queueKeyInserts(final, live, now, w.cfg.DedupHorizon, w.cfg.EncHashTTL)
		queueSpentInserts(final, live)
		queueRollups(final, rows)
		queueOutcomes(final, live)
	}

	c, err := w.db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer c.Release()
	conn := c.Conn()
	defer func() {
		if err == nil {
			return
		}
		// Leave the connection idle for the pool; if even that fails,
		// the pool discards it on Release.
		rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer rcancel()
		if conn.PgConn().TxStatus() != 'I' {
			_, _ = conn.Exec(rctx, "ROLLBACK")
		}
	}()

	if claim {
		first := &pgx.Batch{}
		for _, q := range opening {
			first.Queue(q)
		}
		claims := w.queueDedupClaims(first, live, now)
		claims += queueSpentClaim(first, live)
		br := conn.SendBatch(ctx, first)
		for range first.Len() - claims {
			if _, err := br.Exec(); err != nil {
				br.Close()
				return err
			}
		}
		claimed, err := readDedupClaims(br, claims)
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		begin = ""
		if markDuplicates(live, claimed, final) {
			kept := sc.kept[:0]
			for _, p := range live {
				if !p.dup {
					kept = append(kept, rows[p.lo:p.hi]...)
				}
			}
			sc.kept = kept[:0]
			rows = kept
		}
		queueRollups(final, rows)
		queueOutcomes(final, live)
	}

	if len(rows) > 0 {
		// Shuffle across requests (DESIGN.md invariant 3): the physical
		// order of a group's rows says nothing about which request sent
		// them.
		rng := rand.New(rand.NewChaCha8(seed))
		rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
		// The rows are already binary COPY tuples (pre-encoded jsonb, no
		// per-value interface boxing or type lookup): the stream is their
		// concatenation in shuffled order.
		query := "COPY events (bucket, schema_name, schema_version, dims, measures) FROM STDIN (FORMAT binary)"
		if begin != "" {
			// One simple query: the server runs BEGIN and SET LOCAL
			// ROLE, then reads the COPY data pgconn streams at once; the
			// transaction stays open after it.
			query = begin + "; " + query
		}
		if _, err := conn.PgConn().CopyFrom(ctx, &copyStream{rows: rows}, query); err != nil {
			return err
		}
	} else if begin != "" {
		// No row to COPY (every event of the group was rejected, or
		// every request was a duplicate): the outcomes still commit.
		if err := conn.PgConn().Exec(ctx, begin).Close(); err != nil {
			return err
		}
	}

	final.Queue("COMMIT")
	br := conn.SendBatch(ctx, final)
	var tag pgconn.CommandTag
	for range final.Len() {
		if tag, err = br.Exec(); err != nil {
			br.Close()
			return err
		}
	}
	if err := br.Close(); err != nil {
		return err
	}
	// COMMIT of a failed transaction answers ROLLBACK without an error.
	if tag.String() != "COMMIT" {
		return fmt.Errorf("storage: transaction not committed (%s)", tag)
	}
	return nil
}

// queueKeyInserts queues on batch the plain inserts of live's batch keys
// and enc hashes (insert mode, see claimModeFor), sorted, so concurrent
// transactions take index locks in one order.
func queueKeyInserts(batch *pgx.Batch, live []*pending, now time.Time, horizon, encTTL time.Duration) {
	keys, hashes := dedupKeys(live)
	if len(keys) > 0 {
		batch.Queue("INSERT INTO batch_keys (key, expires_at) SELECT k, $2 FROM unnest($1::bytea[]) AS k", keys, now.Add(horizon))
	}
	if len(hashes) > 0 {
		batch.Queue("INSERT INTO enc_hashes (hash, expires_at) SELECT h, $2 FROM unnest($1::bytea[]) AS h", hashes, now.Add(encTTL))
	}
}

// dedupKeys returns live's batch keys and enc hashes, each sorted.
func dedupKeys(live []*pending) (keys, hashes [][]byte) {
	for _, p := range live {
		if len(p.b.BatchKey) > 0 {
			keys = append(keys, p.b.BatchKey)
		}
		if len(p.b.EncHash) > 0 {
			hashes = append(hashes, p.b.EncHash)
		}
	}
	slices.SortFunc(keys, bytes.Compare)
	slices.SortFunc(hashes, bytes.Compare)
	return keys, hashes
}

// queueDedupClaims queues on batch the claims of live's batch keys and
// enc hashes and returns how many statements it queued (0, 1 or 2).
//
// A claim inserts the key, or takes over a stored key that has expired
// (retention has not removed it yet), and returns the keys it claimed; a
// key not returned is stored and unexpired, so its request is a
// duplicate. One statement per table does the lookup and the insert: the
// previous separate lookup (SELECT ... WHERE key = ANY($1)) ran a cached
// generic plan that seq-scanned the growing key tables, up to half a
// group's time in BenchmarkWriter. A concurrent transaction that claims
// the same key makes this one wait for its end, then see its verdict. Keys
// are sorted, so concurrent transactions take index locks in one order.
func (w *Writer) queueDedupClaims(batch *pgx.Batch, live []*pending, now time.Time) int {
	keys, hashes := dedupKeys(live)
	n := 0
	for _, q := range []struct {
		stmt string
		keys [][]byte
		ttl  time.Duration
	}{
		{`INSERT INTO batch_keys AS t (key, expires_at) SELECT k, $2 FROM unnest($1::bytea[]) AS k
			ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at WHERE t.expires_at <= $3
			RETURNING 0, key`, keys, w.cfg.DedupHorizon},
		{`INSERT INTO enc_hashes AS t (hash, expires_at) SELECT h, $2 FROM unnest($1::bytea[]) AS h
			ON CONFLICT (hash) DO UPDATE SET expires_at = excluded.expires_at WHERE t.expires_at <= $3
			RETURNING 1, hash`, hashes, w.cfg.EncHashTTL},
	} {
		if len(q.keys) == 0 {
			continue
		}
		batch.Queue(q.stmt, q.keys, now.Add(q.ttl), now)
		n++
	}
	return n
}

// readDedupClaims reads the claims queueDedupClaims queued: the batch keys
// and the enc hashes this transaction claimed.
func readDedupClaims(br pgx.BatchResults, claims int) ([3]map[string]bool, error) {
	claimed := [3]map[string]bool{{}, {}, {}}
	for range claims {
		rows, err := br.Query()
		if err != nil {
			return claimed, err
		}
		var kind int32
		var k []byte
		_, err = pgx.ForEachRow(rows, []any{&kind, &k}, func() error {
			claimed[kind][string(k)] = true
			return nil
		})
		if err != nil {
			return claimed, err
		}
	}
	return claimed, nil
}

// markDuplicates marks as duplicates (p.dup) the live requests whose batch
// key or enc hash was not claimed (stored and unexpired). A duplicate's
// other key, if this transaction claimed it, is released again with a
// DELETE queued on batch: nothing of a duplicate is written. It reports
// whether any request was a duplicate.
func markDuplicates(live []*pending, claimed [3]map[string]bool, batch *pgx.Batch) bool {
	any := false
	var releaseKeys, releaseHashes [][]byte
	var releaseWindows []time.Time
	var releaseTokens [][]byte
	for _, p := range live {
		kOK := len(p.b.BatchKey) == 0 || claimed[0][string(p.b.BatchKey)]
		hOK := len(p.b.EncHash) == 0 || claimed[1][string(p.b.EncHash)]
		tOK := p.b.Token == nil || claimed[claimKindToken][string(p.b.Token.Hash)]
		if kOK && hOK && tOK {
			continue
		}
		// The batch key is judged first: a retried, already-applied batch
		// is a duplicate even though its token is (by itself) spent.
		p.dup, any = true, true
		p.spent = kOK && hOK && !tOK
		if p.b.Token != nil && tOK {
			releaseWindows = append(releaseWindows, p.b.Token.Window.UTC())
			releaseTokens = append(releaseTokens, p.b.Token.Hash)
		}
		if len(p.b.BatchKey) > 0 && kOK {
			releaseKeys = append(releaseKeys, p.b.BatchKey)
		}
		if len(p.b.EncHash) > 0 && hOK {
			releaseHashes = append(releaseHashes, p.b.EncHash)
		}
	}
	if len(releaseKeys) > 0 {
		batch.Queue("DELETE FROM batch_keys WHERE key = ANY($1::bytea[])", releaseKeys)
	}
	if len(releaseHashes) > 0 {
		batch.Queue("DELETE FROM enc_hashes WHERE hash = ANY($1::bytea[])", releaseHashes)
	}
	if len(releaseTokens) > 0 {
		batch.Queue("DELETE FROM spent_tokens WHERE (window_start, hash) IN (SELECT * FROM unnest($1::timestamptz[], $2::bytea[]))", releaseWindows, releaseTokens)
	}
	return any
}

// ensurePartitions makes sure every day in rows has its event partition,
// outside the group's transaction (DDL takes strong locks).
func (w *Writer) ensurePartitions(ctx context.Context, rows []eventRow) error {
	var missing []int64
	w.partMu.Lock()
	for i := range rows {
		d := rows[i].bucket.Unix() / 86400
		if !w.parts[d] && !slices.Contains(missing, d) {
			missing = append(missing, d)
		}
	}
	w.partMu.Unlock()
	for _, d := range missing {
		if err := w.db.ensurePartition(ctx, time.Unix(d*86400, 0).UTC()); err != nil {
			return err
		}
		w.partMu.Lock()
		w.parts[d] = true
		w.partMu.Unlock()
	}
	return nil
}

func (db *DB) ensurePartition(ctx context.Context, day time.Time) error {
	_, err := db.pool.Exec(ctx, "SELECT veil_ensure_event_partition($1::date)", day.Format(time.DateOnly))
	return err
}

// queueRollups pre-aggregates rows by hour, schema, version and dimension
// set and queues the upserts, in key order so that concurrent transactions
// lock rollup rows in the same order.
func queueRollups(batch *pgx.Batch, rows []eventRow) {
	if len(rows) == 0 {
		return
	}
	// One hash per row: rows are found by their dimension set (a lookup by
	// string(bytes) allocates nothing), then by hour, schema and version
	// among the few keys that share it.
	type keyed struct {
		k rollupKey
		a *rollupAgg
	}
	byDims := make(map[string][]keyed)
	n := 0
	for i := range rows {
		r := &rows[i]
		hour := r.bucket.Truncate(time.Hour).Unix()
		ks, ok := byDims[string(r.dimsJSON)]
		var a *rollupAgg
		for j := range ks {
			if k := &ks[j].k; k.hour == hour && k.version == r.version && k.schema == r.schema {
				a = ks[j].a
				break
			}
		}
		if a == nil {
			d := string(r.dimsJSON)
			if ok {
				d = ks[0].k.dims
			}
			a = &rollupAgg{}
			byDims[d] = append(ks, keyed{rollupKey{hour: hour, schema: r.schema, version: r.version, dims: d}, a})
			n++
		}
		a.add(r.names, r.vals)
	}
	aggs := make(map[rollupKey]*rollupAgg, n)
	for _, ks := range byDims {
		for _, k := range ks {
			aggs[k.k] = k.a
		}
	}
	keys := make([]rollupKey, 0, len(aggs))
	for k := range aggs {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b rollupKey) int {
		return cmp.Or(cmp.Compare(a.schema, b.schema), cmp.Compare(a.version, b.version),
			cmp.Compare(a.hour, b.hour), cmp.Compare(a.dims, b.dims))
	})
	var (
		hours         []time.Time
		schemas, dims []string
		versions      []int32
		counts        []int64
		names, stats  []string
	)
	var nbuf, sbuf []byte
	for _, k := range keys {
		a := aggs[k]
		hours, schemas, versions, dims, counts = append(hours, time.Unix(k.hour, 0).UTC()), append(schemas, k.schema), append(versions, k.version), append(dims, k.dims), append(counts, a.count)
		nbuf, sbuf = appendMeasureArrays(nbuf[:0], sbuf[:0], a.names, a.stats)
		names, stats = append(names, string(nbuf)), append(stats, string(sbuf))
	}
	// Rows whose measure names match (the common case) merge their
	// statistics element by element in SQL; the others through
	// veil_merge_measure_* (migration 003).
	batch.Queue(`INSERT INTO rollups AS t (hour, schema_name, schema_version, dims, count, measure_names, measure_stats)
		SELECT h, s, v, d, c, n::text[], st::float8[]
		FROM unnest($1::timestamptz[], $2::text[], $3::int[], $4::jsonb[], $5::bigint[], $6::text[], $7::text[]) AS u(h, s, v, d, c, n, st)
		ON CONFLICT (schema_name, schema_version, hour, dims) DO UPDATE SET
			count = t.count + excluded.count,
			measure_names = CASE WHEN t.measure_names = excluded.measure_names THEN t.measure_names
				ELSE veil_merge_measure_names(t.measure_names, excluded.measure_names) END,
			measure_stats = CASE WHEN t.measure_names = excluded.measure_names THEN
				ARRAY(SELECT CASE o % 4 WHEN 3 THEN least(x, y) WHEN 0 THEN greatest(x, y) ELSE x + y END
					FROM unnest(t.measure_stats, excluded.measure_stats) WITH ORDINALITY AS m(x, y, o) ORDER BY o)
				ELSE veil_merge_measure_stats(t.measure_names, t.measure_stats, excluded.measure_names, excluded.measure_stats) END`,
		hours, schemas, versions, dims, counts, names, stats)
}

// queueOutcomes sums the non-duplicate requests' outcome counts per hour
// and queues one upsert.
func queueOutcomes(batch *pgx.Batch, live []*pending) {
	sums := make(map[outcomeKey]int64)
	for _, p := range live {
		if p.dup {
			continue
		}
		for _, o := range p.b.Outcomes {
			if o.Count == 0 {
				continue
			}
			k := outcomeKey{hour: o.Bucket.UTC().Truncate(time.Hour).Unix(), schema: o.Schema, version: int32(o.Version), outcome: o.Outcome, reason: o.Reason}
			sums[k] += o.Count
		}
	}
	if len(sums) == 0 {
		return
	}
	keys := make([]outcomeKey, 0, len(sums))
	for k := range sums {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b outcomeKey) int {
		return cmp.Or(cmp.Compare(a.hour, b.hour), cmp.Compare(a.schema, b.schema), cmp.Compare(a.version, b.version),
			cmp.Compare(a.outcome, b.outcome), cmp.Compare(a.reason, b.reason))
	})
	var (
		hours                     []time.Time
		schemas, outcomes, reason []string
		versions                  []int32
		counts                    []int64
	)
	for _, k := range keys {
		hours = append(hours, time.Unix(k.hour, 0).UTC())
		schemas, versions, outcomes, reason = append(schemas, k.schema), append(versions, k.version), append(outcomes, k.outcome), append(reason, k.reason)
		counts = append(counts, sums[k])
	}
	batch.Queue(`INSERT INTO ingest_outcomes AS t (hour, schema_name, schema_version, outcome, reason, count)
		SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::int[], $4::text[], $5::text[], $6::bigint[])
		ON CONFLICT (hour, schema_name, schema_version, outcome, reason) DO UPDATE SET count = t.count + excluded.count`,
		hours, schemas, versions, outcomes, reason, counts)
}
