package grpcproblem

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/veil-telemetry/veil/internal/problem"
	"github.com/veil-telemetry/veil/internal/problem/problemtest"
)

// overTheWire is err as a client sees it after a gRPC hop: only the status
// proto travels.
func overTheWire(err error) error {
	return status.ErrorProto(status.Convert(err).Proto())
}

// TestKindSurvivesGRPC checks that a kind crosses the gRPC status boundary
// intact, including kinds that share a code (overloaded and unavailable,
// invalid and too_large), with or without a reason of its own.
func TestKindSurvivesGRPC(t *testing.T) {
	for _, k := range problem.Kinds() {
		for _, reason := range []string{"", "some_reason"} {
			e := &problem.Error{Kind: k, Message: "m", Reason: reason}
			err := Error("test.veil", e)
			if got := status.Code(err); got != Code(k) {
				t.Errorf("kind %v: code %v, want %v", k, got, Code(k))
			}
			back := FromError(overTheWire(err))
			if back.Kind != k || back.Reason != e.ReasonCode() {
				t.Errorf("kind %v reason %q came back as %v %q", k, reason, back.Kind, back.Reason)
			}
			if in := FromError(err); in != e {
				t.Errorf("kind %v: in process, FromError did not return the error itself", k)
			}
		}
	}
	// Statuses from gRPC itself, or another service, map by code.
	for c, want := range map[codes.Code]problem.Kind{
		codes.Unavailable:        problem.Unavailable,
		codes.InvalidArgument:    problem.Invalid,
		codes.FailedPrecondition: problem.Invalid,
		codes.ResourceExhausted:  problem.TooLarge,
		codes.DeadlineExceeded:   problem.Timeout,
		codes.Canceled:           problem.Canceled,
		codes.Unknown:            problem.Internal,
	} {
		if got := FromError(status.Error(c, "x")).Kind; got != want {
			t.Errorf("plain %v mapped to %v, want %v", c, got, want)
		}
	}
	if got := FromError(errors.New("boom")); got.Kind != problem.Internal || got.ClientMessage() != "Internal error" {
		t.Errorf("plain error mapped to %v %q", got.Kind, got.ClientMessage())
	}
}

// TestForeignCodesAreForeign: the codes read as the nearest kind are
// codes no kind is sent as, so the reverse reading never disagrees with
// Code.
func TestForeignCodesAreForeign(t *testing.T) {
	for c := range foreignCodes {
		for _, k := range problem.Kinds() {
			if Code(k) == c {
				t.Errorf("%v is listed as foreign but is the code of %v", c, k)
			}
		}
	}
}

// TestTooLargeIsInvalidArgument pins the one choice the two former tables
// disagreed on: TooLarge is InvalidArgument over gRPC, 413 over HTTP, and
// the status says it is TooLarge.
func TestTooLargeIsInvalidArgument(t *testing.T) {
	st := Status("ingest.veil", &problem.Error{Kind: problem.TooLarge, Reason: "batch_too_large", Message: "batch_too_large: 11 events, at most 10"})
	if st.Code() != codes.InvalidArgument || st.Message() != "batch_too_large: 11 events, at most 10" {
		t.Fatalf("status %v %q", st.Code(), st.Message())
	}
	var info *errdetails.ErrorInfo
	for _, d := range st.Details() {
		if i, ok := d.(*errdetails.ErrorInfo); ok {
			info = i
		}
	}
	if info == nil || info.Reason != "batch_too_large" || info.Domain != "ingest.veil" || info.Metadata["kind"] != "too_large" {
		t.Fatalf("ErrorInfo %v", info)
	}
	if k := FromError(st.Err()).Kind; k.HTTPStatus() != 413 {
		t.Errorf("bare status read as %v", k)
	}
}

func TestStatusCarriesNoInternals(t *testing.T) {
	secret := "password=hunter2"
	st := Status("veil", &problem.Error{Kind: problem.Unavailable, Message: secret, Err: errors.New(secret), RetryAfter: 1500 * time.Millisecond})
	if strings.Contains(st.Message(), "hunter2") || st.Message() != "Unavailable" {
		t.Errorf("message %q", st.Message())
	}
	if got := FromError(st.Err()).RetryAfter; got != 2*time.Second {
		t.Errorf("RetryInfo %v, want 2s", got)
	}
}

func TestFindingsSurviveGRPC(t *testing.T) {
	f := []problem.Finding{{Property: "email", Rule: "identifying_name", Message: "looks identifying"}}
	back := FromError(overTheWire(Error("veil", &problem.Error{Kind: problem.Invalid, Message: "refused", Findings: f})))
	if len(back.Findings) != 1 || back.Findings[0] != f[0] {
		t.Errorf("findings %+v", back.Findings)
	}
}

func serve(t *testing.T, ctx context.Context, logger *slog.Logger, err error) (*httptest.ResponseRecorder, problem.Details) {
	t.Helper()
	rec := httptest.NewRecorder()
	ErrorHandler(logger, nil)(ctx, nil, nil, rec, httptest.NewRequest(http.MethodPost, "/v1/events", nil), err)
	return rec, problemtest.Decode(t, rec.Code, rec.Header(), rec.Body.Bytes())
}

func TestErrorHandler(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	// The delay of a status that crossed without one comes from the
	// retry-after header metadata.
	ctx := runtime.NewServerMetadataContext(context.Background(), runtime.ServerMetadata{
		HeaderMD: metadata.Pairs(MetadataRetryAfter, "7"),
	})
	rec, p := serve(t, ctx, logger, status.Error(codes.Unavailable, "writer queue full"))
	if rec.Code != 503 || rec.Header().Get("Retry-After") != "7" || p.Type != problem.Unavailable.Type() || p.Detail != "" {
		t.Errorf("got %d Retry-After %q %+v", rec.Code, rec.Header().Get("Retry-After"), p)
	}
	if logs.Len() != 0 {
		t.Errorf("a 503 was logged: %s", logs.String())
	}
	// Internal errors are logged, never answered with their text.
	rec, _ = serve(t, context.Background(), logger, errors.New("pq: password=hunter2"))
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "hunter2") || !strings.Contains(logs.String(), "request failed") {
		t.Errorf("internal: %d %s; logs %s", rec.Code, rec.Body, logs.String())
	}
}

func TestRoutingErrorIsProblem(t *testing.T) {
	mux := runtime.NewServeMux(MuxOptions(nil, nil)...)
	for _, method := range []string{http.MethodPost, http.MethodGet} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(method, "/v1/nothing", nil))
		if rec.Code != 404 || rec.Header().Get("Content-Type") != problem.MediaType {
			t.Fatalf("%s: status %d %q", method, rec.Code, rec.Header().Get("Content-Type"))
		}
	}
}
