package relay

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"golang.org/x/time/rate"
)

// TestMaxInFlight checks that beyond MaxInFlight forwarded requests the
// relay answers 503 with Retry-After and the CORS header at once, without
// reading the body, and serves again once a slot frees.
func TestMaxInFlight(t *testing.T) {
	arrived := make(chan struct{}, 4)
	release := make(chan struct{})
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		arrived <- struct{}{}
		<-release
		w.Header().Set("Content-Type", responseMediaType)
		w.Write([]byte("ok"))
	}))
	t.Cleanup(gw.Close)
	rl, err := New(Config{GatewayURL: gw.URL + "/gateway", PerClientRate: rate.Inf, MaxInFlight: 1})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rl)
	t.Cleanup(srv.Close)

	first := make(chan *http.Response, 1)
	go func() {
		resp, err := srv.Client().Post(srv.URL+"/", requestMediaType, bytes.NewReader([]byte("one")))
		if err != nil {
			t.Error(err)
		}
		first <- resp
	}()
	<-arrived

	// A body that never ends: the answer must not wait for it.
	pr, pw := io.Pipe()
	defer pw.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/gateway", pr)
	req.Header.Set("Content-Type", requestMediaType)
	req.Header.Set("Origin", "https://app.example")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("full: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Error("503 without Access-Control-Allow-Origin")
	}
	if !resp.Close {
		t.Error("an unsized body refused under overload should close the connection")
	}

	close(release)
	if r := <-first; r == nil || r.StatusCode != http.StatusOK {
		t.Fatalf("first request: %v", r)
	} else {
		r.Body.Close()
	}
	resp, err = srv.Client().Post(srv.URL+"/", requestMediaType, bytes.NewReader([]byte("three")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("after the slot freed: %d", resp.StatusCode)
	}
	if len(rl.inflight) != 0 {
		t.Errorf("%d slots still held", len(rl.inflight))
	}
}
