package admin

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/veil-telemetry/veil/internal/problem"
	"github.com/veil-telemetry/veil/internal/problem/grpcproblem"
	"github.com/veil-telemetry/veil/internal/problem/problemtest"
)

func serveError(t *testing.T, ctx context.Context, err error) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/v1/schemas", nil)
	grpcproblem.ErrorHandler(nil, writeRESTProblem)(ctx, nil, nil, rec, req, err)
	return rec
}

func decodeProblem(t *testing.T, rec *httptest.ResponseRecorder) problem.Details {
	t.Helper()
	return problemtest.Decode(t, rec.Code, rec.Header(), rec.Body.Bytes())
}

func TestProblemResponses(t *testing.T) {
	secret := "pq: relation \"key_ring\" password=hunter2"
	tests := []struct {
		name       string
		err        error
		status     int
		retryAfter string
		detail     string
	}{
		{"invalid", problem.Errorf(problem.Invalid, "bucket must be hour or day"), 400, "", "bucket must be hour or day"},
		{"not found", problem.Errorf(problem.NotFound, "no schema a.b version 3"), 404, "", "no schema a.b version 3"},
		{"conflict", problem.Errorf(problem.Conflict, "version exists"), 409, "", "version exists"},
		{"unauthenticated", errUnauthenticated, 401, "", "a valid bearer token is required"},
		{"too large", problem.Errorf(problem.TooLarge, "too many events"), 413, "", "too many events"},
		{"internal hides cause", &problem.Error{Kind: problem.Internal, Message: secret, Err: errors.New(secret)}, 500, "", ""},
		{"plain error hides cause", errors.New(secret), 500, "", ""},
		{"unavailable default retry", &problem.Error{Kind: problem.Unavailable, Message: secret}, 503, "1", ""},
		{"overloaded retry", &problem.Error{Kind: problem.Overloaded, RetryAfter: 2500 * time.Millisecond}, 503, "3", ""},
		{"grpc status", status.Error(codes.Unavailable, secret), 503, "1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serveError(t, context.Background(), tt.err)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d", rec.Code, tt.status)
			}
			p := decodeProblem(t, rec)
			if p.Detail != tt.detail {
				t.Errorf("detail %q, want %q", p.Detail, tt.detail)
			}
			if strings.Contains(rec.Body.String(), "hunter2") {
				t.Errorf("5xx body leaks internals: %s", rec.Body)
			}
			if got := rec.Header().Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, tt.retryAfter)
			}
		})
	}
}

