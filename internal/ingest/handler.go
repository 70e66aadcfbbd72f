package ingest

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"

	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

// Handler is the ingest API as veil serve's gateway calls it, in process
// (never served in the clear): a grpc-gateway mux with IngestService only,
// whose request bodies ingest's marshaler decodes, up to maxBytes, and
// whose errors are ingest's problems (MuxOptions).
func Handler(srv *Server, logger *slog.Logger, maxBytes int64) (http.Handler, error) {
	mux := runtime.NewServeMux(MuxOptions(logger, maxBytes)...)
	if err := veilv1.RegisterIngestServiceHandlerServer(context.Background(), mux, srv); err != nil {
		return nil, err
	}
	return mux, nil
}
