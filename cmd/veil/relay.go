package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/time/rate"

	"github.com/veil-telemetry/veil/internal/config"
	"github.com/veil-telemetry/veil/internal/relay"
	"github.com/veil-telemetry/veil/internal/server"
	"github.com/veil-telemetry/veil/internal/tlsconfig"
)

func newRelayCmd() *cobra.Command {
	c := config.DefaultRelay()
	cmd := &cobra.Command{
		Use:   "relay --gateway URL [--gateway URL]...",
		Short: "Run an Oblivious HTTP relay in front of a gateway",
		Long: `Run an Oblivious HTTP relay (RFC 9458). Clients POST message/ohttp-req to
/ (or /gateway); the relay forwards only the body and its content type to the
gateway given by --gateway and passes the answer back. GET /ohttp-keys
and /.well-known/ohttp-gateway serve the gateway's key configurations from
the same origin's /ohttp-keys (or --keys-url) through a shared cache, and
GET /ohttp-keys-signed the signed key document that clients with a key pin
verify, from the same origin's /ohttp-keys-signed (or --signed-keys-url).

--gateway may be repeated for replicas of one collector (veil serve
processes sharing a database, hence a key ring): requests go round robin to
the replicas that answer; one that cannot be reached or times out is skipped
for a while, and a request no replica could be connected to is tried on the
next. Key documents come from any replica that answers.

Requests are limited per client address (--rate, --burst; an IPv4 address or
an IPv6 /64). Behind a load balancer or NAT every client shares its address
and so its limit: name the load balancers with --trusted-proxies, and the
relay takes each client's address from their X-Forwarded-For (or, with
--proxy-protocol, their PROXY protocol header). A gateway that admits only
relays with a client certificate gets --client-cert and --client-key.

Serve clients over TLS (--tls-cert, --tls-key): the SDK refuses a plain
http:// relay that is not on loopback. A plain http:// --gateway that is not
on loopback is warned about at start.

The relay forwards no client header, never passes on or logs a client
address, and cannot decrypt anything: it holds no keys.

Settings load as veil serve's do: a flag, else VEIL_ and the flag name in
upper case ('-' as '_'), else a line "flag-name = value" of the --config
file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := config.Load(cmd.Flags(), os.Getenv); err != nil {
				return &exitError{code: 2, err: fmt.Errorf("relay: %w", err)}
			}
			if err := c.Validate(); err != nil {
				return &exitError{code: 2, err: fmt.Errorf("relay: %w", err)}
			}
			config.ApplyMemoryLimit(c.MemoryLimit, cmd.Flags().Changed("memory-limit"), os.Getenv)
			logger := slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), nil))
			return runRelay(cmd.Context(), c, logger, nil)
		},
	}
	c.BindFlags(cmd.Flags())
	return cmd
}

// runRelay serves until ctx is done, then drains in-flight requests. ready,
// if not nil, is told the bound address once the listener is up.
func runRelay(ctx context.Context, c config.Relay, logger *slog.Logger, ready func(net.Addr)) error {
	var clientCert *tls.Certificate
	if c.ClientCert != "" {
		cert, err := tlsconfig.LoadClientCert(c.ClientCert, c.ClientKey, time.Now(), logger)
		if err != nil {
			return &exitError{code: 2, err: fmt.Errorf("relay: --client-cert/--client-key: %w", err)}
		}
		clientCert = &cert
	}
	clientTLS, err := relay.GatewayTLS(c.GatewayCA, clientCert)
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("relay: --gateway-ca: %w", err)}
	}
	client := relay.NewClient(clientTLS)
	defer client.CloseIdleConnections()
	h, err := relay.New(relay.Config{
		GatewayURL:      c.Gateways[0],
		Replicas:        c.Gateways[1:],
		KeysURL:         c.KeysURL,
		SignedKeysURL:   c.SignedKeysURL,
		Client:          client,
		MaxBodyBytes:    c.MaxBodyBytes,
		UpstreamTimeout: c.UpstreamTimeout,
		PerClientRate:   rate.Limit(c.Rate),
		PerClientBurst:  c.Burst,
		TrustedProxies:  c.TrustedProxyPrefixes(),
		ProxyProtocol:   c.ProxyProtocol,
		MaxInFlight:     c.MaxInFlight,
		Logger:          logger,
	})
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	for _, u := range h.PlainUpstreams() {
		logger.Warn("relay: upstream over plain HTTP to a host that is not loopback; anyone on that path sees the encrypted traffic and can answer as the gateway (clients with a key pin still refuse keys it did not sign): use https:// and --gateway-ca",
			"url", u)
	}

	srv := c.ServerConfig()
	srv.Logger = logger
	if c.TLSCert != "" {
		// AEAD suites only; an expired certificate is logged.
		if srv.TLS, err = tlsconfig.LoadServer(c.TLSCert, c.TLSKey, time.Now(), logger); err != nil {
			return &exitError{code: 2, err: fmt.Errorf("relay: %w", err)}
		}
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	ln = h.Listener(ln) // PROXY headers from --trusted-proxies, with --proxy-protocol
	logger.Info("relay listening", "addr", ln.Addr().String(), "tls", srv.TLS != nil)
	if ready != nil {
		ready(ln.Addr())
	}
	if err := server.Run(ctx, srv, server.Listener{Name: "relay", Listener: ln, Handler: h}); err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	return nil
}
