package gateway

import (
	"log/slog"
	"net/http"

	"github.com/veil-telemetry/veil/internal/httpcache"
	"github.com/veil-telemetry/veil/internal/problem"
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
		problem.Write(w, problem.Details{Type: problem.TypeBlank, Title: "No keys available", Status: status})
		return
	}
	maxAge := g.cfg.KeysMaxAge
	if !rg.nextChange.IsZero() {
		maxAge = min(maxAge, rg.nextChange.Sub(g.cfg.Now()))
	}
	status = httpcache.Serve(w, r, rg.doc, ohttp.KeysMediaType, rg.etag, httpcache.Public(maxAge))
}
