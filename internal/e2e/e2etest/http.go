package e2etest

import (
	"bytes"
	"io"
	"net/http"
	"testing"
	"time"
)

// WaitOK polls url with hc until it answers 200 and returns how long that
// took. It fails the test after timeout, or at once if p (may be nil)
// exits meanwhile.
func WaitOK(t testing.TB, hc *http.Client, url string, p *Process, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < timeout {
		if p != nil && p.Exited() {
			t.Fatalf("%s exited while waiting for %s", p.Name, url)
		}
		resp, err := hc.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(start)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s not 200 after %v", url, timeout)
	return 0
}

// Reply is an HTTP answer, read whole.
type Reply struct {
	Status int
	Header http.Header
	Body   []byte
}

// Call sends one request with hc and reads the answer. token, if set, goes
// in a Bearer Authorization header; contentType, if set, in Content-Type.
// A transport error fails the test.
func Call(t testing.TB, hc *http.Client, method, url, token, contentType string, body []byte) Reply {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return Reply{resp.StatusCode, resp.Header, b}
}

// RegisterSchema registers a schema document over the admin REST API at
// admin (a base URL) with the admin token; anything but 200 fails the test.
func RegisterSchema(t testing.TB, hc *http.Client, admin, token string, doc []byte) {
	t.Helper()
	body := append(append([]byte(`{"document":`), doc...), '}')
	r := Call(t, hc, http.MethodPost, admin+"/v1/schemas", token, "application/json", body)
	if r.Status != http.StatusOK {
		t.Fatalf("register schema: %d %s", r.Status, r.Body)
	}
}
