package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"github.com/veil-telemetry/veil/internal/httpcache"
	"github.com/veil-telemetry/veil/internal/problem"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/veil-telemetry/veil/ohttp/signedkeys"
)

// KeysSigner signs the published key document. Config.Signer holds it;
// the key-document signing keys live with the key ring and never reach
// the gateway.
type KeysSigner interface {
	// SignKeys returns the signed key document (package signedkeys) of
	// keys, the exact application/ohttp-keys bytes the gateway publishes.
	SignKeys(ctx context.Context, keys []byte) ([]byte, error)
}

// signedCache holds the signed document of the published keys. It is
// signed again when the keys change, and at least every KeyRefresh, so a
// signing key added or retired reaches clients as fast as a key rotation.
type signedCache struct {
	mu  sync.Mutex // one signing at a time
	doc atomic.Pointer[signedDoc]
}

type signedDoc struct {
	keys   []byte // the application/ohttp-keys bytes signed
	body   []byte // the signed document
	etag   string
	signed time.Time
}

// signedKeysRetryAfter is the Retry-After, in seconds, of a 503 when the
// keys could not be signed.
const signedKeysRetryAfter = "5"

// currentSigned returns the signed document of keys, signing it when the
// cached one covers other keys or is older than KeyRefresh. When signing
// fails, a document over the same keys stands in, since its signature is
// still good; nil means there is none.
func (g *Gateway) currentSigned(ctx context.Context, keys []byte) *signedDoc {
	now := g.cfg.Now()
	fresh := func(d *signedDoc) bool {
		return d != nil && bytes.Equal(d.keys, keys) && now.Sub(d.signed) < g.cfg.KeyRefresh
	}
	if d := g.signed.doc.Load(); fresh(d) {
		return d
	}
	g.signed.mu.Lock()
	defer g.signed.mu.Unlock()
	old := g.signed.doc.Load()
	if fresh(old) {
		return old
	}
	// The signature serves every client, so one client hanging up must
	// not abort it.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), keyStoreTimeout)
	defer cancel()
	body, err := g.cfg.Signer.SignKeys(sctx, keys)
	if err == nil && len(body) > signedkeys.MaxLength {
		err = errSignedTooLong
	}
	if err != nil {
		g.log.LogAttrs(ctx, slog.LevelError, "gateway could not sign the key document", slog.String("error", err.Error()))
		if old != nil && bytes.Equal(old.keys, keys) {
			return old
		}
		return nil
	}
	sum := sha256.Sum256(body)
	d := &signedDoc{keys: keys, body: body, etag: `"` + hex.EncodeToString(sum[:16]) + `"`, signed: now}
	g.signed.doc.Store(d)
	return d
}

var errSignedTooLong = errors.New("gateway: signed key document longer than signedkeys.MaxLength")

// serveSignedKeys publishes the signed key document (signedkeys.MediaType)
// at signedkeys.DefaultPath, with the caching of the plain document it
// signs: shared caches and relays may keep it, but never past the next
// scheduled key change.
func (g *Gateway) serveSignedKeys(w http.ResponseWriter, r *http.Request) {
	start := g.cfg.Now()
	status := http.StatusOK
	defer func() {
		g.log.LogAttrs(r.Context(), slog.LevelInfo, "gateway request",
			slog.String("route", "keys_signed"), slog.Int("status", status),
			slog.Duration("duration", g.cfg.Now().Sub(start)))
	}()
	if g.cfg.Signer == nil {
		status = http.StatusNotFound
		problem.Write(w, problem.Details{Type: problem.TypeBlank, Title: "Not Found", Status: status})
		return
	}
	rg := g.currentRing(r.Context())
	var d *signedDoc
	if rg != nil && rg.doc != nil {
		d = g.currentSigned(r.Context(), rg.doc)
	}
	if d == nil {
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", signedKeysRetryAfter)
		problem.Write(w, problem.Details{Type: problem.TypeBlank, Title: "No signed keys available", Status: status})
		return
	}
	now := g.cfg.Now()
	maxAge := g.cfg.KeysMaxAge
	if !rg.nextChange.IsZero() {
		maxAge = min(maxAge, rg.nextChange.Sub(now))
	}
	status = httpcache.Serve(w, r, d.body, signedkeys.MediaType, d.etag, httpcache.Public(maxAge))
}
