package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/veil-telemetry/veil/internal/admin"
	"github.com/veil-telemetry/veil/internal/bench"
	"github.com/veil-telemetry/veil/internal/config"
	"github.com/veil-telemetry/veil/internal/gateway"
	"github.com/veil-telemetry/veil/internal/ingest"
	"github.com/veil-telemetry/veil/internal/schema"
	"github.com/veil-telemetry/veil/internal/server"
	"github.com/veil-telemetry/veil/internal/storage"
	"github.com/veil-telemetry/veil/internal/tlsconfig"
)

func newServeCmd() *cobra.Command {
	c := config.DefaultServe()
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the collector: OHTTP gateway, ingest, admin API and writer",
		Long: `Run the collector. The public listener (--listen) serves only the OHTTP
gateway (/gateway, /ohttp-keys, /ohttp-keys-signed,
/.well-known/ohttp-gateway) and health; the
ingest API is reachable only inside Oblivious HTTP. Restrict encapsulated
requests to your relays with --relay-allow and/or --relay-client-ca, so that
no client can skip the relay; without either, a public listener on a
non-loopback address is warned about at start. The admin listener
(--admin-listen) serves gRPC and REST for schemas, keys and queries,
/metrics, /openapi.json and a dashboard, behind bearer tokens.

With --database-url, serve waits up to --database-wait for the database to
accept connections. Without it, a private PostgreSQL is started under
--data-dir from the machine's PostgreSQL binaries and stopped on exit. On
first start the master key, an admin token (<data-dir>/admin-token, unless
--admin-token-file is given), the first gateway keys and the key-document
signing key are created; the signing key's pin, which apps ship to
authenticate the keys, is logged at every start (veil admin keys pin).

Every flag may also be set as an environment variable (VEIL_ and the flag
name in upper case, '-' as '_', e.g. VEIL_K_ANONYMITY=20) or in a file given
by --config with one "flag-name = value" per line. A flag beats the
environment, which beats the file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := config.Load(cmd.Flags(), os.Getenv); err != nil {
				return &exitError{code: 2, err: fmt.Errorf("serve: %w", err)}
			}
			if err := c.Validate(); err != nil {
				return &exitError{code: 2, err: fmt.Errorf("serve: invalid configuration:\n%w", err)}
			}
			config.ApplyMemoryLimit(c.MemoryLimit, cmd.Flags().Changed("memory-limit"), os.Getenv)
			config.ApplyGCPercent(c.GCPercent, cmd.Flags().Changed("gc-percent"), os.Getenv)
			logger := newServeLogger(cmd.ErrOrStderr(), c.LogLevel)
			if err := runServe(cmd.Context(), c, logger); err != nil {
				logger.Error("serve failed", "error", err.Error())
				return &exitError{code: 1, err: err}
			}
			return nil
		},
	}
	c.BindFlags(cmd.Flags())
	return cmd
}

func newServeLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// runServe runs veil serve until ctx ends, then drains: stop accepting,
// finish in-flight requests, flush the writer, stop the managed
// PostgreSQL.
func runServe(ctx context.Context, c config.Serve, logger *slog.Logger) error {
	// Secrets, TLS and listeners. Bind before starting PostgreSQL so a
	// taken port fails in milliseconds; connections wait in the backlog.
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	tokens, err := admin.ServeTokens(c.AdminTokenFile, c.DataDir, logger)
	if err != nil {
		return err
	}
	run := c.ServerConfig()
	run.Logger = logger
	if c.TLSCert != "" {
		// AEAD suites only; an expired certificate is logged.
		if run.TLS, err = tlsconfig.LoadServer(c.TLSCert, c.TLSKey, time.Now(), logger); err != nil {
			return fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
	}
	// Relays only: a relay's client certificate is asked for on the
	// public listener alone (the admin listener's browsers are not asked).
	pubTLS := run.TLS
	if c.RelayClientCA != "" {
		cas, err := tlsconfig.LoadCertPool(c.RelayClientCA)
		if err != nil {
			return fmt.Errorf("--relay-client-ca: %w", err)
		}
		pubTLS = tlsconfig.RequestClientCert(run.TLS, cas)
	}
	if c.RelayBypassable() {
		logger.Warn("the public listener is reachable from other hosts and accepts encapsulated requests from anyone: clients can bypass the relay and show the gateway their address; restrict it to your relays with --relay-allow or --relay-client-ca",
			"listen", c.Listen)
	}
	var lc net.ListenConfig
	pubLn, err := lc.Listen(ctx, "tcp", c.Listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	defer pubLn.Close()
	admLn, err := lc.Listen(ctx, "tcp", c.AdminListen)
	if err != nil {
		return fmt.Errorf("--admin-listen: %w", err)
	}
	defer admLn.Close()

	// Construct: database (migrated by Open), writer, admin plane with the
	// key ring, ingest behind the gateway. An external database may still
	// be starting (compose, a pod beside it): wait for it, bounded.
	if c.DatabaseURL != "" {
		first := cmp.Or(c.MigrationURL(), c.DatabaseURL) // what Open connects to first
		if err := storage.WaitForServer(ctx, first, storage.WaitPolicy{Max: c.DatabaseWait}, logger); err != nil {
			if errors.Is(err, storage.ErrServerNotReady) {
				err = fmt.Errorf("%w (--database-url); to wait longer at start, raise --database-wait", err)
			}
			return err
		}
	}
	db, err := storage.Open(ctx, storage.Config{URL: c.DatabaseURL, DataDir: c.DataDir,
		MigrationURL: c.MigrationURL(), MasterKeyFile: c.MasterKeyFile, StageKeyDir: c.StageKeyDir}, logger)
	if err != nil {
		return err
	}
	defer db.Close()
	if c.DatabaseURL != "" {
		db.WarnAboutLogging(ctx)
	}
	wcfg := c.WriterConfig()
	wcfg.Logger = logger
	writer, err := storage.NewWriter(db, wcfg)
	if err != nil {
		return err
	}
	var writerClosed sync.Once
	closeWriter := func(ctx context.Context) {
		writerClosed.Do(func() {
			if err := writer.Close(ctx); err != nil {
				logger.Error("writer did not flush in time", "error", err.Error())
			}
		})
	}
	defer closeWriter(context.Background())
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(admin.WriterMetrics(writer)...)
	registry, err := schema.NewRegistry(schema.RegistryConfig{Store: ingest.SchemaStore{DB: db}})
	if err != nil {
		return err
	}
	ready := admin.Readiness(db, writer) // one cached check for both listeners
	// The gateway is built after the admin plane (it reads keys through
	// it); it is set before either listener serves, so a key change made
	// through the admin plane always finds it.
	var gw *gateway.Gateway
	pp, err := setupTokens(c, reg, logger)
	if err != nil {
		return err
	}
	adm, err := admin.New(admin.Config{
		DB:                db,
		Tokens:            tokens,
		K:                 c.KAnonymity,
		KeyGrace:          c.KeyGrace,
		KeyRotate:         c.KeyRotation,
		MixInterval:       c.MixInterval,
		MixK:              c.MixK,
		ReleaseUnverified: c.ReleaseUnverified,
		Relays:            c.RelayPolicy(),
		KEMs:              c.KEMs,
		SchemaRegistered: func(name string, version int) {
			registry.Invalidate(name, version)
			pp.warnIfUnkeyed(ctx, registry, name, version)
		},
		SchemasDisabled: registry.SetDisabled,
		KeysChanged: func(ctx context.Context) {
			if gw != nil {
				gw.Refresh(ctx) // a failure is logged; the old ring stays until the next refresh
			}
		},
		Ready:        ready,
		Registerer:   reg,
		Gatherer:     reg,
		SecureCookie: run.TLS != nil,
		Pprof:        c.AdminPprof,
		Logger:       logger,
	})
	if err != nil {
		return err
	}
	if err := adm.EnsureKeys(ctx); err != nil {
		return fmt.Errorf("gateway keys: %w", err)
	}
	pin, err := adm.EnsureKeyPin(ctx)
	if err != nil {
		return fmt.Errorf("key pin: %w", err)
	}
	// Public: apps ship it so that no relay can substitute keys.
	logger.Info("key pin for clients (veil admin keys pin prints it)", "key_pin", pin.String())

	inner, err := innerHandler(c, registry, writer, reg, logger)
	if err != nil {
		return err
	}
	gw, err = gateway.New(gateway.Config{
		Keys:            adm,
		Inner:           inner,
		WithEncHash:     ingest.WithEncHash,
		WithToken:       pp.withToken,
		TokenChallenge:  pp.r,
		ReplayWindow:    c.ReplayWindow,
		MaxRequestBytes: c.MaxRequest,
		MaxInnerBytes:   gateway.DefaultMaxInnerBytes,
		MaxConcurrent:   c.MaxInFlight,
		Signer:          adm,
		Relays:          c.RelayAccess(),
		Logger:          logger,
	})
	if err != nil {
		return err
	}
	if err := gw.Refresh(ctx); err != nil {
		return err
	}
	public := http.NewServeMux()
	public.Handle("GET /readyz", admin.ReadyHandler(ready))
	public.Handle("/", gw)

	// Run: the listeners and the chores until ctx ends, then the drain.
	jobs, stopJobs := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	// Chores run on one replica at a time (storage.RunAsLeader).
	wg.Go(func() {
		db.RunAsLeader(jobs, storage.LeaderConfig{Logger: logger}, func(ctx context.Context) {
			var chores sync.WaitGroup
			chores.Go(func() { adm.RunRotation(ctx) })
			chores.Go(func() { db.RunRetentionLoop(ctx, c.RetentionEvery) })
			chores.Go(func() { adm.RunReleases(ctx) })
			chores.Wait()
		})
	})
	wg.Go(func() { adm.RunDisabledPoll(jobs) })
	if c.TokenIssuer != "" {
		wg.Go(func() { pp.r.RunDirectoryRefresh(jobs, http.DefaultClient, c.TokenIssuer, 5*time.Minute, logger) })
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "veil", Subsystem: "tokens", Name: "spent_set_size",
		Help: "Spent Privacy Pass tokens kept (about two windows).",
	}, func() float64 {
		n, _ := db.SpentTokens(jobs)
		return float64(n)
	}))
	run.AfterDrain = func(drain context.Context) {
		adm.GRPCServer().Stop()
		stopJobs()
		adm.Close()
		closeWriter(drain)
		wg.Wait()
		logger.Info("writer flushed; stopping database")
	}
	scheme := server.Scheme(run.TLS)
	logger.Info("veil serving", "public", scheme+"://"+pubLn.Addr().String(),
		"admin", scheme+"://"+admLn.Addr().String(), "k_anonymity", c.KAnonymity)
	return server.Run(ctx, run,
		server.Listener{Name: "public", Listener: pubLn, Handler: public, TLS: pubTLS},
		server.Listener{Name: "admin", Listener: admLn, Handler: adm.Handler(), HTTP2: adm.HTTP2Config()})
}

// innerHandler is the gateway's inner handler: the ingest API, called in
// process; no listener serves it in the clear. Its decoded body is bounded
// like the gateway's inner content.
func innerHandler(c config.Serve, registry *schema.Registry, writer *storage.Writer, reg prometheus.Registerer, logger *slog.Logger) (http.Handler, error) {
	if c.BenchNoopInner {
		// Validate allowed it on loopback listeners only.
		logger.Warn("--bench-noop-inner: events are NOT ingested (load testing only)")
		return bench.NoopInner, nil
	}
	metrics, err := ingest.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	srv, err := ingest.New(ingest.Config{Registry: registry, Writer: writer, MaxEvents: c.MaxEvents, Logger: logger, Metrics: metrics})
	if err != nil {
		return nil, err
	}
	return ingest.Handler(srv, logger, gateway.DefaultMaxInnerBytes)
}
