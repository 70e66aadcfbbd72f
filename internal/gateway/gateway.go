// Package gateway is the Oblivious Gateway Resource of veil (RFC 9458 §2):
// the public listener's handler that publishes the key configurations,
// decapsulates requests, dispatches them in process to the ingest API and
// encapsulates the answers.
//
// The gateway sees what is sent but not who sends it. It is not a proxy:
// whatever scheme and authority the client writes in the inner request, it
// is handed to the one http.Handler in Config.Inner and nowhere else
// (DESIGN.md, privacy invariant 5). The inner request carries only the
// fields ingest needs (Content-Type, Content-Length, Content-Encoding, Date,
// Accept), a constant RemoteAddr, and no trace of the outer request: not
// the relay's address, not a header of the outer request.
//
// Errors come at two levels (RFC 9458 §5.2, §5.3). Before decapsulation
// the answer is a plain HTTP status: 415, 413, 417, 400 for a malformed
// message, and one indistinguishable 422 problem of type
// ohttp.ProblemTypeKey for an unknown or retired key identifier and for any
// failure to decrypt. After decapsulation every answer, error or not,
// travels inside an encapsulated response with outer status 200.
//
// Routes:
//
//	POST /gateway, POST /.well-known/ohttp-gateway   OHTTP (RFC 9458, RFC 9540); only from relays with Config.Relays
//	GET  /ohttp-keys, GET /.well-known/ohttp-gateway the live key configurations
//	GET  /ohttp-keys-signed                           the same, signed (Config.Signer)
//	GET  /healthz                                     liveness
package gateway

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/veil-telemetry/veil/internal/bodyread"
	"github.com/veil-telemetry/veil/internal/keystate"
	"github.com/veil-telemetry/veil/internal/problem"
	"github.com/veil-telemetry/veil/ohttp/signedkeys"
)

// StatusKeyProblem is the outer status of an ohttp.ProblemTypeKey answer.
//
// RFC 9458 §5.3 identifies the key problem by its problem type; the
// example there answers it with 400 Bad Request. veil answers 422
// Unprocessable Content because issue 2 (the OHTTP core's specification)
// asks for it: the message is well formed but cannot be processed with the
// key it names, and 422 keeps that apart from the 400 for a malformed
// message. Every key problem gets this one status and body, whichever
// check failed (§6.4).
const StatusKeyProblem = http.StatusUnprocessableEntity

// InnerRemoteAddr is the RemoteAddr of every inner request. It is a
// constant so that nothing downstream can learn, log or key on the address
// of the relay or the client.
const InnerRemoteAddr = "0.0.0.0:0"

// innerHost is the Host of every inner request, whatever authority the
// client named.
const innerHost = "ingest.invalid"

// Defaults applied by New to zero Config fields.
const (
	DefaultReplayWindow     = 5 * time.Minute
	DefaultMaxRequestBytes  = 1 << 20
	DefaultMaxInnerBytes    = 4 << 20
	DefaultMaxResponseBytes = 4 << 20
	// DefaultKeysMaxAge is how long a key document may be cached. It
	// bounds how long a key retired by the admin plane stays listed
	// anywhere: the serving process unpublishes it at once, other
	// replicas within KeyRefresh, and every cache (relay, CDN, client)
	// within KeyRefresh + KeysMaxAge, 6 min with the defaults. A key that
	// stops being published on schedule drains (still decrypts) for
	// keystate.Drain, so New refuses a KeysMaxAge longer than that.
	DefaultKeysMaxAge = 5 * time.Minute
	// DefaultKeyRefresh is how often every replica rereads the shared key
	// ring; the process whose admin plane made a change rereads at once.
	DefaultKeyRefresh        = time.Minute
	DefaultUnknownKeyRefresh = 10 * time.Second
	// DefaultMaxConcurrent is twice the concurrency at which veil's full
	// path (relay, gateway, ingest, PostgreSQL) saturates on 2 cores
	// (about 128): enough to keep every stage busy, few enough that the
	// requests held, and their buffers, stay small. More offered load is
	// answered 503 at once instead of queueing.
	DefaultMaxConcurrent = 256
	// overloadRetryAfter is the Retry-After, in seconds, of the outer 503
	// answered when MaxConcurrent requests are in flight.
	overloadRetryAfter = "1"
	// readingBytesPerSlot sizes the default MaxReadingBytes: a typical
	// encapsulated batch is a few KiB, so MaxConcurrent of these leaves
	// room for many bodies arriving while the slots are busy.
	readingBytesPerSlot = 64 << 10
)

