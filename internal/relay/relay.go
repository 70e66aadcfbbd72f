// Package relay is veil's Oblivious HTTP relay resource (RFC 9458 §2): it
// sees who sends but never what. It accepts encapsulated requests
// (message/ohttp-req) from clients, forwards only their bytes and content
// type to its configured gateway (one, or replicas of it spread round
// robin) over its own connections, and passes the gateway's answer back.
// It also serves the gateway's key configurations through a small shared
// cache, so every client sees the same keys (RFC 9458 §7, key
// consistency).
//
// The relay links no key material and imports nothing that can decrypt; a
// test enforces that its dependencies are the standard library,
// golang.org/x/time/rate and veil's TLS settings (internal/tlsconfig, std
// only) and PROXY header reader (relay/proxyproto, std only). It forwards
// no client header, never passes on or logs a client address, and limits
// requests per client address (behind trusted load balancers, the one
// they report).
package relay

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/veil-telemetry/veil/internal/bodyread"
	"github.com/veil-telemetry/veil/internal/problem"
	"github.com/veil-telemetry/veil/internal/tlsconfig"
)

// Media types the relay deals in (RFC 9458 §9, RFC 9457 §6.1). They are
// spelled out here rather than imported so the relay never links ohttp.
const (
	requestMediaType  = "message/ohttp-req"
	responseMediaType = "message/ohttp-res"
	keysMediaType     = "application/ohttp-keys"
	problemMediaType  = problem.MediaType
	// keyProblemType is ohttp.ProblemTypeKey (RFC 9458 §5.3): the
	// gateway's answer to a request sealed to a key it does not hold.
	keyProblemType = "https://iana.org/assignments/http-problem-types#ohttp-key"
)

// veil's signed key document (ohttp/signedkeys.MediaType and DefaultPath),
// which the relay caches and serves as opaque bytes.
const (
	signedKeysMediaType = "application/vnd.veil.signed-ohttp-keys"
	signedKeysPath      = "/ohttp-keys-signed"
	// The gateway's Privacy Pass challenge document (gateway's
	// TokenChallengePath, redeem.MediaTypeChallenge), served like the
	// keys so that every client behind the relay gets the same one.
	tokenChallengeMediaType = "application/vnd.veil.private-token-challenge+json"
	tokenChallengePath      = "/private-token-challenge"
	maxTokenChallengeBytes  = 16 << 10
)

// Defaults applied by New to zero Config fields.
const (
	DefaultMaxBodyBytes     = 1 << 20
	DefaultMaxResponseBytes = 4 << 20
	DefaultPerClientRate    = rate.Limit(10)
	DefaultPerClientBurst   = 20
	DefaultMaxClients       = 1 << 16
	DefaultUpstreamTimeout  = 30 * time.Second
	DefaultKeysTTL          = time.Minute
	DefaultKeysMaxTTL       = 24 * time.Hour
	// DefaultMaxInFlight bounds forwarded requests in flight. veil's full
	// path saturates near 128 concurrent requests on 2 cores; twice that
	// keeps the gateway busy while capping the relay's memory.
	DefaultMaxInFlight = 256
	// DefaultMaxReadsPerClient bounds the bodies one client address (an
	// IPv4 address or IPv6 /64) may be sending at once. A client's body
	// arrives in milliseconds, so even many clients behind one NAT seldom
	// have more than a few in flight.
	DefaultMaxReadsPerClient = 16
	// readingBytesPerSlot sizes the default MaxReadingBytes: a typical
	// encapsulated batch is a few KiB.
	readingBytesPerSlot = 64 << 10
	// overloadRetryAfter is the Retry-After, in seconds, of the relay's
	// own 503 when MaxInFlight requests are already being forwarded.
	overloadRetryAfter = "1"
	// maxPresizeBytes bounds how much of a declared Content-Length is
	// allocated before the body arrives; a larger body grows the buffer
	// as its bytes come in.
	maxPresizeBytes = 64 << 10
	// maxPooledBytes keeps an occasional large buffer from being pinned
	// in the pool.
	maxPooledBytes = 256 << 10
	// maxKeysBytes bounds a key configuration document; a handful of
	// configs with post-quantum public keys is a few kilobytes.
	maxKeysBytes = 64 << 10
	// maxSignedKeysBytes bounds a signed key document: the key document
	// and a few signatures (ohttp/signedkeys.MaxLength, about 112 KiB).
	maxSignedKeysBytes = 128 << 10
	// preflightMaxAge is how long browsers may cache a CORS preflight.
	preflightMaxAge = "86400"
	// keysRevalidateInterval is the least time between key document
	// refetches forced by the gateway answering the key problem: often
	// enough that clients holding a retired key recover on their next
	// attempt, rarely enough that a client sealing to bogus keys cannot
	// turn the relay into a fetch loop against the gateway.
	keysRevalidateInterval = 10 * time.Second
	// upstreamWriteBufferBytes sizes the write buffer of each connection
	// to a gateway (see NewClient): a request whose headers and body fit
	// goes out in one write. At most MaxIdleConns connections keep one.
	upstreamWriteBufferBytes = 32 << 10
	// maxProblemBytes bounds how much of a problem answer is parsed for
	// its type.
	maxProblemBytes = 4 << 10
)

