package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
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

	"github.com/spf13/pflag"

	"github.com/veil-telemetry/veil/internal/config"
	"github.com/veil-telemetry/veil/internal/e2e/e2etest"
)

func TestRunRelayTLS(t *testing.T) {
	dir := t.TempDir()
	// The gateway: TLS with a test CA the relay learns from --gateway-ca.
	gw := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get("User-Agent") != "" || r.Header.Get("X-Forwarded-For") != "" {
			w.WriteHeader(http.StatusTeapot)
			return
		}
		w.Header().Set("Content-Type", "message/ohttp-res")
		w.Write(append([]byte("ok:"), b...))
	}))
	defer gw.Close()
	caFile := filepath.Join(dir, "gw-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: gw.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, cert := e2etest.WriteSelfSigned(t)
	pool := x509.NewCertPool()
	pool.AddCert(cert)

	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	var logs bytes.Buffer
	go func() {
		done <- runRelay(ctx, config.Relay{
			Listen:          "127.0.0.1:0",
			Gateways:        []string{gw.URL + "/gateway"},
			TLSCert:         certFile,
			TLSKey:          keyFile,
			GatewayCA:       caFile,
			MaxBodyBytes:    1 << 10,
			Rate:            100,
			Burst:           100,
			UpstreamTimeout: 5 * time.Second,
			ShutdownTimeout: 5 * time.Second,
		}, slog.New(slog.NewJSONHandler(&logs, nil)), func(a net.Addr) { addrc <- a })
	}()
	var addr net.Addr
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatal(err)
	}

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest("POST", "https://"+addr.String()+"/", bytes.NewReader([]byte("sealed")))
	req.Header.Set("Content-Type", "message/ohttp-req")
	req.Header.Set("X-Forwarded-For", "198.51.100.1")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok:sealed" {
		t.Fatalf("status %d body %q", resp.StatusCode, body)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("runRelay: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("relay did not shut down")
	}
	if bytes.Contains(logs.Bytes(), []byte("198.51.100.1")) {
		t.Errorf("logs name a client address:\n%s", logs.String())
	}
}

func TestRunRelayUntrustedGateway(t *testing.T) {
	// Without --gateway-ca a self-signed gateway is refused: 502.
	gw := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer gw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrc := make(chan net.Addr, 1)
	go runRelay(ctx, config.Relay{
		Listen: "127.0.0.1:0", Gateways: []string{gw.URL + "/gateway"}, MaxBodyBytes: 1024,
		Rate: 10, Burst: 10, UpstreamTimeout: 5 * time.Second, ShutdownTimeout: time.Second,
	}, slog.New(slog.DiscardHandler), func(a net.Addr) { addrc <- a })
	addr := <-addrc
	resp, err := http.Post("http://"+addr.String()+"/", "message/ohttp-req", bytes.NewReader([]byte("x")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

// TestRunRelayFlags: settings that pass validation but cannot be used
// stop the relay with exit status 2 (validation is internal/config's).
func TestRunRelayFlags(t *testing.T) {
	base := config.Relay{Listen: "127.0.0.1:0", Gateways: []string{"http://127.0.0.1:1/gateway"}, MaxBodyBytes: 1, Rate: 1, Burst: 1, MaxInFlight: 1, UpstreamTimeout: time.Second, ShutdownTimeout: time.Second}
	for name, mod := range map[string]func(*config.Relay){
		"bad gateway":     func(o *config.Relay) { o.Gateways = []string{"gopher://x"} },
		"missing ca file": func(o *config.Relay) { o.GatewayCA = filepath.Join(t.TempDir(), "none.pem") },
		"missing cert":    func(o *config.Relay) { o.TLSCert, o.TLSKey = "none.pem", "none.key" },
	} {
		o := base
		mod(&o)
		err := runRelay(context.Background(), o, slog.New(slog.DiscardHandler), nil)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 2 {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestRelayCmdOverloadFlags(t *testing.T) {
	cmd := newRelayCmd()
	for name, want := range map[string]string{"max-inflight": "256", "memory-limit": "384MiB"} {
		f := cmd.Flags().Lookup(name)
		if f == nil || f.DefValue != want {
			t.Errorf("--%s: %+v, want default %s", name, f, want)
		}
	}
	cmd.SetArgs([]string{"--gateway", "http://127.0.0.1:1/gateway", "--listen", "127.0.0.1:0", "--memory-limit", "1MiB"})
	cmd.SetErr(io.Discard)
	var ee *exitError
	if err := cmd.ExecuteContext(context.Background()); !errors.As(err, &ee) || ee.code != 2 {
		t.Errorf("--memory-limit 1MiB: %v", err)
	}
}

func TestRelayCmdRequiresGateway(t *testing.T) {
	cmd := newRelayCmd()
	cmd.SetArgs([]string{"--listen", "127.0.0.1:0"})
	cmd.SetErr(io.Discard)
	var ee *exitError
	if err := cmd.ExecuteContext(context.Background()); !errors.As(err, &ee) || ee.code != 2 {
		t.Fatalf("without --gateway: %v", err)
	}
}

// TestRunRelayWarnsPlainGateway: a plain http:// gateway that is not on
// loopback is warned about at start, naming the URL; a loopback one is not.
func TestRunRelayWarnsPlainGateway(t *testing.T) {
	for gw, warn := range map[string]bool{
		"http://192.0.2.1:8080/gateway": true,
		"http://127.0.0.1:8080/gateway": false,
		"https://192.0.2.1/gateway":     false,
	} {
		var logs bytes.Buffer
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- runRelay(ctx, config.Relay{
				Listen: "127.0.0.1:0", Gateways: []string{gw}, MaxBodyBytes: 1024, MaxInFlight: 16,
				Rate: 10, Burst: 10, UpstreamTimeout: time.Second, ShutdownTimeout: time.Second,
			}, slog.New(slog.NewJSONHandler(&logs, nil)), func(net.Addr) { cancel() })
		}()
		if err := <-done; err != nil {
			t.Fatalf("%s: %v", gw, err)
		}
		got := bytes.Contains(logs.Bytes(), []byte("upstream over plain HTTP")) && bytes.Contains(logs.Bytes(), []byte(gw))
		if got != warn {
			t.Errorf("--gateway %s: warned %v, want %v:\n%s", gw, got, warn, logs.String())
		}
	}
}

// TestRunRelayProxyProtocol: with --trusted-proxies and --proxy-protocol
// the per-address limit keys on the client address of the load
// balancer's PROXY header.
func TestRunRelayProxyProtocol(t *testing.T) {
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "message/ohttp-res")
	}))
	defer gw.Close()
	c := config.DefaultRelay()
	fs := pflag.NewFlagSet("relay", pflag.ContinueOnError)
	c.BindFlags(fs)
	if err := fs.Parse([]string{"--listen", "127.0.0.1:0", "--gateway", gw.URL + "/gateway", "--burst", "1", "--rate", "0.001",
		"--trusted-proxies", "127.0.0.1", "--proxy-protocol"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(startRelay(t, c), "http://")
	send := func(client string) int {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(conn, "PROXY TCP4 %s 127.0.0.1 40000 8082\r\nPOST /gateway HTTP/1.1\r\nHost: relay\r\nContent-Type: message/ohttp-req\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx", client)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := []int{send("192.0.2.1"), send("192.0.2.2"), send("192.0.2.1")}; fmt.Sprint(got) != "[200 200 429]" {
		t.Errorf("statuses %v, want [200 200 429]: one limit per client behind the load balancer", got)
	}
}
