package problem

import (
	"fmt"
	"time"
)

// Finding is one field-level finding of an Invalid error, such as a lint
// finding that refused a schema. It travels as the "findings" extension
// member of the problem (RFC 9457 §3.2) and, over gRPC, as a
// google.rpc.BadRequest field violation.
type Finding struct {
	Property string `json:"property"`
	Rule     string `json:"rule"`
	Message  string `json:"message"`
}

// Error is an API error. Message is shown to the client for 4xx kinds
// only; for 5xx kinds the client sees the kind's title and nothing else.
type Error struct {
	Kind    Kind
	Message string
	// Reason is a stable code naming the cause within the kind (ingest's
	// "batch_too_large"); empty means the kind's name. See ReasonCode.
	Reason   string
	Findings []Finding
	// RetryAfter, when positive, is sent as Retry-After (HTTP) and as the
	// retry-after header metadata and a RetryInfo detail (gRPC). Every 503
	// carries a Retry-After: one second when this is zero.
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

// ReasonCode is Reason, or the kind's name when Reason is empty.
func (e *Error) ReasonCode() string {
	if e.Reason != "" {
		return e.Reason
	}
	return e.Kind.String()
}

// ClientMessage is what the client may read: the kind's title for 5xx
// kinds or an empty Message, else Message. Internals never leave this way.
func (e *Error) ClientMessage() string {
	if e.Kind.HTTPStatus() >= 500 || e.Message == "" {
		return e.Kind.Title()
	}
	return e.Message
}

// RetryAfterSeconds formats a delay as Retry-After delay-seconds
// (RFC 9110 §10.2.3), rounded up, at least 1.
func RetryAfterSeconds(d time.Duration) int64 {
	return max(1, int64((d+time.Second-1)/time.Second))
}
