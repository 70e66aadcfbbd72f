package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/veil-telemetry/veil/internal/admin"
	"github.com/veil-telemetry/veil/internal/gateway"
	"github.com/veil-telemetry/veil/internal/ingest"
	"github.com/veil-telemetry/veil/internal/server"
	"github.com/veil-telemetry/veil/internal/storage"
	"github.com/veil-telemetry/veil/ohttp"
)

// Serve is the configuration of `veil serve`. Every field is a flag (see
// BindFlags); defaults are the owning packages' constants.
type Serve struct {
	DataDir     string
	DatabaseURL string
	// DatabaseURLFile holds the database URL, so a password in it stays
	// out of the process's command line and environment.
	DatabaseURLFile string
	Listen          string
	AdminListen     string
	AdminTokenFile  string
	MasterKeyFile   string
	// StageKeyDir holds the per-interval keys sealing staged requests
	// (default <data-dir>/stage-keys); replicas share it.
	StageKeyDir string
	// ReleaseUnverified includes the unverified stream in releases.
	ReleaseUnverified bool
	TLSCert           string
	TLSKey            string
	KAnonymity        int
	KEMs              []string
	KeyRotation       time.Duration
	KeyGrace          time.Duration
	ReplayWindow      time.Duration
	MaxRequest        int64
	MaxEvents         int
	RetentionEvery    time.Duration
	// MixInterval and MixK: the mixer checks the staged requests every
	// MixInterval and folds them into the rollups once at least MixK are
	// pending or a bucket has closed (storage.WriterConfig).
	MixInterval  time.Duration
	MixK         int
	ShutdownWait time.Duration
	// ReadHeaderTimeout bounds how long a connection may take to send a
	// request's headers on both listeners (slow-loris clients).
	ReadHeaderTimeout time.Duration
	// MaxInFlight bounds OHTTP requests the gateway handles at once;
	// beyond it the public listener answers 503 with Retry-After.
	MaxInFlight int
	// MemoryLimit is the Go runtime's soft memory limit in bytes (0: the
	// runtime default, or GOMEMLIMIT).
	MemoryLimit ByteSize
	// GCPercent is the collector's heap growth target
	// (runtime/debug.SetGCPercent; GOGC applies when it is not set).
	GCPercent int
	LogLevel  string
	// BenchNoopInner answers every decapsulated request without ingest,
	// for load tests of the gateway alone. Validate refuses it unless
	// both listeners are loopback, and serve warns on every start.
	BenchNoopInner bool
	AdminPprof     bool

	// Privacy Pass tokens (issue 21): the issuer's public keys from files
	// or a directory, or its directory URL; the redemption window; the
	// secret keying window contexts and spent-nonce hashes (default
	// <data-dir>/token.secret, created if missing; every replica shares it).
	TokenIssuerKeys []string
	TokenIssuer     string
	TokenWindow     time.Duration
	TokenSecretFile string

	// MigrationDatabaseURLFile holds the database owner's URL, used at
	// start to migrate and provision roles (storage.Config.MigrationURL);
	// migrationURL is its content, never kept past the start.
	MigrationDatabaseURLFile string
	migrationURL             string

	// DatabaseWait bounds how long serve waits at start for the database
	// of DatabaseURL to accept connections (storage.WaitForServer; 0:
	// one attempt).
	DatabaseWait time.Duration
	// RelayAllow and RelayClientCA restrict who may post encapsulated
	// requests to the public listener (gateway.RelayAccess).
	RelayAllow    []string
	RelayClientCA string
	relayAllow    []netip.Prefix
}

// DefaultDataDir is veil serve's and veil migrate's data directory.
const DefaultDataDir = "veil-data"

