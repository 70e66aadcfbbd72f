package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/veil-telemetry/veil/internal/bodyread"
	"github.com/veil-telemetry/veil/internal/problem"
	"github.com/veil-telemetry/veil/ohttp"
)

// exchange holds the buffers of one OHTTP exchange. Exchanges are pooled:
// the gateway's own work on the request path allocates little beyond what
// HPKE and Binary HTTP decoding need. Buffers are cleared before they go
// back, so no plaintext outlives its request in the pool.
type exchange struct {
	in   bytes.Buffer // the encapsulated request
	out  []byte       // the Binary HTTP response
	body innerBody
	line logLine
}

func (g *Gateway) getExchange() *exchange {
	if ex, ok := g.exchanges.Get().(*exchange); ok {
		return ex
	}
	return new(exchange)
}

// maxPresizeBytes is the largest declared body net/http may drain after a
// 503 to keep the connection; with a larger or unsized one the connection
// is closed. (bodyread.PresizeBytes bounds the allocation made on a
// declared length.)
const maxPresizeBytes = 64 << 10

// maxPooledBytes keeps an occasional huge exchange from pinning memory.
const maxPooledBytes = 256 << 10

func (g *Gateway) putExchange(ex *exchange) {
	clear(ex.in.Bytes())
	ex.in.Reset()
	clear(ex.out)
	ex.out = ex.out[:0]
	ex.body.Reset(nil)
	ex.line = logLine{}
	if ex.in.Cap() > maxPooledBytes || cap(ex.out) > maxPooledBytes {
		return
	}
	g.exchanges.Put(ex)
}

// logLine is everything a request may log: no address, no header, no
// content, no inner path. reason is from a closed set.
type logLine struct {
	status, innerStatus int
	keyID               int
	suite               ohttp.SymmetricSuite
	kem                 ohttp.KEMID
	reason              string
	bytesIn, bytesOut   int
	decap, inner        time.Duration
}

func (g *Gateway) logOHTTP(ctx context.Context, l *logLine, total time.Duration) {
	if !g.log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	attrs := []slog.Attr{
		slog.String("route", "ohttp"),
		slog.Int("status", l.status),
		slog.Duration("duration", total),
		slog.Int("bytes_in", l.bytesIn),
		slog.Int("bytes_out", l.bytesOut),
	}
	if l.keyID >= 0 {
		attrs = append(attrs,
			slog.Int("key_id", l.keyID),
			slog.String("kem", l.kem.String()),
			slog.String("suite", l.suite.String()))
	}
	if l.decap > 0 {
		attrs = append(attrs, slog.Duration("decap", l.decap))
	}
	if l.innerStatus != 0 {
		attrs = append(attrs, slog.Int("inner_status", l.innerStatus), slog.Duration("inner", l.inner))
	}
	if l.reason != "" {
		attrs = append(attrs, slog.String("reason", l.reason))
	}
	g.log.LogAttrs(ctx, slog.LevelInfo, "gateway request", attrs...)
}

// overloaded answers 503 with Retry-After. net/http drains a small unread
// body to keep the connection; a large or unsized one is not worth reading
// under overload, so that connection is closed.
func (g *Gateway) overloaded(w http.ResponseWriter, r *http.Request, l *logLine) {
	h := w.Header()
	h.Set("Retry-After", overloadRetryAfter)
	if r.ContentLength < 0 || r.ContentLength > maxPresizeBytes {
		h.Set("Connection", "close")
	}
	g.refuse(w, l, http.StatusServiceUnavailable, "overloaded")
}

