package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/veil-telemetry/veil/internal/admin"
	"github.com/veil-telemetry/veil/internal/gateway"
	"github.com/veil-telemetry/veil/internal/ingest"
	"github.com/veil-telemetry/veil/internal/schema"
	"github.com/veil-telemetry/veil/internal/storage"
	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

func newServeCmd() *cobra.Command {
	c := defaultServeConfig()
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the collector: OHTTP gateway, ingest, admin API and writer",
		Long: `Run the collector. The public listener (--listen) serves only the OHTTP
gateway (/gateway, /ohttp-keys, /.well-known/ohttp-gateway) and health; the
ingest API is reachable only inside Oblivious HTTP. The admin listener
(--admin-listen) serves gRPC and REST for schemas, keys and queries,
/metrics, /openapi.json and a dashboard, behind bearer tokens.

Without --database-url, a private PostgreSQL is started under --data-dir
from the machine's PostgreSQL binaries and stopped on exit. On first start
the master key, an admin token (<data-dir>/admin-token, unless
--admin-token-file is given) and the first gateway keys are created.

Every flag may also be set as an environment variable (VEIL_ and the flag
name in upper case, '-' as '_', e.g. VEIL_K_ANONYMITY=20) or in a file given
by --config with one "flag-name = value" per line. A flag beats the
environment, which beats the file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnvAndFile(cmd.Flags(), os.Getenv); err != nil {
				return &exitError{code: 2, err: fmt.Errorf("serve: %w", err)}
			}
			if err := c.validate(); err != nil {
				return &exitError{code: 2, err: fmt.Errorf("serve: invalid configuration:\n%w", err)}
			}
			applyMemoryLimit(c.MemoryLimit, cmd.Flags().Changed("memory-limit"), os.Getenv)
			applyGCPercent(c.GCPercent, cmd.Flags().Changed("gc-percent"), os.Getenv)
			logger := newServeLogger(cmd.ErrOrStderr(), c.LogLevel)
			if err := runServe(cmd.Context(), c, logger, nil); err != nil {
				logger.Error("serve failed", "error", err.Error())
				return &exitError{code: 1, err: err}
			}
			return nil
		},
	}
	bindServeFlags(cmd.Flags(), &c)
	return cmd
}

func newServeLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// Server timeouts. Requests are small; the admin plane's slowest call is an
// aggregate query. The header timeout is --read-header-timeout.
const (
	defaultReadHeaderTimeout = 5 * time.Second
	readTimeout              = 30 * time.Second
	writeTimeout             = 60 * time.Second
	idleTimeout              = 120 * time.Second
	maxHeaderBytes           = 32 << 10
)

// serveAddrs tells a caller (tests) where the listeners are.
type serveAddrs struct{ Public, Admin net.Addr }

// runServe runs veil serve until ctx ends, then drains: stop accepting,
// finish in-flight requests, flush the writer, stop the managed
// PostgreSQL. started, if not nil, is called once both listeners serve.
func runServe(ctx context.Context, c serveConfig, logger *slog.Logger, started func(serveAddrs)) error {
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	masterKey, err := storage.LoadOrCreateMasterKey(c.MasterKeyFile)
	if err != nil {
		return err
	}
	tokens, err := admin.ServeTokens(c.AdminTokenFile, c.DataDir, logger)
	if err != nil {
		return err
	}
	var tlsConf *tls.Config
	if c.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
		if err != nil {
			return fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	// Bind before starting PostgreSQL so a taken port fails in
	// milliseconds; connections wait in the backlog until we serve.
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

	db, err := storage.Open(ctx, storage.Config{URL: c.DatabaseURL, DataDir: c.DataDir, MasterKey: masterKey}, logger)
	if err != nil {
		return err
	}
	// Open applied the migrations (or refused a newer database).
	defer db.Close()
	writer := storage.NewWriter(db, storage.WriterConfig{Logger: logger})
	writerClosed := false
	closeWriter := func(ctx context.Context) {
		if !writerClosed {
			writerClosed = true
			if err := writer.Close(ctx); err != nil {
				logger.Error("writer did not flush in time", "error", err.Error())
			}
		}
	}
	defer closeWriter(context.Background())

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(admin.WriterMetrics(writer)...)

	registry, err := schema.NewRegistry(schema.RegistryConfig{Store: ingest.SchemaStore{DB: db}})
	if err != nil {
		return err
	}
	// One cached check for both listeners.
	ready := admin.Readiness(db, writer)
	adm, err := admin.New(admin.Config{
		DB:               db,
		Tokens:           tokens,
		K:                c.KAnonymity,
		KeyGrace:         c.KeyGrace,
		KeyRotate:        c.KeyRotation,
		KEMs:             c.KEMs,
		SchemaRegistered: registry.Invalidate,
		Ready:            ready,
		Registerer:       reg,
		Gatherer:         reg,
		SecureCookie:     tlsConf != nil,
		Pprof:            c.AdminPprof,
		Logger:           logger,
	})
	if err != nil {
		return err
	}
	if err := adm.EnsureKeys(ctx); err != nil {
		return fmt.Errorf("gateway keys: %w", err)
	}

	inner, err := innerHandler(c, registry, writer, reg, logger)
	if err != nil {
		return err
	}
	gw, err := gateway.New(gateway.Config{
		Keys:            adm,
		Inner:           inner,
		WithEncHash:     ingest.WithEncHash,
		ReplayWindow:    c.ReplayWindow,
		MaxRequestBytes: c.MaxRequest,
		MaxConcurrent:   c.MaxInFlight,
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

	pubSrv := c.newServer(public, tlsConf)
	admSrv := c.newServer(adm.Handler(), tlsConf)

	var wg sync.WaitGroup
	errc := make(chan error, 2)
	for _, s := range []struct {
		name string
		srv  *http.Server
		ln   net.Listener
	}{{"public", pubSrv, pubLn}, {"admin", admSrv, admLn}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if tlsConf != nil {
				err = s.srv.ServeTLS(s.ln, "", "")
			} else {
				err = s.srv.Serve(s.ln)
			}
			if !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("%s listener: %w", s.name, err)
			}
		}()
	}
	jobs, stopJobs := context.WithCancel(context.Background())
	wg.Add(2)
	go func() { defer wg.Done(); adm.RunRotation(jobs) }()
	go func() { defer wg.Done(); db.RunRetentionLoop(jobs, c.RetentionEvery) }()

	scheme := "http"
	if tlsConf != nil {
		scheme = "https"
	}
	logger.Info("veil serving",
		"public", scheme+"://"+pubLn.Addr().String(),
		"admin", scheme+"://"+admLn.Addr().String(),
		"k_anonymity", c.KAnonymity)
	if started != nil {
		started(serveAddrs{Public: pubLn.Addr(), Admin: admLn.Addr()})
	}

	var runErr error
	select {
	case <-ctx.Done():
		logger.Info("shutting down: draining in-flight requests")
	case runErr = <-errc:
	}
	drain, cancel := context.WithTimeout(context.Background(), c.ShutdownWait)
	defer cancel()
	var sd sync.WaitGroup
	for _, s := range []*http.Server{pubSrv, admSrv} {
		sd.Add(1)
		go func() {
			defer sd.Done()
			if err := s.Shutdown(drain); err != nil {
				logger.Error("listener did not drain in time", "error", err.Error())
				s.Close()
			}
		}()
	}
	sd.Wait()
	adm.GRPCServer().Stop()
	stopJobs()
	closeWriter(drain)
	wg.Wait()
	logger.Info("writer flushed; stopping database")
	return runErr
}

// newServer is newHTTPServer with the configured header timeout.
func (c serveConfig) newServer(h http.Handler, tlsConf *tls.Config) *http.Server {
	srv := newHTTPServer(h, tlsConf)
	srv.ReadHeaderTimeout = c.ReadHeaderTimeout
	return srv
}

func newHTTPServer(h http.Handler, tlsConf *tls.Config) *http.Server {
	var protos http.Protocols
	protos.SetHTTP1(true)
	if tlsConf != nil {
		protos.SetHTTP2(true)
	} else {
		// h2c with prior knowledge, for gRPC clients on the admin listener.
		protos.SetUnencryptedHTTP2(true)
	}
	return &http.Server{
		Handler:           h,
		TLSConfig:         tlsConf,
		Protocols:         &protos,
		ReadHeaderTimeout: defaultReadHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		// net/http's own error lines name the peer's address (TLS
		// handshake errors): drop them, addresses are never logged.
		ErrorLog: log.New(io.Discard, "", 0),
	}
}

// innerHandler is the gateway's inner handler: a grpc-gateway mux with only
// IngestService, called in process. No listener serves it in the clear.
func innerHandler(c serveConfig, registry *schema.Registry, writer *storage.Writer, reg prometheus.Registerer, logger *slog.Logger) (http.Handler, error) {
	if c.BenchNoopInner {
		logger.Warn("--bench-noop-inner: events are NOT ingested")
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"results":[]}`)
		}), nil
	}
	metrics, err := ingest.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	srv, err := ingest.New(ingest.Config{
		Registry:  registry,
		Writer:    writer,
		MaxEvents: c.MaxEvents,
		Logger:    logger,
		Metrics:   metrics,
	})
	if err != nil {
		return nil, err
	}
	opts := append(admin.MuxOptions(logger), ingest.MuxOptions(c.MaxRequest*4)...)
	mux := runtime.NewServeMux(opts...)
	if err := veilv1.RegisterIngestServiceHandlerServer(context.Background(), mux, srv); err != nil {
		return nil, err
	}
	return mux, nil
}
