package storage

import (
	"cmp"
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
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
	// non-finite measure, a dimension of an unsupported type, a NUL
	// character). It is the request's fault: retrying does not help.
	ErrInvalidRecord = errors.New("storage: invalid record")
)

// Record is one accepted event, already coarsened and split by ingest.
type Record struct {
	// Bucket is the server's receive bucket (hour or day), in UTC.
	Bucket time.Time
	// BucketEnd is when the bucket closes (zero: Bucket plus a day when
	// Bucket is a UTC midnight, else plus an hour — never before the real
	// end, so a mix of fewer than k requests never comes early).
	BucketEnd time.Time
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
	// StatusCommitted: the request is durably staged; the mixer will fold
	// it into the rollups exactly once.
	StatusCommitted Status = iota + 1
	// StatusDuplicate: one of the request's dedup claims (batch id, enc
	// hash, or an extra claim) was already held, by an earlier request or
	// one earlier in the same group; nothing of it was written.
	StatusDuplicate
)

func (s Status) String() string {
	switch s {
	case StatusCommitted:
		return "committed"
	case StatusDuplicate:
		return "duplicate"
	case StatusTokenSpent:
		return "token spent"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Batch is one ingest request handed to the Writer. It must not be modified
// after Submit.
type Batch struct {
	Records  []Record
	Outcomes []OutcomeCount
	// BatchKey is the request's idempotency key (the decoded batch_id),
	// kept, as a keyed hash, for the dedup horizon. Empty: no idempotency
	// check.
	BatchKey []byte
	// EncHash is sha256 of the OHTTP enc, kept, as a keyed hash, for the
	// enc TTL; nil for requests that did not come through OHTTP.
	EncHash []byte
	// Claims are further dedup claims made in the acknowledge
	// transaction (see Claim); the request is a duplicate when any of
	// them is already held.
	Claims []Claim
	// Done is called exactly once, after the transaction holding the
	// request has committed (status, nil) or failed (0, err). It runs on a
	// writer goroutine and must not block.
	Done func(Status, error)

	payload []byte // the records and outcomes, encoded at Submit
	content bool   // the payload holds at least one rollup cell
}

// WriterConfig configures a Writer; the zero value works. The measurements
// behind the defaults are in docs/performance.md.
type WriterConfig struct {
	// QueueSize bounds queued requests (0: 4096). A Submit beyond it fails
	// with ErrOverloaded.
	QueueSize int
	// MaxGroupRows bounds the events of one acknowledge transaction
	// (0: 5000).
	MaxGroupRows int
	// Linger bounds how long a group waits for more requests, from its
	// first request, while it is not full and the queue is empty (0 or
	// negative: no wait).
	Linger time.Duration
	// Workers is the number of concurrent acknowledge transactions (0: 2).
	// A group smaller than a fifth of MaxGroupRows does not start while
	// another transaction is in flight.
	Workers int
	// DedupHorizon is how long batch ids are kept (0: 7 days), rounded up
	// to the hour.
	DedupHorizon time.Duration
	// EncHashTTL is how long enc hashes are kept (0: 10 minutes), rounded
	// up to the hour; it must cover twice the gateway's replay window.
	EncHashTTL time.Duration
	// CommitTimeout bounds one transaction (0: 30s).
	CommitTimeout time.Duration
	// MixInterval is how often the mixer checks the staged requests, and
	// the life of a staging key (0: 60 s).
	MixInterval time.Duration
	// MixK is the fewest requests a mix carries, except at a bucket's end
	// (0: 10).
	MixK int
	// NoMixer starts no mixer goroutine: Mix runs it by hand (tests).
	NoMixer bool
	// Now is the clock for expiry and intervals (nil: time.Now).
	Now func() time.Time
	// Rand seeds shuffles and nonces (nil: crypto/rand).
	Rand io.Reader
	// Logger (nil: discard). The writer logs counts and errors, never
	// values.
	Logger *slog.Logger
}

// Defaults of WriterConfig's zero fields.
const (
	DefaultQueueSize     = 4096
	DefaultMaxGroupRows  = 5000
	DefaultWorkers       = 2
	DefaultDedupHorizon  = 7 * 24 * time.Hour
	DefaultEncHashTTL    = 10 * time.Minute
	DefaultCommitTimeout = 30 * time.Second
	DefaultMixInterval   = time.Minute
	DefaultMixK          = 10
)

// Writer is the durable batch writer (DESIGN.md data flow steps 6-8). It
// groups requests into acknowledge transactions (group.go) that claim their
// keyed dedup hashes and store one sealed staging row per request
// (ack.go, dedup.go, staging.go), and only then completes each request. A
// mixer (mixer.go) folds staged requests into the rollups.
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

	dedup  dedupHasher
	keys   *stageKeys
	mixer  *mixer
	health health

	stats struct {
		groups, duplicates atomic.Int64
	}

	// Transactions in flight, and a channel closed (and replaced) when
	// one ends: a small group waits for it (see collect).
	active   atomic.Int32
	txMu     sync.Mutex
	txDoneCh chan struct{}
}

// NewWriter starts a writer (and, unless cfg.NoMixer, its mixer) on db;
// stop it with Close (or Run). A negative size, count or duration in cfg
// (other than Linger) is an error. db needs its master key (the dedup
// hashes' key derives from it) and a stage key directory.
func NewWriter(db *DB, cfg WriterConfig) (*Writer, error) {
	switch {
	case cfg.QueueSize < 0, cfg.MaxGroupRows < 0, cfg.Workers < 0, cfg.MixK < 0:
		return nil, errors.New("storage: negative size or count in WriterConfig; leave it 0 for the default")
	case cfg.DedupHorizon < 0, cfg.EncHashTTL < 0, cfg.CommitTimeout < 0, cfg.MixInterval < 0:
		return nil, errors.New("storage: negative duration in WriterConfig; leave it 0 for the default")
	case cfg.MixInterval > 0 && cfg.MixInterval < time.Second:
		return nil, errors.New("storage: MixInterval below one second")
	}
	cfg.QueueSize = cmp.Or(cfg.QueueSize, DefaultQueueSize)
	cfg.MaxGroupRows = cmp.Or(cfg.MaxGroupRows, DefaultMaxGroupRows)
	cfg.Workers = cmp.Or(cfg.Workers, DefaultWorkers)
	cfg.DedupHorizon = cmp.Or(cfg.DedupHorizon, DefaultDedupHorizon)
	cfg.EncHashTTL = cmp.Or(cfg.EncHashTTL, DefaultEncHashTTL)
	cfg.CommitTimeout = cmp.Or(cfg.CommitTimeout, DefaultCommitTimeout)
	cfg.MixInterval = cmp.Or(cfg.MixInterval, DefaultMixInterval)
	cfg.MixK = cmp.Or(cfg.MixK, DefaultMixK)
	cfg.Rand = cmp.Or(cfg.Rand, crand.Reader)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if db == nil {
		return nil, errors.New("storage: nil DB")
	}
	dh, err := newDedupHasher(db.masterKey)
	if err != nil {
		return nil, err
	}
	if db.stageKeyDir == "" {
		return nil, errors.New("storage: the writer needs a stage key directory (Config.StageKeyDir or DataDir)")
	}
	log := cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler))
	w := &Writer{
		db: db, cfg: cfg, log: log,
		queue:    make(chan *Batch, cfg.QueueSize),
		txDoneCh: make(chan struct{}),
		dedup:    dh,
		keys:     newStageKeys(db, db.stageKeyDir, cfg.MixInterval, cfg.Rand),
	}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	w.health.init(db, log)
	ctx, cancel := context.WithTimeout(w.ctx, cfg.CommitTimeout)
	defer cancel()
	if err := w.convertLegacyKeys(ctx); err != nil {
		w.cancel()
		return nil, err
	}
	if err := w.keys.removeOrphans(ctx, cfg.Now()); err != nil {
		w.cancel()
		return nil, err
	}
	w.mixer = newMixer(w)
	for range cfg.Workers {
		w.wg.Add(1)
		go w.work()
	}
	go w.health.monitor(w.ctx)
	if !cfg.NoMixer {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			w.mixer.run(w.ctx)
		}()
	}
	return w, nil
}