// Config configures a Gateway. Keys and Inner are required; every other
// zero value selects the default named beside it.
type Config struct {
	// Keys supplies the key ring.
	Keys KeyStore
	// Inner is the ingest API; every decapsulated request is dispatched to
	// it in process, and to nothing else.
	Inner http.Handler
	// WithEncHash, if set, derives the inner request's context from the
	// SHA-256 of the request's encapsulated KEM share (enc), which ingest
	// keeps for the replay window to refuse replayed requests.
	WithEncHash func(ctx context.Context, encHash [32]byte) context.Context
	// ReplayWindow is how far the inner Date may be from the gateway's
	// clock, either way (default 5 min, RFC 9458 §6.5).
	ReplayWindow time.Duration
	// MaxRequestBytes bounds the encapsulated request (default 1 MiB).
	MaxRequestBytes int64
	// MaxInnerBytes bounds the inner content after gzip decoding
	// (default 4 MiB).
	MaxInnerBytes int64
	// MaxResponseBytes bounds the inner handler's response (default 4 MiB);
	// a larger one is answered 500 inside the encapsulation.
	MaxResponseBytes int64
	// KeysMaxAge caps the max-age of the published key configurations
	// (default 5 min, at most keystate.Drain, 1 h); it is shortened to the
	// time until the next key change.
	KeysMaxAge time.Duration
	// KeyRefresh is how often the key ring is reread (default 1 min).
	KeyRefresh time.Duration
	// UnknownKeyRefresh is the least time between rereads forced by an
	// unknown key identifier (default 10 s).
	UnknownKeyRefresh time.Duration
	// MaxConcurrent bounds OHTTP requests being processed (default 256).
	// A request takes its slot only once its body is read, so slow bodies
	// do not hold slots; when every slot is taken the gateway answers 503
	// with Retry-After before reading the body.
	MaxConcurrent int
	// MaxReadingBytes bounds the bytes of request bodies held at once,
	// being read or processed (default MaxConcurrent × 64 KiB); a body
	// that would exceed it is answered 503 with Retry-After.
	MaxReadingBytes int64
	// BodyRead is how fast a body must arrive (zero fields: the bodyread
	// defaults, a 2 s grace then 16 KiB/s, 30 s at most); a slower one is
	// answered 408. Its clock is the wall clock whatever Now is: the
	// deadline is set on the connection.
	BodyRead bodyread.Policy
	// Logger receives one line per request from allow-listed fields. Nil
	// discards.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Rand is the randomness for response nonces (nil: crypto/rand).
	Rand io.Reader
	// Signer, if set, signs the published key document, served at
	// /ohttp-keys-signed (signedkeys.DefaultPath) for clients that pin
	// the signing key. Nil: that path answers 404.
	Signer KeysSigner
	// Relays, if restricted, refuses encapsulated requests from peers
	// that are not the collector's relays with 403 (the zero value
	// accepts every peer).
	Relays RelayAccess
}

// Gateway is the public listener's http.Handler. It is safe for concurrent
// use.
type Gateway struct {
	cfg Config
	log *slog.Logger
	sem chan struct{}
	// reading holds the bytes of bodies being read or processed.
	reading *bodyread.Budget

	ring        atomic.Pointer[ring]
	refreshMu   sync.Mutex
	lastForced  atomic.Int64 // unix nanoseconds of the last forced refresh
	retryAt     atomic.Int64 // unix nanoseconds before which a failed store is not reread
	exchanges   sync.Pool
	gzipReaders sync.Pool
	signed      signedCache
}

