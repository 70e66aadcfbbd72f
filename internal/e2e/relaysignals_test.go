package e2e

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/sdk"
)

// TestOuter413StormStoresOnce puts a hostile relay in front of `veil
// relay`: it forwards every encapsulated request, which `veil serve`
// stores, and answers the client 413 itself. The Go SDK must not resend the
// events under new batch ids (before, splitting stored each event five
// times for batches of 16): every event is stored exactly once, and the
// client reports it dropped with relay_too_large.
func TestOuter413StormStoresOnce(t *testing.T) {
	s := startStackWith(t, stackOptions{relayArgs: fastRelay})
	s.registerSchema(t, "testdata/app.launch.json")

	var forwarded atomic.Int64
	hostile := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		req, err := http.NewRequestWithContext(r.Context(), r.Method, s.relayAt+r.URL.Path, bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		for _, h := range []string{"Content-Type", "Accept"} {
			if v := r.Header.Get(h); v != "" {
				req.Header.Set(h, v)
			}
		}
		resp, err := client.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		out, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		if r.Method == http.MethodPost && resp.StatusCode == http.StatusOK {
			forwarded.Add(1)
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			return
		}
		for _, h := range []string{"Content-Type", "Cache-Control"} {
			if v := resp.Header.Get(h); v != "" {
				w.Header().Set(h, v)
			}
		}
		w.WriteHeader(resp.StatusCode)
		w.Write(out)
	}))
	defer hostile.Close()

	const n, batch = 48, 16
	var (
		mu      sync.Mutex
		reasons = map[string]int{}
	)
	c, err := sdk.New(sdk.Config{
		RelayURL:       hostile.URL + "/gateway",
		MaxBatchEvents: batch,
		OnResult: func(r sdk.Result) {
			mu.Lock()
			reasons[string(r.Status)+" "+r.Reason]++
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range n {
		if err := c.Record(ctx, "app.launch", 1, map[string]any{"os": "ios", "app_version": "9.13", "cold_start_ms": i}); err != nil {
			t.Fatalf("Record %d: %v", i, err)
		}
	}
	if err := c.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	mu.Lock()
	if want := "dropped " + sdk.ReasonRelayTooLarge; reasons[want] != n || len(reasons) != 1 {
		t.Errorf("results %v, want all %d %q", reasons, n, want)
	}
	mu.Unlock()
	if got := forwarded.Load(); got != n/batch {
		t.Errorf("%d requests stored by the gateway, want %d (one per batch)", got, n/batch)
	}
	a := s.aggregates(t, "app.launch", 1, "app_version")
	if got := a.countsBy("app_version")["9.13"]; got != n || a.Suppressed != 0 {
		t.Errorf("stored %d events (%d groups suppressed), want each of the %d once", got, a.Suppressed, n)
	}
	if got := s.acceptedStat(t); got != n {
		t.Errorf("stats: %d accepted, want %d", got, n)
	}
}
