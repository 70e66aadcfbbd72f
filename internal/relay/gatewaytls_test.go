package relay

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

func TestGatewayTLS(t *testing.T) {
	if c, err := GatewayTLS("", nil); c != nil || err != nil {
		t.Errorf("no CA file: %v %v", c, err)
	}
	gw := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer gw.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: gw.Certificate().Raw}), 0o600)
	conf, err := GatewayTLS(ca, nil)
	if err != nil {
		t.Fatal(err)
	}
	client := NewClient(conf)
	defer client.CloseIdleConnections()
	resp, err := client.Get(gw.URL)
	if err != nil {
		t.Fatalf("gateway signed by the CA file refused: %v", err)
	}
	resp.Body.Close()
	// Without it, the same gateway is not trusted.
	if _, err := NewClient(nil).Get(gw.URL); err == nil {
		t.Error("self-signed gateway trusted without its CA")
	}
	empty := filepath.Join(dir, "empty.pem")
	os.WriteFile(empty, []byte("not a certificate\n"), 0o600)
	for _, p := range []string{empty, filepath.Join(dir, "missing.pem")} {
		if _, err := GatewayTLS(p, nil); err == nil {
			t.Errorf("%s accepted", p)
		}
	}
}