// New validates cfg and returns a Gateway. It does not read the key store;
// call Refresh at start to fail fast on a broken store, otherwise the first
// request reads it.
func New(cfg Config) (*Gateway, error) {
	if cfg.Keys == nil {
		return nil, errors.New("gateway: Config.Keys is required")
	}
	if cfg.Inner == nil {
		return nil, errors.New("gateway: Config.Inner is required")
	}
	switch {
	case cfg.ReplayWindow < 0, cfg.KeysMaxAge < 0, cfg.KeyRefresh < 0, cfg.UnknownKeyRefresh < 0:
		return nil, errors.New("gateway: negative duration in Config; leave it 0 for the default")
	case cfg.MaxRequestBytes < 0, cfg.MaxInnerBytes < 0, cfg.MaxResponseBytes < 0, cfg.MaxConcurrent < 0, cfg.MaxReadingBytes < 0:
		return nil, errors.New("gateway: negative limit in Config; leave it 0 for the default")
	case cfg.KeysMaxAge > keystate.Drain:
		return nil, fmt.Errorf("gateway: KeysMaxAge %v is longer than a retired key drains (%v): clients could hold a document listing a key that no longer decrypts", cfg.KeysMaxAge, keystate.Drain)
	}
	cfg.ReplayWindow = cmp.Or(cfg.ReplayWindow, DefaultReplayWindow)
	cfg.MaxRequestBytes = cmp.Or(cfg.MaxRequestBytes, DefaultMaxRequestBytes)
	cfg.MaxInnerBytes = cmp.Or(cfg.MaxInnerBytes, DefaultMaxInnerBytes)
	cfg.MaxResponseBytes = cmp.Or(cfg.MaxResponseBytes, DefaultMaxResponseBytes)
	cfg.KeysMaxAge = cmp.Or(cfg.KeysMaxAge, DefaultKeysMaxAge)
	cfg.KeyRefresh = cmp.Or(cfg.KeyRefresh, DefaultKeyRefresh)
	cfg.UnknownKeyRefresh = cmp.Or(cfg.UnknownKeyRefresh, DefaultUnknownKeyRefresh)
	cfg.MaxConcurrent = cmp.Or(cfg.MaxConcurrent, DefaultMaxConcurrent)
	cfg.MaxReadingBytes = cmp.Or(cfg.MaxReadingBytes, int64(cfg.MaxConcurrent)*readingBytesPerSlot)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler))
	return &Gateway{
		cfg:     cfg,
		log:     log,
		sem:     make(chan struct{}, cfg.MaxConcurrent),
		reading: bodyread.NewBudget(cfg.MaxReadingBytes),
	}, nil
}

// ServeHTTP implements http.Handler.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/gateway":
		if r.Method != http.MethodPost {
			g.methodNotAllowed(w, r, "POST")
			return
		}
		g.serveRelayed(w, r)
	case "/.well-known/ohttp-gateway":
		switch r.Method {
		case http.MethodPost:
			g.serveRelayed(w, r)
		case http.MethodGet, http.MethodHead:
			g.serveKeys(w, r)
		default:
			g.methodNotAllowed(w, r, "GET, HEAD, POST")
		}
	case "/ohttp-keys":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			g.methodNotAllowed(w, r, "GET, HEAD")
			return
		}
		g.serveKeys(w, r)
	case signedkeys.DefaultPath:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			g.methodNotAllowed(w, r, "GET, HEAD")
			return
		}
		g.serveSignedKeys(w, r)
	case "/healthz":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			g.methodNotAllowed(w, r, "GET, HEAD")
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, "ok\n")
	default:
		problem.Write(w, problem.Status(http.StatusNotFound))
		g.logOther(r, "other", http.StatusNotFound)
	}
}

// serveRelayed serves an encapsulated request from an admitted peer and
// refuses the others before reading the body.
func (g *Gateway) serveRelayed(w http.ResponseWriter, r *http.Request) {
	if !g.cfg.Relays.admits(r) {
		problem.WriteError(w, g.cfg.Relays.refusal())
		g.logOther(r, "not_relay", http.StatusForbidden)
		return
	}
	g.serveOHTTP(w, r)
}

func (g *Gateway) methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	problem.Write(w, problem.Status(http.StatusMethodNotAllowed))
	g.logOther(r, "method", http.StatusMethodNotAllowed)
}

func (g *Gateway) logOther(r *http.Request, route string, status int) {
	g.log.LogAttrs(r.Context(), slog.LevelInfo, "gateway request",
		slog.String("route", route), slog.Int("status", status))
}
