package ingest_test

import (
	"crypto/sha256"
	"net/http"

	"github.com/veil-telemetry/veil/internal/ingest"
	"github.com/veil-telemetry/veil/internal/schema"
	"github.com/veil-telemetry/veil/internal/storage"
)

// Example wires the ingest server behind its inner HTTP handler, as the
// gateway dispatches to it, with the enc hash put in the request's
// context.
func Example() {
	var (
		registry *schema.Registry // schema.NewRegistry over the schemas table
		writer   *storage.Writer  // storage.NewWriter(db, ...)
	)
	srv, err := ingest.New(ingest.Config{Registry: registry, Writer: writer})
	if err != nil {
		return
	}
	h, err := ingest.Handler(srv, nil, 1<<20)
	if err != nil {
		return
	}
	// What the gateway does for each decapsulated request.
	var inner http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		enc := []byte("the encapsulated request's enc")
		h.ServeHTTP(w, r.WithContext(ingest.WithEncHash(r.Context(), sha256.Sum256(enc))))
	})
	_ = inner
}