// DefaultServe is veil serve's configuration before flags.
func DefaultServe() Serve {
	return Serve{
		DataDir:           DefaultDataDir,
		Listen:            "127.0.0.1:8080",
		AdminListen:       "127.0.0.1:8081",
		KAnonymity:        admin.DefaultK,
		KEMs:              admin.DefaultKEMs(),
		KeyRotation:       admin.DefaultKeyRotate,
		KeyGrace:          admin.DefaultKeyGrace,
		ReplayWindow:      gateway.DefaultReplayWindow,
		MaxRequest:        gateway.DefaultMaxRequestBytes,
		MaxEvents:         ingest.DefaultMaxEvents,
		RetentionEvery:    storage.DefaultRetentionInterval,
		MixInterval:       storage.DefaultMixInterval,
		MixK:              storage.DefaultMixK,
		ShutdownWait:      server.DefaultShutdownTimeout,
		ReadHeaderTimeout: server.DefaultReadHeaderTimeout,
		MaxInFlight:       gateway.DefaultMaxConcurrent,
		MemoryLimit:       DefaultMemoryLimit,
		GCPercent:         DefaultGCPercent,
		LogLevel:          "info",
		DatabaseWait:      storage.DefaultStartWait,
	}
}

// BindFlags declares the flags, --config included. Their help text is the
// configuration reference (README.md copies it).
func (c *Serve) BindFlags(f *pflag.FlagSet) {
	BindFile(f)
	f.StringVar(&c.DataDir, "data-dir", c.DataDir, "data directory: managed PostgreSQL, master key, generated admin token")
	f.StringVar(&c.DatabaseURL, "database-url", c.DatabaseURL, "PostgreSQL URL; empty starts a private PostgreSQL under --data-dir")
	f.StringVar(&c.DatabaseURLFile, "database-url-file", c.DatabaseURLFile, "read --database-url from this `FILE` (first line), keeping its password out of ps and the environment")
	f.StringVar(&c.MigrationDatabaseURLFile, "migration-database-url-file", c.MigrationDatabaseURLFile, "read the database owner's URL from this `FILE`: used at start to migrate and set up the database roles, then closed; --database-url then logs in as the service login veil_service_<database>")
	f.DurationVar(&c.DatabaseWait, "database-wait", c.DatabaseWait, "how long to wait at start for the PostgreSQL of --database-url to accept connections, retrying with backoff (0: fail at the first refusal)")
	f.StringVar(&c.Listen, "listen", c.Listen, "public listener: the OHTTP gateway, key configurations and health")
	f.StringVar(&c.AdminListen, "admin-listen", c.AdminListen, "admin listener: gRPC, REST, metrics, dashboard")
	f.StringVar(&c.AdminTokenFile, "admin-token-file", c.AdminTokenFile, "admin bearer tokens, one per line as ROLE NAME TOKEN (ROLE read or admin) or a bare admin token; empty creates <data-dir>/admin-token")
	f.BoolVar(&c.ReleaseUnverified, "release-unverified", c.ReleaseUnverified, "include the unverified stream (batches without a Privacy Pass token for schemas whose tokens are optional) in aggregate releases; left out by default")
	f.StringVar(&c.StageKeyDir, "stage-key-dir", c.StageKeyDir, "directory of the per-interval keys that seal acknowledged requests until the mixer folds them (default <data-dir>/stage-keys); replicas on one database must share it (a shared volume), since whichever replica mixes needs every replica's keys")
	f.StringVar(&c.MasterKeyFile, "master-key-file", c.MasterKeyFile, "32-byte key sealing the gateway private keys at rest, mode 0600 (default <data-dir>/master.key, created if missing while the key ring holds no sealed key)")
	f.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "serve both listeners over TLS with this certificate chain (PEM)")
	f.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "private key for --tls-cert (PEM)")
	f.StringSliceVar(&c.RelayAllow, "relay-allow", c.RelayAllow, "accept encapsulated requests (POST /gateway) only from relays connecting from these networks (`CIDR`s or addresses, comma-separated; the TCP peer's address, so a load balancer in front must preserve it); others get 403. Keys and health stay open. With --relay-client-ca, either admits")
	f.StringVar(&c.RelayClientCA, "relay-client-ca", c.RelayClientCA, "accept encapsulated requests (POST /gateway) only from relays presenting a TLS client certificate signed by a CA in this PEM `FILE` (needs --tls-cert); others get 403. With --relay-allow, either admits")
	f.IntVar(&c.KAnonymity, "k-anonymity", c.KAnonymity, "aggregates suppress groups counting fewer events (at least 2)")
	f.StringSliceVar(&c.KEMs, "kems", c.KEMs, "KEMs that get a gateway key: "+strings.Join(ohttp.KEMNames(), ", "))
	f.DurationVar(&c.KeyRotation, "key-rotation", c.KeyRotation, "a new current gateway key after this long")
	f.DurationVar(&c.KeyGrace, "key-grace", c.KeyGrace, "a replaced key stays active this long")
	f.DurationVar(&c.ReplayWindow, "replay-window", c.ReplayWindow, "accepted skew of the inner request's Date")
	f.Int64Var(&c.MaxRequest, "max-request-bytes", c.MaxRequest, "largest encapsulated request")
	f.IntVar(&c.MaxEvents, "max-events", c.MaxEvents, "most events in one batch")
	f.DurationVar(&c.RetentionEvery, "retention-interval", c.RetentionEvery, "how often expired data and keys are dropped")
	f.DurationVar(&c.MixInterval, "mix-interval", c.MixInterval, "how often the mixer folds acknowledged requests into the rollups (and the life of a staging key)")
	f.IntVar(&c.MixK, "mix-k", c.MixK, "fewest requests in one mix, except at a bucket's end")
	f.DurationVar(&c.ShutdownWait, "shutdown-timeout", c.ShutdownWait, "how long SIGTERM waits for in-flight requests and the writer")
	f.DurationVar(&c.ReadHeaderTimeout, "read-header-timeout", c.ReadHeaderTimeout, "both listeners cut a connection that has not sent its request headers within this long")
	f.IntVar(&c.MaxInFlight, "max-inflight", c.MaxInFlight, "OHTTP requests handled at once; more are answered 503 with Retry-After before their body is read")
	f.Var(&c.MemoryLimit, "memory-limit", "Go runtime soft memory limit, e.g. 384MiB (0: none; GOMEMLIMIT applies when this is not set)")
	f.IntVar(&c.GCPercent, "gc-percent", c.GCPercent, "Go garbage collector target: heap growth in percent of the live heap before a collection, as GOGC (-1: off, leaving only --memory-limit; GOGC applies when this is not set)")
	f.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	f.BoolVar(&c.AdminPprof, "admin-pprof", c.AdminPprof, "serve Go runtime profiles at /debug/pprof/ on the admin listener, behind the token")
	f.StringArrayVar(&c.TokenIssuerKeys, "token-issuer-key", c.TokenIssuerKeys, "Privacy Pass issuer public key `FILE` (an RSASSA-PSS SPKI, as veil issuer writes it) or a directory of *.spki files; repeatable; the newest two are accepted")
	f.StringVar(&c.TokenIssuer, "token-issuer", c.TokenIssuer, "Privacy Pass issuer `URL`: its keys are fetched from its issuer directory and refreshed")
	f.DurationVar(&c.TokenWindow, "token-window", c.TokenWindow, "Privacy Pass redemption window, dividing a day, equal to the issuer's quota window (0: 24h)")
	f.StringVar(&c.TokenSecretFile, "token-secret-file", c.TokenSecretFile, "secret keying the token windows and spent-token hashes, shared by every replica (default <data-dir>/token.secret, created if missing)")
	f.BoolVar(&c.BenchNoopInner, "bench-noop-inner", c.BenchNoopInner, "load testing only, loopback listeners only: answer every decapsulated request 200 without ingest")
}

