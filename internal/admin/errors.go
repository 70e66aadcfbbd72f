package admin

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
)

// Kind classifies every error the API returns. It is the one place where an
// error's meaning is decided; gRPC codes and HTTP statuses derive from it
// through kinds below and nowhere else.
type Kind int

// The error kinds. KindInternal is the zero-risk default: its message never
// leaves the process.
const (
	KindInternal Kind = iota
	KindInvalid
	KindNotFound
	KindConflict
	KindUnauthenticated
	KindOverloaded
	KindUnavailable
	KindTooLarge
	KindForbidden
)

// kindInfo is one row of the mapping table.
type kindInfo struct {
	name   string // stable, travels as google.rpc.ErrorInfo.reason over gRPC
	code   codes.Code
	status int
	title  string
}

// kinds maps each Kind to its gRPC code, HTTP status and problem title
// (RFC 9457 §3.1.4: the title does not change between occurrences).
var kinds = [...]kindInfo{
	KindInternal:        {"internal", codes.Internal, http.StatusInternalServerError, "Internal error"},
	KindInvalid:         {"invalid", codes.InvalidArgument, http.StatusBadRequest, "Invalid request"},
	KindNotFound:        {"not_found", codes.NotFound, http.StatusNotFound, "Not found"},
	KindConflict:        {"conflict", codes.AlreadyExists, http.StatusConflict, "Conflict"},
	KindUnauthenticated: {"unauthenticated", codes.Unauthenticated, http.StatusUnauthorized, "Unauthenticated"},
	KindOverloaded:      {"overloaded", codes.Unavailable, http.StatusServiceUnavailable, "Overloaded"},
	KindUnavailable:     {"unavailable", codes.Unavailable, http.StatusServiceUnavailable, "Unavailable"},
	KindTooLarge:        {"too_large", codes.ResourceExhausted, http.StatusRequestEntityTooLarge, "Request too large"},
	KindForbidden:       {"forbidden", codes.PermissionDenied, http.StatusForbidden, "Forbidden"},
}

func (k Kind) info() kindInfo {
	if k < 0 || int(k) >= len(kinds) {
		return kinds[KindInternal]
	}
	return kinds[k]
}

// String returns the kind's stable name.
func (k Kind) String() string { return k.info().name }

// Code is the gRPC code for the kind.
func (k Kind) Code() codes.Code { return k.info().code }

// HTTPStatus is the HTTP status for the kind.
func (k Kind) HTTPStatus() int { return k.info().status }

// kindFromStatus recovers the kind of a status: from the ErrorInfo detail
// this package attaches, else from the code alone (statuses made by other
// packages, e.g. ingest, or by gRPC itself).
func kindFromStatus(s *status.Status) Kind {
	for _, d := range s.Details() {
		// Reasons of other domains that name a kind (ingest's
		// "overloaded", "unavailable") count too.
		if ei, ok := d.(*errdetails.ErrorInfo); ok {
			for k, info := range kinds {
				if info.name == ei.GetReason() {
					return Kind(k)
				}
			}
		}
	}
	switch s.Code() {
	case codes.InvalidArgument, codes.OutOfRange, codes.FailedPrecondition:
		return KindInvalid
	case codes.NotFound:
		return KindNotFound
	case codes.AlreadyExists, codes.Aborted:
		return KindConflict
	case codes.Unauthenticated:
		return KindUnauthenticated
	case codes.PermissionDenied:
		return KindForbidden
	case codes.ResourceExhausted:
		return KindTooLarge
	case codes.Unavailable, codes.DeadlineExceeded:
		return KindUnavailable
	}
	return KindInternal
}

const errorDomain = "veil"

// Finding is one schema lint finding, returned with KindInvalid when a
// schema is refused at registration.
type Finding struct {
	Property string `json:"property"`
	Rule     string `json:"rule"`
	Message  string `json:"message"`
}

// Error is an API error. Message is shown to the client for 4xx kinds only;
// for 5xx kinds the client sees the kind's title and nothing else.
type Error struct {
	Kind     Kind
	Message  string
	Findings []Finding
	// RetryAfter, when positive, is sent as Retry-After (HTTP) and as the
	// retry-after header metadata (gRPC).
	RetryAfter time.Duration
	// Err is the cause, for logs; it never reaches the client.
	Err error
}

// Errorf returns an *Error of kind k with a formatted client message.
func Errorf(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	msg := e.Kind.String()
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// clientMessage is what the client may read: never internals on 5xx.
func (e *Error) clientMessage() string {
	if e.Kind.HTTPStatus() >= 500 || e.Message == "" {
		return e.Kind.info().title
	}
	return e.Message
}

// GRPCStatus lets gRPC (and grpc-gateway's in-process handlers) turn the
// error into a status: the kind's code, the client message, an ErrorInfo
// naming the kind, and a BadRequest listing lint findings.
func (e *Error) GRPCStatus() *status.Status {
	s := status.New(e.Kind.Code(), e.clientMessage())
	details := []protoadapt.MessageV1{&errdetails.ErrorInfo{Reason: e.Kind.String(), Domain: errorDomain}}
	if len(e.Findings) > 0 {
		br := &errdetails.BadRequest{}
		for _, f := range e.Findings {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
				Field: f.Property, Reason: f.Rule, Description: f.Message,
			})
		}
		details = append(details, br)
	}
	if ds, err := s.WithDetails(details...); err == nil {
		return ds
	}
	return s
}

// retryAfterHeader formats a duration as Retry-After delay-seconds
// (RFC 9110 §10.2.3), at least 1.
func retryAfterHeader(d time.Duration) string {
	secs := int64((d + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	return strconv.FormatInt(secs, 10)
}

// asError normalises any error to an *Error: *Error values pass through,
// context errors become unavailable, everything else is internal.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if s, ok := status.FromError(err); ok {
		k := kindFromStatus(s)
		// Another package's error may pin its HTTP status (ingest's 413
		// batch_too_large travels as InvalidArgument); honour it when a
		// kind has that status.
		var he *runtime.HTTPStatusError
		if errors.As(err, &he) && k.HTTPStatus() != he.HTTPStatus {
			for i, info := range kinds {
				if info.status == he.HTTPStatus {
					k = Kind(i)
					break
				}
			}
		}
		return &Error{Kind: k, Message: s.Message(), Findings: findingsFromStatus(s), Err: err}
	}
	return &Error{Kind: KindInternal, Err: err}
}

func findingsFromStatus(s *status.Status) []Finding {
	var out []Finding
	for _, d := range s.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				out = append(out, Finding{Property: v.GetField(), Rule: v.GetReason(), Message: v.GetDescription()})
			}
		}
	}
	return out
}