// Config configures a Relay. Its zero value, with GatewayURL set, works.
type Config struct {
	// GatewayURL is the gateway's POST resource, e.g.
	// https://collector.example/gateway. The relay forwards to it (and to
	// Replicas) only.
	GatewayURL string
	// Replicas are the POST resources of further replicas of the gateway,
	// serving the same key ring. Requests are spread round robin over the
	// healthy ones: a gateway that cannot be reached or does not answer in
	// time is skipped for GatewayCooldown, and a request no gateway could
	// be connected to is tried on the next one. Key documents come from
	// any healthy one.
	Replicas []string
	// GatewayCooldown is how long a failed gateway is skipped while
	// another is healthy (default 10 s).
	GatewayCooldown time.Duration
	// KeysURL is where the gateway publishes its key configurations. Empty
	// means /ohttp-keys on each gateway's origin.
	KeysURL string
	// SignedKeysURL is where the gateway publishes its signed key document,
	// which clients with a key pin fetch at /ohttp-keys-signed. Empty
	// means /ohttp-keys-signed on each gateway's origin.
	SignedKeysURL string
	// Client talks to the gateway. Nil means NewClient(nil). The relay uses
	// a shallow copy that never follows redirects, so it cannot be steered
	// to another host.
	Client *http.Client
	// MaxBodyBytes bounds an encapsulated request (default 1 MiB).
	MaxBodyBytes int64
	// MaxResponseBytes bounds the gateway's answer (default 4 MiB).
	MaxResponseBytes int64
	// UpstreamTimeout bounds one exchange with the gateway (default 30 s);
	// exceeding it answers 504.
	UpstreamTimeout time.Duration
	// PerClientRate and PerClientBurst shape a token bucket per client
	// address (an IPv4 address or an IPv6 /64). Defaults 10/s, burst 20;
	// rate.Inf disables the limit.
	PerClientRate  rate.Limit
	PerClientBurst int
	// TrustedProxies are the load balancers in front of the relay. From
	// them (only), the client address for the per-address limits is the
	// rightmost address of X-Forwarded-For that is not one of them, or,
	// with ProxyProtocol, the one in the connection's PROXY header (see
	// Relay.Listener). Without them every client behind one load balancer
	// shares its address's limits.
	TrustedProxies []netip.Prefix
	// ProxyProtocol makes Relay.Listener read a PROXY protocol header
	// (version 1 or 2) at the start of every connection from
	// TrustedProxies.
	ProxyProtocol bool
	// MaxClients bounds how many client buckets are remembered (default
	// 65536); the least recently seen are forgotten first.
	MaxClients int
	// KeysTTL is how long a key document without a max-age is cached
	// (default 1 min); KeysMaxTTL caps any max-age (default 24 h).
	KeysTTL    time.Duration
	KeysMaxTTL time.Duration
	// MaxInFlight bounds encapsulated requests being forwarded or
	// answered at once (default 256). A request takes its slot only once
	// its body is read, so slow bodies do not hold slots; when every slot
	// is taken the relay answers 503 with Retry-After at once, before
	// reading the body, so excess load costs little memory or CPU. Each
	// request in flight buffers at most MaxBodyBytes plus
	// MaxResponseBytes.
	MaxInFlight int
	// MaxReadingBytes bounds the bytes of request bodies held at once,
	// being read or forwarded (default MaxInFlight × 64 KiB); a body that
	// would exceed it is answered 503 with Retry-After.
	MaxReadingBytes int64
	// MaxReadsPerClient bounds the bodies one client address may be
	// sending at once (default 16); beyond it the relay answers 429.
	MaxReadsPerClient int
	// BodyRead is how fast a body must arrive (zero fields: the bodyread
	// defaults, a 2 s grace then 16 KiB/s, 30 s at most); a slower one is
	// answered 408. Its clock is the wall clock whatever Now is.
	BodyRead bodyread.Policy
	// Logger receives one line per request (method, route, status,
	// duration, sizes). Nil discards.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Relay is an http.Handler serving:
//
//	POST /, POST /gateway                          forward to the gateway
//	GET  /ohttp-keys, /.well-known/ohttp-gateway   the gateway's keys, cached
//	GET  /ohttp-keys-signed                        the same, signed, cached
//	GET  /healthz                                  liveness
//	OPTIONS *                                      CORS preflight
type Relay struct {
	cfg        Config
	gateways   *gatewaySet
	client     *http.Client
	log        *slog.Logger
	limits     *limiterSet
	keys       keysCache
	signedKeys keysCache
	challenge  keysCache
	bufs       sync.Pool
	// inflight holds one token per forwarded request in flight.
	inflight chan struct{}
	// reading holds the bytes of bodies being read or forwarded.
	reading *bodyread.Budget
	// reads counts the bodies being read per client address.
	reads *clientReads
	// revalidated is when the gateway's key problem last made the relay
	// refetch its key documents (unix nanoseconds; 0: never).
	revalidated atomic.Int64
}

// New validates cfg and returns a Relay.
func New(cfg Config) (*Relay, error) {
	if cfg.KeysURL != "" {
		if _, err := parseUpstream(cfg.KeysURL); err != nil {
			return nil, fmt.Errorf("relay: keys URL: %w", err)
		}
	}
	if cfg.SignedKeysURL != "" {
		if _, err := parseUpstream(cfg.SignedKeysURL); err != nil {
			return nil, fmt.Errorf("relay: signed keys URL: %w", err)
		}
	}
	if cfg.GatewayCooldown < 0 {
		return nil, errors.New("relay: negative GatewayCooldown; leave it 0 for the default")
	}
	gws, err := newGateways(append([]string{cfg.GatewayURL}, cfg.Replicas...), cfg.KeysURL, cfg.SignedKeysURL,
		cmp.Or(cfg.GatewayCooldown, DefaultGatewayCooldown))
	if err != nil {
		return nil, fmt.Errorf("relay: gateway URL: %w", err)
	}
	switch {
	case cfg.MaxBodyBytes < 0, cfg.MaxResponseBytes < 0:
		return nil, errors.New("relay: negative size limit; leave it 0 for the default")
	case cfg.UpstreamTimeout < 0, cfg.KeysTTL < 0, cfg.KeysMaxTTL < 0:
		return nil, errors.New("relay: negative duration; leave it 0 for the default")
	case cfg.PerClientRate < 0, cfg.PerClientBurst < 0:
		return nil, errors.New("relay: negative rate limit; leave it 0 for the default")
	case cfg.ProxyProtocol && len(cfg.TrustedProxies) == 0:
		return nil, errors.New("relay: ProxyProtocol needs TrustedProxies: only trusted proxies may name a client's address")
	case cfg.MaxClients < 0, cfg.MaxInFlight < 0, cfg.MaxReadingBytes < 0, cfg.MaxReadsPerClient < 0:
		return nil, errors.New("relay: negative MaxClients, MaxInFlight, MaxReadingBytes or MaxReadsPerClient; leave it 0 for the default")
	}
	cfg.MaxBodyBytes = cmp.Or(cfg.MaxBodyBytes, DefaultMaxBodyBytes)
	cfg.MaxResponseBytes = cmp.Or(cfg.MaxResponseBytes, DefaultMaxResponseBytes)
	cfg.UpstreamTimeout = cmp.Or(cfg.UpstreamTimeout, DefaultUpstreamTimeout)
	cfg.PerClientRate = cmp.Or(cfg.PerClientRate, DefaultPerClientRate)
	cfg.PerClientBurst = cmp.Or(cfg.PerClientBurst, DefaultPerClientBurst)
	cfg.MaxClients = cmp.Or(cfg.MaxClients, DefaultMaxClients)
	cfg.KeysTTL = cmp.Or(cfg.KeysTTL, DefaultKeysTTL)
	cfg.KeysMaxTTL = cmp.Or(cfg.KeysMaxTTL, DefaultKeysMaxTTL)
	cfg.MaxInFlight = cmp.Or(cfg.MaxInFlight, DefaultMaxInFlight)
	cfg.MaxReadingBytes = cmp.Or(cfg.MaxReadingBytes, int64(cfg.MaxInFlight)*readingBytesPerSlot)
	cfg.MaxReadsPerClient = cmp.Or(cfg.MaxReadsPerClient, DefaultMaxReadsPerClient)
	if cfg.MaxClients < 2 {
		return nil, errors.New("relay: MaxClients must be at least 2")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler))
	client := cfg.Client
	if client == nil {
		client = NewClient(nil)
	}
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.Jar = nil
	return &Relay{
		cfg:      cfg,
		gateways: gws,
		client:   &c,
		log:      log,
		limits:   newLimiterSet(cfg.PerClientRate, cfg.PerClientBurst, cfg.MaxClients),
		inflight: make(chan struct{}, cfg.MaxInFlight),
		reading:  bodyread.NewBudget(cfg.MaxReadingBytes),
		reads:    newClientReads(cfg.MaxReadsPerClient),
		keys: keysCache{urlOf: func(g *gateway) string { return g.keys }, shared: cfg.KeysURL != "",
			mediaType: keysMediaType, maxBytes: maxKeysBytes},
		signedKeys: keysCache{urlOf: func(g *gateway) string { return g.signedKeys }, shared: cfg.SignedKeysURL != "",
			mediaType: signedKeysMediaType, maxBytes: maxSignedKeysBytes},
		challenge: keysCache{urlOf: func(g *gateway) string { return g.challenge },
			mediaType: tokenChallengeMediaType, maxBytes: maxTokenChallengeBytes},
	}, nil
}

