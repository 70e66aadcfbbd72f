// Package tlsconfig holds the TLS settings of veil's listeners (`veil
// serve`, `veil relay`) and of the relay's connections to its gateway, so
// they are decided in one place: TLS 1.2 or later and, for TLS 1.2, only
// forward-secret AEAD cipher suites (ECDHE with AES-GCM or
// ChaCha20-Poly1305). crypto/tls's defaults still offer CBC-mode suites
// under TLS 1.2, whose MAC-then-encrypt construction is the source of the
// padding-oracle and timing attacks (Lucky Thirteen, RFC 7457 §2.8); TLS
// 1.3's suites are all AEAD and not configurable.
//
// It also checks a listener's certificate at start: an expired one is
// logged, since every client will refuse it.
package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"time"
)

// cipherSuites are the TLS 1.2 suites veil offers and accepts, strongest
// key exchange first (crypto/tls orders by its own preference anyway).
var cipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// CipherSuites returns the TLS 1.2 cipher suites veil allows.
func CipherSuites() []uint16 { return slices.Clone(cipherSuites) }

// Server returns the configuration of a listener presenting certs.
func Server(certs ...tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates: certs,
		MinVersion:   tls.VersionTLS12,
		CipherSuites: CipherSuites(),
	}
}

// Client returns the configuration of a client that verifies servers
// against roots (nil: the system's roots).
func Client(roots *x509.CertPool) *tls.Config {
	return &tls.Config{
		RootCAs:      roots,
		MinVersion:   tls.VersionTLS12,
		CipherSuites: CipherSuites(),
	}
}

// Certificate validity errors.
var (
	ErrExpired     = errors.New("tlsconfig: certificate has expired")
	ErrNotYetValid = errors.New("tlsconfig: certificate is not valid yet")
)

// CheckValidity returns ErrExpired or ErrNotYetValid, with the dates, when
// cert's leaf is outside its validity period at now.
func CheckValidity(cert tls.Certificate, now time.Time) error {
	leaf := cert.Leaf
	if leaf == nil {
		if len(cert.Certificate) == 0 {
			return errors.New("tlsconfig: no certificate")
		}
		var err error
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return fmt.Errorf("tlsconfig: %w", err)
		}
	}
	switch {
	case now.After(leaf.NotAfter):
		return fmt.Errorf("%w: not after %s", ErrExpired, leaf.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(leaf.NotBefore):
		return fmt.Errorf("%w: not before %s", ErrNotYetValid, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	return nil
}

// LoadServer loads a listener's certificate chain and key (PEM files) and
// returns its Server configuration. A certificate outside its validity
// period at now is logged as a warning and still served: clients will
// refuse it, but a listener that stays up lets the operator renew it in
// place.
func LoadServer(certFile, keyFile string, now time.Time, log *slog.Logger) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	if err := CheckValidity(cert, now); err != nil && log != nil {
		log.Warn("TLS certificate is outside its validity period: clients will refuse it; renew it",
			"cert", certFile, "error", err.Error())
	}
	return Server(cert), nil
}

// LoadCertPool reads the CA certificates of a PEM file; a file holding
// none is an error.
func LoadCertPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("tlsconfig: no certificates in %s", file)
	}
	return pool, nil
}

// RequestClientCert returns a copy of a server configuration that asks
// clients for a certificate and verifies one, if given, against cas
// (tls.VerifyClientCertIfGiven). A client without one still connects:
// the handler decides what it may do (tls.ConnectionState.VerifiedChains
// is set only for a verified certificate). A certificate that does not
// verify ends the handshake.
func RequestClientCert(server *tls.Config, cas *x509.CertPool) *tls.Config {
	c := server.Clone()
	c.ClientCAs = cas
	c.ClientAuth = tls.VerifyClientCertIfGiven
	return c
}

// LoadClientCert loads a client certificate chain and its key (PEM files)
// for a Client configuration's Certificates. A certificate outside its
// validity period at now is logged as a warning: servers will refuse it.
func LoadClientCert(certFile, keyFile string, now time.Time, log *slog.Logger) (tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := CheckValidity(cert, now); err != nil && log != nil {
		log.Warn("TLS client certificate is outside its validity period: servers will refuse it; renew it",
			"cert", certFile, "error", err.Error())
	}
	return cert, nil
}
