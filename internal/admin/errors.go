package admin

import (
	"github.com/veil-telemetry/veil/internal/problem"
	"github.com/veil-telemetry/veil/internal/problem/grpcproblem"
)

// errorDomain is the google.rpc.ErrorInfo domain of the admin plane's
// errors; their reason is the kind's name.
const errorDomain = "veil"

// asError normalises any error to an *Error (grpcproblem.FromError):
// *Error values pass through, gRPC statuses keep their kind, everything
// else is internal.
func asError(err error) *problem.Error { return grpcproblem.FromError(err) }
