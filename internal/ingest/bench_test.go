package ingest

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

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
// event as veil serve runs it: the inner handler's body read, the one JSON
// decode (decodeBatch), schema lookup, the compiled checker with the
// identifier detectors and the split, coarsening and the response, for
// 50-event batches, with a writer that costs nothing. The figure to read
// is cpu-ns/event.
func BenchmarkIngestPerEvent(b *testing.B) {
	const n = 50
	s, err := New(Config{Registry: testRegistry(b), Writer: nopWriter{}})
	if err != nil {
		b.Fatal(err)
	}
	h, err := Handler(s, nil, 1<<20)
	if err != nil {
		b.Fatal(err)
	}
	data := typicalBatch(n)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	defer reportPerEvent(b, n)()
	for b.Loop() {
		r, err := http.NewRequestWithContext(context.Background(), http.MethodPost, EventsPath, bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		r.ContentLength = int64(len(data))
		clear(w.h)
		w.code = 0
		h.ServeHTTP(w, r)
		if w.code != http.StatusOK {
			b.Fatalf("status %d", w.code)
		}
	}
}

// discardWriter is an http.ResponseWriter that keeps only the status.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkIngestPerEventGRPC is BenchmarkIngestPerEvent for a gRPC
// call: the request arrives as protobuf, its fields as Structs.
func BenchmarkIngestPerEventGRPC(b *testing.B) {
	const n = 50
	s, err := New(Config{Registry: testRegistry(b), Writer: nopWriter{}})
	if err != nil {
		b.Fatal(err)
	}
	var br batchRequest
	if err := decodeBatch(string(typicalBatch(n)), &br); err != nil {
		b.Fatal(err)
	}
	req := &veilv1.SubmitEventsRequest{BatchId: br.batchID}
	for range n {
		req.Events = append(req.Events, event(b, "app.launch", 1, map[string]any{
			"os": "android", "app_version": "12.4", "locale": "de-DE", "cold_start_ms": 420.0, "warm": false, "screens": 3.0}))
	}
	ctx := context.Background()
	b.ReportAllocs()
	defer reportPerEvent(b, n)()
	for b.Loop() {
		resp, err := s.SubmitEvents(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		if r := resp.Results[n-1]; r.Status != StatusAccepted {
			b.Fatalf("event answered %v", r)
		}
	}
}

// BenchmarkIngestHTTP is BenchmarkIngestPerEvent through httptest's
// request and recorder, as the handler tests call it.
func BenchmarkIngestHTTP(b *testing.B) {
	const n = 50
	s, err := New(Config{Registry: testRegistry(b), Writer: nopWriter{}})
	if err != nil {
		b.Fatal(err)
	}
	h, _ := Handler(s, nil, 1<<20)
	data := typicalBatch(n)
	b.ReportAllocs()
	defer reportPerEvent(b, n)()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, EventsPath, bytes.NewReader(data))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
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
