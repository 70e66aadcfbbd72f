package ingest

import (
	"context"
	"net/http"
	"slices"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"

	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

// Handler is the ingest API as veil serve's gateway calls it, in process
// (never served in the clear): a grpc-gateway mux with IngestService only,
// whose request bodies ingest's marshaler decodes, up to maxBytes. opts
// come first — the mux's error handling.
func Handler(srv *Server, maxBytes int64, opts ...runtime.ServeMuxOption) (http.Handler, error) {
	mux := runtime.NewServeMux(append(slices.Clip(opts), MuxOptions(maxBytes)...)...)
	if err := veilv1.RegisterIngestServiceHandlerServer(context.Background(), mux, srv); err != nil {
		return nil, err
	}
	return mux, nil
}
