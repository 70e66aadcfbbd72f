package sdk

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/veil-telemetry/veil/ohttp/signedkeys"
)

// Defaults for the optional Config fields. A zero field means its default.
const (
	DefaultMaxBatchEvents = 100
	DefaultMaxBatchBytes  = 64 << 10
	DefaultFlushInterval  = 5 * time.Second
	DefaultMaxQueueEvents = 10000
	DefaultMaxMemoryBytes = 16 << 20
	DefaultMaxQueueBytes  = 64 << 20
	// DefaultMaxAge is the gateway's default deduplication horizon: a batch
	// older than this could be stored twice if it were sent again, so it is
	// dropped instead.
	DefaultMaxAge       = 7 * 24 * time.Hour
	DefaultMaxRetryWait = 5 * time.Minute
	// DefaultRequestTimeout bounds one HTTP exchange when Config.HTTPClient
	// is nil.
	DefaultRequestTimeout = 30 * time.Second
)

// Config configures a Client. RelayURL is required; the zero value of every
// other field selects a documented default.
type Config struct {
	// RelayURL is where encapsulated requests are POSTed, for example
	// "https://relay.example/gateway". Required.
	RelayURL string

	// KeysURL is where the gateway's key configurations are fetched.
	// With KeyPin it must serve the signed key document
	// (application/vnd.veil.signed-ohttp-keys; default: the relay's origin
	// followed by /ohttp-keys-signed); without, the plain
	// application/ohttp-keys document (default: the relay's origin
	// followed by /ohttp-keys). Fetching keys through the relay means every
	// client sees the same key document (key consistency, RFC 9458 §7).
	KeysURL string

	// KeyPin authenticates the gateway's keys against the relay: the text
	// form of the gateway's key-document signing key, as printed by
	// `veil admin keys pin` ("veil-pin-ed25519:…"), shipped in the app's
	// configuration. With it the Client uses a key document only when a
	// signature by that key verifies over its exact bytes; any other
	// document is refused before anything is encrypted to it, and
	// OnError gets a DeliveryError of class ErrKeysUnauthenticated.
	// Without it a relay could hand out keys of its own and read every
	// event, so New refuses to start without a pin unless RelayURL and
	// KeysURL are on loopback (localhost, 127.0.0.0/8, ::1) or
	// InsecureNoKeyPin is set. A pin is public: it may be committed and
	// logged.
	KeyPin string

	// InsecureNoKeyPin lets New start without a KeyPin for a relay that
	// is not on loopback.
	//
	// Warning: without a pin the relay, or anyone who can answer in its
	// name, can substitute its own key and read every event.
	InsecureNoKeyPin bool

	// InsecureHTTP lets RelayURL and KeysURL be http:// URLs to hosts that
	// are not on loopback. By default New refuses them.
	//
	// Warning: over plain HTTP anyone on the network path sees who sends
	// when, and can block, delay or (without KeyPin) impersonate the relay.
	InsecureHTTP bool

	// HTTPClient sends every request. Default: a client of its own with a
	// DefaultRequestTimeout timeout. It should have no cookie jar: nothing
	// may let the relay or the gateway link two batches.
	HTTPClient *http.Client

	// MaxBatchEvents caps the events in one request (default 100).
	MaxBatchEvents int

	// MaxBatchBytes caps the encoded size of one request before padding
	// (default 64 KiB, which keeps full batches in the 64 KiB padding
	// bucket). A single event larger than this is refused by Record.
	MaxBatchBytes int

	// FlushInterval is how long an event may wait for its batch to fill
	// before the batch is sent anyway (default 5 s).
	FlushInterval time.Duration

	// MaxQueueEvents bounds the events held in memory and not yet answered
	// (default 10,000). When it is reached, Record drops the new event
	// (drop newest): it returns ErrQueueFull and reports the event to
	// OnResult as dropped with ReasonQueueFull. With a QueueDir, batches
	// already written to disk no longer count against it.
	MaxQueueEvents int

	// MaxMemoryBytes bounds the encoded size of the events MaxQueueEvents
	// counts (default 16 MiB), refusing new events the same way
	// (ReasonQueueFull). It must be at least MaxBatchBytes.
	MaxMemoryBytes int64

	// QueueDir, when set, makes batches survive restarts: each batch is
	// written there (mode 0600, with its batch_id) before it is first sent
	// and removed once answered. A new Client on the same directory sends
	// what an earlier one left, in order and with the same batch_id, so the
	// gateway stores each batch once. Only one Client may use a directory
	// at a time: on Unix systems New takes a lock on it and fails with
	// ErrQueueDirInUse while another Client holds it (released by Close, or
	// when the process ends). File names are random per batch, and files
	// are encrypted (QueueKey). The directory must be private to the
	// user: New refuses (ErrQueueDirUnsafe) a symbolic link, and, on Unix
	// systems, a directory another user owns or that group or others may
	// write to.
	QueueDir string

	// QueueKey supplies the key that encrypts the files in QueueDir
	// (AES-256-GCM; the files hold batch creation times to the minute
	// only). Default: a random key kept in QueueDir as queue.key (mode
	// 0600, made when first needed, refused when others may read it, and
	// removed by Close when no batch is left). The default protects a batch
	// file copied without the key file, and what deleted batches left on
	// the disk once the key is removed; not against someone who can read
	// the whole directory. An app that can should keep the key in the
	// platform's keystore with a QueueKeyProvider of its own.
	QueueKey QueueKeyProvider

	// MaxQueueBytes caps the bytes in QueueDir (default 64 MiB). A batch
	// that does not fit is dropped (ReasonQueueFull). A file in QueueDir
	// larger than a batch can make (MaxBatchBytes and 1 KiB of framing) is
	// skipped, unread: left on disk, logged, and not counted.
	MaxQueueBytes int64

	// MaxAge is how long a batch may wait for delivery, in memory or on
	// disk, before it is dropped with ReasonExpired (default 7 days, the
	// gateway's deduplication horizon).
	MaxAge time.Duration

	// MaxAttempts caps the requests made for one batch; when they all fail
	// the batch's events are dropped with ReasonRetriesExhausted. Zero means
	// no cap: a batch is retried until MaxAge.
	MaxAttempts int

	// MaxRetryWait caps the wait between attempts (default 5 minutes): the
	// exponential backoff, and a Retry-After, which is honoured up to
	// MaxRetryWait only since the relay can send any value and the wait
	// holds every batch queued behind.
	MaxRetryWait time.Duration

	// PostQuantum prefers the gateway's X-Wing key (ML-KEM-768 + X25519)
	// when it offers one. Otherwise an X25519 key is used.
	PostQuantum bool

	// DisableCompression turns off gzip of request contents. By default a
	// batch is gzipped inside the encapsulation when that makes it smaller.
	DisableCompression bool

	// OnResult, when set, receives the outcome of every recorded event,
	// exactly once: accepted, duplicate, rejected (with the reason and field
	// the gateway gave), dropped (with the reason), or queued (kept in
	// QueueDir by a Close whose ctx ended first). It is called from the
	// Client's goroutines, and from Record for ReasonQueueFull, possibly
	// concurrently; it must be safe for concurrent use, return quickly and
	// not call Flush or Close.
	OnResult func(Result)

	// OnError, when set, is told of every failed attempt to fetch the
	// gateway's keys or deliver a batch, with a *DeliveryError that says
	// what was requested, what came back, and whether and when the Client
	// tries again. Match its class with errors.Is: ErrUnreachable,
	// ErrKeysRefused, ErrKeysUnauthenticated, ErrRelayRefused, ErrTLS,
	// ErrKeyConfig; anything else (a timeout, 429, 5xx) is the kind of
	// trouble that passes. The Client
	// keeps its events queued and retries whatever the class, until
	// MaxAttempts or MaxAge; OnError lets an app show why nothing is being
	// delivered, or a one-shot tool give up. It is called from the
	// sending goroutine, before any backoff wait; it must be safe for
	// concurrent use with OnResult, return quickly and not call Flush or
	// Close.
	OnError func(error)

	// Tokens, if set, makes every batch redeem a Privacy Pass token
	// (TokenConfig), for gateways whose schemas require them.
	Tokens *TokenConfig

	// Logger receives operational messages (attempts, backoff, key fetches).
	// Event contents are never logged. Default: discard.
	Logger *slog.Logger

	// clock is replaced by tests; nil means the system clock.
	clock clock
}