// Validate refuses bad settings and derives the ones that depend on
// others (the database URL from its file, the master key file from the
// data directory). Every message names the flag.
func (c *Serve) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.DataDir == "" {
		bad("--data-dir must not be empty")
	}
	for _, l := range []struct{ name, addr string }{{"--listen", c.Listen}, {"--admin-listen", c.AdminListen}} {
		if _, _, err := net.SplitHostPort(l.addr); err != nil {
			bad("%s %q: want host:port", l.name, l.addr)
		}
	}
	if c.Listen == c.AdminListen {
		bad("--listen and --admin-listen must differ: the admin API is never public")
	}
	if c.BenchNoopInner && (!IsLoopback(c.Listen) || !IsLoopback(c.AdminListen)) {
		bad("--bench-noop-inner stops ingesting: it is refused unless --listen and --admin-listen are loopback addresses")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		bad("--tls-cert and --tls-key go together")
	}
	if c.RelayClientCA != "" && c.TLSCert == "" {
		bad("--relay-client-ca needs --tls-cert: client certificates are a TLS feature")
	}
	c.relayAllow = nil
	if p, err := ParsePrefixes(c.RelayAllow); err != nil {
		bad("--relay-allow: %v", err)
	} else {
		c.relayAllow = p
	}
	if c.KAnonymity < admin.MinK {
		bad("--k-anonymity %d: must be at least %d", c.KAnonymity, admin.MinK)
	}
	if len(c.KEMs) == 0 {
		bad("--kems must name at least one KEM")
	}
	for _, k := range c.KEMs {
		if !slices.Contains(ohttp.KEMNames(), k) {
			bad("--kems: unknown KEM %q (known: %s)", k, strings.Join(ohttp.KEMNames(), ", "))
		}
	}
	if c.KeyRotation < time.Hour {
		bad("--key-rotation %v: must be at least 1h", c.KeyRotation)
	}
	if c.KeyGrace < 0 {
		bad("--key-grace must not be negative")
	}
	if c.ReplayWindow < time.Second || c.ReplayWindow > time.Hour {
		bad("--replay-window %v: must be between 1s and 1h", c.ReplayWindow)
	}
	if c.MaxRequest < 1024 || c.MaxRequest > 64<<20 {
		bad("--max-request-bytes %d: must be between 1024 and 64 MiB", c.MaxRequest)
	}
	if c.MaxEvents < 1 || c.MaxEvents > 100000 {
		bad("--max-events %d: must be between 1 and 100000", c.MaxEvents)
	}
	if c.RetentionEvery < time.Minute {
		bad("--retention-interval %v: must be at least 1m", c.RetentionEvery)
	}
	if c.DatabaseWait < 0 || c.DatabaseWait > time.Hour {
		bad("--database-wait %v: must be between 0 and 1h", c.DatabaseWait)
	}
	if c.MixInterval < time.Second || c.MixInterval > time.Hour {
		bad("--mix-interval %v: must be between 1s and 1h", c.MixInterval)
	}
	if c.MixK < 1 || c.MixK > 100000 {
		bad("--mix-k %d: must be between 1 and 100000", c.MixK)
	}
	if c.ShutdownWait <= 0 {
		bad("--shutdown-timeout must be positive")
	}
	if c.ReadHeaderTimeout < 100*time.Millisecond || c.ReadHeaderTimeout > server.DefaultReadTimeout {
		bad("--read-header-timeout %v: must be between 100ms and %v", c.ReadHeaderTimeout, server.DefaultReadTimeout)
	}
	if c.MaxInFlight < 1 || c.MaxInFlight > 1<<16 {
		bad("--max-inflight %d: must be between 1 and 65536", c.MaxInFlight)
	}
	if err := checkMemoryLimit(c.MemoryLimit); err != nil {
		errs = append(errs, err)
	}
	if c.GCPercent != -1 && (c.GCPercent < 25 || c.GCPercent > 10000) {
		bad("--gc-percent %d: must be -1 or between 25 and 10000", c.GCPercent)
	} else if c.GCPercent == -1 && c.MemoryLimit == 0 {
		bad("--gc-percent -1 needs a --memory-limit")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("--log-level %q: want debug, info, warn or error", c.LogLevel)
	}
	if c.DatabaseURLFile != "" {
		if c.DatabaseURL != "" {
			bad("--database-url and --database-url-file exclude each other")
		} else if u, err := ReadSecretLine(c.DatabaseURLFile); err != nil {
			bad("--database-url-file: %v", err)
		} else {
			c.DatabaseURL = u
		}
	}
	if c.MigrationDatabaseURLFile != "" {
		if c.DatabaseURL == "" {
			bad("--migration-database-url-file needs --database-url or --database-url-file (the service login's URL)")
		} else if u, err := ReadSecretLine(c.MigrationDatabaseURLFile); err != nil {
			bad("--migration-database-url-file: %v", err)
		} else {
			c.migrationURL = u
		}
	}
	if c.MasterKeyFile == "" && c.DataDir != "" {
		c.MasterKeyFile = filepath.Join(c.DataDir, "master.key")
	}
	if len(c.TokenIssuerKeys) > 0 && c.TokenIssuer != "" {
		bad("--token-issuer-key and --token-issuer are exclusive")
	}
	if c.TokenWindow < 0 || (c.TokenWindow > 0 && (24*time.Hour)%c.TokenWindow != 0) {
		bad("--token-window must divide a day (1h, 6h, 24h…)")
	}
	if c.TokenSecretFile == "" && c.DataDir != "" {
		c.TokenSecretFile = filepath.Join(c.DataDir, "token.secret")
	}
	return errors.Join(errs...)
}

