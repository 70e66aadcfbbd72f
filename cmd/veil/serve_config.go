package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/veil-telemetry/veil/internal/admin"
	"github.com/veil-telemetry/veil/internal/gateway"
	"github.com/veil-telemetry/veil/internal/ingest"
)

// serveConfig is the configuration of `veil serve`. Every field is a flag;
// each flag may also come from the environment (VEIL_ + the flag name in
// upper case with '-' as '_') or from a config file (--config, one
// "flag-name = value" per line). Precedence: flag, environment, file,
// default.
type serveConfig struct {
	DataDir     string
	DatabaseURL string
	// DatabaseURLFile holds the database URL, so a password in it stays
	// out of the process's command line and environment.
	DatabaseURLFile string
	Listen          string
	AdminListen     string
	AdminTokenFile  string
	MasterKeyFile   string
	TLSCert         string
	TLSKey          string
	KAnonymity      int
	KEMs            []string
	KeyRotation     time.Duration
	KeyGrace        time.Duration
	ReplayWindow    time.Duration
	MaxRequest      int64
	MaxEvents       int
	RetentionEvery  time.Duration
	ShutdownWait    time.Duration
	// ReadHeaderTimeout bounds how long a connection may take to send a
	// request's headers on both listeners (slow-loris clients).
	ReadHeaderTimeout time.Duration
	// MaxInFlight bounds OHTTP requests the gateway handles at once;
	// beyond it the public listener answers 503 with Retry-After.
	MaxInFlight int
	// MemoryLimit is the Go runtime's soft memory limit in bytes (0: the
	// runtime default, or GOMEMLIMIT).
	MemoryLimit byteSize
	// GCPercent is the collector's heap growth target
	// (runtime/debug.SetGCPercent; GOGC applies when it is not set).
	GCPercent      int
	LogLevel       string
	BenchNoopInner bool
	AdminPprof     bool

	// MigrationDatabaseURLFile holds the database owner's URL, used at
	// start to migrate and provision roles (storage.Config.MigrationURL);
	// migrationURL is its content, never kept past the start.
	MigrationDatabaseURLFile string
	migrationURL             string
}

func defaultServeConfig() serveConfig {
	return serveConfig{
		DataDir:           "veil-data",
		Listen:            "127.0.0.1:8080",
		AdminListen:       "127.0.0.1:8081",
		KAnonymity:        admin.DefaultK,
		KEMs:              []string{"x25519", "xwing"},
		KeyRotation:       admin.DefaultKeyRotate,
		KeyGrace:          admin.DefaultKeyGrace,
		ReplayWindow:      5 * time.Minute,
		MaxRequest:        1 << 20,
		MaxEvents:         ingest.DefaultMaxEvents,
		RetentionEvery:    time.Hour,
		ShutdownWait:      30 * time.Second,
		ReadHeaderTimeout: defaultReadHeaderTimeout,
		MaxInFlight:       gateway.DefaultMaxConcurrent,
		MemoryLimit:       defaultMemoryLimit,
		GCPercent:         defaultGCPercent,
		LogLevel:          "info",
	}
}

