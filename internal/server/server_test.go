package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"github.com/veil-telemetry/veil/internal/tlsconfig"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// TestRunDrains: a shutdown waits for the request in flight, then runs
// AfterDrain with a live context, and Run returns nil.
func TestRunDrains(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
		}
		io.WriteString(w, "done")
	})
	ln := listen(t)
	ctx, cancel := context.WithCancel(t.Context())
	afterDrain := make(chan error, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{ShutdownTimeout: 10 * time.Second, AfterDrain: func(ctx context.Context) { afterDrain <- ctx.Err() }},
			Listener{Name: "public", Listener: ln, Handler: h})
	}()
	url := "http://" + ln.Addr().String()
	answer := make(chan string, 1)
	go func() {
		resp, err := http.Get(url + "/slow")
		if err != nil {
			answer <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		answer <- string(b)
	}()
	<-entered
	cancel()
	// New connections are refused once the drain has begun.
	for {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			break
		}
		c.Close()
		select {
		case <-done:
			t.Fatal("Run returned with a request in flight")
		default:
		}
	}
	select {
	case <-afterDrain:
		t.Fatal("AfterDrain ran with a request in flight")
	default:
	}
	close(release)
	if got := <-answer; got != "done" {
		t.Errorf("in-flight request: %q", got)
	}
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if err := <-afterDrain; err != nil {
		t.Errorf("AfterDrain's context is already done: %v", err)
	}
}

// TestRunDrainTimeout: a request that outlives the shutdown timeout is
// cut, logged by listener name, and Run still returns.
func TestRunDrainTimeout(t *testing.T) {
	entered := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done()
	})
	ln := listen(t)
	ctx, cancel := context.WithCancel(t.Context())
	var logs bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{ShutdownTimeout: 50 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))},
			Listener{Name: "admin", Listener: ln, Handler: h})
	}()
	go http.Get("http://" + ln.Addr().String() + "/")
	<-entered
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if !strings.Contains(logs.String(), "did not drain") || !strings.Contains(logs.String(), "listener=admin") {
		t.Errorf("logs: %s", logs.String())
	}
}

// TestRunListenerFailure: a listener that fails ends Run with its name.
func TestRunListenerFailure(t *testing.T) {
	ln := listen(t)
	ln.Close()
	err := Run(t.Context(), Config{}, Listener{Name: "public", Listener: ln, Handler: http.NotFoundHandler()})
	if err == nil || !strings.Contains(err.Error(), "public listener") {
		t.Errorf("Run on a closed listener: %v", err)
	}
}

// TestRunTLS serves TLS with HTTP/2 when configured.
func TestRunTLS(t *testing.T) {
	// Borrow httptest's certificate for 127.0.0.1 and a client trusting it.
	ts := httptest.NewTLSServer(http.NotFoundHandler())
	defer ts.Close()
	conf := &tls.Config{Certificates: ts.TLS.Certificates, MinVersion: tls.VersionTLS12}
	ln := listen(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{TLS: conf}, Listener{Name: "public", Listener: ln,
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Proto) })})
	}()
	client := ts.Client()
	client.Transport.(*http.Transport).ForceAttemptHTTP2 = true
	resp, err := client.Get("https://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "HTTP/2.0" {
		t.Errorf("protocol %q, want HTTP/2.0", b)
	}
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
}

func TestNewServerSettings(t *testing.T) {
	srv := New(t.Context(), http.NotFoundHandler(), Config{ReadHeaderTimeout: 750 * time.Millisecond, MaxHeaderBytes: 16 << 10})
	if srv.ReadHeaderTimeout != 750*time.Millisecond || srv.ReadTimeout != DefaultReadTimeout || srv.WriteTimeout != DefaultWriteTimeout ||
		srv.IdleTimeout != DefaultIdleTimeout || srv.MaxHeaderBytes != 16<<10 || srv.ErrorLog == nil {
		t.Errorf("server settings %+v", srv)
	}
	if srv.Protocols.UnencryptedHTTP2() {
		t.Error("h2c without asking")
	}
	if !New(t.Context(), nil, Config{UnencryptedHTTP2: true}).Protocols.UnencryptedHTTP2() {
		t.Error("no h2c when asked")
	}
	// Requests see the base context's values, never its cancellation.
	type key struct{}
	base, cancel := context.WithCancel(context.WithValue(t.Context(), key{}, "v"))
	cancel()
	got := New(base, nil, Config{}).BaseContext(nil)
	if got.Value(key{}) != "v" || got.Err() != nil {
		t.Errorf("base context: %v %v", got.Value(key{}), got.Err())
	}
}

func TestLoadTLS(t *testing.T) {
	ts := httptest.NewTLSServer(http.NotFoundHandler())
	defer ts.Close()
	cert := ts.TLS.Certificates[0]
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600)
	conf, err := tlsconfig.LoadServer(certFile, keyFile, time.Now(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if len(conf.Certificates) != 1 || !bytes.Equal(conf.Certificates[0].Certificate[0], cert.Certificate[0]) || conf.MinVersion != tls.VersionTLS12 {
		t.Errorf("loaded %+v", conf)
	}
	if _, err := tlsconfig.LoadServer(certFile, filepath.Join(dir, "missing.pem"), time.Now(), nil); err == nil {
		t.Error("missing key accepted")
	}
	if Scheme(nil) != "http" || Scheme(conf) != "https" {
		t.Error("Scheme")
	}
}

// TestListenerHTTP2Settings: a listener's HTTP2 configuration reaches its
// server: the SETTINGS frame it opens an h2c connection with announces
// the listener's stream limit and window.
func TestListenerHTTP2Settings(t *testing.T) {
	ln := listen(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{UnencryptedHTTP2: true},
			Listener{Name: "admin", Listener: ln, Handler: http.NotFoundHandler(),
				HTTP2: &http.HTTP2Config{MaxConcurrentStreams: 7, MaxReceiveBufferPerStream: 40000}})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	// RFC 9113 §3.4: the client preface, then an empty SETTINGS frame.
	if _, err := io.WriteString(c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00"); err != nil {
		t.Fatal(err)
	}
	// §4.1 frame header: length(24) type(8) flags(8) R+stream(32); the
	// server's first frame is its SETTINGS (type 4), §6.5.1 entries of
	// identifier(16) value(32).
	var hdr [9]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		t.Fatal(err)
	}
	n := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
	if hdr[3] != 4 || n%6 != 0 {
		t.Fatalf("first frame type %d length %d, want SETTINGS", hdr[3], n)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(c, payload); err != nil {
		t.Fatal(err)
	}
	got := map[uint16]uint32{}
	for p := payload; len(p) >= 6; p = p[6:] {
		got[uint16(p[0])<<8|uint16(p[1])] = uint32(p[2])<<24 | uint32(p[3])<<16 | uint32(p[4])<<8 | uint32(p[5])
	}
	const maxConcurrentStreams, initialWindowSize = 0x3, 0x4
	if got[maxConcurrentStreams] != 7 || got[initialWindowSize] != 40000 {
		t.Fatalf("settings %v, want 7 streams and a 40000-byte window", got)
	}
}
