// Package grpcproblem carries problem's error model over gRPC: the one
// mapping of a problem.Kind to its gRPC code (Code), the status an
// *problem.Error travels as (Status), the way back (FromError), and the
// grpc-gateway error hook that writes every REST error of a gRPC service as
// an RFC 9457 problem (ErrorHandler).
//
// Only ingest and admin import it; the gateway and the relay, which must
// link no gRPC, use package problem alone.
package grpcproblem

import (
	"context"
	"errors"
	"strconv"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/veil-telemetry/veil/internal/problem"
)

// MetadataRetryAfter is the gRPC header metadata key of the delay, in
// whole seconds, that a 503 (codes.Unavailable) answer suggests.
const MetadataRetryAfter = "retry-after"

// metadataKind is the google.rpc.ErrorInfo metadata key naming the kind of
// an error whose reason is not the kind's own name.
const metadataKind = "kind"

// Code is the gRPC code of kind k. TooLarge is InvalidArgument, not
// ResourceExhausted: a batch or body over a bound fails the same way on
// every retry, and ResourceExhausted reads as a quota that may refill
// (grpc-gateway would even answer it 429).
func Code(k problem.Kind) codes.Code {
	switch k {
	case problem.Invalid, problem.TooLarge:
		return codes.InvalidArgument
	case problem.NotFound:
		return codes.NotFound
	case problem.Conflict:
		return codes.AlreadyExists
	case problem.Unauthenticated:
		return codes.Unauthenticated
	case problem.Forbidden:
		return codes.PermissionDenied
	case problem.Unavailable, problem.Overloaded:
		return codes.Unavailable
	case problem.Timeout:
		return codes.DeadlineExceeded
	case problem.Canceled:
		return codes.Canceled
	}
	return codes.Internal
}

// foreignCodes are the codes Code never produces, which gRPC itself or
// another service may send, read as the nearest kind.
var foreignCodes = map[codes.Code]problem.Kind{
	codes.OutOfRange:         problem.Invalid,
	codes.FailedPrecondition: problem.Invalid,
	codes.Aborted:            problem.Conflict,
	// gRPC's own refusal of a message over its size limit.
	codes.ResourceExhausted: problem.TooLarge,
}

// kindOfCode reads a status that names no kind: a code Code produces maps
// back to the first kind in problem's order that Code maps to it.
func kindOfCode(c codes.Code) problem.Kind {
	if k, ok := foreignCodes[c]; ok {
		return k
	}
	for _, k := range problem.Kinds() {
		if Code(k) == c {
			return k
		}
	}
	return problem.Internal
}

// Status is the gRPC status of e: the kind's code, the client message, and
// details: a google.rpc.ErrorInfo {reason: e.ReasonCode(), domain}, with
// metadata "kind" naming the kind when the reason is not its name; a
// BadRequest listing the findings; a RetryInfo when RetryAfter is set.
func Status(domain string, e *problem.Error) *status.Status {
	s := status.New(Code(e.Kind), e.ClientMessage())
	info := &errdetails.ErrorInfo{Reason: e.ReasonCode(), Domain: domain}
	if info.Reason != e.Kind.String() {
		info.Metadata = map[string]string{metadataKind: e.Kind.String()}
	}
	details := []protoadapt.MessageV1{info}
	if len(e.Findings) > 0 {
		br := &errdetails.BadRequest{}
		for _, f := range e.Findings {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
				Field: f.Property, Reason: f.Rule, Description: f.Message,
			})
		}
		details = append(details, br)
	}
	if e.RetryAfter > 0 {
		secs := problem.RetryAfterSeconds(e.RetryAfter)
		details = append(details, &errdetails.RetryInfo{RetryDelay: durationpb.New(time.Duration(secs) * time.Second)})
	}
	if ds, err := s.WithDetails(details...); err == nil {
		return ds
	}
	return s
}

// Error returns e as an error gRPC sends as Status(domain, e). It unwraps
// to e.
func Error(domain string, e *problem.Error) error {
	return &statusError{e: e, domain: domain}
}

type statusError struct {
	e      *problem.Error
	domain string
}

func (s *statusError) Error() string              { return s.e.Error() }
func (s *statusError) Unwrap() error              { return s.e }
func (s *statusError) GRPCStatus() *status.Status { return Status(s.domain, s.e) }

// FromError recovers the *problem.Error of any error: one in err's chain
// as it is; a gRPC status (one that crossed a connection, or one gRPC or
// grpc-gateway made) from its ErrorInfo, else from its code; anything else
// as Internal, its text kept for logs only.
func FromError(err error) *problem.Error {
	if e, ok := errors.AsType[*problem.Error](err); ok {
		return e
	}
	s, ok := status.FromError(err)
	if !ok {
		return &problem.Error{Kind: problem.Internal, Err: err}
	}
	e := &problem.Error{Kind: kindOfCode(s.Code()), Message: s.Message(), Err: err}
	for _, d := range s.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			e.Reason = d.GetReason()
			if k, ok := problem.ParseKind(d.GetMetadata()[metadataKind]); ok {
				e.Kind = k
			} else if k, ok := problem.ParseKind(d.GetReason()); ok {
				e.Kind = k
			}
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				e.Findings = append(e.Findings, problem.Finding{Property: v.GetField(), Rule: v.GetReason(), Message: v.GetDescription()})
			}
		case *errdetails.RetryInfo:
			e.RetryAfter = d.GetRetryDelay().AsDuration()
		}
	}
	return e
}

// SetRetryHeader sets e's RetryAfter, if any, as the retry-after header
// metadata of the call in ctx: a real gRPC call's response header, or
// grpc-gateway's ServerMetadata for an in-process one. Without a transport
// stream (a direct call) it does nothing.
func SetRetryHeader(ctx context.Context, e *problem.Error) {
	if e.RetryAfter <= 0 {
		return
	}
	secs := strconv.FormatInt(problem.RetryAfterSeconds(e.RetryAfter), 10)
	_ = grpc.SetHeader(ctx, metadata.Pairs(MetadataRetryAfter, secs))
}