// bindServeFlags declares the flags. Their help text is the configuration
// reference (README.md copies it).
func bindServeFlags(f *pflag.FlagSet, c *serveConfig) {
	f.String("config", "", "read settings from `FILE`: one flag-name = value per line, # comments")
	f.StringVar(&c.DataDir, "data-dir", c.DataDir, "data directory: managed PostgreSQL, master key, generated admin token")
	f.StringVar(&c.DatabaseURL, "database-url", c.DatabaseURL, "PostgreSQL URL; empty starts a private PostgreSQL under --data-dir")
	f.StringVar(&c.DatabaseURLFile, "database-url-file", c.DatabaseURLFile, "read --database-url from this `FILE` (first line), keeping its password out of ps and the environment")
	f.StringVar(&c.MigrationDatabaseURLFile, "migration-database-url-file", c.MigrationDatabaseURLFile, "read the database owner's URL from this `FILE`: used at start to migrate and set up the database roles, then closed; --database-url then logs in as the service login veil_service_<database>")
	f.StringVar(&c.Listen, "listen", c.Listen, "public listener: the OHTTP gateway, key configurations and health")
	f.StringVar(&c.AdminListen, "admin-listen", c.AdminListen, "admin listener: gRPC, REST, metrics, dashboard")
	f.StringVar(&c.AdminTokenFile, "admin-token-file", c.AdminTokenFile, "admin bearer tokens, one per line; empty creates <data-dir>/admin-token")
	f.StringVar(&c.MasterKeyFile, "master-key-file", c.MasterKeyFile, "32-byte key sealing the gateway private keys at rest, mode 0600 (default <data-dir>/master.key, created if missing while the key ring holds no sealed key)")
	f.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "serve both listeners over TLS with this certificate chain (PEM)")
	f.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "private key for --tls-cert (PEM)")
	f.IntVar(&c.KAnonymity, "k-anonymity", c.KAnonymity, "aggregates suppress groups counting fewer events (at least 2)")
	f.StringSliceVar(&c.KEMs, "kems", c.KEMs, "KEMs that get a gateway key: "+strings.Join(admin.KEMNames(), ", "))
	f.DurationVar(&c.KeyRotation, "key-rotation", c.KeyRotation, "a new current gateway key after this long")
	f.DurationVar(&c.KeyGrace, "key-grace", c.KeyGrace, "a replaced key stays active this long")
	f.DurationVar(&c.ReplayWindow, "replay-window", c.ReplayWindow, "accepted skew of the inner request's Date")
	f.Int64Var(&c.MaxRequest, "max-request-bytes", c.MaxRequest, "largest encapsulated request")
	f.IntVar(&c.MaxEvents, "max-events", c.MaxEvents, "most events in one batch")
	f.DurationVar(&c.RetentionEvery, "retention-interval", c.RetentionEvery, "how often expired data and keys are dropped")
	f.DurationVar(&c.ShutdownWait, "shutdown-timeout", c.ShutdownWait, "how long SIGTERM waits for in-flight requests and the writer")
	f.DurationVar(&c.ReadHeaderTimeout, "read-header-timeout", c.ReadHeaderTimeout, "both listeners cut a connection that has not sent its request headers within this long")
	f.IntVar(&c.MaxInFlight, "max-inflight", c.MaxInFlight, "OHTTP requests handled at once; more are answered 503 with Retry-After before their body is read")
	f.Var(&c.MemoryLimit, "memory-limit", "Go runtime soft memory limit, e.g. 384MiB (0: none; GOMEMLIMIT applies when this is not set)")
	f.IntVar(&c.GCPercent, "gc-percent", c.GCPercent, "Go garbage collector target: heap growth in percent of the live heap before a collection, as GOGC (-1: off, leaving only --memory-limit; GOGC applies when this is not set)")
	f.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	f.BoolVar(&c.AdminPprof, "admin-pprof", c.AdminPprof, "serve Go runtime profiles at /debug/pprof/ on the admin listener, behind the token")
	f.BoolVar(&c.BenchNoopInner, "bench-noop-inner", c.BenchNoopInner, "load testing only: answer every decapsulated request 200 without ingest")
}

// envName is the environment variable of a flag.
func envName(flag string) string {
	return "VEIL_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// applyEnvAndFile fills every flag not given on the command line from the
// environment, then from the config file. A bad value is an error naming
// its source.
func applyEnvAndFile(f *pflag.FlagSet, getenv func(string) string) error {
	file := map[string]string{}
	path, _ := f.GetString("config")
	if !f.Changed("config") {
		path = getenv(envName("config"))
	}
	if path != "" {
		fh, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("config file: %w", err)
		}
		file, err = parseConfigFile(fh, f)
		fh.Close()
		if err != nil {
			return fmt.Errorf("config file %s: %w", path, err)
		}
	}
	var errs []error
	f.VisitAll(func(fl *pflag.Flag) {
		if fl.Changed || fl.Name == "config" {
			return
		}
		if v := getenv(envName(fl.Name)); v != "" {
			if err := f.Set(fl.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", envName(fl.Name), err))
			}
			return
		}
		if v, ok := file[fl.Name]; ok {
			if err := f.Set(fl.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("config file: %s: %w", fl.Name, err))
			}
		}
	})
	return errors.Join(errs...)
}

// parseConfigFile reads "name = value" lines; names are flag names.
func parseConfigFile(r io.Reader, f *pflag.FlagSet) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("line %d: want name = value", n)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		v = strings.Trim(v, `"`)
		if f.Lookup(k) == nil || k == "config" {
			return nil, fmt.Errorf("line %d: unknown setting %q", n, k)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("line %d: %s set twice", n, k)
		}
		out[k] = v
	}
	return out, sc.Err()
}

