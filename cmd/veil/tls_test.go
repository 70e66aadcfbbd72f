package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"github.com/veil-telemetry/veil/internal/config"
	"github.com/veil-telemetry/veil/internal/testlog"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/internal/storage/storagetest"
)

// writeExpired writes a certificate for 127.0.0.1 that expired a day ago,
// and its key, as PEM.
func writeExpired(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "veil expired test"},
		NotBefore:    time.Now().Add(-48 * time.Hour),
		NotAfter:     time.Now().Add(-24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "expired.pem"), filepath.Join(dir, "expired-key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// checkSuites dials addr with TLS 1.2: offering only CBC suites must fail,
// offering the defaults must negotiate an AEAD suite. Certificates are not
// verified here: the suites are what is tested.
func checkSuites(t *testing.T, name, addr string) {
	t.Helper()
	dial := func(suites []uint16) (*tls.Conn, error) {
		d := &net.Dialer{Timeout: 5 * time.Second}
		return tls.DialWithDialer(d, "tcp", addr, &tls.Config{
			InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12, CipherSuites: suites,
		})
	}
	if c, err := dial([]uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
		tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA}); err == nil {
		c.Close()
		t.Errorf("%s: a TLS 1.2 client offering only CBC suites connected", name)
	}
	c, err := dial(nil)
	if err != nil {
		t.Fatalf("%s: TLS 1.2 with the default suites: %v", name, err)
	}
	defer c.Close()
	if s := tls.CipherSuiteName(c.ConnectionState().CipherSuite); strings.Contains(s, "CBC") {
		t.Errorf("%s: negotiated %s", name, s)
	}
}

// TestRunRelayTLSPolicy: the relay's listener offers AEAD suites only
// under TLS 1.2, and starts with an expired certificate only after saying
// so in its log.
func TestRunRelayTLSPolicy(t *testing.T) {
	certFile, keyFile := writeExpired(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs testlog.Buffer
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- runRelay(ctx, config.Relay{
			Listen: "127.0.0.1:0", Gateways: []string{"http://127.0.0.1:1/gateway"}, TLSCert: certFile, TLSKey: keyFile,
			MaxBodyBytes: 1024, Rate: 10, Burst: 10, MaxInFlight: 16, UpstreamTimeout: time.Second, ShutdownTimeout: time.Second,
		}, slog.New(slog.NewJSONHandler(&logs, nil)), func(a net.Addr) { addrc <- a })
	}()
	var addr net.Addr
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatal(err)
	}
	if out := logs.String(); !strings.Contains(out, `"level":"WARN"`) || !strings.Contains(out, "expired") {
		t.Errorf("no warning about the expired certificate:\n%s", out)
	}
	checkSuites(t, "relay", addr.String())
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestServeTLSPolicy: both listeners of veil serve offer AEAD suites only
// under TLS 1.2, and an expired certificate is warned about at start.
func TestServeTLSPolicy(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeExpired(t, dir)
	c, err := parseServe(t, "--data-dir", filepath.Join(dir, "data"), "--database-url", storagetest.URL(t),
		"--tls-cert", certFile, "--tls-key", keyFile)
	if err != nil {
		t.Fatal(err)
	}
	// Port 0 for both, after validation (which wants them to differ).
	c.Listen, c.AdminListen = "127.0.0.1:0", "127.0.0.1:0"
	var logs testlog.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, c, slog.New(slog.NewJSONHandler(&logs, nil))) }()
	a := waitServing(t, &logs, done)
	if out := logs.String(); !strings.Contains(out, `"level":"WARN"`) || !strings.Contains(out, "expired") {
		t.Errorf("no warning about the expired certificate:\n%s", out)
	}
	checkSuites(t, "public listener", a.Public)
	checkSuites(t, "admin listener", a.Admin)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
