package admin

import (
	"github.com/veil-telemetry/veil/internal/problem"
	"github.com/veil-telemetry/veil/internal/problem/grpcproblem"
)

// The admin plane's errors are problem's: these names keep its handlers
// short. Statuses, gRPC codes and problem types come from the kind, in
// package problem and grpcproblem, and nowhere else.
type (
	// Kind classifies an error (problem.Kind).
	Kind = problem.Kind
	// Error is an API error (problem.Error).
	Error = problem.Error
	// Finding is one schema lint finding, returned with KindInvalid when
	// a schema is refused at registration.
	Finding = problem.Finding
)

// The kinds the admin plane answers with.
const (
	KindInternal        = problem.Internal
	KindInvalid         = problem.Invalid
	KindNotFound        = problem.NotFound
	KindConflict        = problem.Conflict
	KindUnauthenticated = problem.Unauthenticated
	KindOverloaded      = problem.Overloaded
	KindUnavailable     = problem.Unavailable
	KindTooLarge        = problem.TooLarge
	KindForbidden       = problem.Forbidden
)

// errorDomain is the google.rpc.ErrorInfo domain of the admin plane's
// errors; their reason is the kind's name.
const errorDomain = "veil"

// Errorf returns an *Error of kind k with a formatted client message.
func Errorf(k Kind, format string, args ...any) *Error {
	return problem.Errorf(k, format, args...)
}

// asError normalises any error to an *Error (grpcproblem.FromError):
// *Error values pass through, gRPC statuses keep their kind, everything
// else is internal.
func asError(err error) *Error { return grpcproblem.FromError(err) }
