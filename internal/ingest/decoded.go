package ingest

import (
	"context"
	"io"
	"log/slog"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"

	"github.com/veil-telemetry/veil/internal/problem"
	"github.com/veil-telemetry/veil/internal/problem/grpcproblem"

	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

// decoded carries the event fields of one SubmitEventsRequest, as
// JSONMarshaler's fast path decoded them, from the marshaler to
// Server.SubmitEvents. Validation and the split need plain Go maps; without
// it the marshaler builds a protobuf Struct per event only for SubmitEvents
// to turn it back into the same map (structpb's AsMap), which cost about a
// quarter of ingest's CPU per event.
//
// Middleware puts one into each request's body and context. The marshaler
// fills it only when its fast path takes the body, and then leaves the
// events' Fields unset; SubmitEvents uses it only for the very message the
// marshaler decoded (req), so a request decoded any other way, or a call
// that did not come through the middleware (gRPC), takes the Struct path.
type decoded struct {
	req    *veilv1.SubmitEventsRequest // the message fields belong to; nil until filled
	fields []map[string]any            // fields[i] are req.Events[i]'s fields
}

type decodedKey struct{}

// decodedBody is a request body with the request's decoded slot attached,
// so JSONMarshaler.NewDecoder, which sees only the body, can fill it.
type decodedBody struct {
	io.ReadCloser
	d *decoded
}

// Middleware is a grpc-gateway middleware for the inner mux that lets
// JSONMarshaler hand SubmitEvents the decoded event fields directly,
// skipping the protobuf Struct of every event. Results are the same with or
// without it. MuxOptions installs it.
func Middleware(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		if r.Body == nil {
			next(w, r, params)
			return
		}
		d := &decoded{}
		r = r.WithContext(context.WithValue(r.Context(), decodedKey{}, d))
		r.Body = decodedBody{ReadCloser: r.Body, d: d}
		next(w, r, params)
	}
}

// MuxOptions are the grpc-gateway options of the inner mux, the public
// API the gateway dispatches to: errors as RFC 9457 problems with
// Retry-After on 503 (grpcproblem.MuxOptions; Internal errors logged to
// logger), no request header forwarded into gRPC metadata (ingest must see
// no client header) and no gRPC metadata sent back, JSONMarshaler bounded
// to maxBytes of body (0: no bound here) for every content type, and
// Middleware.
func MuxOptions(logger *slog.Logger, maxBytes int64) []runtime.ServeMuxOption {
	return append(grpcproblem.MuxOptions(logger, writeProblem),
		runtime.WithIncomingHeaderMatcher(func(string) (string, bool) { return "", false }),
		runtime.WithOutgoingHeaderMatcher(func(string) (string, bool) { return "", false }),
		runtime.WithOutgoingTrailerMatcher(func(string) (string, bool) { return "", false }),
		runtime.WithDisableHTTPMethodOverride(),
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &JSONMarshaler{MaxBytes: maxBytes}),
		runtime.WithMiddlewares(Middleware),
	)
}

// decodedFor returns the fields the marshaler decoded for req, or nil when
// req must be read from its Structs.
func decodedFor(ctx context.Context, req *veilv1.SubmitEventsRequest) *decoded {
	d, _ := ctx.Value(decodedKey{}).(*decoded)
	if d == nil || d.req != req || len(d.fields) != len(req.GetEvents()) {
		return nil
	}
	return d
}

// writeProblem writes e as a problem; a token refusal (401) carries the
// request's WWW-Authenticate challenge (RFC 9577 §2.1), the same bytes for
// every refusal.
func writeProblem(w http.ResponseWriter, r *http.Request, e *problem.Error) {
	if e.Kind == problem.Unauthenticated {
		if c := tokenChallengeFor(r.Context()); c != "" {
			w.Header().Set("WWW-Authenticate", c)
		}
	}
	problem.WriteError(w, e)
}