func parseUpstream(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%q: scheme must be http or https", s)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%q: no host", s)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%q: must not carry credentials", s)
	}
	return u, nil
}

// NewClient returns the pooled keep-alive client the relay uses by default,
// with bounded dial, TLS and header waits. It ignores proxy environment
// variables (the relay talks to its gateway directly) and asks for no
// content coding, so bodies pass through untouched. tlsConfig may be nil:
// tlsconfig.Client(nil), the system's roots and AEAD cipher suites only.
func NewClient(tlsConfig *tls.Config) *http.Client {
	if tlsConfig == nil {
		tlsConfig = tlsconfig.Client(nil)
	}
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		Proxy:                  nil,
		DialContext:            d.DialContext,
		TLSClientConfig:        tlsConfig,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           256,
		MaxIdleConnsPerHost:    DefaultMaxInFlight,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ResponseHeaderTimeout:  30 * time.Second,
		ExpectContinueTimeout:  0,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 64 << 10,
		// One buffered write carries the request line, the headers and a
		// typical encapsulated batch (a few KiB); with the default 4 KiB
		// a batch takes two writes and a copy buffer.
		WriteBufferSize: upstreamWriteBufferBytes,
	}
	return &http.Client{Transport: t}
}

// route names a known path for logs; client-chosen paths are never logged.
type route string

