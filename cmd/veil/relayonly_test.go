package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/internal/config"
	"github.com/veil-telemetry/veil/internal/e2e/e2etest"
	"github.com/veil-telemetry/veil/internal/problem"
	"github.com/veil-telemetry/veil/internal/storage/storagetest"
	"github.com/veil-telemetry/veil/internal/testlog"
	"github.com/veil-telemetry/veil/internal/testpki"
	"github.com/veil-telemetry/veil/internal/tlsconfig"
	"github.com/veil-telemetry/veil/ohttp"
)

// startRelay runs runRelay with o until the test ends and returns its
// base URL.
func startRelay(t *testing.T, o config.Relay) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- runRelay(ctx, o, slog.New(slog.DiscardHandler), func(a net.Addr) { addrc <- a })
	}()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case a := <-addrc:
		return "http://" + a.String()
	case err := <-done:
		t.Fatalf("runRelay: %v", err)
	}
	return ""
}

// TestServeAcceptsOnlyRelays is DESIGN.md's privacy invariant 5 across
// the real transports: a veil serve restricted to its relays
// (--relay-client-ca, with a --relay-allow that does not match loopback)
// decrypts what a veil relay presenting a client certificate forwards,
// and refuses with a 403 problem, before decrypting anything, a relay
// without one and a client posting directly; keys stay open to everyone.
func TestServeAcceptsOnlyRelays(t *testing.T) {
	ca := testpki.NewCA(t, "veil relays")
	srvCert := ca.Server(t)
	c, err := parseServe(t, "--data-dir", filepath.Join(t.TempDir(), "data"), "--database-url", storagetest.URL(t),
		"--tls-cert", srvCert.CertFile, "--tls-key", srvCert.KeyFile,
		"--relay-client-ca", ca.File, "--relay-allow", "192.0.2.0/24")
	if err != nil {
		t.Fatal(err)
	}
	c.Listen, c.AdminListen = "127.0.0.1:0", "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs testlog.Buffer
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, c, slog.New(slog.NewJSONHandler(&logs, nil))) }()
	pub := "https://" + waitServing(t, &logs, done).Public

	relayCert := ca.Client(t, "relay.example")
	base := config.Relay{
		Listen: "127.0.0.1:0", Gateways: []string{pub + "/gateway"}, GatewayCA: ca.File,
		MaxBodyBytes: 1 << 20, Rate: 100, Burst: 100, MaxInFlight: 16,
		UpstreamTimeout: 10 * time.Second, ShutdownTimeout: time.Second,
	}
	withCert := base
	withCert.ClientCert, withCert.ClientKey = relayCert.CertFile, relayCert.KeyFile
	relay, stranger := startRelay(t, withCert), startRelay(t, base)

	hc := &http.Client{Timeout: 30 * time.Second}
	direct := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsconfig.Client(ca.Pool)}}
	// Keys are public: through either relay (each fetches them without
	// or with a certificate) and directly.
	keys := e2etest.FetchKeys(t, hc, relay)
	e2etest.FetchKeys(t, hc, stranger)
	e2etest.FetchKeys(t, direct, pub)

	seal := func() e2etest.Sealed {
		inner := e2etest.Inner{Content: e2etest.Batch(t, e2etest.NewBatchID(), nil)}
		return e2etest.Seal(t, keys[0], inner.Marshal(t))
	}
	s := seal()
	resp := s.Open(t, e2etest.Call(t, hc, http.MethodPost, relay+"/gateway", "", ohttp.RequestMediaType, s.Body))
	if resp.StatusCode == 0 {
		t.Fatal("no inner answer through the relay with a certificate")
	}
	for name, via := range map[string]struct {
		hc  *http.Client
		url string
	}{
		"a relay without a client certificate": {hc, stranger + "/gateway"},
		"a client posting to the gateway":      {direct, pub + "/gateway"},
		"a client posting to the well-known":   {direct, pub + "/.well-known/ohttp-gateway"},
	} {
		r := e2etest.Call(t, via.hc, http.MethodPost, via.url, "", ohttp.RequestMediaType, seal().Body)
		var d problem.Details
		if r.Status != http.StatusForbidden || r.Header.Get("Content-Type") != problem.MediaType ||
			json.Unmarshal(r.Body, &d) != nil || d.Type != problem.Forbidden.Type() || !strings.Contains(d.Detail, "relay") {
			t.Errorf("%s: %d %q %s, want the 403 problem", name, r.Status, r.Header.Get("Content-Type"), r.Body)
		}
	}
	// A certificate from another CA does not verify: no connection.
	other := testpki.NewCA(t, "someone else").Client(t, "impostor")
	impostor := tlsconfig.Client(ca.Pool)
	impostor.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &other.TLS, nil }
	ihc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: impostor}}
	if r, err := ihc.Post(pub+"/gateway", ohttp.RequestMediaType, strings.NewReader("x")); err == nil {
		r.Body.Close()
		t.Errorf("a certificate from another CA got an answer: %d", r.StatusCode)
	}
	if strings.Contains(logs.String(), "bypass the relay") {
		t.Errorf("warned about bypassing a restricted gateway:\n%s", logs.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
