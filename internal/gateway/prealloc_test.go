package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/veil-telemetry/veil/internal/gateway"
	"github.com/veil-telemetry/veil/ohttp"
)

// TestDeclaredLengthNotPreallocated checks that the gateway does not size
// its request buffer from the client's Content-Length before the bytes
// arrive: a claimed 8 MiB with a few bytes sent must not cost 8 MiB, or
// idle connections could pin MaxRequestBytes each.
func TestDeclaredLengthNotPreallocated(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.MaxRequestBytes = 8 << 20 })
	serve := func() {
		req := httptest.NewRequest("POST", "/gateway", strings.NewReader("tiny"))
		req.Header.Set("Content-Type", ohttp.RequestMediaType)
		req.ContentLength = 8 << 20 // claimed, never sent
		rec := httptest.NewRecorder()
		e.gw.ServeHTTP(rec, req)
		if rec.Code != http.StatusBadRequest {
			t.Fatalf("status %d, want 400", rec.Code)
		}
	}
	serve() // warm the pools
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 4 {
		serve()
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 4<<20 {
		t.Errorf("4 requests allocated %d bytes for a claimed length never sent", got)
	}
}
