package gateway_test

import (
	"bytes"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/internal/gateway"
	"github.com/veil-telemetry/veil/ohttp"
)

// TestOverloadedBeforeBody checks that a request beyond MaxConcurrent is
// answered 503 with Retry-After without its body being read: a client
// still sending (here: never finishing) gets its answer at once, and the
// connection is closed rather than drained.
func TestOverloadedBeforeBody(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.MaxConcurrent = 1 })
	e.inner.block = make(chan struct{})
	enc1, cc1 := seal(t, &e.key.Config, innerRequest(testNow, nil))
	done := make(chan *http.Response, 1)
	go func() {
		req, _ := http.NewRequest("POST", e.srv.URL+"/gateway", bytes.NewReader(enc1))
		req.Header.Set("Content-Type", ohttp.RequestMediaType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
		}
		done <- resp
	}()
	for e.inner.count() == 0 {
		time.Sleep(time.Millisecond)
	}

	pr, pw := io.Pipe()
	defer pw.Close()
	req, _ := http.NewRequest("POST", e.srv.URL+"/gateway", pr)
	req.Header.Set("Content-Type", ohttp.RequestMediaType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("saturated: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if !resp.Close {
		t.Error("an unsized body refused under overload should close the connection")
	}

	close(e.inner.block)
	r1 := <-done
	defer r1.Body.Close()
	if res := open(t, r1, cc1); res.StatusCode != http.StatusCreated {
		t.Errorf("first request: %d", res.StatusCode)
	}
}

// TestInnerOverloadEncapsulated checks the other overload path: ingest
// (or its writer) refusing with 503 and Retry-After. That answer travels
// inside the encapsulated response, outer status 200, with its
// Retry-After readable by the client after decapsulation.
func TestInnerOverloadEncapsulated(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) {
		c.Inner = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"code":14,"message":"overloaded"}`)
		})
	})
	enc, cc := seal(t, &e.key.Config, innerRequest(testNow, nil))
	res := open(t, post(t, e.srv.URL+"/gateway", enc, nil), cc)
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("inner status %d", res.StatusCode)
	}
	if ra := field(res.Header, "retry-after"); ra != "2" {
		t.Errorf("inner retry-after %q", ra)
	}
}