// WriterConfig is the batch writer's and mixer's configuration: the mix
// settings, and enc hashes kept for twice the replay window (a request's
// Date may be up to one window ahead when it first arrives).
func (c *Serve) WriterConfig() storage.WriterConfig {
	return storage.WriterConfig{MixInterval: c.MixInterval, MixK: c.MixK,
		EncHashTTL: max(storage.DefaultEncHashTTL, 2*c.ReplayWindow)}
}

// ServerConfig is how serve's listeners run (without TLS; the caller
// loads --tls-cert): h2c too, for gRPC clients of the admin listener.
func (c *Serve) ServerConfig() server.Config {
	return server.Config{ReadHeaderTimeout: c.ReadHeaderTimeout, UnencryptedHTTP2: true, ShutdownTimeout: c.ShutdownWait}
}

// IsLoopback reports whether a host:port listens on loopback only: a
// loopback IP or "localhost", never an empty host (all interfaces).
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// RelayAccess is who may post encapsulated requests, from --relay-allow
// (parsed by Validate) and --relay-client-ca; the listener's TLS
// configuration must then ask for client certificates
// (tlsconfig.RequestClientCert).
func (c *Serve) RelayAccess() gateway.RelayAccess {
	return gateway.RelayAccess{Allow: c.relayAllow, ClientCert: c.RelayClientCA != ""}
}