const (
	routeForward route = "forward"
	routeKeys    route = "keys"
	routeSigned  route = "keys_signed"
	routeTokens  route = "token_challenge"
	routeHealth  route = "healthz"
	routeOther   route = "other"
)

func classify(path string) (route, string) {
	switch path {
	case "/", "/gateway":
		return routeForward, "POST, OPTIONS"
	case "/ohttp-keys", "/.well-known/ohttp-gateway":
		return routeKeys, "GET, HEAD, OPTIONS"
	case signedKeysPath:
		return routeSigned, "GET, HEAD, OPTIONS"
	case tokenChallengePath:
		return routeTokens, "GET, HEAD, OPTIONS"
	case "/healthz":
		return routeHealth, "GET, HEAD"
	}
	return routeOther, ""
}

// ServeHTTP implements http.Handler.
func (rl *Relay) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := rl.cfg.Now()
	rw := &countingWriter{ResponseWriter: w}
	rt, allow := classify(r.URL.Path)
	var in int64
	defer func() {
		// Allow-listed fields only: never the client address, a header,
		// a query string or an unrecognised path.
		rl.log.LogAttrs(r.Context(), slog.LevelInfo, "relay request",
			slog.String("method", methodForLog(r.Method)),
			slog.String("route", string(rt)),
			slog.Int("status", rw.statusOrOK()),
			slog.Duration("duration", rl.cfg.Now().Sub(start)),
			slog.Int64("bytes_in", in),
			slog.Int64("bytes_out", rw.n),
		)
	}()

	h := rw.Header()
	// Browsers read the answer of a cross-origin POST only with this
	// header, on errors too; otherwise a stored batch looks failed and is
	// resent. No credentials are ever asked for or accepted.
	h["Access-Control-Allow-Origin"] = corsAllowOrigin
	h["Access-Control-Expose-Headers"] = corsExposeHeaders

	if rt == routeOther {
		rl.problem(rw, http.StatusNotFound, "no such resource")
		return
	}
	if r.Method == http.MethodOptions && rt != routeHealth {
		h.Set("Access-Control-Allow-Methods", "POST, GET")
		h.Set("Access-Control-Allow-Headers", "Content-Type")
		h.Set("Access-Control-Max-Age", preflightMaxAge)
		h.Set("Allow", allow)
		rw.WriteHeader(http.StatusNoContent)
		return
	}
	switch {
	case rt == routeForward && r.Method == http.MethodPost,
		(rt == routeKeys || rt == routeSigned || rt == routeTokens) && (r.Method == http.MethodGet || r.Method == http.MethodHead),
		rt == routeHealth && (r.Method == http.MethodGet || r.Method == http.MethodHead):
	default:
		h.Set("Allow", allow)
		rl.problem(rw, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	if rt == routeHealth {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		rw.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			io.WriteString(rw, "ok\n")
		}
		return
	}
	key := rl.clientOf(r)
	if wait, ok := rl.limits.allow(key, rl.cfg.Now()); !ok {
		h.Set("Retry-After", strconv.FormatInt(problem.RetryAfterSeconds(wait), 10))
		rl.problem(rw, http.StatusTooManyRequests, "too many requests")
		return
	}
	switch rt {
	case routeKeys:
		rl.serveKeys(rw, r, &rl.keys)
		return
	case routeSigned:
		rl.serveKeys(rw, r, &rl.signedKeys)
		return
	case routeTokens:
		rl.serveKeys(rw, r, &rl.challenge)
		return
	}
	in = rl.forward(rw, r, key)
}