// validate refuses bad settings and derives defaults that depend on
// others. Every message names the flag.
func (c *serveConfig) validate() error {
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
	if (c.TLSCert == "") != (c.TLSKey == "") {
		bad("--tls-cert and --tls-key go together")
	}
	if c.KAnonymity < admin.MinK {
		bad("--k-anonymity %d: must be at least %d", c.KAnonymity, admin.MinK)
	}
	if len(c.KEMs) == 0 {
		bad("--kems must name at least one KEM")
	}
	names := admin.KEMNames()
	sort.Strings(names)
	for _, k := range c.KEMs {
		if i := sort.SearchStrings(names, k); i == len(names) || names[i] != k {
			bad("--kems: unknown KEM %q (known: %s)", k, strings.Join(names, ", "))
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
	if c.ShutdownWait <= 0 {
		bad("--shutdown-timeout must be positive")
	}
	if c.ReadHeaderTimeout < 100*time.Millisecond || c.ReadHeaderTimeout > readTimeout {
		bad("--read-header-timeout %v: must be between 100ms and %v", c.ReadHeaderTimeout, readTimeout)
	}
	if c.MaxInFlight < 1 || c.MaxInFlight > 1<<16 {
		bad("--max-inflight %d: must be between 1 and 65536", c.MaxInFlight)
	}
	if c.MemoryLimit != 0 && c.MemoryLimit < minMemoryLimit {
		bad("--memory-limit %v: must be 0 or at least %v", c.MemoryLimit, byteSize(minMemoryLimit))
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
		} else if u, err := readSecretLine(c.DatabaseURLFile); err != nil {
			bad("--database-url-file: %v", err)
		} else {
			c.DatabaseURL = u
		}
	}
	if c.MigrationDatabaseURLFile != "" {
		if c.DatabaseURL == "" {
			bad("--migration-database-url-file needs --database-url or --database-url-file (the service login's URL)")
		} else if u, err := readSecretLine(c.MigrationDatabaseURLFile); err != nil {
			bad("--migration-database-url-file: %v", err)
		} else {
			c.migrationURL = u
		}
	}
	if c.MasterKeyFile == "" && c.DataDir != "" {
		c.MasterKeyFile = filepath.Join(c.DataDir, "master.key")
	}
	return errors.Join(errs...)
}

// readSecretLine returns the first line of a secret file, trimmed. Errors
// name the file, never its content.
func readSecretLine(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, 64<<10))
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return "", err
		}
		return "", errors.New("file is empty")
	}
	v := strings.TrimSpace(sc.Text())
	if v == "" {
		return "", errors.New("first line is empty")
	}
	return v, nil
}

// Soft memory limit (runtime/debug.SetMemoryLimit) of veil serve and veil
// relay. Their in-flight limits bound what they hold; the soft limit makes
// the collector return garbage sooner when a burst nears it, well below
// the 512 MiB a 2-core deployment is sized for.
const (
	defaultMemoryLimit = 384 << 20
	minMemoryLimit     = 32 << 20
)

// defaultGCPercent is veil serve's collector target. Its live heap is
// small (a few MiB: pools, key ring, caches), so at the runtime's default
// of 100 the collector runs every few MiB allocated — every couple of
// hundred gateway requests — and its fixed per-cycle cost came to about a
// fifth of the process's CPU per request under gateway load. At 400 the
// heap settles at a few tens of MiB and the memory limit still bounds a
// burst.
const defaultGCPercent = 400

// byteSize is a flag value in bytes, written as GOMEMLIMIT is: a number
// with an optional B, KiB, MiB or GiB suffix.
type byteSize int64

func (b *byteSize) String() string {
	switch v := int64(*b); {
	case v == 0:
		return "0"
	case v%(1<<30) == 0:
		return strconv.FormatInt(v>>30, 10) + "GiB"
	case v%(1<<20) == 0:
		return strconv.FormatInt(v>>20, 10) + "MiB"
	case v%(1<<10) == 0:
		return strconv.FormatInt(v>>10, 10) + "KiB"
	default:
		return strconv.FormatInt(v, 10) + "B"
	}
}

func (b *byteSize) Set(s string) error {
	num, mul := strings.TrimSpace(s), int64(1)
	for _, u := range []struct {
		suffix string
		mul    int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"B", 1}} {
		if n, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mul = n, u.mul
			break
		}
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v < 0 || v > (1<<62)/mul {
		return fmt.Errorf("%q: want a size such as 384MiB", s)
	}
	*b = byteSize(v * mul)
	return nil
}

func (*byteSize) Type() string { return "size" }

// applyMemoryLimit sets the runtime's soft memory limit from a flag. A flag
// left at its default yields to GOMEMLIMIT in the environment; 0 leaves
// the runtime alone.
func applyMemoryLimit(limit byteSize, changed bool, getenv func(string) string) {
	if limit == 0 || (!changed && getenv("GOMEMLIMIT") != "") {
		return
	}
	debug.SetMemoryLimit(int64(limit))
}

// applyGCPercent sets the collector's target from a flag. A flag left at
// its default yields to GOGC in the environment.
func applyGCPercent(percent int, changed bool, getenv func(string) string) {
	if !changed && getenv("GOGC") != "" {
		return
	}
	debug.SetGCPercent(percent)
}
