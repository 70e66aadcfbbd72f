package ingest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"

	"github.com/veil-telemetry/veil/internal/storage"

	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

// nopWriter commits every batch at once, in Submit.
type nopWriter struct{}

func (nopWriter) Submit(b *storage.Batch) error {
	b.Done(storage.StatusCommitted, nil)
	return nil
}

// BenchmarkIngestPerEvent measures the CPU of ingest per typical 6-field
// event as veil serve runs it: the body read and JSON decode
// (JSONMarshaler behind Middleware), schema lookup, validation, the
// identifier detectors, coarsening and the split, for 50-event batches,
// with a writer that costs nothing. The figure to read is cpu-ns/event.
func BenchmarkIngestPerEvent(b *testing.B) {
	const n = 50
	s, err := New(Config{Registry: testRegistry(b), Writer: nopWriter{}})
	if err != nil {
		b.Fatal(err)
	}
	data := typicalBatch(n)
	m := &JSONMarshaler{}
	b.ReportAllocs()
	defer reportPerEvent(b, n)()
	for b.Loop() {
		ctx, req, err := decodeAsMiddleware(context.Background(), m, data)
		if err != nil {
			b.Fatal(err)
		}
		resp, err := s.SubmitEvents(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		if r := resp.Results[n-1]; r.Status != StatusAccepted {
			b.Fatalf("event answered %v", r)
		}
	}
}

// decodeAsMiddleware decodes data as the inner mux does behind Middleware.
func decodeAsMiddleware(ctx context.Context, m *JSONMarshaler, data []byte) (context.Context, *veilv1.SubmitEventsRequest, error) {
	d := &decoded{}
	ctx = context.WithValue(ctx, decodedKey{}, d)
	req := &veilv1.SubmitEventsRequest{}
	err := m.NewDecoder(decodedBody{ReadCloser: io.NopCloser(bytes.NewReader(data)), d: d}).Decode(req)
	return ctx, req, err
}

// BenchmarkIngestPerEventStructs is BenchmarkIngestPerEvent without
// Middleware: the marshaler builds a protobuf Struct per event and
// SubmitEvents reads it back, as for a gRPC call.
func BenchmarkIngestPerEventStructs(b *testing.B) {
	const n = 50
	s, err := New(Config{Registry: testRegistry(b), Writer: nopWriter{}})
	if err != nil {
		b.Fatal(err)
	}
	data := typicalBatch(n)
	m := &JSONMarshaler{}
	ctx := context.Background()
	b.ReportAllocs()
	defer reportPerEvent(b, n)()
	for b.Loop() {
		var req veilv1.SubmitEventsRequest
		if err := m.Unmarshal(data, &req); err != nil {
			b.Fatal(err)
		}
		resp, err := s.SubmitEvents(ctx, &req)
		if err != nil {
			b.Fatal(err)
		}
		if r := resp.Results[n-1]; r.Status != StatusAccepted {
			b.Fatalf("event answered %v", r)
		}
	}
}

// BenchmarkIngestMuxPerEvent is BenchmarkIngestPerEvent through the whole
// inner grpc-gateway mux (routing, response encoding), as the gateway
// dispatches a decapsulated request.
func BenchmarkIngestMuxPerEvent(b *testing.B) {
	const n = 50
	s, err := New(Config{Registry: testRegistry(b), Writer: nopWriter{}})
	if err != nil {
		b.Fatal(err)
	}
	mux := runtime.NewServeMux(MuxOptions(nil, 1<<20)...)
	if err := veilv1.RegisterIngestServiceHandlerServer(context.Background(), mux, s); err != nil {
		b.Fatal(err)
	}
	data := typicalBatch(n)
	b.ReportAllocs()
	defer reportPerEvent(b, n)()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/v1/events", bytes.NewReader(data))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

// BenchmarkIngestPerEventProtoJSON is BenchmarkIngestPerEvent with
// grpc-gateway's default decoding (protojson), for comparison.
func BenchmarkIngestPerEventProtoJSON(b *testing.B) {
	const n = 50
	s, err := New(Config{Registry: testRegistry(b), Writer: nopWriter{}})
	if err != nil {
		b.Fatal(err)
	}
	data := typicalBatch(n)
	ctx := context.Background()
	b.ReportAllocs()
	defer reportPerEvent(b, n)()
	for b.Loop() {
		var req veilv1.SubmitEventsRequest
		if err := unmarshalProtoJSON(data, &req); err != nil {
			b.Fatal(err)
		}
		if _, err := s.SubmitEvents(ctx, &req); err != nil {
			b.Fatal(err)
		}
	}
}

// reportPerEvent, deferred before the loop, reports wall ns/event and the
// process's CPU ns/event (GC included) for batches of n events.
func reportPerEvent(b *testing.B, n int) func() {
	cpu0, ok := processCPU()
	return func() {
		events := float64(b.N * n)
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/events, "ns/event")
		if cpu1, ok1 := processCPU(); ok && ok1 {
			b.ReportMetric(float64((cpu1-cpu0)/time.Nanosecond)/events, "cpu-ns/event")
		}
	}
}