func methodForLog(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodOptions,
		http.MethodPut, http.MethodDelete, http.MethodPatch:
		return m
	}
	return "other"
}

// forward relays one encapsulated request from the client named key (its
// clientOf) and returns its size.
func (rl *Relay) forward(w *countingWriter, r *http.Request, key string) int64 {
	if !hasMediaType(r.Header.Get("Content-Type"), requestMediaType) {
		rl.problem(w, http.StatusUnsupportedMediaType, "content type must be "+requestMediaType)
		return 0
	}
	if r.ContentLength > rl.cfg.MaxBodyBytes {
		rl.problem(w, http.StatusRequestEntityTooLarge, "request body too large")
		return 0
	}
	// Shed before reading the body when every slot is busy: a refused
	// request costs a header parse and a short answer.
	if len(rl.inflight) == cap(rl.inflight) {
		rl.overloaded(w, r)
		return 0
	}
	// The body is read before a slot is taken, under a minimum transfer
	// rate, against the byte budget of bodies held at once and within the
	// client address's count of bodies being read, so slow senders hold
	// neither a slot nor much memory.
	if !rl.reads.tryStart(key) {
		w.Header().Set("Retry-After", overloadRetryAfter)
		if r.ContentLength < 0 || r.ContentLength > maxPresizeBytes {
			w.Header().Set("Connection", "close")
		}
		rl.problem(w, http.StatusTooManyRequests, "too many requests")
		return 0
	}
	body := rl.getBuf()
	n, charged, err := bodyread.Read(w, r, body, rl.cfg.MaxBodyBytes, rl.reading, rl.cfg.BodyRead)
	rl.reads.done(key)
	defer rl.reading.Release(charged)
	if err != nil {
		rl.putBuf(body)
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			rl.problem(w, http.StatusRequestEntityTooLarge, "request body too large")
		case errors.Is(err, bodyread.ErrOverBudget):
			rl.overloaded(w, r)
		case errors.Is(err, bodyread.ErrTooSlow):
			w.Header().Set("Connection", "close")
			rl.problem(w, http.StatusRequestTimeout, "request body arrived too slowly")
		default:
			rl.problem(w, http.StatusBadRequest, "could not read request body")
		}
		return n
	}
	select {
	case rl.inflight <- struct{}{}:
		defer func() { <-rl.inflight }()
	default:
		rl.putBuf(body)
		rl.overloaded(w, r)
		return n
	}

	// The upstream body is a copy of exactly the bytes read, and the
	// pooled buffer goes back at once. net/http may go on reading a
	// request body after Client.Do has returned (a gateway that answers
	// before reading it all), so a pooled buffer could be reused only
	// once the transport closed every body made from it, and a body of
	// a type net/http does not know to be in memory costs a write for
	// the headers, another for the body and a copy buffer per request.
	// A bytes.Reader over the copy goes out with its headers in one
	// write (see upstreamWriteBufferBytes).
	sent := bytes.Clone(body.Bytes())
	rl.putBuf(body)
	ctx, cancel := context.WithTimeout(r.Context(), rl.cfg.UpstreamTimeout)
	defer cancel()
	resp, gw, err := rl.post(ctx, r, sent)
	if err != nil {
		if r.Context().Err() == nil {
			rl.logUpstream(r.Context(), "forwarding to the gateway failed", err)
		}
		rl.upstreamError(w, r, err)
		return n
	}
	defer resp.Body.Close()

	out := rl.getBuf()
	defer rl.putBuf(out)
	if resp.ContentLength > 0 {
		out.Grow(int(min(resp.ContentLength, maxPresizeBytes)))
	}
	if _, err := out.ReadFrom(io.LimitReader(resp.Body, rl.cfg.MaxResponseBytes+1)); err != nil {
		if r.Context().Err() == nil {
			rl.gateways.failed(gw, rl.cfg.Now())
			rl.logUpstream(r.Context(), "reading the gateway's answer failed", err)
		}
		rl.upstreamError(w, r, err)
		return n
	}
	rl.gateways.ok(gw)
	// 1xx and 3xx from a gateway are a misconfiguration; a redirect in
	// particular is never followed nor passed on.
	if int64(out.Len()) > rl.cfg.MaxResponseBytes {
		rl.logUpstream(r.Context(), "the gateway's answer was refused", errors.New("larger than the response limit"))
		rl.problem(w, http.StatusBadGateway, "bad gateway")
		return n
	}
	if resp.StatusCode < 200 || resp.StatusCode > 599 || (resp.StatusCode >= 300 && resp.StatusCode < 400) {
		rl.logUpstream(r.Context(), "the gateway's answer was refused", fmt.Errorf("status %d", resp.StatusCode))
		rl.problem(w, http.StatusBadGateway, "bad gateway")
		return n
	}
	if resp.StatusCode == http.StatusBadRequest && isKeyProblem(resp.Header.Get("Content-Type"), out.Bytes()) {
		// The client sealed to a key the gateway no longer holds: the
		// cached documents may still list it. Refetch before answering,
		// so the client's refetch, its next step, gets the new keys.
		rl.revalidateKeys(r.Context())
	}
	h := w.Header()
	// Only the status, the body, its media type and Retry-After come
	// back; the gateway's other headers (cookies, server names) do not.
	switch ct := resp.Header.Get("Content-Type"); {
	case hasMediaType(ct, responseMediaType):
		h["Content-Type"] = responseContentType
	case hasMediaType(ct, problemMediaType):
		h["Content-Type"] = problemContentType
	default:
		out.Reset()
	}
	if ra := resp.Header.Get("Retry-After"); validRetryAfter(ra) {
		h.Set("Retry-After", ra)
	}
	h["Cache-Control"] = noStore
	h.Set("Content-Length", strconv.Itoa(out.Len()))
	w.WriteHeader(resp.StatusCode)
	w.Write(out.Bytes())
	return n
}

