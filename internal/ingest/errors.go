package ingest

import (
	"context"
	"errors"

	"google.golang.org/grpc/status"

	"github.com/veil-telemetry/veil/internal/problem"
	"github.com/veil-telemetry/veil/internal/problem/grpcproblem"
	"github.com/veil-telemetry/veil/internal/schema"
	"github.com/veil-telemetry/veil/internal/storage"
)

// ErrorDomain is the google.rpc.ErrorInfo domain of this package's request
// errors.
const ErrorDomain = "ingest.veil"

// ErrorInfo reasons of whole-request errors. batch_invalid and
// batch_too_large are reason codes too (schema.Reasons).
const (
	ErrorReasonBatchInvalid  = schema.ReasonBatchInvalid
	ErrorReasonBatchTooLarge = schema.ReasonBatchTooLarge
	ErrorReasonOverloaded    = "overloaded"
	ErrorReasonUnavailable   = "unavailable"
	ErrorReasonInternal      = "internal"
)

// Result values of a request, for its log line and the requests metric.
const (
	ResultCommitted     = "committed"
	ResultDuplicate     = "duplicate"
	ResultBatchInvalid  = schema.ReasonBatchInvalid
	ResultBatchTooLarge = schema.ReasonBatchTooLarge
	ResultOverloaded    = "overloaded"
	ResultUnavailable   = "unavailable"
	ResultCanceled      = "canceled"
	ResultInternal      = "internal"
)

// requestError names a whole-request error: its kind (which decides the
// gRPC code and HTTP status, in package problem) and its reason code.
type requestError struct {
	kind   problem.Kind
	reason string
}

var (
	errBatchInvalid  = requestError{problem.Invalid, ErrorReasonBatchInvalid}
	errBatchTooLarge = requestError{problem.TooLarge, ErrorReasonBatchTooLarge}
	errOverloaded    = requestError{problem.Overloaded, ErrorReasonOverloaded}
	errUnavailable   = requestError{problem.Unavailable, ErrorReasonUnavailable}
	errInternal      = requestError{problem.Internal, ErrorReasonInternal}
)

// newError builds the error of re. msg must not hold a value the client
// sent.
func newError(re requestError, msg string) error {
	return grpcproblem.Error(ErrorDomain, &problem.Error{Kind: re.kind, Reason: re.reason, Message: re.reason + ": " + msg})
}

// retryError builds the 503 error re, with the server's retry delay as its
// RetryAfter and the call's retry-after header metadata.
func (s *Server) retryError(ctx context.Context, re requestError) error {
	msg := "the writer is overloaded, retry later"
	if re == errUnavailable {
		msg = "storage is unavailable, retry later"
	}
	e := &problem.Error{Kind: re.kind, Reason: re.reason, Message: re.reason + ": " + msg, RetryAfter: s.retryAfter}
	grpcproblem.SetRetryHeader(ctx, e)
	return grpcproblem.Error(ErrorDomain, e)
}

// contextError is the status of a request whose caller gave up.
func contextError(err error) error {
	return status.FromContextError(err).Err()
}

// errorKind names an internal error for a log line without its text, which
// might quote data (a database error can echo a row).
func errorKind(err error) string {
	switch {
	case errors.Is(err, storage.ErrOverloaded):
		return "overloaded"
	case errors.Is(err, storage.ErrUnavailable):
		return "unavailable"
	case errors.Is(err, storage.ErrClosed):
		return "closed"
	case errors.Is(err, storage.ErrInvalidRecord):
		return "invalid_record"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return "other"
}

// ErrorReason returns the ErrorInfo reason of an error SubmitEvents
// returned (one of the ErrorReason constants), or "". It works on the
// error as it comes back over a real gRPC connection too.
func ErrorReason(err error) string {
	return grpcproblem.FromError(err).Reason
}

// HTTPStatus returns the HTTP status the inner API answers for an error
// SubmitEvents returned: its kind's (400 batch_invalid, 413
// batch_too_large, 503 overloaded and unavailable, 500 internal; 499 for a
// canceled request, 504 for a deadline). It works on the error as it comes
// back over a real gRPC connection too.
func HTTPStatus(err error) int {
	return grpcproblem.FromError(err).Kind.HTTPStatus()
}
