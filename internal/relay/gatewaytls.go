package relay

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/veil-telemetry/veil/internal/tlsconfig"
)

// GatewayTLS is the TLS configuration of the relay's client (NewClient)
// that verifies the gateway's certificate against the CA certificates in
// caFile (PEM) instead of the system roots. An empty caFile gives nil: the
// system roots.
func GatewayTLS(caFile string) (*tls.Config, error) {
	if caFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no certificates in %s", caFile)
	}
	return tlsconfig.Client(pool), nil
}