// post sends one encapsulated request to a gateway: the next healthy one
// and, while none could be connected to (so none can have seen it), the
// others in turn. A gateway that fails while the client waits is marked
// down. ctx bounds the exchange; r is the client's request.
func (rl *Relay) post(ctx context.Context, r *http.Request, sent []byte) (*http.Response, *gateway, error) {
	var err error
	for i, gw := range rl.gateways.order(rl.cfg.Now()) {
		if i > 0 {
			rl.logUpstream(r.Context(), "a gateway could not be reached; trying the next", err)
		}
		// The URL was parsed once, when the relay was made; the request
		// gets its own copy of it.
		u := *gw.postURL
		up := (&http.Request{
			Method:     http.MethodPost,
			URL:        &u,
			Proto:      "HTTP/1.1",
			ProtoMajor: 1,
			ProtoMinor: 1,
			Host:       gw.postHost,
			// Nothing the client sent is copied. The map is shared by
			// every upstream request and only ever read (net/http
			// does not write a request's header).
			Header:        upstreamHeader,
			ContentLength: int64(len(sent)),
		}).WithContext(ctx)
		if len(sent) > 0 {
			up.Body = io.NopCloser(bytes.NewReader(sent))
			up.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(sent)), nil }
		}
		var resp *http.Response
		if resp, err = rl.client.Do(up); err == nil {
			return resp, gw, nil
		}
		if r.Context().Err() != nil {
			return nil, gw, err // the client left: no fault of the gateway's
		}
		rl.gateways.failed(gw, rl.cfg.Now())
		if !notSent(err) || ctx.Err() != nil {
			return nil, gw, err
		}
	}
	return nil, nil, err
}