// RelayBypassable reports whether clients could skip the relay: the
// public listener is reachable from other hosts and no relay restriction
// is set. veil serve warns about it at start.
func (c *Serve) RelayBypassable() bool {
	return !c.RelayAccess().Restricted() && !IsLoopback(c.Listen)
}

// ParsePrefixes parses network prefixes in CIDR notation or single
// addresses (a /32 or /128), IPv4-mapped IPv6 ones as IPv4.
func ParsePrefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil || a.Zone() != "" {
				return nil, fmt.Errorf("%q: want a CIDR such as 10.0.0.0/8 or an address", s)
			}
			a = a.Unmap()
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%q: want a CIDR such as 10.0.0.0/8 or an address", s)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		if p.Bits() == 0 {
			return nil, fmt.Errorf("%q matches every address: name the networks of your relays or load balancers", s)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// MigrationURL is the database owner's URL read from
// MigrationDatabaseURLFile by Validate (empty without it): storage.Open
// migrates and provisions roles with it, then closes that connection.
func (c *Serve) MigrationURL() string { return c.migrationURL }

// RelayPolicy describes the relays veil serve accepts encapsulated
// requests from (--relay-allow, --relay-client-ca), for the privacy
// report; nil when any relay may post.
func (c Serve) RelayPolicy() []string {
	out := slices.Clone(c.RelayAllow)
	if c.RelayClientCA != "" {
		out = append(out, "relays with a client certificate from the configured CA")
	}
	return out
}
