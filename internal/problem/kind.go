// Package problem is veil's one error model: every error a veil API
// answers has a Kind, and the Kind alone decides its HTTP status and its
// RFC 9457 problem type and title. The table below is the only place that
// decides them.
//
// The package uses the standard library only, so that the gateway (which
// may link nothing else besides ohttp and bhttp) and the relay render their
// problems through it too. The gRPC side, the kind's gRPC code and the
// grpc-gateway error hook, lives in the grpcproblem subpackage, which only
// ingest and admin import.
//
// Kinds are named for what the client should do, not for where the error
// arose: a batch with too many events and an admin request body over its
// bound are both TooLarge.
package problem

import "net/http"

// Kind classifies an error for the client.
type Kind int

// The kinds. Internal is the zero value and the safe default: its message
// never leaves the process.
//
// The order matters where kinds share a gRPC code (grpcproblem reads a
// code without a kind as the first kind in this order that maps to it):
// Invalid before TooLarge, Unavailable before Overloaded.
const (
	Internal Kind = iota
	Invalid
	TooLarge
	NotFound
	Conflict
	Unauthenticated
	Forbidden
	Unavailable
	Overloaded
	Timeout
	Canceled
	numKinds
)

// kindInfo is one row of the table.
type kindInfo struct {
	// name is stable: it ends the problem type and travels as the
	// google.rpc.ErrorInfo reason of errors without a reason of their own.
	name   string
	status int
	// title does not change between occurrences (RFC 9457 §3.1.4).
	title string
}

var kinds = [numKinds]kindInfo{
	Internal:        {"internal", http.StatusInternalServerError, "Internal error"},
	Invalid:         {"invalid", http.StatusBadRequest, "Invalid request"},
	TooLarge:        {"too_large", http.StatusRequestEntityTooLarge, "Request too large"},
	NotFound:        {"not_found", http.StatusNotFound, "Not found"},
	Conflict:        {"conflict", http.StatusConflict, "Conflict"},
	Unauthenticated: {"unauthenticated", http.StatusUnauthorized, "Unauthenticated"},
	Forbidden:       {"forbidden", http.StatusForbidden, "Forbidden"},
	Unavailable:     {"unavailable", http.StatusServiceUnavailable, "Unavailable"},
	Overloaded:      {"overloaded", http.StatusServiceUnavailable, "Overloaded"},
	// The server gave up waiting (a deadline ran out).
	Timeout: {"timeout", http.StatusGatewayTimeout, "Timed out"},
	// The client went away; 499 is the de facto "client closed request".
	Canceled: {"canceled", 499, "Request canceled"},
}

// TypePrefix begins every problem type a Kind names (RFC 9457 §3.1.1).
const TypePrefix = "urn:veil:problem:"

func (k Kind) info() kindInfo {
	if k < 0 || k >= numKinds {
		return kinds[Internal]
	}
	return kinds[k]
}

// String returns the kind's stable name; an unknown kind is "internal".
func (k Kind) String() string { return k.info().name }

// HTTPStatus is the HTTP status of the kind.
func (k Kind) HTTPStatus() int { return k.info().status }

// Title is the kind's problem title.
func (k Kind) Title() string { return k.info().title }

// Type is the kind's problem type URI.
func (k Kind) Type() string { return TypePrefix + k.info().name }

// Kinds returns every kind, in the order of the constants.
func Kinds() []Kind {
	out := make([]Kind, numKinds)
	for i := range out {
		out[i] = Kind(i)
	}
	return out
}

// ParseKind returns the kind whose name is name.
func ParseKind(name string) (Kind, bool) {
	for k, info := range kinds {
		if info.name == name {
			return Kind(k), true
		}
	}
	return Internal, false
}