// upstreamHeader is the whole header of every request to a gateway: the
// media type, and a nil User-Agent that keeps net/http from adding its
// own. It is never written to.
var upstreamHeader = http.Header{
	"Content-Type": {requestMediaType},
	"User-Agent":   nil,
}

// Header values set on every answer, built once; net/http only reads them.
var (
	corsAllowOrigin     = []string{"*"}
	corsExposeHeaders   = []string{"Retry-After"}
	responseContentType = []string{responseMediaType}
	problemContentType  = []string{problemMediaType}
	noStore             = []string{"no-store"}
)

// overloaded answers 503 with Retry-After (and, set by ServeHTTP, the CORS
// headers a browser needs to read it). The body is not read; net/http
// drains a small one to keep the connection, and a large or unsized one is
// not worth draining under overload, so that connection is closed.
func (rl *Relay) overloaded(w *countingWriter, r *http.Request) {
	h := w.Header()
	h.Set("Retry-After", overloadRetryAfter)
	if r.ContentLength < 0 || r.ContentLength > maxPresizeBytes {
		h.Set("Connection", "close")
	}
	rl.problem(w, http.StatusServiceUnavailable, "overloaded")
}

func (rl *Relay) upstreamError(w *countingWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		// The client left; there is nobody to answer.
		w.status = statusClientClosed
		return
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		rl.problem(w, http.StatusGatewayTimeout, "gateway timeout")
		return
	}
	rl.problem(w, http.StatusBadGateway, "bad gateway")
}

