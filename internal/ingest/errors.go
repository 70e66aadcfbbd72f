package ingest

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/veil-telemetry/veil/internal/schema"
	"github.com/veil-telemetry/veil/internal/storage"
)

// ErrorDomain is the google.rpc.ErrorInfo domain of this package's request
// errors.
const ErrorDomain = "ingest.veil"

// MetadataRetryAfter is the gRPC header key of the delay, in whole seconds,
// that a 503 (codes.Unavailable) answer suggests; map it to the HTTP
// Retry-After header (OutgoingHeaderMatcher does).
const MetadataRetryAfter = "retry-after"

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

// errKind is the one error kind of this package, mapped to gRPC and HTTP in
// one table.
type errKind int

const (
	errBatchInvalid errKind = iota
	errBatchTooLarge
	errOverloaded
	errUnavailable
	errInternal
)

var kinds = [...]struct {
	code   codes.Code
	http   int
	reason string
}{
	errBatchInvalid:  {codes.InvalidArgument, http.StatusBadRequest, ErrorReasonBatchInvalid},
	errBatchTooLarge: {codes.InvalidArgument, http.StatusRequestEntityTooLarge, ErrorReasonBatchTooLarge},
	errOverloaded:    {codes.Unavailable, http.StatusServiceUnavailable, ErrorReasonOverloaded},
	errUnavailable:   {codes.Unavailable, http.StatusServiceUnavailable, ErrorReasonUnavailable},
	errInternal:      {codes.Internal, http.StatusInternalServerError, ErrorReasonInternal},
}

// requestError is a whole-request error. It is a gRPC status (GRPCStatus)
// and unwraps to a *runtime.HTTPStatusError, so grpc-gateway's default
// error handler answers with the HTTP status of the kind (413, 503) rather
// than the one of the gRPC code.
type requestError struct {
	st   *status.Status
	http *runtime.HTTPStatusError
}

func (e *requestError) Error() string              { return e.st.Err().Error() }
func (e *requestError) GRPCStatus() *status.Status { return e.st }
func (e *requestError) Unwrap() error              { return e.http }

// newError builds the error of kind k. msg must not hold a value the client
// sent.
func newError(k errKind, msg string, details ...*errdetails.RetryInfo) error {
	kd := kinds[k]
	st := status.New(kd.code, kd.reason+": "+msg)
	withDetails, err := st.WithDetails(&errdetails.ErrorInfo{Reason: kd.reason, Domain: ErrorDomain})
	if err == nil {
		st = withDetails
	}
	for _, d := range details {
		if withDetails, err := st.WithDetails(d); err == nil {
			st = withDetails
		}
	}
	return &requestError{st: st, http: &runtime.HTTPStatusError{HTTPStatus: kd.http, Err: st.Err()}}
}

// retryError builds a 503 error of kind k and sets the retry-after header.
func (s *Server) retryError(ctx context.Context, k errKind) error {
	secs := int64((s.retryAfter + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	// Without a transport stream (a direct call) there is no header to set;
	// the RetryInfo detail still carries the delay.
	_ = grpc.SetHeader(ctx, metadata.Pairs(MetadataRetryAfter, strconv.FormatInt(secs, 10)))
	msg := "the writer is overloaded, retry later"
	if k == errUnavailable {
		msg = "storage is unavailable, retry later"
	}
	return newError(k, msg, &errdetails.RetryInfo{RetryDelay: durationpb.New(time.Duration(secs) * time.Second)})
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
// returned (one of the ErrorReason constants), or "".
func ErrorReason(err error) string {
	st, ok := status.FromError(err)
	if !ok {
		return ""
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == ErrorDomain {
			return info.GetReason()
		}
	}
	return ""
}

// HTTPStatus returns the HTTP status for an error SubmitEvents returned:
// 400 batch_invalid, 413 batch_too_large, 503 overloaded and unavailable,
// and grpc-gateway's mapping of the gRPC code otherwise (499 for a canceled
// request, 504 for a deadline). It works on the error as it comes back
// over a real gRPC connection too.
func HTTPStatus(err error) int {
	var he *runtime.HTTPStatusError
	if errors.As(err, &he) {
		return he.HTTPStatus
	}
	switch ErrorReason(err) {
	case ErrorReasonBatchTooLarge:
		return http.StatusRequestEntityTooLarge
	}
	return runtime.HTTPStatusFromCode(status.Code(err))
}

// OutgoingHeaderMatcher is a grpc-gateway outgoing header matcher for the
// inner mux: it emits the retry-after metadata as the Retry-After header
// and drops every other gRPC header, since the inner API has no other.
//
//	runtime.WithOutgoingHeaderMatcher(ingest.OutgoingHeaderMatcher)
func OutgoingHeaderMatcher(key string) (string, bool) {
	if key == MetadataRetryAfter {
		return "Retry-After", true
	}
	return "", false
}
