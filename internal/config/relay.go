package config

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/spf13/pflag"

	"github.com/veil-telemetry/veil/internal/relay"
	"github.com/veil-telemetry/veil/internal/server"
)

// Relay is the configuration of `veil relay`, loaded like Serve's.
type Relay struct {
	Listen string
	// Gateways are the gateway's POST URLs: one, or its replicas.
	Gateways        []string
	KeysURL         string
	SignedKeysURL   string
	TLSCert         string
	TLSKey          string
	GatewayCA       string
	ClientCert      string
	ClientKey       string
	TrustedProxies  []string
	ProxyProtocol   bool
	trustedProxies  []netip.Prefix
	MaxBodyBytes    int64
	Rate            float64
	Burst           int
	UpstreamTimeout time.Duration
	ShutdownTimeout time.Duration
	MaxInFlight     int
	MemoryLimit     ByteSize
}

// DefaultRelay is veil relay's configuration before flags.
func DefaultRelay() Relay {
	return Relay{
		Listen:          "127.0.0.1:8082",
		MaxBodyBytes:    relay.DefaultMaxBodyBytes,
		Rate:            float64(relay.DefaultPerClientRate),
		Burst:           relay.DefaultPerClientBurst,
		UpstreamTimeout: relay.DefaultUpstreamTimeout,
		ShutdownTimeout: server.DefaultShutdownTimeout,
		MaxInFlight:     relay.DefaultMaxInFlight,
		MemoryLimit:     DefaultMemoryLimit,
	}
}

// BindFlags declares the flags, --config included.
func (c *Relay) BindFlags(f *pflag.FlagSet) {
	BindFile(f)
	f.StringVar(&c.Listen, "listen", c.Listen, "address to listen on")
	f.StringSliceVar(&c.Gateways, "gateway", c.Gateways, "the gateway's POST `URL`, e.g. https://collector.example/gateway (required); repeat it (or separate by commas) for replicas of one collector sharing its database: requests go round robin to those that answer, one that fails or times out is skipped for 10s, keys come from any of them")
	f.StringVar(&c.KeysURL, "keys-url", c.KeysURL, "where the gateway publishes its keys (default: /ohttp-keys on each --gateway's origin)")
	f.StringVar(&c.SignedKeysURL, "signed-keys-url", c.SignedKeysURL, "where the gateway publishes its signed key document (default: /ohttp-keys-signed on each --gateway's origin)")
	f.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "serve TLS with this certificate chain (PEM)")
	f.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "private key for --tls-cert (PEM)")
	f.StringVar(&c.GatewayCA, "gateway-ca", c.GatewayCA, "verify the gateway's certificate against the CA certificates in this PEM file instead of the system roots")
	f.StringVar(&c.ClientCert, "client-cert", c.ClientCert, "present this TLS client certificate chain (PEM) to the gateway, for a gateway that admits only relays with one (veil serve --relay-client-ca)")
	f.StringVar(&c.ClientKey, "client-key", c.ClientKey, "private key for --client-cert (PEM)")
	f.StringSliceVar(&c.TrustedProxies, "trusted-proxies", c.TrustedProxies, "load balancers in front of the relay (`CIDR`s or addresses, comma-separated): from them only, the client address for the per-address limits is the rightmost X-Forwarded-For entry that is not one of them (or, with --proxy-protocol, the PROXY header's); it is never forwarded or logged. Without it, clients behind one load balancer or NAT share its address's limits")
	f.BoolVar(&c.ProxyProtocol, "proxy-protocol", c.ProxyProtocol, "expect a PROXY protocol header (v1 or v2) at the start of every connection from --trusted-proxies (connections from other peers must not send one)")
	f.Int64Var(&c.MaxBodyBytes, "max-body", c.MaxBodyBytes, "largest encapsulated request accepted, in bytes")
	f.Float64Var(&c.Rate, "rate", c.Rate, "requests per second allowed per client address (IPv4 address or IPv6 /64)")
	f.IntVar(&c.Burst, "burst", c.Burst, "burst allowed per client address")
	f.DurationVar(&c.UpstreamTimeout, "upstream-timeout", c.UpstreamTimeout, "how long to wait for the gateway")
	f.IntVar(&c.MaxInFlight, "max-inflight", c.MaxInFlight, "requests forwarded at once; more are answered 503 with Retry-After before their body is read")
	f.Var(&c.MemoryLimit, "memory-limit", "Go runtime soft memory limit, e.g. 384MiB (0: none; GOMEMLIMIT applies when this is not set)")
	f.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long to drain in-flight requests on shutdown")
}

// The relay listener's fixed settings: its requests carry no large
// headers, and an answer may wait for the gateway's.
const (
	relayMaxHeaderBytes = 16 << 10
	relayWriteSlack     = 10 * time.Second
)

// TrustedProxyPrefixes is --trusted-proxies, parsed by Validate.
func (c *Relay) TrustedProxyPrefixes() []netip.Prefix { return c.trustedProxies }

// ServerConfig is how the relay's listener runs (without TLS; the caller
// loads --tls-cert).
func (c *Relay) ServerConfig() server.Config {
	return server.Config{
		WriteTimeout:    c.UpstreamTimeout + relayWriteSlack,
		MaxHeaderBytes:  relayMaxHeaderBytes,
		ShutdownTimeout: c.ShutdownTimeout,
	}
}

// Validate refuses bad settings; every message names the flag.
func (c *Relay) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(c.Gateways) == 0 {
		bad("--gateway is required")
	}
	for i, g := range c.Gateways {
		if slices.Contains(c.Gateways[:i], g) {
			bad("--gateway %s is given twice", g)
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		bad("--tls-cert and --tls-key go together")
	}
	c.trustedProxies = nil
	if p, err := ParsePrefixes(c.TrustedProxies); err != nil {
		bad("--trusted-proxies: %v", err)
	} else {
		c.trustedProxies = p
	}
	if c.ProxyProtocol && len(c.TrustedProxies) == 0 {
		bad("--proxy-protocol needs --trusted-proxies: only trusted load balancers may name a client's address")
	}
	if (c.ClientCert == "") != (c.ClientKey == "") {
		bad("--client-cert and --client-key go together")
	}
	if c.Rate <= 0 || c.Burst <= 0 || c.MaxBodyBytes <= 0 || c.UpstreamTimeout <= 0 || c.ShutdownTimeout <= 0 {
		bad("--rate, --burst, --max-body and timeouts must be positive")
	}
	if c.MaxInFlight < 1 || c.MaxInFlight > 1<<16 {
		bad("--max-inflight must be between 1 and 65536")
	}
	if err := checkMemoryLimit(c.MemoryLimit); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
