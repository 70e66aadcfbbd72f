package ingest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/veil-telemetry/veil/internal/schema"
	"github.com/veil-telemetry/veil/internal/storage"
	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

// tokenServer serves app.launch with the given token policy (and cap).
func tokenServer(t *testing.T, w Writer, policy string, capEvents int) *Server {
	t.Helper()
	doc := `{"x-veil":{"name":"app.launch","version":1,"tokens":"` + policy + `"`
	if capEvents > 0 {
		doc += `,"token_batch_events":2`
	}
	doc += `},"type":"object","additionalProperties":false,"properties":{"os":{"enum":["ios","android"],"x-veil-role":"dimension"}}}`
	sc, err := schema.Compile([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Registry: &fakeRegistry{schemas: map[string]*schema.Schema{"app.launch/1": sc}}, Writer: w,
		Now: func() time.Time { return fixedNow }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func tokenReq(t *testing.T, n int) *veilv1.SubmitEventsRequest {
	req := &veilv1.SubmitEventsRequest{BatchId: "AAAAAAAAAAAAAAAAAAAAAA"}
	for range n {
		req.Events = append(req.Events, launch(t, map[string]any{"os": "ios"}))
	}
	return req
}

func TestTokenPolicies(t *testing.T) {
	verified := TokenCheck{Verified: true, Window: fixedNow.Truncate(24 * time.Hour), Hash: []byte("0123456789abcdef"), Challenge: "PrivateToken challenge=\"x\""}
	refused := TokenCheck{Reason: "tampered", Challenge: "PrivateToken challenge=\"x\""}
	var observed []string
	refused.Observe = func(r string) { observed = append(observed, r) }

	// required: no check in the context, or a failed one, is 401 and
	// nothing is submitted.
	w := &fakeWriter{}
	s := tokenServer(t, w, schema.TokensRequired, 0)
	for _, ctx := range []context.Context{context.Background(), WithTokenCheck(context.Background(), refused)} {
		_, err := s.SubmitEvents(ctx, tokenReq(t, 1))
		checkRequestError(t, err, codes.Unauthenticated, ErrorReasonTokenRefused, http.StatusUnauthorized)
	}
	if len(w.batches) != 0 || len(observed) != 1 || observed[0] != "tampered" {
		t.Fatalf("refused batches submitted %d, observed %v", len(w.batches), observed)
	}
	// A verified check claims its spend with the batch.
	if _, err := s.SubmitEvents(WithTokenCheck(context.Background(), verified), tokenReq(t, 1)); err != nil {
		t.Fatal(err)
	}
	if b := w.last(t); len(b.Claims) != 1 || b.Claims[0].Kind != storage.ClaimSpentToken || !strings.HasSuffix(string(b.Claims[0].Value), "0123456789abcdef") {
		t.Fatalf("claim %+v", b.Claims)
	}
	// The writer's verdict "spent" is a 401 too.
	s = tokenServer(t, &spentWriter{}, schema.TokensRequired, 0)
	_, err := s.SubmitEvents(WithTokenCheck(context.Background(), verified), tokenReq(t, 1))
	checkRequestError(t, err, codes.Unauthenticated, ErrorReasonTokenRefused, http.StatusUnauthorized)

	// optional: an untokened batch is stored in the unverified stream; a
	// tokened one is not marked.
	w = &fakeWriter{}
	s = tokenServer(t, w, schema.TokensOptional, 0)
	if _, err := s.SubmitEvents(context.Background(), tokenReq(t, 1)); err != nil {
		t.Fatal(err)
	}
	if b := w.last(t); len(b.Claims) != 0 || b.Records[0].Dimensions[UnverifiedDimension] != true {
		t.Fatalf("optional without token: %+v", b.Records[0].Dimensions)
	}
	if _, err := s.SubmitEvents(WithTokenCheck(context.Background(), verified), tokenReq(t, 1)); err != nil {
		t.Fatal(err)
	}
	if b := w.last(t); len(b.Claims) != 1 || b.Records[0].Dimensions[UnverifiedDimension] != nil {
		t.Fatalf("optional with token: %+v", b.Records[0].Dimensions)
	}
	// off: the token is ignored (not spent).
	w = &fakeWriter{}
	s = tokenServer(t, w, schema.TokensOff, 0)
	if _, err := s.SubmitEvents(WithTokenCheck(context.Background(), verified), tokenReq(t, 1)); err != nil || len(w.last(t).Claims) != 0 {
		t.Fatalf("off: %v", err)
	}
	// The per-batch cap bounds a tokened batch's events.
	s = tokenServer(t, &fakeWriter{}, schema.TokensRequired, 2)
	_, err = s.SubmitEvents(WithTokenCheck(context.Background(), verified), tokenReq(t, 3))
	checkRequestError(t, err, codes.InvalidArgument, ErrorReasonBatchTooLarge, http.StatusRequestEntityTooLarge)
}

type spentWriter struct{}

func (spentWriter) Submit(b *storage.Batch) error {
	go b.Done(storage.StatusTokenSpent, nil)
	return nil
}

// TestTokenRefusalOverREST: the inner mux answers a refusal 401 with the
// check's WWW-Authenticate.
func TestTokenRefusalOverREST(t *testing.T) {
	s := tokenServer(t, &fakeWriter{}, schema.TokensRequired, 0)
	mux := newInnerMux(t, s)
	c := TokenCheck{Reason: "missing", Challenge: `PrivateToken challenge="abc", token-key="def"`}
	req := httptest.NewRequest("POST", "/v1/events", strings.NewReader(`{"batch_id":"AAAAAAAAAAAAAAAAAAAAAA","events":[{"schema":"app.launch","version":1,"fields":{"os":"ios"}}]}`))
	req.Header.Set("Content-Type", "application/json")
	req = req.WithContext(WithTokenCheck(req.Context(), c))
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	if rec.Code != 401 || rec.Header().Get("WWW-Authenticate") != c.Challenge {
		t.Fatalf("%d %q %s", rec.Code, rec.Header().Get("WWW-Authenticate"), rec.Body)
	}
}
