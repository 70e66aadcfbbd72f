package tlsconfig_test

import (
	"crypto/tls"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/internal/testlog"
	"github.com/veil-telemetry/veil/internal/testpki"
	"github.com/veil-telemetry/veil/internal/tlsconfig"
)

// serverHandshake runs a handshake over a pipe and returns what the
// server saw and its error.
func serverHandshake(t *testing.T, srv, cli *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	type result struct {
		state tls.ConnectionState
		err   error
	}
	done := make(chan result, 1)
	go func() {
		s := tls.Server(a, srv)
		err := s.Handshake()
		done <- result{s.ConnectionState(), err}
		a.Close()
	}()
	// The client reads on, so that the server's session tickets and, under
	// TLS 1.3, its verdict on the client's certificate (sent after the
	// client has finished) get through the synchronous pipe.
	go func() {
		c := tls.Client(b, cli)
		if c.Handshake() == nil {
			c.Read(make([]byte, 1))
		}
	}()
	r := <-done
	b.Close()
	return r.state, r.err
}

// TestRequestClientCert: a client with a certificate from the CA is
// verified, one without still connects unverified, one with a certificate
// from another CA is refused.
func TestRequestClientCert(t *testing.T) {
	ca, other := testpki.NewCA(t, "relays"), testpki.NewCA(t, "someone else")
	srvCert := ca.Server(t)
	pool, err := tlsconfig.LoadCertPool(ca.File)
	if err != nil {
		t.Fatal(err)
	}
	base := tlsconfig.Server(srvCert.TLS)
	srv := tlsconfig.RequestClientCert(base, pool)
	if base.ClientCAs != nil || base.ClientAuth != tls.NoClientCert {
		t.Fatal("RequestClientCert changed its argument")
	}
	client := func(certs ...tls.Certificate) *tls.Config {
		c := tlsconfig.Client(ca.Pool)
		c.ServerName = "127.0.0.1"
		c.Certificates = certs
		return c
	}
	issued, another := ca.Client(t, "relay"), ca.Client(t, "relay")
	if _, err := tlsconfig.LoadClientCert(issued.CertFile, another.KeyFile, time.Now(), nil); err == nil {
		t.Fatal("a key that is not the certificate's was accepted")
	}
	var logs testlog.Buffer
	relayCert, err := tlsconfig.LoadClientCert(issued.CertFile, issued.KeyFile, time.Now(), slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil || logs.String() != "" {
		t.Fatalf("LoadClientCert: %v %s", err, logs.String())
	}
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cli := client(relayCert)
		cli.MaxVersion = v
		st, err := serverHandshake(t, srv, cli)
		if err != nil || len(st.VerifiedChains) == 0 {
			t.Errorf("TLS %x, the CA's client: err %v, %d verified chains", v, err, len(st.VerifiedChains))
		}
		cli = client()
		cli.MaxVersion = v
		st, err = serverHandshake(t, srv, cli)
		if err != nil || len(st.VerifiedChains) != 0 || len(st.PeerCertificates) != 0 {
			t.Errorf("TLS %x, no client certificate: err %v, %d verified chains", v, err, len(st.VerifiedChains))
		}
		// Sent even though the server names another CA (crypto/tls's
		// client would otherwise send nothing).
		impostor := other.Client(t, "impostor").TLS
		cli = client()
		cli.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &impostor, nil }
		cli.MaxVersion = v
		if _, err := serverHandshake(t, srv, cli); err == nil {
			t.Errorf("TLS %x: a client certificate from another CA was accepted", v)
		}
	}
}

func TestLoadCertPoolErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.pem")
	if err := os.WriteFile(empty, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := tlsconfig.LoadCertPool(empty); err == nil || !strings.Contains(err.Error(), "no certificates") {
		t.Errorf("a file without certificates: %v", err)
	}
	if _, err := tlsconfig.LoadCertPool(filepath.Join(dir, "missing.pem")); err == nil {
		t.Error("a missing file was accepted")
	}
}
