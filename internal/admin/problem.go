package admin

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/veil-telemetry/veil/internal/problem"
	"github.com/veil-telemetry/veil/internal/problem/grpcproblem"
)

// writeRESTProblem is the admin REST mux's way to write an error (see
// grpcproblem.ErrorHandler): a body over limitBody's bound as 413.
func writeRESTProblem(w http.ResponseWriter, r *http.Request, e *problem.Error) {
	if ob := overflowed(r); ob != nil {
		// grpc-gateway reports the body limit as InvalidArgument, its
		// error type lost: limitBody's mark says what happened.
		e = bodyTooLarge(ob.limit)
	}
	writeProblem(w, e)
}

// writeProblem writes e as a problem; a 401 carries the bearer challenge
// RFC 9110 §11.6.1 requires.
func writeProblem(w http.ResponseWriter, e *problem.Error) {
	if e.Kind == problem.Unauthenticated {
		w.Header().Set("WWW-Authenticate", `Bearer realm="veil-admin"`)
	}
	problem.WriteError(w, e)
}

// limitBody bounds a REST request's body to n bytes: a declared length
// over it is answered 413 at once, and a streamed body that runs over it
// fails grpc-gateway's read, marked so that writeRESTProblem answers 413 too
// (http.MaxBytesHandler alone reached the client as a 400).
func limitBody(h http.Handler, n int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > n {
			writeProblem(w, bodyTooLarge(n))
			return
		}
		ob := &overflowBody{ReadCloser: http.MaxBytesReader(w, r.Body, n), limit: n}
		r = r.WithContext(context.WithValue(r.Context(), overflowKey{}, ob))
		r.Body = ob
		h.ServeHTTP(w, r)
	})
}

type overflowKey struct{}

func bodyTooLarge(limit int64) *problem.Error {
	return problem.Errorf(problem.TooLarge, "request body over %d bytes", limit)
}

// overflowBody remembers that its limit was reached.
type overflowBody struct {
	io.ReadCloser
	limit int64
	over  atomic.Bool
}

func (b *overflowBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	var mb *http.MaxBytesError
	if err != nil && errors.As(err, &mb) {
		b.over.Store(true)
	}
	return n, err
}

// overflowed returns r's limitBody body if it ran over its bound, else nil.
func overflowed(r *http.Request) *overflowBody {
	if r == nil {
		return nil
	}
	if ob, _ := r.Context().Value(overflowKey{}).(*overflowBody); ob != nil && ob.over.Load() {
		return ob
	}
	return nil
}

// MuxOptions returns the grpc-gateway options of the admin REST mux:
// problem+json errors (grpcproblem.MuxOptions, with writeRESTProblem), protojson with proto field names
// (unknown request fields refused), and no request header forwarded into
// gRPC metadata (the admin plane needs none).
func MuxOptions(logger *slog.Logger) []runtime.ServeMuxOption {
	return append(grpcproblem.MuxOptions(logger, writeRESTProblem),
		runtime.WithIncomingHeaderMatcher(func(string) (string, bool) { return "", false }),
		runtime.WithOutgoingHeaderMatcher(func(string) (string, bool) { return "", false }),
		runtime.WithOutgoingTrailerMatcher(func(string) (string, bool) { return "", false }),
		runtime.WithDisableHTTPMethodOverride(),
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
		}),
	)
}
