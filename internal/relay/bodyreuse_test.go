package relay

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"golang.org/x/time/rate"
)

// TestPooledBodyNotReusedWhileSent checks that no request body buffer goes
// back to the pool while the transport may still read it (the relay
// forwards a copy of the pooled buffer's bytes). A gateway
// that answers before it has read the body (an early 413, say) makes
// http.Client.Do return while the transport is still writing the body; if
// the buffer were cleared and handed to the next request then, the race
// detector sees it, and the gateway could receive another client's bytes
// spliced into this request.
func TestPooledBodyNotReusedWhileSent(t *testing.T) {
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", problemMediaType)
		w.WriteHeader(http.StatusRequestEntityTooLarge)
	}))
	t.Cleanup(gw.Close)
	rl, err := New(Config{GatewayURL: gw.URL + "/gateway", PerClientRate: rate.Inf, MaxBodyBytes: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rl)
	t.Cleanup(srv.Close)

	body := bytes.Repeat([]byte{0xa5}, 2<<20)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 8 {
				resp, err := srv.Client().Post(srv.URL+"/", requestMediaType, bytes.NewReader(body))
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusRequestEntityTooLarge {
					t.Errorf("status %d, want the gateway's 413", resp.StatusCode)
				}
			}
		})
	}
	wg.Wait()
}
