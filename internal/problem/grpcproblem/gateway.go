package grpcproblem

import (
	"cmp"
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"

	"github.com/veil-telemetry/veil/internal/problem"
)

// ErrorHandler returns grpc-gateway's error hook: it reads err with
// FromError, takes a 503's delay from the retry-after header metadata when
// the error names none, logs Internal errors (their causes never reach the
// client; no package puts event values in errors), and hands the error to
// write (problem.WriteError when nil).
func ErrorHandler(logger *slog.Logger, write func(http.ResponseWriter, *http.Request, *problem.Error)) runtime.ErrorHandlerFunc {
	logger = cmp.Or(logger, slog.New(slog.DiscardHandler))
	if write == nil {
		write = func(w http.ResponseWriter, _ *http.Request, e *problem.Error) { problem.WriteError(w, e) }
	}
	return func(ctx context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
		e := FromError(err)
		if e.RetryAfter <= 0 {
			if d := retryFromMetadata(ctx); d > 0 {
				c := *e
				c.RetryAfter = d
				e = &c
			}
		}
		if e.Kind == problem.Internal {
			method, _ := runtime.RPCMethod(ctx)
			logger.LogAttrs(ctx, slog.LevelError, "request failed", slog.String("method", method), slog.String("error", e.Error()))
		}
		write(w, r, e)
	}
}

// retryFromMetadata is the delay of the call's retry-after header
// metadata (SetRetryHeader), or 0.
func retryFromMetadata(ctx context.Context) time.Duration {
	md, ok := runtime.ServerMetadataFromContext(ctx)
	if !ok {
		return 0
	}
	v := md.HeaderMD.Get(MetadataRetryAfter)
	if len(v) == 0 {
		return 0
	}
	secs, err := strconv.ParseUint(v[0], 10, 32)
	if err != nil {
		return 0
	}
	return time.Duration(secs) * time.Second
}

// RoutingErrorHandler answers grpc-gateway's routing failures (unknown
// path, wrong method, a malformed path parameter) as problems too, so that
// nothing answers in another format.
func RoutingErrorHandler(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, _ *http.Request, httpStatus int) {
	var e *problem.Error
	switch httpStatus {
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		// A wrong method on a known path is reported as not found rather
		// than describing the API surface to the caller.
		e = problem.Errorf(problem.NotFound, "no such endpoint")
	case http.StatusBadRequest:
		e = problem.Errorf(problem.Invalid, "malformed request")
	default:
		e = &problem.Error{Kind: problem.Internal}
	}
	problem.WriteError(w, e)
}

// MuxOptions are the grpc-gateway options that make a mux answer every
// error, routing errors included, as a problem (see ErrorHandler for
// logger and write).
func MuxOptions(logger *slog.Logger, write func(http.ResponseWriter, *http.Request, *problem.Error)) []runtime.ServeMuxOption {
	return []runtime.ServeMuxOption{
		runtime.WithErrorHandler(ErrorHandler(logger, write)),
		runtime.WithRoutingErrorHandler(RoutingErrorHandler),
	}
}
