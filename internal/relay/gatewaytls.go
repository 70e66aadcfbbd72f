package relay

import (
	"crypto/tls"
	"crypto/x509"

	"github.com/veil-telemetry/veil/internal/tlsconfig"
)

// GatewayTLS is the TLS configuration of the relay's client (NewClient):
// it verifies the gateway's certificate against the CA certificates in
// caFile (PEM) instead of the system roots, and presents clientCert, when
// given, to a gateway that admits only relays with a client certificate
// (`veil serve --relay-client-ca`). An empty caFile and a nil clientCert
// give nil: the system roots, no client certificate.
func GatewayTLS(caFile string, clientCert *tls.Certificate) (*tls.Config, error) {
	if caFile == "" && clientCert == nil {
		return nil, nil
	}
	var roots *x509.CertPool
	if caFile != "" {
		var err error
		if roots, err = tlsconfig.LoadCertPool(caFile); err != nil {
			return nil, err
		}
	}
	c := tlsconfig.Client(roots)
	if clientCert != nil {
		c.Certificates = []tls.Certificate{*clientCert}
	}
	return c, nil
}
