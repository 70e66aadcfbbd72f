// Package redeem is Privacy Pass redemption at veil's gateway (issue 21,
// RFC 9577): it publishes one token challenge per time window — the same
// for every client, its redemption_context HMAC(k, window start) so tokens
// cannot be hoarded across windows — with the issuer's public keys, and it
// checks the inner Authorization: PrivateToken of each decapsulated
// request before dispatch, handing ingest only the verdict
// (ingest.TokenCheck): verified with a keyed hash of the nonce to spend
// with the batch, or the reason it is not.
//
// Every refusal is answered with the same WWW-Authenticate bytes within a
// window, whatever failed. A token is redeemable in the window of its
// challenge and the next (a client may fetch just before a boundary), so
// the spent set spans about two windows.
package redeem

import (
	"bytes"
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/veil-telemetry/veil/internal/ingest"
	"github.com/veil-telemetry/veil/privacypass"
)

// Defaults of the zero Config fields.
const (
	DefaultWindow     = 24 * time.Hour
	DefaultIssuerName = "veil"
	// HashSize is the stored size of a spent nonce's keyed hash.
	HashSize = 16
	// MaxKeys is how many issuer keys may be active at once: clients
	// refuse more (key consistency).
	MaxKeys = 2
	// challengeMaxAge caps the challenge document's max-age.
	challengeMaxAge = 5 * time.Minute
)

// MediaTypeChallenge is the media type of the challenge document.
const MediaTypeChallenge = "application/vnd.veil.private-token-challenge+json"

// Config configures a Redeemer. Secret is required.
type Config struct {
	// Secret keys the window contexts and the nonce hashes. Every replica
	// must share it; it never leaves the process (read from a file).
	Secret []byte
	// Window is the redemption window (0: DefaultWindow); it divides a
	// day, and should equal veil issuer's --window.
	Window time.Duration
	// IssuerName is the TokenChallenge's issuer_name (0: DefaultIssuerName).
	IssuerName string
	// IssuerRequestURI, if set, is published with the challenge so clients
	// know where to get tokens.
	IssuerRequestURI string
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Registerer, if set, gets the token metrics.
	Registerer prometheus.Registerer
}

// Redeemer checks tokens and publishes challenges. It is safe for
// concurrent use; SetKeys swaps the issuer keys at any time.
type Redeemer struct {
	cfg      Config
	ctxKey   []byte // HMAC key of window contexts
	nonceKey []byte // HMAC key of nonce hashes

	verifier atomic.Pointer[privacypass.Verifier]
	newest   atomic.Pointer[privacypass.PublicKey] // named in challenges

	mu  sync.Mutex
	win *windowState // the current window's challenges, rebuilt when it ends

	tokens  *prometheus.CounterVec
	observe func(string)
}

// windowState is one window's challenge material.
type windowState struct {
	start, prevStart time.Time
	digest, prev     [privacypass.DigestSize]byte
	challenge        []byte // encoded TokenChallenge of start
	header           string // WWW-Authenticate of every refusal
	doc              []byte // the challenge document
	keys             *privacypass.Verifier
}

// New checks cfg and returns a Redeemer with no keys (every token is
// refused, reason no_issuer, until SetKeys).
func New(cfg Config) (*Redeemer, error) {
	if len(cfg.Secret) < 16 {
		return nil, errors.New("redeem: the secret must be at least 16 bytes")
	}
	cfg.Window = cmp.Or(cfg.Window, DefaultWindow)
	if cfg.Window < time.Second || (24*time.Hour)%cfg.Window != 0 {
		return nil, errors.New("redeem: the window must divide a day (1h, 6h, 24h…)")
	}
	cfg.IssuerName = cmp.Or(cfg.IssuerName, DefaultIssuerName)
	if len(cfg.IssuerName) > privacypass.MaxNameSize {
		return nil, errors.New("redeem: issuer name too long")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, cfg.Secret)
		m.Write([]byte("veil-redeem-" + label))
		return m.Sum(nil)
	}
	r := &Redeemer{cfg: cfg, ctxKey: derive("context"), nonceKey: derive("nonce")}
	r.tokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "veil", Subsystem: "tokens", Name: "total",
		Help: "Privacy Pass tokens at the gateway: verified (spent with a batch) or refused by reason.",
	}, []string{"result"})
	r.tokens.WithLabelValues("verified")
	for _, reason := range privacypass.Reasons {
		r.tokens.WithLabelValues(string(reason))
	}
	r.observe = r.count
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(r.tokens); err != nil {
			return nil, err
		}
	}
	r.verifier.Store(privacypass.NewVerifier())
	return r, nil
}

// count increments the token counter for result, within its closed set.
func (r *Redeemer) count(result string) {
	switch result {
	case "verified":
	default:
		ok := false
		for _, reason := range privacypass.Reasons {
			ok = ok || string(reason) == result
		}
		if !ok {
			result = string(privacypass.ReasonMalformed)
		}
	}
	r.tokens.WithLabelValues(result).Inc()
}

