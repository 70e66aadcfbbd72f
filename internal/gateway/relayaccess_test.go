package gateway_test

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/veil-telemetry/veil/internal/gateway"
	"github.com/veil-telemetry/veil/internal/problem"
	"github.com/veil-telemetry/veil/internal/testpki"
	"github.com/veil-telemetry/veil/internal/tlsconfig"
	"github.com/veil-telemetry/veil/ohttp"
)

// sealed is one encapsulated request for e's key, and its client context.
func (e *env) sealed(t *testing.T) ([]byte, *ohttp.ClientContext) {
	t.Helper()
	return seal(t, &e.key.Config, innerRequest(testNow, []byte(`{"events":[]}`)))
}

// wantNotRelay checks resp is the 403 problem of a peer that is not a
// configured relay, naming the reason and not the peer.
func wantNotRelay(t *testing.T, resp *http.Response) {
	t.Helper()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Content-Type") != problem.MediaType {
		t.Fatalf("status %d %q, want a 403 problem: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var d problem.Details
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatal(err)
	}
	if d.Type != problem.Forbidden.Type() || d.Status != http.StatusForbidden || !strings.Contains(d.Detail, "only from this collector's relays") {
		t.Errorf("problem %+v", d)
	}
	if strings.Contains(string(body), "127.0.0.1") {
		t.Errorf("the problem names the peer's address: %s", body)
	}
}

// TestRelayAllowList: with Allow set, a peer outside it is refused with
// the problem before anything is decrypted, on both OHTTP resources,
// while the keys and health stay open; a peer inside it is served.
func TestRelayAllowList(t *testing.T) {
	outside := newEnv(t, func(c *gateway.Config) {
		c.Relays = gateway.RelayAccess{Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}}
	})
	enc, _ := outside.sealed(t)
	for _, path := range []string{"/gateway", "/.well-known/ohttp-gateway"} {
		wantNotRelay(t, post(t, outside.srv.URL+path, enc, nil))
	}
	if n := outside.inner.count(); n != 0 {
		t.Errorf("%d refused requests reached ingest", n)
	}
	if !strings.Contains(outside.logs.String(), `"route":"not_relay"`) || strings.Contains(outside.logs.String(), "127.0.0.1") {
		t.Errorf("refusal log:\n%s", outside.logs.String())
	}
	for _, path := range []string{"/ohttp-keys", "/.well-known/ohttp-gateway", "/healthz"} {
		resp, err := http.Get(outside.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d, want 200: keys and health stay open", path, resp.StatusCode)
		}
	}

	inside := newEnv(t, func(c *gateway.Config) {
		c.Relays = gateway.RelayAccess{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	})
	enc, cc := inside.sealed(t)
	open(t, post(t, inside.srv.URL+"/gateway", enc, nil), cc)
	if inside.inner.count() != 1 {
		t.Error("an allowed relay's request did not reach ingest")
	}
}

// TestRelayClientCert: with ClientCert, a peer with a certificate the
// listener verified is served and one without is refused; an allow list
// that does not match does not stop a peer with a certificate.
func TestRelayClientCert(t *testing.T) {
	ca := testpki.NewCA(t, "relays")
	e := newEnv(t, func(c *gateway.Config) {
		c.Relays = gateway.RelayAccess{ClientCert: true, Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	})
	srv := httptest.NewUnstartedServer(e.gw)
	srv.TLS = tlsconfig.RequestClientCert(tlsconfig.Server(ca.Server(t).TLS), ca.Pool)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	client := func(certs ...tls.Certificate) *http.Client {
		c := tlsconfig.Client(ca.Pool)
		c.Certificates = certs
		return &http.Client{Transport: &http.Transport{TLSClientConfig: c}}
	}
	postWith := func(hc *http.Client, body []byte) *http.Response {
		resp, err := hc.Post(srv.URL+"/gateway", ohttp.RequestMediaType, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	enc, cc := e.sealed(t)
	open(t, postWith(client(ca.Client(t, "relay").TLS), enc), cc)
	enc, _ = e.sealed(t)
	wantNotRelay(t, postWith(client(), enc))
	resp, err := client().Get(srv.URL + "/ohttp-keys")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("keys without a client certificate: %d, want 200", resp.StatusCode)
	}
	if e.inner.count() != 1 {
		t.Errorf("%d requests reached ingest, want the relay's one", e.inner.count())
	}
}
