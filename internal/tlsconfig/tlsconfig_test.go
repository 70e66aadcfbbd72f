package tlsconfig_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/internal/tlsconfig"
)

// selfSigned makes a certificate for 127.0.0.1 valid in [notBefore,
// notAfter] and writes it and its key as PEM files.
func selfSigned(t *testing.T, notBefore, notAfter time.Time) (tls.Certificate, *x509.CertPool, string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "tlsconfig test"},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return cert, pool, certFile, keyFile
}

// TestCipherSuitesAEADOnly: no CBC suite, no static-RSA key exchange, none
// that crypto/tls lists as insecure.
func TestCipherSuitesAEADOnly(t *testing.T) {
	suites := tlsconfig.CipherSuites()
	if len(suites) == 0 {
		t.Fatal("no cipher suites")
	}
	secure := map[uint16]bool{}
	for _, s := range tls.CipherSuites() {
		secure[s.ID] = true
	}
	for _, id := range suites {
		name := tls.CipherSuiteName(id)
		if !secure[id] || strings.Contains(name, "CBC") || !strings.HasPrefix(name, "TLS_ECDHE_") ||
			!(strings.Contains(name, "_GCM_") || strings.Contains(name, "CHACHA20_POLY1305")) {
			t.Errorf("%s is not a forward-secret AEAD suite", name)
		}
	}
	for _, c := range []*tls.Config{tlsconfig.Server(), tlsconfig.Client(nil)} {
		if c.MinVersion != tls.VersionTLS12 || len(c.CipherSuites) != len(suites) {
			t.Errorf("config: min version %x, %d suites", c.MinVersion, len(c.CipherSuites))
		}
	}
}

// handshake runs a TLS handshake between a server with srv and a client
// with cli over a pipe and returns the client's error.
func handshake(t *testing.T, srv, cli *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	done := make(chan error, 1)
	go func() {
		done <- tls.Server(a, srv).Handshake()
		a.Close()
	}()
	c := tls.Client(b, cli)
	err := c.Handshake()
	state := c.ConnectionState()
	// Closing the pipe, not the TLS connection (whose close_notify would
	// wait for a reader), ends a server still writing its alert.
	b.Close()
	<-done
	return state, err
}

// TestServerRefusesCBC: a TLS 1.2 client that offers only CBC suites gets
// no connection; one that offers an AEAD suite does.
func TestServerRefusesCBC(t *testing.T) {
	now := time.Now()
	cert, roots, _, _ := selfSigned(t, now.Add(-time.Hour), now.Add(time.Hour))
	srv := tlsconfig.Server(cert)
	cbc := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
		tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	}}
	if _, err := handshake(t, srv, cbc); err == nil {
		t.Fatal("a CBC-only TLS 1.2 client connected")
	}
	aead := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MaxVersion: tls.VersionTLS12}
	st, err := handshake(t, srv, aead)
	if err != nil {
		t.Fatalf("TLS 1.2 with AEAD suites: %v", err)
	}
	if name := tls.CipherSuiteName(st.CipherSuite); strings.Contains(name, "CBC") {
		t.Fatalf("negotiated %s", name)
	}
	// And the client side refuses a server that offers only CBC.
	cbcServer := &tls.Config{Certificates: []tls.Certificate{cert}, MaxVersion: tls.VersionTLS12, CipherSuites: cbc.CipherSuites}
	cli := tlsconfig.Client(roots)
	cli.ServerName = "127.0.0.1"
	if _, err := handshake(t, cbcServer, cli); err == nil {
		t.Fatal("the client accepted a CBC suite")
	}
}

// TestLoadServerWarnsExpired: an expired (or not yet valid) certificate is
// logged at start; a valid one is not.
func TestLoadServerWarnsExpired(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name                string
		notBefore, notAfter time.Time
		want                error
	}{
		{"expired", now.Add(-48 * time.Hour), now.Add(-24 * time.Hour), tlsconfig.ErrExpired},
		{"not yet valid", now.Add(24 * time.Hour), now.Add(48 * time.Hour), tlsconfig.ErrNotYetValid},
		{"valid", now.Add(-time.Hour), now.Add(time.Hour), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cert, _, certFile, keyFile := selfSigned(t, tc.notBefore, tc.notAfter)
			if err := tlsconfig.CheckValidity(cert, now); !errors.Is(err, tc.want) && !(err == nil && tc.want == nil) {
				t.Fatalf("CheckValidity: %v; want %v", err, tc.want)
			}
			var logs bytes.Buffer
			conf, err := tlsconfig.LoadServer(certFile, keyFile, now, slog.New(slog.NewJSONHandler(&logs, nil)))
			if err != nil || len(conf.Certificates) != 1 {
				t.Fatalf("LoadServer: %v", err)
			}
			warned := strings.Contains(logs.String(), `"level":"WARN"`) && strings.Contains(logs.String(), "validity")
			if warned != (tc.want != nil) {
				t.Fatalf("warned %v, want %v; logs:\n%s", warned, tc.want != nil, logs.String())
			}
		})
	}
}
