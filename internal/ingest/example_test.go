package ingest_test

import (
	"context"
	"crypto/sha256"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"

	"github.com/veil-telemetry/veil/internal/ingest"
	"github.com/veil-telemetry/veil/internal/schema"
	"github.com/veil-telemetry/veil/internal/storage"

	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

// Example wires the ingest server behind the inner grpc-gateway mux, as
// the gateway dispatches to it: MuxOptions (problem errors with Retry-After
// for 503s, the fast JSON marshaler), and the enc hash put in the
// request's context.
func Example() {
	var (
		registry *schema.Registry // schema.NewRegistry over the schemas table
		writer   *storage.Writer  // storage.NewWriter(db, ...)
	)
	srv, err := ingest.New(ingest.Config{Registry: registry, Writer: writer})
	if err != nil {
		return
	}
	mux := runtime.NewServeMux(ingest.MuxOptions(nil, 1<<20)...)
	if err := veilv1.RegisterIngestServiceHandlerServer(context.Background(), mux, srv); err != nil {
		return
	}
	// What the gateway does for each decapsulated request.
	var inner http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		enc := []byte("the encapsulated request's enc")
		mux.ServeHTTP(w, r.WithContext(ingest.WithEncHash(r.Context(), sha256.Sum256(enc))))
	})
	_ = inner
}
