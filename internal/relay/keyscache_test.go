package relay

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestKeysFetchNoConvoy checks that requests waiting for the keys do not
// each wait out their own fetch from a failing gateway: one fetch fails,
// and the requests that queued behind it are answered without another.
func TestKeysFetchNoConvoy(t *testing.T) {
	var hits atomic.Int32
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		time.Sleep(300 * time.Millisecond)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(gw.Close)
	rl, err := New(Config{GatewayURL: gw.URL + "/gateway"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rl)
	t.Cleanup(srv.Close)

	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			resp, err := srv.Client().Get(srv.URL + "/ohttp-keys")
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadGateway {
				t.Errorf("status %d, want 502", resp.StatusCode)
			}
		})
	}
	wg.Wait()
	if n := hits.Load(); n != 1 {
		t.Errorf("gateway asked %d times, want 1", n)
	}
}

// TestKeysStaleWhileFetching checks that a usable stale document is served
// at once while another request is fetching the new one.
func TestKeysStaleWhileFetching(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	release := make(chan struct{})
	var hits atomic.Int32
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) > 1 {
			<-release
		}
		w.Header().Set("Content-Type", keysMediaType)
		w.Header().Set("Cache-Control", "max-age=60")
		w.Write([]byte{0, 1, 7})
	}))
	t.Cleanup(gw.Close)
	rl, err := New(Config{GatewayURL: gw.URL + "/gateway", Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rl)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: lets the fetch end
	get := func() *http.Response {
		t.Helper()
		c := srv.Client()
		c.Timeout = 5 * time.Second
		resp, err := c.Get(srv.URL + "/ohttp-keys")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := get(); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()

	go func() {
		resp, err := http.Get(srv.URL + "/ohttp-keys")
		if err == nil {
			resp.Body.Close()
		}
	}()
	for hits.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	resp := get()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "public, max-age=0" {
		t.Errorf("while fetching: %d %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("stale answer took %v: it waited for the fetch", d)
	}
}