// Submit queues b. It never blocks: it fails at once with ErrOverloaded
// when the queue is full and with ErrUnavailable while the database is
// unreachable, and with ErrInvalidRecord for a record that cannot be
// stored. On nil error, b.Done will be called exactly once.
//
// Submit encodes b's records into partial rollup cells on the caller's
// goroutine, so a request whose content cannot be stored fails here, alone,
// and the writer's workers spend their time on the database.
func (w *Writer) Submit(b *Batch) error {
	if err := validateBatch(b); err != nil {
		return err
	}
	payload, content, err := encodePayload(b)
	if err != nil {
		return err
	}
	b.payload, b.content = payload, content
	w.mu.RLock()
	defer w.mu.RUnlock()
	err = ErrOverloaded
	switch {
	case w.closed:
		err = ErrClosed
	case !w.health.up.Load():
		err = ErrUnavailable
	default:
		select {
		case w.queue <- b:
			return nil
		default:
		}
	}
	b.payload = nil
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

// WriterStats counts the writer's and its mixer's work since it started.
type WriterStats struct {
	// Groups counts committed acknowledge transactions.
	Groups int64
	// Duplicates counts requests answered duplicate.
	Duplicates int64
	// MixChecks counts the mixer's completed checks (committed, with or
	// without content to fold).
	MixChecks int64
	// Mixes counts committed mixes that folded content into the rollups.
	Mixes int64
	// MixedRequests counts requests folded into the rollups.
	MixedRequests int64
	// LastMixRequests and LastMixCells are the requests and rollup cells
	// of the last mix.
	LastMixRequests, LastMixCells int64
	// PendingRequests counts staged requests not yet mixed, as of the
	// mixer's last check.
	PendingRequests int64
	// MixLag is how long the oldest staged request had waited at the
	// mixer's last check (zero when none was pending).
	MixLag time.Duration
}

// Stats returns the writer's counters.
func (w *Writer) Stats() WriterStats {
	s := WriterStats{Groups: w.stats.groups.Load(), Duplicates: w.stats.duplicates.Load()}
	w.mixer.fillStats(&s)
	return s
}

// Connected reports whether the writer believes the database is reachable.
func (w *Writer) Connected() bool { return w.health.up.Load() }

// Run waits for ctx to end, then drains the writer (up to 30s).
func (w *Writer) Run(ctx context.Context) error {
	<-ctx.Done()
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return w.Close(c)
}

// Close stops accepting requests, commits the queued ones and stops the
// mixer (staged requests stay staged for the next start). When ctx ends
// first, in-flight transactions are canceled and every request not yet
// committed completes with ErrUnavailable. Close is idempotent.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.queue)
	}
	w.mu.Unlock()
	w.mixer.stop()
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
	w.health.wait()
	w.mixer.close()
	return err
}

// maxDedupKey bounds BatchKey and EncHash.
const maxDedupKey = 64

func validateBatch(b *Batch) error {
	if b == nil {
		return fmt.Errorf("%w: nil batch", ErrInvalidRecord)
	}
	if len(b.BatchKey) > maxDedupKey || len(b.EncHash) > maxDedupKey {
		return fmt.Errorf("%w: dedup key longer than %d bytes", ErrInvalidRecord, maxDedupKey)
	}
	for _, c := range b.Claims {
		if c.Kind < firstExtraClaim || c.Kind > maxClaimKind || len(c.Value) == 0 || len(c.Value) > maxDedupKey || c.TTL <= 0 {
			return fmt.Errorf("%w: claim of kind %d", ErrInvalidRecord, c.Kind)
		}
	}
	return nil
}