// config is a validated Config with every default applied.
type config struct {
	Config
	relayURL  *url.URL
	keysURL   *url.URL
	pin       *signedkeys.Pin // nil without KeyPin
	tokens    *tokenStore     // nil without Tokens
	ownClient bool
}

func (c Config) resolve() (*config, error) {
	r := &config{Config: c}
	if c.RelayURL == "" {
		return nil, errors.New("veil: Config.RelayURL is required")
	}
	u, err := parseHTTPURL("RelayURL", c.RelayURL)
	if err != nil {
		return nil, err
	}
	r.relayURL = u
	if c.KeysURL == "" {
		r.keysURL = &url.URL{Scheme: u.Scheme, Host: u.Host, Path: defaultKeysPath(c.KeyPin != "")}
	} else if r.keysURL, err = parseHTTPURL("KeysURL", c.KeysURL); err != nil {
		return nil, err
	}
	if err := r.resolveKeyTrust(); err != nil {
		return nil, err
	}
	if r.HTTPClient == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		r.HTTPClient = &http.Client{Transport: tr, Timeout: DefaultRequestTimeout}
		r.ownClient = true
	}
	if c.Tokens != nil {
		if r.tokens, err = newTokenStore(*c.Tokens, r.HTTPClient, r.relayURL); err != nil {
			return nil, err
		}
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"MaxBatchEvents", int64(c.MaxBatchEvents)},
		{"MaxBatchBytes", int64(c.MaxBatchBytes)},
		{"FlushInterval", int64(c.FlushInterval)},
		{"MaxQueueEvents", int64(c.MaxQueueEvents)},
		{"MaxMemoryBytes", c.MaxMemoryBytes},
		{"MaxQueueBytes", c.MaxQueueBytes},
		{"MaxAge", int64(c.MaxAge)},
		{"MaxAttempts", int64(c.MaxAttempts)},
		{"MaxRetryWait", int64(c.MaxRetryWait)},
	} {
		if f.v < 0 {
			return nil, fmt.Errorf("veil: Config.%s must not be negative", f.name)
		}
	}
	r.MaxBatchEvents = cmp.Or(c.MaxBatchEvents, DefaultMaxBatchEvents)
	r.MaxBatchBytes = cmp.Or(c.MaxBatchBytes, DefaultMaxBatchBytes)
	r.FlushInterval = cmp.Or(c.FlushInterval, DefaultFlushInterval)
	r.MaxQueueEvents = cmp.Or(c.MaxQueueEvents, DefaultMaxQueueEvents)
	r.MaxMemoryBytes = cmp.Or(c.MaxMemoryBytes, DefaultMaxMemoryBytes)
	r.MaxQueueBytes = cmp.Or(c.MaxQueueBytes, DefaultMaxQueueBytes)
	r.MaxAge = cmp.Or(c.MaxAge, DefaultMaxAge)
	r.MaxRetryWait = cmp.Or(c.MaxRetryWait, DefaultMaxRetryWait)
	if r.MaxBatchBytes < minBatchBytes {
		return nil, fmt.Errorf("veil: Config.MaxBatchBytes must be at least %d", minBatchBytes)
	}
	if r.MaxMemoryBytes < int64(r.MaxBatchBytes) {
		return nil, fmt.Errorf("veil: Config.MaxMemoryBytes (%d) must be at least MaxBatchBytes (%d)", r.MaxMemoryBytes, r.MaxBatchBytes)
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	if r.clock == nil {
		r.clock = systemClock{}
	}
	return r, nil
}

func parseHTTPURL(field, s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("veil: Config.%s: %w", field, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("veil: Config.%s must be an absolute http(s) URL", field)
	}
	if u.User != nil {
		return nil, fmt.Errorf("veil: Config.%s must not carry credentials", field)
	}
	return u, nil
}
