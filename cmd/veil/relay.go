package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/time/rate"

	"github.com/veil-telemetry/veil/internal/relay"
)

// relayOptions is the configuration of `veil relay`.
type relayOptions struct {
	Listen          string
	GatewayURL      string
	KeysURL         string
	SignedKeysURL   string
	TLSCert         string
	TLSKey          string
	GatewayCA       string
	MaxBodyBytes    int64
	Rate            float64
	Burst           int
	UpstreamTimeout time.Duration
	ShutdownTimeout time.Duration
	MaxInFlight     int
	MemoryLimit     byteSize
}

func newRelayCmd() *cobra.Command {
	o := relayOptions{
		Listen:          "127.0.0.1:8082",
		MaxBodyBytes:    relay.DefaultMaxBodyBytes,
		Rate:            float64(relay.DefaultPerClientRate),
		Burst:           relay.DefaultPerClientBurst,
		UpstreamTimeout: relay.DefaultUpstreamTimeout,
		ShutdownTimeout: 30 * time.Second,
		MaxInFlight:     relay.DefaultMaxInFlight,
		MemoryLimit:     defaultMemoryLimit,
	}
	cmd := &cobra.Command{
		Use:   "relay --gateway URL",
		Short: "Run an Oblivious HTTP relay in front of one gateway",
		Long: `Run an Oblivious HTTP relay (RFC 9458). Clients POST message/ohttp-req to
/ (or /gateway); the relay forwards only the body and its content type to the
one gateway given by --gateway and passes the answer back. GET /ohttp-keys
and /.well-known/ohttp-gateway serve the gateway's key configurations from
the same origin's /ohttp-keys (or --keys-url) through a shared cache, and
GET /ohttp-keys-signed the signed key document that clients with a key pin
verify, from the same origin's /ohttp-keys-signed (or --signed-keys-url).

Serve clients over TLS (--tls-cert, --tls-key): the SDK refuses a plain
http:// relay that is not on loopback. A plain http:// --gateway that is not
on loopback is warned about at start.

The relay forwards no client header, never passes on or logs a client
address, and cannot decrypt anything: it holds no keys.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.MemoryLimit != 0 && o.MemoryLimit < minMemoryLimit {
				return &exitError{code: 2, err: fmt.Errorf("relay: --memory-limit %v: must be 0 or at least %v", &o.MemoryLimit, byteSize(minMemoryLimit))}
			}
			applyMemoryLimit(o.MemoryLimit, cmd.Flags().Changed("memory-limit"), os.Getenv)
			logger := slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), nil))
			return runRelay(cmd.Context(), o, logger, nil)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Listen, "listen", o.Listen, "address to listen on")
	f.StringVar(&o.GatewayURL, "gateway", "", "the gateway's POST URL, e.g. https://collector.example/gateway (required)")
	f.StringVar(&o.KeysURL, "keys-url", "", "where the gateway publishes its keys (default: /ohttp-keys on the gateway's origin)")
	f.StringVar(&o.SignedKeysURL, "signed-keys-url", "", "where the gateway publishes its signed key document (default: /ohttp-keys-signed on the gateway's origin)")
	f.StringVar(&o.TLSCert, "tls-cert", "", "serve TLS with this certificate chain (PEM)")
	f.StringVar(&o.TLSKey, "tls-key", "", "private key for --tls-cert (PEM)")
	f.StringVar(&o.GatewayCA, "gateway-ca", "", "verify the gateway's certificate against the CA certificates in this PEM file instead of the system roots")
	f.Int64Var(&o.MaxBodyBytes, "max-body", o.MaxBodyBytes, "largest encapsulated request accepted, in bytes")
	f.Float64Var(&o.Rate, "rate", o.Rate, "requests per second allowed per client address (IPv4 address or IPv6 /64)")
	f.IntVar(&o.Burst, "burst", o.Burst, "burst allowed per client address")
	f.DurationVar(&o.UpstreamTimeout, "upstream-timeout", o.UpstreamTimeout, "how long to wait for the gateway")
	f.IntVar(&o.MaxInFlight, "max-inflight", o.MaxInFlight, "requests forwarded at once; more are answered 503 with Retry-After before their body is read")
	f.Var(&o.MemoryLimit, "memory-limit", "Go runtime soft memory limit, e.g. 384MiB (0: none; GOMEMLIMIT applies when this is not set)")
	f.DurationVar(&o.ShutdownTimeout, "shutdown-timeout", o.ShutdownTimeout, "how long to drain in-flight requests on shutdown")
	return cmd
}

// runRelay serves until ctx is done, then drains in-flight requests. ready,
// if not nil, is told the bound address once the listener is up.
func runRelay(ctx context.Context, o relayOptions, logger *slog.Logger, ready func(net.Addr)) error {
	if o.GatewayURL == "" {
		return &exitError{code: 2, err: errors.New("relay: --gateway is required")}
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return &exitError{code: 2, err: errors.New("relay: --tls-cert and --tls-key go together")}
	}
	if o.Rate <= 0 || o.Burst <= 0 || o.MaxBodyBytes <= 0 || o.UpstreamTimeout <= 0 || o.ShutdownTimeout <= 0 {
		return &exitError{code: 2, err: errors.New("relay: --rate, --burst, --max-body and timeouts must be positive")}
	}
	if o.MaxInFlight == 0 {
		o.MaxInFlight = relay.DefaultMaxInFlight
	}
	if o.MaxInFlight < 0 || o.MaxInFlight > 1<<16 {
		return &exitError{code: 2, err: errors.New("relay: --max-inflight must be between 1 and 65536")}
	}

	var clientTLS *tls.Config
	if o.GatewayCA != "" {
		pem, err := os.ReadFile(o.GatewayCA)
		if err != nil {
			return fmt.Errorf("relay: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return &exitError{code: 2, err: fmt.Errorf("relay: no certificates in %s", o.GatewayCA)}
		}
		clientTLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	client := relay.NewClient(clientTLS)
	defer client.CloseIdleConnections()

	h, err := relay.New(relay.Config{
		GatewayURL:      o.GatewayURL,
		KeysURL:         o.KeysURL,
		SignedKeysURL:   o.SignedKeysURL,
		Client:          client,
		MaxBodyBytes:    o.MaxBodyBytes,
		UpstreamTimeout: o.UpstreamTimeout,
		PerClientRate:   rate.Limit(o.Rate),
		PerClientBurst:  o.Burst,
		MaxInFlight:     o.MaxInFlight,
		Logger:          logger,
	})
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	for _, u := range h.PlainUpstreams() {
		logger.Warn("relay: upstream over plain HTTP to a host that is not loopback; anyone on that path sees the encrypted traffic and can answer as the gateway (clients with a key pin still refuse keys it did not sign): use https:// and --gateway-ca",
			"url", u)
	}

	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		// Long enough for the slowest gateway answer the relay waits for.
		WriteTimeout:   o.UpstreamTimeout + 10*time.Second,
		IdleTimeout:    120 * time.Second,
		MaxHeaderBytes: 16 << 10,
		// The server's own error log could name client addresses (TLS
		// handshake errors do); drop it.
		ErrorLog: slog.NewLogLogger(slog.DiscardHandler, slog.LevelError),
		BaseContext: func(net.Listener) context.Context {
			return context.WithoutCancel(ctx)
		},
	}
	if o.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(o.TLSCert, o.TLSKey)
		if err != nil {
			return &exitError{code: 2, err: fmt.Errorf("relay: %w", err)}
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}

	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	logger.Info("relay listening", "addr", ln.Addr().String(), "tls", o.TLSCert != "")
	if ready != nil {
		ready(ln.Addr())
	}

	errc := make(chan error, 1)
	go func() {
		if srv.TLSConfig != nil {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("relay: %w", err)
	case <-ctx.Done():
	}
	logger.Info("relay shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("relay: shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("relay: %w", err)
	}
	return nil
}
