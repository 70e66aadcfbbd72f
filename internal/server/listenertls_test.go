package server

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"strconv"
	"testing"

	"github.com/veil-telemetry/veil/internal/testpki"
	"github.com/veil-telemetry/veil/internal/tlsconfig"
)

// TestListenerTLS: a listener's own TLS configuration replaces Config.TLS
// for it alone: the public listener asks for client certificates, the
// admin listener beside it does not.
func TestListenerTLS(t *testing.T) {
	ca := testpki.NewCA(t, "relays")
	cfg := Config{TLS: tlsconfig.Server(ca.Server(t).TLS)}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strconv.Itoa(len(r.TLS.VerifiedChains)))
	})
	pub, adm := listen(t), listen(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, cfg,
			Listener{Name: "public", Listener: pub, Handler: h, TLS: tlsconfig.RequestClientCert(cfg.TLS, ca.Pool)},
			Listener{Name: "admin", Listener: adm, Handler: h})
	}()
	cc := tlsconfig.Client(ca.Pool)
	cc.Certificates = []tls.Certificate{ca.Client(t, "relay").TLS}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cc}}
	get := func(addr string) string {
		resp, err := hc.Get("https://" + addr)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if got := get(pub.Addr().String()); got != "1" {
		t.Errorf("public listener: %s verified chains, want 1", got)
	}
	if got := get(adm.Addr().String()); got != "0" {
		t.Errorf("admin listener: %s verified chains, want 0 (no certificate asked for)", got)
	}
	if cfg.TLS.ClientCAs != nil {
		t.Error("Config.TLS was changed")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
