package admincli

import (
	"errors"
	"fmt"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/veil-telemetry/veil/internal/problem"
)

// UsageError is a mistake in the command line (a time, a version, a key
// id that does not parse); cmd/veil exits 2 on it.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Finding is one schema lint finding the server sent with a refusal.
type Finding struct {
	Property string // "" for the whole document
	Rule     string
	Message  string
}

// ProblemError is an error the admin API answered: the problem's title
// (as the REST API's problem+json has it), its detail and its findings.
type ProblemError struct {
	// Kind is the server's error kind ("invalid", "not_found", …), from
	// the google.rpc.ErrorInfo it attaches; "" when none came.
	Kind     string
	Code     codes.Code
	Title    string
	Detail   string
	Findings []Finding
}

// Error is the title, the detail, then one indented line per finding.
func (e *ProblemError) Error() string {
	var b strings.Builder
	b.WriteString(e.Title)
	if e.Detail != "" && e.Detail != e.Title {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	for _, f := range e.Findings {
		p := f.Property
		if p == "" {
			p = "(document)"
		}
		fmt.Fprintf(&b, "\n  %s: %s: %s", p, f.Rule, f.Message)
	}
	return b.String()
}

// errorDomain is the google.rpc.ErrorInfo domain of the server's errors.
const errorDomain = "veil"

// ErrUnreachable is wrapped by errors for a listener that could not be
// reached (nothing listening, a TLS mismatch, a timeout).
var ErrUnreachable = errors.New("admin listener unreachable")

// problem turns a call's error into a *ProblemError, or an error
// wrapping ErrUnreachable when the call never reached the admin API.
func (c *CLI) problem(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	p := &ProblemError{Code: st.Code(), Detail: st.Message()}
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			if d.GetDomain() == errorDomain {
				p.Kind = d.GetReason()
			}
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				p.Findings = append(p.Findings, Finding{Property: v.GetField(), Rule: v.GetReason(), Message: v.GetDescription()})
			}
		}
	}
	if p.Kind == "" {
		switch st.Code() {
		case codes.Unavailable, codes.DeadlineExceeded:
			// Not the admin API's answer: gRPC's own, about the
			// connection.
			return fmt.Errorf("%w at %s: %s; is veil serve running, and is --admin its admin listener (https:// when it serves TLS)?", ErrUnreachable, c.addr, transportCause(st.Message()))
		case codes.Unimplemented:
			// Something answered HTTP/2, but not the admin API: the
			// public listener, or another server.
			return fmt.Errorf("%s does not serve the veil admin API: is --admin the admin listener of veil serve (its --admin-listen), not the public one?", c.addr)
		}
		p.Title = st.Code().String()
		return p
	}
	// The title the REST API sends for this kind (RFC 9457 §3.1.4): gRPC
	// carries only the kind's name.
	if k, ok := problem.ParseKind(p.Kind); ok {
		p.Title = k.Title()
	} else {
		p.Title = p.Kind
	}
	if p.Kind == "unauthenticated" {
		p.Detail += "; the token in " + c.cfg.TokenFile + " is not one the server accepts"
	}
	return p
}

// transportCause shortens grpc-go's connection error text
// (`connection error: desc = "transport: Error while dialing: dial tcp
// …: connect: connection refused"`) to its cause.
func transportCause(msg string) string {
	if _, desc, ok := strings.Cut(msg, `desc = "`); ok {
		msg = strings.TrimSuffix(desc, `"`)
	}
	msg = strings.TrimPrefix(msg, "transport: ")
	msg = strings.TrimPrefix(msg, "Error while dialing: ")
	return msg
}