// logUpstream logs why an exchange with the gateway failed — a TLS
// handshake refused, a connection reset, a timeout — so a 502 or 504 in
// the request log has its cause next to it. The line holds the error of
// the relay's own connection to its configured gateway, never anything of
// the client's (its address, its headers, its bytes): url.Error's
// operation and URL are dropped, the gateway's URL being configuration.
func (rl *Relay) logUpstream(ctx context.Context, msg string, err error) {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	rl.log.LogAttrs(ctx, slog.LevelWarn, msg,
		slog.String("kind", upstreamKind(err)),
		slog.String("reason", err.Error()))
}

// upstreamKind classifies an upstream failure for alerting: "tls" for a
// refused handshake (certificate verification, protocol alerts), "timeout",
// or "transport".
func upstreamKind(err error) string {
	var (
		verify  *tls.CertificateVerificationError
		alert   tls.AlertError
		header  tls.RecordHeaderError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
		ne      net.Error
	)
	switch {
	case errors.As(err, &verify), errors.As(err, &alert), errors.As(err, &header),
		errors.As(err, &unknown), errors.As(err, &host), errors.As(err, &invalid),
		strings.HasPrefix(err.Error(), "tls: "):
		return "tls"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return "transport"
}

// statusClientClosed is logged when the client went away before an answer.
const statusClientClosed = 499

func hasMediaType(header, want string) bool {
	if header == "" {
		return false
	}
	if header == want {
		// What every client and the gateway send: no need to parse (and
		// allocate) to find what mime.ParseMediaType would.
		return true
	}
	mt, _, err := mime.ParseMediaType(header)
	return err == nil && mt == want
}

// validRetryAfter accepts the two forms of RFC 9110 §10.2.3.
func validRetryAfter(v string) bool {
	if v == "" || len(v) > 64 {
		return false
	}
	if _, err := strconv.ParseUint(v, 10, 32); err == nil {
		return true
	}
	_, err := http.ParseTime(v)
	return err == nil
}

// problem writes an RFC 9457 problem document. Details never name the
// client, the gateway's internals or which check failed.
func (rl *Relay) problem(w *countingWriter, status int, detail string) {
	d := problem.Status(status)
	d.Detail = detail
	problem.Write(w, d)
}

func (rl *Relay) getBuf() *bytes.Buffer {
	if b, ok := rl.bufs.Get().(*bytes.Buffer); ok {
		b.Reset()
		return b
	}
	return new(bytes.Buffer)
}

func (rl *Relay) putBuf(b *bytes.Buffer) {
	// Drop outsized buffers instead of pinning their memory, and zero what
	// was held so no request bytes linger in the pool.
	if b.Cap() > maxPooledBytes {
		return
	}
	clear(b.Bytes())
	b.Reset()
	rl.bufs.Put(b)
}

// countingWriter records the status and body size for the log line.
type countingWriter struct {
	http.ResponseWriter
	status int
	n      int64
}

func (w *countingWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

func (w *countingWriter) statusOrOK() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
