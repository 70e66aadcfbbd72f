package ingest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/veil-telemetry/veil/internal/schema"
	"github.com/veil-telemetry/veil/internal/storage"

	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

// sqlError is an error with a SQLSTATE, as pgconn.PgError has.
type sqlError struct{ code string }

func (e *sqlError) Error() string {
	return "ERROR: value \"secret@example.com\" (SQLSTATE " + e.code + ")"
}
func (e *sqlError) SQLState() string { return e.code }

// failingWriter fails every batch with err, wrapped as storage wraps it.
type failingWriter struct{ err error }

func (w failingWriter) Submit(b *storage.Batch) error {
	go b.Done(0, fmt.Errorf("storage: write: %w", w.err))
	return nil
}

// TestDatabaseContentErrorIsFinal: a batch the database refuses for what it
// holds (SQLSTATE class 22) is answered 400 batch_invalid with no retry
// advice, so the SDK does not resend a batch that cannot succeed; any
// other database failure stays a retryable 503.
func TestDatabaseContentErrorIsFinal(t *testing.T) {
	events := []*veilv1.Event{launch(t, map[string]any{"os": "ios"})}
	for _, c := range []struct {
		code   string
		grpc   codes.Code
		reason string
		http   int
	}{
		{"22P05", codes.InvalidArgument, ErrorReasonBatchInvalid, 400}, // untranslatable character (NUL)
		{"22021", codes.InvalidArgument, ErrorReasonBatchInvalid, 400}, // character not in repertoire
		{"40001", codes.Unavailable, ErrorReasonUnavailable, 503},      // serialization failure
		{"XX000", codes.Unavailable, ErrorReasonUnavailable, 503},      // internal error
	} {
		t.Run(c.code, func(t *testing.T) {
			s := newTestServer(t, failingWriter{&sqlError{c.code}}, nil, nil)
			resp, err := s.SubmitEvents(context.Background(), &veilv1.SubmitEventsRequest{BatchId: testBatchID, Events: events})
			if resp != nil {
				t.Errorf("answered %v with an error", resp)
			}
			checkRequestError(t, err, c.grpc, c.reason, c.http)
			retry := false
			for _, d := range status.Convert(err).Details() {
				_, ok := d.(*errdetails.RetryInfo)
				retry = retry || ok
			}
			if retry != (c.http == 503) {
				t.Errorf("RetryInfo present: %v", retry)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("the database's message leaked: %v", err)
			}
		})
	}
}

// recordingWriter keeps what it is given and commits it.
type recordingWriter struct {
	mu      sync.Mutex
	batches []*storage.Batch
}

func (w *recordingWriter) Submit(b *storage.Batch) error {
	w.mu.Lock()
	w.batches = append(w.batches, b)
	w.mu.Unlock()
	go b.Done(storage.StatusCommitted, nil)
	return nil
}

// TestControlCharactersNeverReachTheWriter: values with NUL or other
// control characters are rejected per event, and the writer sees only the
// clean event.
func TestControlCharactersNeverReachTheWriter(t *testing.T) {
	w := &recordingWriter{}
	s := newTestServer(t, w, nil, nil)
	events := []*veilv1.Event{
		launch(t, map[string]any{"os": "ios", "note": "bad\x00value"}),
		launch(t, map[string]any{"os": "ios", "note": "tab\there"}),
		launch(t, map[string]any{"os": "ios", "note": "esc\x1b"}),
		launch(t, map[string]any{"os": "android", "note": "fine"}),
	}
	resp, err := s.SubmitEvents(context.Background(), &veilv1.SubmitEventsRequest{BatchId: testBatchID, Events: events})
	if err != nil {
		t.Fatal(err)
	}
	checkResults(t, resp, []want{
		{StatusRejected, schema.ReasonFieldControlCharacter, "note"},
		{StatusRejected, schema.ReasonFieldControlCharacter, "note"},
		{StatusRejected, schema.ReasonFieldControlCharacter, "note"},
		{StatusAccepted, "", ""},
	})
	if len(w.batches) != 1 {
		t.Fatalf("%d batches submitted", len(w.batches))
	}
	recs := w.batches[0].Records
	if len(recs) != 1 || recs[0].Dimensions["note"] != "fine" {
		t.Errorf("records %+v, want only the clean event", recs)
	}
}

// cancelingRegistry cancels the request's context when asked for a schema,
// as a client hanging up in the middle of a batch would.
type cancelingRegistry struct {
	*fakeRegistry
	cancel context.CancelFunc
}

func (r cancelingRegistry) Get(ctx context.Context, name string, version int) (*schema.Schema, error) {
	r.cancel()
	return r.fakeRegistry.Get(ctx, name, version)
}

// TestCanceledRequestStopsWork: once the request's context is done, no
// further event is checked and nothing is handed to the writer.
func TestCanceledRequestStopsWork(t *testing.T) {
	t.Run("before the first event", func(t *testing.T) {
		reg := testRegistry(t)
		w := &recordingWriter{}
		s, err := New(Config{Registry: reg, Writer: w})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		resp, err := s.SubmitEvents(ctx, &veilv1.SubmitEventsRequest{BatchId: testBatchID,
			Events: []*veilv1.Event{launch(t, map[string]any{"os": "ios"})}})
		if resp != nil || status.Code(err) != codes.Canceled {
			t.Errorf("got %v, %v", resp, err)
		}
		if reg.calls != 0 || len(w.batches) != 0 {
			t.Errorf("%d registry calls, %d batches after cancellation", reg.calls, len(w.batches))
		}
	})
	t.Run("during the batch", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		reg := cancelingRegistry{testRegistry(t), cancel}
		w := &recordingWriter{}
		s, err := New(Config{Registry: reg, Writer: w})
		if err != nil {
			t.Fatal(err)
		}
		events := make([]*veilv1.Event, 50)
		for i := range events {
			events[i] = launch(t, map[string]any{"os": "ios", "note": strings.Repeat("a", 100)})
		}
		resp, err := s.SubmitEvents(ctx, &veilv1.SubmitEventsRequest{BatchId: testBatchID, Events: events})
		if resp != nil || status.Code(err) != codes.Canceled {
			t.Errorf("got %v, %v", resp, err)
		}
		if len(w.batches) != 0 {
			t.Errorf("%d batches handed to the writer after cancellation", len(w.batches))
		}
	})
}
