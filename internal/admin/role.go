package admin

import (
	"context"
	"fmt"
	"regexp"

	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"

	"github.com/veil-telemetry/veil/internal/problem"
)

// Role is what an admin token may do. The token file gives each token one
// (ParseTokens).
type Role uint8

const (
	// RoleRead may read: aggregates, stats, schemas, keys, key pins,
	// metrics, the dashboard.
	RoleRead Role = iota + 1
	// RoleAdmin may also change state: register or disable schemas,
	// rotate or retire keys, add or promote key pins, read profiles.
	RoleAdmin
)

// ParseRole parses "read" or "admin".
func ParseRole(s string) (Role, error) {
	switch s {
	case "read":
		return RoleRead, nil
	case "admin":
		return RoleAdmin, nil
	}
	return 0, fmt.Errorf("role %q: want read or admin", s)
}

func (r Role) String() string {
	switch r {
	case RoleRead:
		return "read"
	case RoleAdmin:
		return "admin"
	}
	return "none"
}

// allows reports whether a caller with role r may do what needs need.
func (r Role) allows(need Role) bool { return need != 0 && r >= need }

// Caller is who made an admin call: the name and role its token has in the
// token file. The token itself is never kept beside it.
type Caller struct {
	Name string
	Role Role
}

const maxTokenNameLen = 64

var tokenNameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

type callerKey struct{}

func withCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller an authenticated admin call carries.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

var errReadOnly = problem.Errorf(problem.Forbidden, "this token has the read role; changing state needs a token with the admin role (see the token file's ROLE NAME TOKEN lines)")

// readMethods are the gRPC methods a read token may call. Everything else
// needs an admin token, so a method added later is closed until it is
// listed here.
var readMethods = map[string]bool{
	veilv1.SchemaService_ListSchemas_FullMethodName:  true,
	veilv1.SchemaService_GetSchema_FullMethodName:    true,
	veilv1.KeyService_ListKeys_FullMethodName:        true,
	veilv1.KeyPinService_ListKeyPins_FullMethodName:  true,
	veilv1.QueryService_GetAggregates_FullMethodName: true,
	veilv1.QueryService_GetStats_FullMethodName:      true,
}

// methodRole is the role a gRPC method needs.
func methodRole(fullMethod string) Role {
	if readMethods[fullMethod] {
		return RoleRead
	}
	return RoleAdmin
}
