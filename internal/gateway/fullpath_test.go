package gateway_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/veil-telemetry/veil/internal/relay"
	"github.com/veil-telemetry/veil/internal/testlog"
	"github.com/veil-telemetry/veil/ohttp"
)

// tap wraps the relay's client transport and keeps every byte the relay
// sends to or receives from the gateway, so the test can search what the
// relay held.
type tap struct {
	mu   sync.Mutex
	seen bytes.Buffer
	rt   http.RoundTripper
}

func (t *tap) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		b, _ := io.ReadAll(r.Body)
		t.record(b)
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	resp, err := t.rt.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	t.record(b)
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}

func (t *tap) record(b []byte) {
	t.mu.Lock()
	t.seen.Write(b)
	t.mu.Unlock()
}

// TestFullPath sends a request as a client would: encapsulated, through a
// real relay, to the gateway, to an inner handler that records what it got
// (issue 2, "Done when").
func TestFullPath(t *testing.T) {
	e := newEnv(t, nil)
	relayLogs := &testlog.Buffer{}
	tp := &tap{rt: relay.NewClient(nil).Transport}
	rl, err := relay.New(relay.Config{
		GatewayURL: e.srv.URL + "/gateway",
		Client:     &http.Client{Transport: tp},
		Logger:     slog.New(slog.NewJSONHandler(relayLogs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	rs := httptest.NewServer(rl)
	defer rs.Close()

	// The client fetches the keys through the relay.
	resp, err := http.Get(rs.URL + "/ohttp-keys")
	if err != nil {
		t.Fatal(err)
	}
	keysDoc, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	cfgs, err := ohttp.ParseKeyConfigs(keysDoc)
	if err != nil || len(cfgs) != 1 {
		t.Fatalf("keys through the relay: %v (%d)", err, len(cfgs))
	}

	secret := []byte(`{"batch_id":"c2VjcmV0LWJhdGNoLWlk","events":[{"schema":"app.launch","version":1,"fields":{"os":"plaintext-marker-ios"}}]}`)
	enc, cc := seal(t, cfgs[0], innerRequest(testNow, secret))
	outer := http.Header{
		"User-Agent":      {"OuterAgent/1.0 (secret-ua)"},
		"X-Forwarded-For": {"203.0.113.77"},
		"Cookie":          {"outer-session=cookie-value"},
		"Authorization":   {"Bearer outer-token"},
		"Forwarded":       {"for=203.0.113.77"},
	}
	res := open(t, post(t, rs.URL+"/", enc, outer), cc)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("inner status %d", res.StatusCode)
	}

	// The inner handler received the exact body.
	s := e.inner.last(t)
	if !bytes.Equal(s.body, secret) {
		t.Errorf("inner body %q", s.body)
	}
	// Outer and inner client headers, and the inner authority, stop at the
	// gateway.
	leaks := []string{
		"OuterAgent", "secret-ua", "203.0.113.77", "outer-session", "cookie-value", "outer-token",
		"InnerAgent", "inner=cookie", "Bearer inner", "198.51.100.9", "evil.example", "127.0.0.1",
	}
	var innerView strings.Builder
	for k, vs := range s.header {
		innerView.WriteString(k + ": " + strings.Join(vs, ",") + "\n")
	}
	innerView.WriteString(s.host + " " + s.remoteAddr + " " + s.requestURI)
	for _, l := range leaks {
		if strings.Contains(innerView.String(), l) {
			t.Errorf("inner handler saw %q:\n%s", l, innerView.String())
		}
	}
	for name, logs := range map[string]string{"gateway": e.logs.String(), "relay": relayLogs.String()} {
		for _, l := range append(leaks, "plaintext-marker", "c2VjcmV0", "/v1/events") {
			if strings.Contains(logs, l) {
				t.Errorf("%s logs contain %q:\n%s", name, l, logs)
			}
		}
	}

	// The relay never held plaintext: everything it forwarded or received
	// is ciphertext.
	tp.mu.Lock()
	held := tp.seen.Bytes()
	tp.mu.Unlock()
	if len(held) == 0 {
		t.Fatal("tap saw nothing")
	}
	for _, p := range [][]byte{secret, []byte("plaintext-marker"), []byte("/v1/events"), []byte("application/json"), []byte("accepted")} {
		if bytes.Contains(held, p) {
			t.Errorf("relay held plaintext %q", p)
		}
	}
}