// serveOHTTP handles one encapsulated request (RFC 9458 §5.2).
func (g *Gateway) serveOHTTP(w http.ResponseWriter, r *http.Request) {
	start := g.cfg.Now()
	ex := g.getExchange()
	defer g.putExchange(ex)
	l := &ex.line
	l.keyID = -1
	defer func() { g.logOHTTP(r.Context(), l, g.cfg.Now().Sub(start)) }()

	// The body is read at once; there is nothing to continue into.
	if r.Header.Get("Expect") != "" {
		g.refuse(w, l, http.StatusExpectationFailed, "expect")
		return
	}
	if !isRequestMediaType(r.Header.Get("Content-Type")) {
		g.refuse(w, l, http.StatusUnsupportedMediaType, "media_type")
		return
	}
	if r.ContentLength > g.cfg.MaxRequestBytes {
		g.refuse(w, l, http.StatusRequestEntityTooLarge, "too_large")
		return
	}
	// Shed before the body is read when every slot is busy: a refused
	// request costs a header parse and a short answer.
	if len(g.sem) == cap(g.sem) {
		g.overloaded(w, r, l)
		return
	}
	// The body is read before a slot is taken, under a minimum transfer
	// rate and against the byte budget of bodies held at once, so slow
	// senders hold neither a slot nor much memory.
	n, charged, err := bodyread.Read(w, r, &ex.in, g.cfg.MaxRequestBytes, g.reading, g.cfg.BodyRead)
	defer g.reading.Release(charged)
	l.bytesIn = int(n)
	if err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			g.refuse(w, l, http.StatusRequestEntityTooLarge, "too_large")
		case errors.Is(err, bodyread.ErrOverBudget):
			g.overloaded(w, r, l)
		case errors.Is(err, bodyread.ErrTooSlow):
			w.Header().Set("Connection", "close")
			g.refuse(w, l, http.StatusRequestTimeout, "slow")
		default:
			g.refuse(w, l, http.StatusBadRequest, "read")
		}
		return
	}
	select {
	case g.sem <- struct{}{}:
		defer func() { <-g.sem }()
	default:
		g.overloaded(w, r, l)
		return
	}

	req, err := ohttp.ParseEncapsulatedRequest(ex.in.Bytes())
	if err != nil {
		if errors.Is(err, ohttp.ErrUnsupported) {
			// A suite this gateway does not offer: the client's key
			// configuration is wrong, the same answer as an unknown key.
			g.keyProblem(w, l)
		} else {
			g.refuse(w, l, http.StatusBadRequest, "malformed")
		}
		return
	}
	l.keyID, l.kem, l.suite = int(req.KeyID), req.KEM, req.Suite()

	ctx := r.Context()
	now := g.cfg.Now()
	key := g.lookupKey(ctx, g.currentRing(ctx), req.KeyID, now)
	if key == nil {
		g.keyProblem(w, l)
		return
	}
	// Every failure from here to a decrypted message — wrong KEM, suite
	// not offered, KEM, key schedule or AEAD failure — gets the same
	// answer (RFC 9458 §6.4).
	plain, sctx, err := key.priv.DecapsulateRequest(req)
	if err != nil {
		g.keyProblem(w, l)
		return
	}
	l.decap = g.cfg.Now().Sub(now)

	encHash := sha256.Sum256(req.Enc)
	msg := g.handleInner(ctx, ex, plain, encHash, now)
	clear(plain)
	encRes, err := sctx.EncapsulateResponse(g.cfg.Rand, msg)
	if err != nil {
		g.refuse(w, l, http.StatusInternalServerError, "encapsulate")
		return
	}
	h := w.Header()
	h.Set("Content-Type", ohttp.ResponseMediaType)
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(encRes)))
	w.WriteHeader(http.StatusOK)
	w.Write(encRes)
	l.status = http.StatusOK
	l.bytesOut = len(encRes)
}

func isRequestMediaType(v string) bool {
	if v == ohttp.RequestMediaType {
		return true
	}
	mt, _, err := mime.ParseMediaType(v)
	return err == nil && mt == ohttp.RequestMediaType
}

// keyProblem answers RFC 9458 §5.3's key configuration problem. Its bytes
// are the same whatever went wrong.
func (g *Gateway) keyProblem(w http.ResponseWriter, l *logLine) {
	l.status, l.reason = StatusKeyProblem, "key"
	problem.Write(w, problem.Details{Type: ohttp.ProblemTypeKey, Title: "Key configuration not acceptable", Status: StatusKeyProblem})
}

func (g *Gateway) refuse(w http.ResponseWriter, l *logLine, status int, reason string) {
	l.status, l.reason = status, reason
	problem.Write(w, problem.Status(status))
}
