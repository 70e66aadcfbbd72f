package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
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
	"github.com/veil-telemetry/veil/ohttp"
	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

func newServeCmd() *cobra.Command {
	c := defaultServeConfig()
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the collector: OHTTP gateway, ingest, admin API and writer",
		Long: `Run the collector. The public listener (--listen) serves only the OHTTP
gateway (/gateway, /ohttp-keys, /ohttp-keys-signed,
/.well-known/ohttp-gateway) and health; the
ingest API is reachable only inside Oblivious HTTP. The admin listener
(--admin-listen) serves gRPC and REST for schemas, keys and queries,
/metrics, /openapi.json and a dashboard, behind bearer tokens.

Without --database-url, a private PostgreSQL is started under --data-dir
from the machine's PostgreSQL binaries and stopped on exit. On first start
the master key, an admin token (<data-dir>/admin-token, unless
--admin-token-file is given), the first gateway keys and the key-document
signing key are created; the signing key's pin, which apps ship to
authenticate the keys, is logged at every start (veil admin keys pin).

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
	dbReadyTimeout           = 2 * time.Second
	readyCacheTTL            = time.Second
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
	tokens, err := loadAdminTokens(c, logger)
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
	reg.MustRegister(writerMetrics(writer)...)

	registry, err := schema.NewRegistry(schema.RegistryConfig{Store: ingest.SchemaStore{DB: db}})
	if err != nil {
		return err
	}
	// One cached check for both listeners: /readyz is unauthenticated on
	// the public listener, and each uncached probe reads (and unseals)
	// the whole key ring.
	ready := cacheReady(readiness(db, writer), readyCacheTTL, time.Now)
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
	gw, err := gateway.New(gateway.Config{
		Keys:            keyStore{db},
		Inner:           inner,
		WithEncHash:     ingest.WithEncHash,
		ReplayWindow:    c.ReplayWindow,
		MaxRequestBytes: c.MaxRequest,
		MaxConcurrent:   c.MaxInFlight,
		Signer:          adm,
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
	go func() { defer wg.Done(); rotationLoop(jobs, adm, logger) }()
	go func() { defer wg.Done(); retentionLoop(jobs, db, c.RetentionEvery, logger) }()

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

// loadAdminTokens reads --admin-token-file, or creates <data-dir>/admin-token
// and logs its path (never its value).
func loadAdminTokens(c serveConfig, logger *slog.Logger) (*admin.Tokens, error) {
	if c.AdminTokenFile != "" {
		t, err := admin.LoadTokens(c.AdminTokenFile)
		if err != nil {
			return nil, fmt.Errorf("--admin-token-file: %w", err)
		}
		// A warning, not a refusal: secret mounts (Kubernetes' default
		// 0644) are often wider than the file's real exposure.
		if err := admin.CheckTokenFileMode(c.AdminTokenFile); err != nil {
			logger.Warn("admin token file is accessible to other users", "path", c.AdminTokenFile)
		}
		return t, nil
	}
	path := filepath.Join(c.DataDir, "admin-token")
	t, created, err := admin.EnsureTokenFile(path, nil)
	if err != nil {
		return nil, fmt.Errorf("admin token: %w", err)
	}
	if created {
		logger.Info("created admin token file", "path", path)
	} else {
		logger.Info("using admin token file", "path", path)
	}
	return t, nil
}

// readiness is ready when migrations ran (storage.Open applied them before
// this is reachable), the writer is connected and a current key exists.
func readiness(db *storage.DB, w *storage.Writer) func(context.Context) error {
	return func(ctx context.Context) error {
		if !w.Connected() {
			return errors.New("writer not connected to the database")
		}
		ctx, cancel := context.WithTimeout(ctx, dbReadyTimeout)
		defer cancel()
		keys, err := db.ListKeys(ctx)
		if err != nil {
			return errors.New("cannot read the key ring")
		}
		for _, k := range keys {
			if k.State == storage.KeyCurrent {
				return nil
			}
		}
		return errors.New("no current gateway key")
	}
}

// cacheReady runs check at most once per ttl and answers every probe in
// between with its last result, so a flood of /readyz requests costs the
// database one query a second. Probes that arrive during a check wait for
// it rather than starting their own.
func cacheReady(check func(context.Context) error, ttl time.Duration, now func() time.Time) func(context.Context) error {
	var (
		mu   sync.Mutex
		at   time.Time
		last error
		done bool
	)
	return func(ctx context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		if t := now(); !done || t.Sub(at) >= ttl || t.Before(at) {
			last, at, done = check(ctx), t, true
		}
		return last
	}
}

// rotationJitter spreads replicas' scheduled rotations. Every replica
// computes the same due time from the shared key ring, and
// storage.RotateKey rotates unconditionally, so replicas waking at that
// same instant would each rotate: several current keys in a row and
// clients split across them. Waking at a random point of the next few
// minutes lets the first replica rotate and the others find a fresh key
// that is not due. (Only a rotation conditional on the current key id, in
// storage, closes the remaining window of one ListKeys round trip.)
const rotationJitter = 5 * time.Minute

// rotationWait is how long the rotation loop sleeps before its next check:
// until next plus jitter, at least a second, at most an hour (so clock
// jumps and other replicas' rotations are noticed).
func rotationWait(next, now time.Time, jitter time.Duration) time.Duration {
	d := next.Sub(now)
	if d >= time.Hour {
		return time.Hour
	}
	return min(max(d, time.Second)+jitter, time.Hour)
}

// rotationLoop rotates gateway keys on schedule: it wakes when the next
// current key falls due (plus a random jitter, see rotationJitter), and at
// least hourly.
func rotationLoop(ctx context.Context, adm *admin.Server, logger *slog.Logger) {
	for {
		next, err := adm.RotateDue(ctx)
		wait := time.Hour
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			logger.Error("scheduled key rotation failed", "error", err.Error())
			wait = time.Minute + rand.N(rotationJitter/5)
		} else {
			wait = rotationWait(next, time.Now(), rand.N(rotationJitter))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// writerMetrics exports the writer's counters (storage.WriterStats).
func writerMetrics(w *storage.Writer) []prometheus.Collector {
	counter := func(name, help string, f func(storage.WriterStats) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(f(w.Stats())) })
	}
	return []prometheus.Collector{
		counter("veil_writer_transactions_total", "Writer transactions committed (each holds a group of requests).",
			func(s storage.WriterStats) int64 { return s.Groups }),
		counter("veil_writer_claim_transactions_total", "Committed writer transactions that checked dedup keys in claim mode, after a stored key was found.",
			func(s storage.WriterStats) int64 { return s.ClaimGroups }),
		counter("veil_writer_key_conflicts_total", "Writer transactions rolled back because a dedup key was already stored (duplicates found in insert mode); their groups ran again.",
			func(s storage.WriterStats) int64 { return s.KeyConflicts }),
	}
}

// retentionLoop drops expired partitions, rollups, dedup keys and keys.
func retentionLoop(ctx context.Context, db *storage.DB, every time.Duration, logger *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := db.RunRetention(ctx, time.Now(), storage.RetentionConfig{}); err != nil && ctx.Err() == nil {
			logger.Error("retention run failed", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// keyStore adapts the storage key ring to gateway.KeyStore (storage must
// not import ohttp, gateway must not import storage).
type keyStore struct{ db *storage.DB }

func (s keyStore) LiveKeys(ctx context.Context) ([]gateway.Key, error) {
	recs, err := s.db.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := make([]gateway.Key, 0, len(recs))
	for _, r := range recs {
		var state gateway.KeyState
		switch r.State {
		case storage.KeyCurrent:
			state = gateway.StateCurrent
		case storage.KeyActive:
			if !r.RetireAfter.IsZero() && !now.Before(r.RetireAfter) {
				continue // past its grace period; retention retires it
			}
			state = gateway.StateActive
		default:
			continue
		}
		cfg, err := ohttp.ParseKeyConfig(r.Config)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", r.ID, err)
		}
		priv, err := ohttp.NewPrivateKey(*cfg, r.Secret)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", r.ID, err)
		}
		out = append(out, gateway.Key{Private: priv, State: state, RetireAfter: r.RetireAfter})
	}
	return out, nil
}
