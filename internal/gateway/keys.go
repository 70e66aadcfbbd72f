package gateway

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/veil-telemetry/veil/ohttp"
)

// serveKeys publishes the current and active key configurations as
// application/ohttp-keys (RFC 9458 §3.2; RFC 9540 §4 for the well-known
// path). The document is cacheable by shared caches so that every client
// behind a relay or CDN sees the same bytes (key consistency, RFC 9458
// §7), but never past the next scheduled key change.
func (g *Gateway) serveKeys(w http.ResponseWriter, r *http.Request) {
	start := g.cfg.Now()
	rg := g.currentRing(r.Context())
	status := http.StatusOK
	defer func() {
		g.log.LogAttrs(r.Context(), slog.LevelInfo, "gateway request",
			slog.String("route", "keys"), slog.Int("status", status),
			slog.Duration("duration", g.cfg.Now().Sub(start)))
	}()
	if rg == nil || rg.doc == nil {
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "5")
		g.outerProblem(w, status, "about:blank", "No keys available")
		return
	}
	now := g.cfg.Now()
	maxAge := g.cfg.KeysMaxAge
	if !rg.nextChange.IsZero() {
		if d := rg.nextChange.Sub(now); d < maxAge {
			maxAge = d
		}
	}
	if maxAge < 0 {
		maxAge = 0
	}
	h := w.Header()
	h.Set("Cache-Control", "public, max-age="+strconv.FormatInt(int64(maxAge/time.Second), 10))
	h.Set("ETag", rg.etag)
	if etagMatch(r.Header.Get("If-None-Match"), rg.etag) {
		status = http.StatusNotModified
		w.WriteHeader(status)
		return
	}
	h.Set("Content-Type", ohttp.KeysMediaType)
	h.Set("Content-Length", strconv.Itoa(len(rg.doc)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(rg.doc)
	}
}

// etagMatch implements If-None-Match's weak comparison (RFC 9110 §13.1.2).
func etagMatch(header, etag string) bool {
	if header == "" {
		return false
	}
	for t := range strings.SplitSeq(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}
