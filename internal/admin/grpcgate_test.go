package admin

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

// countingBody records how many request-body bytes the handler read.
type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// serveCounting serves the admin handler over h2c, counting the body bytes
// each request's handler read; done receives a request's count once its
// handler has returned.
func serveCounting(t *testing.T, h *harness) (addr string, done <-chan int64) {
	t.Helper()
	inner := h.srv.Handler()
	ch := make(chan int64, 16)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	hs := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var n atomic.Int64
			r.Body = countingBody{r.Body, &n}
			inner.ServeHTTP(w, r)
			ch <- n.Load()
		}),
		Protocols: &protos, HTTP2: h.srv.HTTP2Config(), ReadHeaderTimeout: 5 * time.Second,
	}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return ln.Addr().String(), ch
}

// bigDocument is a Struct of about size bytes on the wire.
func bigDocument(t *testing.T, size int) *structpb.Struct {
	t.Helper()
	doc, err := structpb.NewStruct(map[string]any{"description": strings.Repeat("x", size)})
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestGRPCTokenCheckedBeforeBody: an unauthenticated call with a large
// message is refused with Unauthenticated (and the usual details) before
// anything reads its body; an authenticated call still works, and one over
// the message limit is refused.
func TestGRPCTokenCheckedBeforeBody(t *testing.T) {
	h := newHarness(t, nil)
	addr, done := serveCounting(t, h)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	schemas := veilv1.NewSchemaServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	for _, c := range []struct {
		name string
		ctx  context.Context
	}{
		{"no token", ctx},
		{"wrong token", metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer wrong-token-0123456789abcdef")},
	} {
		_, err := schemas.RegisterSchema(c.ctx, &veilv1.RegisterSchemaRequest{Document: bigDocument(t, 1<<20)})
		st := status.Convert(err)
		if st.Code() != codes.Unauthenticated || st.Message() != errUnauthenticated.Message {
			t.Fatalf("%s: %v", c.name, err)
		}
		var info *errdetails.ErrorInfo
		for _, d := range st.Details() {
			if i, ok := d.(*errdetails.ErrorInfo); ok {
				info = i
			}
		}
		if info == nil || info.Domain != errorDomain {
			t.Fatalf("%s: details %v", c.name, st.Details())
		}
		if n := <-done; n != 0 {
			t.Fatalf("%s: the handler read %d body bytes before refusing", c.name, n)
		}
	}

	if n := unauthenticatedCount(t, h); n != 2 {
		t.Fatalf("refused calls counted %v times, want 2", n)
	}

	actx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+testToken)
	doc, err := structpb.NewStruct(exampleSchema(t))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := schemas.RegisterSchema(actx, &veilv1.RegisterSchemaRequest{Document: doc})
	if err != nil || !resp.Created {
		t.Fatalf("authenticated register: %v %v", resp, err)
	}
	if n := <-done; n == 0 {
		t.Fatal("authenticated call: no body read")
	}
	_, err = schemas.RegisterSchema(actx, &veilv1.RegisterSchemaRequest{Document: bigDocument(t, maxGRPCMessage)})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("message over %d bytes: %v", maxGRPCMessage, err)
	}
	<-done
}

func TestGRPCPercentEncode(t *testing.T) {
	for in, want := range map[string]string{
		"a valid bearer token is required": "a valid bearer token is required",
		"100% é\n":                         "100%25 %C3%A9%0A",
	} {
		if got := grpcPercentEncode(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

// unauthenticatedCount is veil_admin_requests_total of unauthenticated
// gRPC RegisterSchema calls.
func unauthenticatedCount(t *testing.T, h *harness) float64 {
	t.Helper()
	mfs, err := h.srv.cfg.Gatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"transport": "grpc", "method": "/veil.v1.SchemaService/RegisterSchema", "code": "Unauthenticated"}
	for _, mf := range mfs {
		if mf.GetName() != "veil_admin_requests_total" {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if want[l.GetName()] != l.GetValue() {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}