// SetKeys replaces the issuer keys (at most MaxKeys; the last is the one
// challenges name, so list the newest last).
func (r *Redeemer) SetKeys(keys []*privacypass.PublicKey) error {
	if len(keys) > MaxKeys {
		return errors.New("redeem: more than two active issuer keys (clients refuse more)")
	}
	r.verifier.Store(privacypass.NewVerifier(keys...))
	if len(keys) > 0 {
		r.newest.Store(keys[len(keys)-1])
	} else {
		r.newest.Store(nil)
	}
	r.mu.Lock()
	r.win = nil // rebuild the challenge with the new keys
	r.mu.Unlock()
	return nil
}

// HasKeys reports whether any issuer key is configured.
func (r *Redeemer) HasKeys() bool { return r.verifier.Load().Len() > 0 }

// window returns the current window's state, building it at a boundary.
func (r *Redeemer) window(now time.Time) *windowState {
	start := privacypass.WindowStart(now, r.cfg.Window)
	r.mu.Lock()
	defer r.mu.Unlock()
	if w := r.win; w != nil && w.start.Equal(start) {
		return w
	}
	w := &windowState{start: start, prevStart: start.Add(-r.cfg.Window), keys: r.verifier.Load()}
	w.challenge = r.challengeFor(start)
	w.digest = privacypass.ChallengeDigest(w.challenge)
	w.prev = privacypass.ChallengeDigest(r.challengeFor(w.prevStart))
	var spki []byte
	if k := r.newest.Load(); k != nil {
		spki = k.SPKI
	}
	w.header = privacypass.FormatChallenge(privacypass.Challenge{TokenChallenge: w.challenge, TokenKey: spki, MaxAge: -1})
	w.doc = r.document(w)
	r.win = w
	return w
}

func (r *Redeemer) challengeFor(start time.Time) []byte {
	c, err := privacypass.TokenChallenge{
		TokenType:         privacypass.TokenTypeBlindRSA,
		IssuerName:        r.cfg.IssuerName,
		RedemptionContext: privacypass.WindowContext(r.ctxKey, start),
	}.Marshal()
	if err != nil {
		panic(err) // unreachable: New checked the name's length
	}
	return c
}

// Check is the gateway's hook (gateway.Config.WithToken, through
// ingest.WithTokenCheck): it verifies the inner Authorization value.
func (r *Redeemer) Check(authorization string) ingest.TokenCheck {
	w := r.window(r.cfg.Now())
	c := ingest.TokenCheck{Challenge: w.header, Observe: r.observe}
	reason := r.verify(w, authorization, &c)
	c.Reason = string(reason)
	return c
}

func (r *Redeemer) verify(w *windowState, authorization string, c *ingest.TokenCheck) privacypass.Reason {
	if authorization == "" {
		return privacypass.ReasonMissing
	}
	if w.keys.Len() == 0 {
		return privacypass.ReasonNoIssuer
	}
	raw, err := privacypass.ParseAuthorization(authorization)
	if err != nil {
		return privacypass.ReasonMalformed
	}
	tok, err := privacypass.ParseToken(raw)
	if err != nil {
		return privacypass.ReasonMalformed
	}
	if reason, err := w.keys.Verify(tok, w.digest, w.prev); err != nil {
		return reason
	}
	c.Verified = true
	c.Window = w.start
	if tok.ChallengeDigest != w.digest {
		c.Window = w.prevStart
	}
	m := hmac.New(sha256.New, r.nonceKey)
	m.Write(tok.Nonce[:])
	c.Hash = m.Sum(nil)[:HashSize]
	return ""
}

// challengeDoc is the document at gateway.TokenChallengePath:
//
//	{"window-start": 1733270400, "window-end": 1733356800,
//	 "issuer-request-uri": "https://issuer.example/token-request",
//	 "challenges": [{"challenge": "<base64url TokenChallenge>",
//	                 "token-key": "<base64url SPKI>"}]}
//
// one challenge per active issuer key (at most two), all for the current
// window.
type challengeDoc struct {
	WindowStart      int64            `json:"window-start"`
	WindowEnd        int64            `json:"window-end"`
	IssuerRequestURI string           `json:"issuer-request-uri,omitempty"`
	Challenges       []challengeEntry `json:"challenges"`
}

type challengeEntry struct {
	Challenge string `json:"challenge"`
	TokenKey  string `json:"token-key"`
}

func (r *Redeemer) document(w *windowState) []byte {
	d := challengeDoc{WindowStart: w.start.Unix(), WindowEnd: w.start.Add(r.cfg.Window).Unix(),
		IssuerRequestURI: r.cfg.IssuerRequestURI, Challenges: []challengeEntry{}}
	enc := base64.RawURLEncoding
	keys := w.keys.Keys()
	slices.SortFunc(keys, func(a, b *privacypass.PublicKey) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	for _, k := range keys {
		d.Challenges = append(d.Challenges, challengeEntry{Challenge: enc.EncodeToString(w.challenge), TokenKey: enc.EncodeToString(k.SPKI)})
	}
	out, _ := json.Marshal(d)
	return out
}

// ServeHTTP serves the challenge document (gateway.Config.TokenChallenge),
// cacheable until the window ends (at most 5 minutes), identical for every
// client.
func (r *Redeemer) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	now := r.cfg.Now()
	ws := r.window(now)
	age := min(ws.start.Add(r.cfg.Window).Sub(now), challengeMaxAge)
	w.Header().Set("Content-Type", MediaTypeChallenge)
	w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(int(age/time.Second)))
	if req.Method == http.MethodHead {
		return
	}
	w.Write(ws.doc)
}
