package ingest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

// mixedBatch has accepted, invalid, identifying, unknown-schema, nested,
// null and empty events.
const mixedBatch = `{"batch_id":"` + testBatchID + `","events":[
	{"schema":"app.launch","version":1,"fields":{"os":"ios","app_version":"12.4","locale":"de-DE","cold_start_ms":420,"warm":true,"screens":3}},
	{"schema":"app.launch","version":1,"fields":{"os":"ios","note":"mail jane.roe@example.org"}},
	{"schema":"app.launch","version":1,"fields":{"os":"ios","cold_start_ms":null}},
	{"schema":"app.launch","version":1,"fields":{"os":"ios","cold_start_ms":1.5}},
	{"schema":"app.launch","version":1,"fields":{"os":"ios","extra":{"a":[1,"x",null]}}},
	{"schema":"app.launch","version":1,"fields":{}},
	{"schema":"app.launch","version":1},
	{"schema":"app.crash","version":2,"fields":{"kind":"oom","count":2}},
	{"schema":"app.gone","version":3,"fields":{"os":"ios"}},
	{"schema":"app.launch","version":1,"fields":{"os":"android","screens":-0}}]}`

// TestDecodedMatchesStructs checks that SubmitEvents answers and stores
// the same with the decoded fields (behind Middleware) as with the Structs.
func TestDecodedMatchesStructs(t *testing.T) {
	now := func() time.Time { return time.Date(2026, 3, 14, 13, 5, 0, 0, time.UTC) }
	run := func(viaMiddleware bool, maxBytes int) (string, string) {
		w := &fakeWriter{}
		s, err := New(Config{Registry: testRegistry(t), Writer: w, Now: now, MaxBytes: maxBytes})
		if err != nil {
			t.Fatal(err)
		}
		m := &JSONMarshaler{}
		ctx := context.Background()
		var req *veilv1.SubmitEventsRequest
		if viaMiddleware {
			var err error
			ctx, req, err = decodeAsMiddleware(ctx, m, []byte(mixedBatch))
			if err != nil {
				t.Fatal(err)
			}
			if d := decodedFor(ctx, req); d == nil {
				t.Fatal("the marshaler did not fill the decoded fields")
			}
			for i, ev := range req.GetEvents() {
				if ev.GetFields() != nil {
					t.Fatalf("event %d: Fields built although decoded", i)
				}
			}
		} else {
			req = &veilv1.SubmitEventsRequest{}
			if err := m.Unmarshal([]byte(mixedBatch), req); err != nil {
				t.Fatal(err)
			}
		}
		resp, err := s.SubmitEvents(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		b := w.last(t)
		return fmt.Sprint(resp.GetResults()), fmt.Sprint(b.Records, b.Outcomes)
	}
	for _, maxBytes := range []int{0, 1 << 20} {
		wantResp, wantBatch := run(false, maxBytes)
		gotResp, gotBatch := run(true, maxBytes)
		if gotResp != wantResp {
			t.Errorf("maxBytes %d: results\n got %s\nwant %s", maxBytes, gotResp, wantResp)
		}
		if gotBatch != wantBatch {
			t.Errorf("maxBytes %d: batch\n got %s\nwant %s", maxBytes, gotBatch, wantBatch)
		}
		if !strings.Contains(wantResp, "identifier_email") || !strings.Contains(wantBatch, "app.crash") {
			t.Fatalf("the batch did not exercise what it should: %s %s", wantResp, wantBatch)
		}
	}
}

// TestDecodedOnlyForItsMessage checks that decoded fields are used only for
// the message they were decoded into, and that inputs the fast path
// declines fall back to protojson with Structs.
func TestDecodedOnlyForItsMessage(t *testing.T) {
	m := &JSONMarshaler{}
	ctx, req, err := decodeAsMiddleware(context.Background(), m, typicalBatch(2))
	if err != nil {
		t.Fatal(err)
	}
	if decodedFor(ctx, req) == nil {
		t.Fatal("decoded fields missing for their message")
	}
	if decodedFor(ctx, &veilv1.SubmitEventsRequest{}) != nil {
		t.Error("decoded fields offered for another message")
	}
	// camelCase names make the fast path decline: protojson builds Structs.
	ctx, req, err = decodeAsMiddleware(context.Background(), m,
		[]byte(`{"batchId":"`+testBatchID+`","events":[{"schema":"app.launch","version":1,"fields":{"os":"ios"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if decodedFor(ctx, req) != nil || req.GetEvents()[0].GetFields() == nil {
		t.Error("declined input: want protojson's Structs and no decoded fields")
	}
	// Too deep for the fast path: refused or taken by protojson, never
	// half-decoded.
	deep := `{"events":[{"fields":{"a":` + strings.Repeat(`[`, maxDepth+2) + strings.Repeat(`]`, maxDepth+2) + `}}]}`
	ctx, req, err = decodeAsMiddleware(context.Background(), m, []byte(deep))
	if err == nil && (decodedFor(ctx, req) != nil || req.GetEvents()[0].GetFields() == nil) {
		t.Error("deep input decoded without Structs")
	}
}
