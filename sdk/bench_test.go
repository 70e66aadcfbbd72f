package sdk_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/bhttp"
	"github.com/veil-telemetry/veil/ohttp"
	"github.com/veil-telemetry/veil/sdk"
)

// stubGateway is an http.RoundTripper that plays relay and gateway without
// a network: it serves the key document and answers every event accepted.
// It measures the CPU time it spends, so the benchmark can report the
// client's share alone.
type stubGateway struct {
	key *ohttp.PrivateKey
	doc []byte

	mu      sync.Mutex
	spent   time.Duration
	answers map[int][]byte // inner response by event count
	sizes   map[int]int    // requests by event count

	// Reused between requests, so that the stub's garbage, whose
	// collection runs on other threads and would be charged to the
	// client, stays small.
	body    bytes.Buffer
	zr      *gzip.Reader
	content bytes.Buffer
}

func newStubGateway(tb testing.TB) *stubGateway {
	k, err := ohttp.GenerateKey(nil, 1, ohttp.KEMX25519, []ohttp.SymmetricSuite{ohttp.DefaultSuite})
	if err != nil {
		tb.Fatal(err)
	}
	doc, err := ohttp.MarshalKeyConfigs([]*ohttp.KeyConfig{&k.Config})
	if err != nil {
		tb.Fatal(err)
	}
	return &stubGateway{key: k, doc: doc, answers: map[int][]byte{}, sizes: map[int]int{}}
}

func (s *stubGateway) RoundTrip(r *http.Request) (resp *http.Response, err error) {
	d := threadCPU(func() { resp, err = s.answer(r) })
	s.mu.Lock()
	s.spent += d
	s.mu.Unlock()
	return resp, err
}

func (s *stubGateway) answer(r *http.Request) (*http.Response, error) {
	resp := &http.Response{StatusCode: 200, Header: http.Header{}, Request: r}
	if r.Method == http.MethodGet {
		resp.Header.Set("Content-Type", ohttp.KeysMediaType)
		resp.Body = io.NopCloser(bytes.NewReader(s.doc))
		return resp, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body.Reset()
	s.body.ReadFrom(r.Body)
	r.Body.Close()
	er, err := ohttp.ParseEncapsulatedRequest(s.body.Bytes())
	if err != nil {
		return nil, err
	}
	msg, sctx, err := s.key.DecapsulateRequest(er)
	if err != nil {
		return nil, err
	}
	breq, err := bhttp.UnmarshalRequest(msg)
	if err != nil {
		return nil, err
	}
	content := breq.Content
	for _, f := range breq.Header {
		if f.Name == "content-encoding" {
			if s.zr == nil {
				s.zr, err = gzip.NewReader(bytes.NewReader(content))
			} else {
				err = s.zr.Reset(bytes.NewReader(content))
			}
			if err != nil {
				return nil, err
			}
			s.content.Reset()
			if _, err := s.content.ReadFrom(s.zr); err != nil {
				return nil, err
			}
			content = s.content.Bytes()
		}
	}
	n := bytes.Count(content, []byte(`{"schema":`))
	s.sizes[n]++
	inner := s.answers[n]
	if inner == nil {
		inner, _ = (&bhttp.Response{
			StatusCode: 200,
			Header:     []bhttp.Field{{Name: "content-type", Value: "application/json"}},
			Content:    resultsJSON(n, func(int) string { return `"status":"accepted"` }),
		}).Marshal()
		s.answers[n] = inner
	}
	out, err := sctx.EncapsulateResponse(nil, inner)
	if err != nil {
		return nil, err
	}
	resp.Header.Set("Content-Type", ohttp.ResponseMediaType)
	resp.Body = io.NopCloser(bytes.NewReader(out))
	return resp, nil
}

// BenchmarkClientPerEvent measures the client's CPU per event: Record,
// batching, JSON and Binary HTTP encoding, gzip, padding and HPKE
// encapsulation, amortised over batches of 100 events. ns/event is the
// process's CPU time less the stub gateway's own time (decapsulation,
// answering), per event.
func BenchmarkClientPerEvent(b *testing.B) {
	stub := newStubGateway(b)
	var accepted int
	var mu sync.Mutex
	c, err := sdk.New(sdk.Config{
		RelayURL:       "https://relay.invalid/gateway",
		HTTPClient:     &http.Client{Transport: stub},
		MaxBatchEvents: 100,
		MaxQueueEvents: 1000,
		FlushInterval:  time.Hour,
		OnResult: func(r sdk.Result) {
			if r.Status == sdk.StatusAccepted {
				mu.Lock()
				accepted++
				mu.Unlock()
			}
		},
		// The stub answers in process: no relay could substitute keys.
		InsecureNoKeyPin: true,
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	fields := map[string]any{"os": "ios", "app_version": "4.2", "cold_start_ms": 420}
	// Warm up: the key fetch and first buffers.
	c.Record(ctx, "app.launch", 1, fields)
	c.Flush(ctx)
	stub.mu.Lock()
	stub.spent = 0
	clear(stub.sizes)
	stub.mu.Unlock()

	b.ReportAllocs()
	b.ResetTimer()
	cpu0, haveCPU := processCPU()
	for i := range b.N {
		if err := c.Record(ctx, "app.launch", 1, fields); err != nil {
			b.Fatal(err)
		}
		if i%100 == 99 {
			if err := c.Flush(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := c.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	cpu1, _ := processCPU()
	stub.mu.Lock()
	spent := stub.spent
	// Every request but a last partial one must carry a full batch, or
	// the figure would not be the one at 100 events per request.
	for n, reqs := range stub.sizes {
		if n != 100 && (n != b.N%100 || reqs != 1) {
			b.Errorf("%d requests of %d events", reqs, n)
		}
	}
	stub.mu.Unlock()
	// The client's share: the process's CPU time (wall time where that is
	// unavailable) less the stub gateway's.
	total := b.Elapsed()
	if haveCPU {
		total = cpu1 - cpu0
	}
	b.ReportMetric(float64(total-spent)/float64(b.N), "ns/event")
	b.ReportMetric(float64(spent)/float64(b.N), "stub-ns/event")
	c.Close(ctx)
	if accepted != b.N+1 {
		b.Fatalf("accepted %d of %d", accepted, b.N+1)
	}
}

// BenchmarkEncapsulateRequest measures the HPKE part of the per-event cost
// alone: ohttp.EncapsulateRequest (X25519, HKDF-SHA256, AES-128-GCM) of a
// 1 KiB message, the padded size of a gzipped 100-event batch. It reports
// CPU per request and its share per event at 100 events per request.
func BenchmarkEncapsulateRequest(b *testing.B) {
	stub := newStubGateway(b)
	msg := make([]byte, 1<<10)
	b.ReportAllocs()
	cpu0, haveCPU := processCPU()
	for b.Loop() {
		if _, _, err := ohttp.EncapsulateRequest(nil, &stub.key.Config, ohttp.DefaultSuite, msg); err != nil {
			b.Fatal(err)
		}
	}
	cpu1, _ := processCPU()
	total := b.Elapsed()
	if haveCPU {
		total = cpu1 - cpu0
	}
	b.ReportMetric(float64(total)/float64(b.N), "cpu-ns/request")
	b.ReportMetric(float64(total)/float64(b.N)/100, "ns/event")
}