func TestProblemRetryAfterFromMetadata(t *testing.T) {
	ctx := runtime.NewServerMetadataContext(context.Background(), runtime.ServerMetadata{
		HeaderMD: metadata.Pairs(grpcproblem.MetadataRetryAfter, "7"),
	})
	rec := serveError(t, ctx, status.Error(codes.Unavailable, "writer queue full"))
	if rec.Code != 503 || rec.Header().Get("Retry-After") != "7" {
		t.Fatalf("got %d Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
}

func TestProblemFindings(t *testing.T) {
	e := &problem.Error{Kind: problem.Invalid, Message: "schema refused by lint", Findings: []problem.Finding{
		{Property: "email", Rule: "identifying_name", Message: "property name looks identifying"},
		{Property: "note", Rule: "unbounded_string", Message: "string needs enum or pattern with maxLength <= 128"},
	}}
	// Through the gRPC status, as the in-process REST handler and a real
	// gRPC hop both see it.
	rec := serveError(t, context.Background(), grpcproblem.Status(errorDomain, e).Err())
	p := decodeProblem(t, rec)
	if rec.Code != 400 || len(p.Findings) != 2 || p.Findings[1] != e.Findings[1] {
		t.Fatalf("got %d %+v", rec.Code, p)
	}
}

func TestRoutingErrorIsProblem(t *testing.T) {
	mux := runtime.NewServeMux(MuxOptions(nil)...)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/nothing", nil))
	if rec.Code != 404 {
		t.Fatalf("status %d", rec.Code)
	}
	decodeProblem(t, rec)
}

func TestTokens(t *testing.T) {
	tok, err := ParseTokens(strings.NewReader("# admin tokens\n\nfirst-token-0123456789\n  second-token-0123456789  \n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		tok  string
		want bool
	}{
		{"first-token-0123456789", true},
		{"second-token-0123456789", true},
		{"first-token-012345678", false},
		{"", false},
		{"# admin tokens", false},
	} {
		if got := tok.Valid(c.tok); got != c.want {
			t.Errorf("Valid(%q) = %v", c.tok, got)
		}
	}
	for _, bad := range []string{"", "# only a comment\n", "short\n", "has space inside token\n"} {
		if _, err := ParseTokens(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseTokens(%q) accepted", bad)
		}
	}
	var zero *Tokens
	if zero.Valid("anything-at-all-here") {
		t.Error("nil Tokens accepted a token")
	}
}

func TestEnsureTokenFile(t *testing.T) {
	path := t.TempDir() + "/sub/admin-token"
	tok, created, err := EnsureTokenFile(path, nil)
	if err != nil || !created {
		t.Fatalf("created=%v err=%v", created, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
	raw := strings.TrimSpace(readFile(t, path))
	if !tok.Valid(raw) {
		t.Error("created token not valid")
	}
	again, created, err := EnsureTokenFile(path, nil)
	if err != nil || created || !again.Valid(raw) {
		t.Fatalf("second call: created=%v err=%v", created, err)
	}
}

func TestGRPCAuthInterceptor(t *testing.T) {
	tok, _ := ParseTokens(strings.NewReader("the-admin-token-0123456789\n"))
	ic := tok.UnaryAuth()
	h := func(context.Context, any) (any, error) { return "ok", nil }
	for _, c := range []struct {
		md   metadata.MD
		code codes.Code
	}{
		{nil, codes.Unauthenticated},
		{metadata.Pairs("authorization", "Bearer wrong-token-0123456789"), codes.Unauthenticated},
		{metadata.Pairs("authorization", "Basic the-admin-token-0123456789"), codes.Unauthenticated},
		{metadata.Pairs("authorization", "Bearer the-admin-token-0123456789"), codes.OK},
		{metadata.Pairs("authorization", "bearer the-admin-token-0123456789"), codes.OK},
	} {
		ctx := metadata.NewIncomingContext(context.Background(), c.md)
		_, err := ic(ctx, nil, &grpc.UnaryServerInfo{FullMethod: "/veil.v1.KeyService/ListKeys"}, h)
		if status.Code(err) != c.code {
			t.Errorf("md %v: %v, want %v", c.md, status.Code(err), c.code)
		}
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestProblemOfIngestTooLarge: ingest's batch_too_large, TooLarge with a
// reason of its own, is a 413 problem whose detail is the status message,
// in process and after a gRPC hop alike.
func TestProblemOfIngestTooLarge(t *testing.T) {
	e := &problem.Error{Kind: problem.TooLarge, Reason: "batch_too_large", Message: "batch_too_large: 600 events, at most 500"}
	st := grpcproblem.Status("ingest.veil", e)
	for _, err := range []error{grpcproblem.Error("ingest.veil", e), st.Err()} {
		rec := serveError(t, context.Background(), err)
		p := decodeProblem(t, rec)
		if rec.Code != 413 || p.Detail != st.Message() || p.Type != problem.TooLarge.Type() {
			t.Fatalf("%d %+v", rec.Code, p)
		}
	}
}

func TestEnsureTokenFileRefusesWideMode(t *testing.T) {
	path := t.TempDir() + "/admin-token"
	if _, _, err := EnsureTokenFile(path, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := EnsureTokenFile(path, nil)
	if err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("mode 0644 accepted: %v", err)
	}
	if strings.Contains(err.Error(), strings.TrimSpace(readFile(t, path))) {
		t.Fatal("the error quotes the token")
	}
	if err := CheckTokenFileMode(path); err == nil {
		t.Error("CheckTokenFileMode: 0644 passed")
	}
	os.Chmod(path, 0o600)
	if err := CheckTokenFileMode(path); err != nil {
		t.Error(err)
	}
}

// TestGRPCErrorsCarryNoInternals: over real gRPC, an error that is not an
// *problem.Error (a raw database error) or a panic leaves as a bare Internal.
func TestGRPCErrorsCarryNoInternals(t *testing.T) {
	s := &Server{log: slog.New(slog.DiscardHandler)}
	info := &grpc.UnaryServerInfo{FullMethod: "/veil.v1.KeyService/ListKeys"}
	secret := `failed to connect to host=db.internal user=veil password=hunter2`
	for name, h := range map[string]grpc.UnaryHandler{
		"raw error": func(context.Context, any) (any, error) { return nil, errors.New(secret) },
		"wrapped": func(context.Context, any) (any, error) {
			return nil, &problem.Error{Kind: problem.Internal, Message: secret, Err: errors.New(secret)}
		},
		"panic": func(context.Context, any) (any, error) { panic(secret) },
	} {
		_, err := s.errorInterceptor(context.Background(), nil, info, h)
		st := status.Convert(err)
		if st.Code() != codes.Internal || strings.Contains(st.Message(), "hunter2") || strings.Contains(st.Message(), "db.internal") {
			t.Errorf("%s: %v %q", name, st.Code(), st.Message())
		}
	}
	// Client errors keep their kind and message.
	_, err := s.errorInterceptor(context.Background(), nil, info, func(context.Context, any) (any, error) {
		return nil, problem.Errorf(problem.Invalid, "bucket must be hour or day")
	})
	if st := status.Convert(err); st.Code() != codes.InvalidArgument || st.Message() != "bucket must be hour or day" {
		t.Errorf("invalid: %v", st)
	}
}
