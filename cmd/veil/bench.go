package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/veil-telemetry/veil/internal/ingest"
	"github.com/veil-telemetry/veil/internal/loadgen"
	"github.com/veil-telemetry/veil/internal/schema"
	"github.com/veil-telemetry/veil/internal/storage"
	"github.com/veil-telemetry/veil/ohttp"
)

// benchOptions is the configuration of `veil bench`.
type benchOptions struct {
	Mode           string
	Concurrency    int
	Requests       int64
	Duration       time.Duration
	Rate           float64
	Events         int
	Suite          string
	Timeout        time.Duration
	Warmup         int64
	JSON           bool
	Spawn          bool
	GatewayURL     string
	RelayURL       string
	AdminURL       string
	AdminTokenFile string
	DatabaseURL    string
	CPUProfile     string
	ServeProfile   string
}

func newBenchCmd() *cobra.Command {
	o := benchOptions{
		Mode: "gateway", Concurrency: 16, Requests: 10000, Duration: 30 * time.Second,
		Events: 50, Suite: "x25519", Timeout: 10 * time.Second, Warmup: 200,
	}
	cmd := &cobra.Command{
		Use:   "bench --mode gateway|relay|full|ingest (--spawn | target URLs)",
		Short: "Bounded loopback load generator for the gateway, relay, full path and ingest",
		Long: `Send a bounded load to veil on this machine and report requests/s, events/s,
latency percentiles, errors by kind, and the CPU time and peak RSS of every
process it started (from /proc) and of itself.

Modes:
  gateway  OHTTP straight to a gateway whose inner handler is a no-op
           (veil serve --bench-noop-inner)
  relay    the same through veil relay
  full     client → relay → gateway → ingest → PostgreSQL, every event checked
           accepted, against a six-field schema registered over the admin API
  ingest   POST /v1/events JSON to the ingest API without OHTTP, run in this
           process (it is never served in the clear by veil serve)

With --spawn, bench starts what the mode needs from its own binary on free
127.0.0.1 ports with a temporary data directory, and stops it at the end.
Without it, give --gateway-url (gateway), --relay-url (relay, full) and, for
full, --admin-url and --admin-token-file. Targets must be loopback addresses.

The run stops after --requests requests or --duration, whichever comes
first. Every request is freshly encoded and encapsulated; that client-side
work is done before the timed exchange.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return &exitError{code: 2, err: fmt.Errorf("bench: %w", err)}
			}
			rep, err := runBench(cmd.Context(), o, cmd.ErrOrStderr())
			if err != nil {
				return &exitError{code: 1, err: fmt.Errorf("bench: %w", err)}
			}
			out := cmd.OutOrStdout()
			if o.JSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			return rep.WriteTable(out)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Mode, "mode", o.Mode, "gateway, relay, full or ingest")
	f.IntVar(&o.Concurrency, "concurrency", o.Concurrency, "requests in flight")
	f.Int64Var(&o.Requests, "requests", o.Requests, "stop after this many requests (0: only --duration bounds the run)")
	f.DurationVar(&o.Duration, "duration", o.Duration, "stop starting requests after this long (at most 30m)")
	f.Float64Var(&o.Rate, "rate", o.Rate, "target requests per second, open loop (0: as fast as the workers go)")
	f.IntVar(&o.Events, "events-per-request", o.Events, "events in each request")
	f.StringVar(&o.Suite, "suite", o.Suite, "gateway key to encapsulate to: x25519 or xwing")
	f.DurationVar(&o.Timeout, "timeout", o.Timeout, "bound on one request")
	f.Int64Var(&o.Warmup, "warmup", o.Warmup, "requests sent before measuring (connections, caches)")
	f.BoolVar(&o.JSON, "json", o.JSON, "print the report as JSON")
	f.BoolVar(&o.Spawn, "spawn", o.Spawn, "start veil serve (and veil relay) for the run and stop them after")
	f.StringVar(&o.GatewayURL, "gateway-url", "", "gateway POST URL, e.g. http://127.0.0.1:8080/gateway (gateway mode without --spawn)")
	f.StringVar(&o.RelayURL, "relay-url", "", "relay POST URL (relay and full modes without --spawn)")
	f.StringVar(&o.AdminURL, "admin-url", "", "admin listener URL, to register the benchmark schema (full mode without --spawn)")
	f.StringVar(&o.AdminTokenFile, "admin-token-file", "", "file whose first line is an admin bearer token (full mode without --spawn)")
	f.StringVar(&o.DatabaseURL, "database-url", "", "ingest mode: PostgreSQL URL (empty: a temporary managed PostgreSQL)")
	f.StringVar(&o.CPUProfile, "cpuprofile", "", "write this process's CPU profile during the load to this file (ingest mode: the pipeline runs here)")
	f.StringVar(&o.ServeProfile, "serve-cpuprofile", "", "with --spawn: start veil serve with --admin-pprof and write its CPU profile over the load (at most 55 s of it) to this file")
	return cmd
}

func (o *benchOptions) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch o.Mode {
	case "gateway", "relay", "full", "ingest":
	default:
		bad("--mode %q: want gateway, relay, full or ingest", o.Mode)
	}
	if _, err := suiteKEM(o.Suite); err != nil {
		bad("%v", err)
	}
	if o.Concurrency < 1 || o.Concurrency > loadgen.MaxConcurrency {
		bad("--concurrency %d: must be 1 to %d", o.Concurrency, loadgen.MaxConcurrency)
	}
	if o.Requests < 0 || o.Duration < 0 || (o.Requests == 0 && o.Duration == 0) {
		bad("--requests and --duration must not be negative, and one must be set")
	}
	if o.Duration > loadgen.MaxDuration {
		bad("--duration %v: at most %v", o.Duration, loadgen.MaxDuration)
	}
	if o.Rate < 0 || o.Warmup < 0 || o.Timeout <= 0 {
		bad("--rate and --warmup must not be negative, --timeout must be positive")
	}
	if o.Events < 1 || o.Events > 10000 {
		bad("--events-per-request %d: must be 1 to 10000", o.Events)
	}
	if o.ServeProfile != "" && (!o.Spawn || o.Mode == "ingest") {
		bad("--serve-cpuprofile needs --spawn and a mode that runs veil serve")
	}
	if !o.Spawn {
		need := map[string][]string{
			"gateway": {"--gateway-url"}, "relay": {"--relay-url"},
			"full": {"--relay-url", "--admin-url", "--admin-token-file"},
		}[o.Mode]
		vals := map[string]string{"--gateway-url": o.GatewayURL, "--relay-url": o.RelayURL,
			"--admin-url": o.AdminURL, "--admin-token-file": o.AdminTokenFile}
		for _, n := range need {
			if vals[n] == "" {
				bad("%s mode needs %s (or --spawn)", o.Mode, n)
			}
		}
	}
	for _, u := range []struct{ name, v string }{{"--gateway-url", o.GatewayURL}, {"--relay-url", o.RelayURL}, {"--admin-url", o.AdminURL}} {
		if u.v != "" {
			if err := loadgen.CheckLoopback(u.v); err != nil {
				bad("%s: %v", u.name, err)
			}
		}
	}
	return errors.Join(errs...)
}

func suiteKEM(s string) (ohttp.KEMID, error) {
	switch s {
	case "x25519":
		return ohttp.KEMX25519, nil
	case "xwing":
		return ohttp.KEMXWing, nil
	}
	return 0, fmt.Errorf("--suite %q: want x25519 or xwing", s)
}

// tracked is a process whose usage the report shows.
type tracked struct {
	name string
	pid  int
	read func() (loadgen.Usage, error)
}

// benchSetup is what a mode set up: the workload, the processes to
// measure, and how to tear it all down.
type benchSetup struct {
	workload loadgen.Workload
	procs    []tracked
	notes    []string
	cleanup  []func()
	// adminURL and token reach the spawned veil serve's admin listener.
	adminURL, token string
}

func (s *benchSetup) close() {
	for i := len(s.cleanup) - 1; i >= 0; i-- {
		s.cleanup[i]()
	}
}

func runBench(ctx context.Context, o benchOptions, stderr io.Writer) (*loadgen.Report, error) {
	setup := &benchSetup{}
	defer setup.close()
	if err := setupBench(ctx, o, setup, stderr); err != nil {
		return nil, err
	}

	client := loadgen.NewClient(o.Concurrency)
	defer client.CloseIdleConnections()
	if o.Warmup > 0 {
		st, err := loadgen.Run(ctx, loadgen.Config{Workload: setup.workload, Client: client,
			Concurrency: o.Concurrency, Requests: o.Warmup, Duration: time.Minute, Timeout: o.Timeout})
		if err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
		if st.OK == 0 {
			return nil, fmt.Errorf("warm-up: every request failed: %v", st.Errors)
		}
	}

	before := make([]loadgen.Usage, len(setup.procs))
	for i, p := range setup.procs {
		u, err := p.read()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.name, err)
		}
		before[i] = u
	}
	selfBefore := loadgen.SelfUsage()
	if o.CPUProfile != "" {
		f, err := os.Create(o.CPUProfile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
	}
	var serveProf chan error
	if o.ServeProfile != "" {
		serveProf = make(chan error, 1)
		go func() {
			serveProf <- loadgen.FetchCPUProfile(ctx, setup.adminURL, setup.token, serveProfileSpan(o.Duration), o.ServeProfile)
		}()
	}
	progress, finish := newProgress(stderr, o)
	st, err := loadgen.Run(ctx, loadgen.Config{
		Workload: setup.workload, Client: client, Concurrency: o.Concurrency,
		Requests: o.Requests, Duration: o.Duration, Rate: o.Rate, Timeout: o.Timeout,
		Progress: progress,
	})
	finish()
	if o.CPUProfile != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return nil, err
	}
	var profErr error
	if serveProf != nil {
		// The profile spans --duration: a run that ended early by request
		// count waits for it (idle time adds no samples).
		profErr = <-serveProf
	}
	rep := loadgen.NewReport(st)
	rep.Mode, rep.Concurrency, rep.TargetRate, rep.EventsPerRequest = o.Mode, o.Concurrency, o.Rate, o.Events
	if o.Mode != "ingest" {
		rep.Suite = o.Suite
	}
	for i, p := range setup.procs {
		after, err := p.read()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.name, err)
		}
		rep.AddProcess(p.name, p.pid, before[i], after)
	}
	rep.AddProcess("veil bench (self)", os.Getpid(), selfBefore, loadgen.SelfUsage())
	rep.Notes = append(rep.Notes, setup.notes...)
	if profErr != nil {
		rep.Notes = append(rep.Notes, "veil serve CPU profile failed: "+profErr.Error())
	}
	return rep, nil
}

// serveProfileSpan is how long the spawned serve is profiled: the load's
// duration, within the admin listener's 60 s write timeout.
func serveProfileSpan(d time.Duration) time.Duration {
	return min(max(d, time.Second), 55*time.Second)
}

// newProgress draws a progress bar on stderr when it is a terminal.
func newProgress(stderr io.Writer, o benchOptions) (func(int64), func()) {
	f, ok := stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, func() {}
	}
	total := o.Requests
	if total == 0 {
		total = -1 // a spinner: only the duration bounds the run
	}
	bar := progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(f),
		progressbar.OptionSetDescription("veil bench "+o.Mode),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("req"),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
	return func(n int64) { _ = bar.Set64(n) }, func() { _ = bar.Finish() }
}

// setupBench starts or finds what the mode needs.
func setupBench(ctx context.Context, o benchOptions, s *benchSetup, stderr io.Writer) error {
	if o.Mode == "ingest" {
		return setupIngest(ctx, o, s)
	}
	kem, _ := suiteKEM(o.Suite)
	var postURL, keysURL, adminURL, token string
	if o.Spawn {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		// Short: PostgreSQL's socket path lives under it.
		dir, err := os.MkdirTemp("", "vb")
		if err != nil {
			return err
		}
		s.cleanup = append(s.cleanup, func() { os.RemoveAll(dir) })
		fmt.Fprintf(stderr, "bench: starting veil serve in %s\n", dir)
		so := loadgen.ServeOptions{Exe: exe, Dir: dir, NoopInner: o.Mode != "full"}
		if o.ServeProfile != "" {
			so.ExtraArgs = append(so.ExtraArgs, "--admin-pprof")
		}
		srv, err := loadgen.StartServe(ctx, so)
		if err != nil {
			return err
		}
		s.cleanup = append(s.cleanup, func() {
			if err := srv.Stop(time.Minute); err != nil {
				fmt.Fprintf(stderr, "bench: %v\n", err)
			}
		})
		s.procs = append(s.procs, tracked{"veil serve", srv.PID(), srv.Usage})
		if pid, err := loadgen.PostmasterPID(srv.PGData); err == nil {
			s.procs = append(s.procs, tracked{"postgres (all backends)", pid,
				func() (loadgen.Usage, error) { return loadgen.ReadTreeUsage("/proc", pid) }})
		}
		postURL, keysURL = srv.PublicURL+"/gateway", srv.PublicURL+"/ohttp-keys"
		adminURL, token = srv.AdminURL, srv.Token
		s.adminURL, s.token = adminURL, token
		if o.Mode != "gateway" {
			rl, err := loadgen.StartRelay(ctx, exe, dir, postURL)
			if err != nil {
				return err
			}
			s.cleanup = append(s.cleanup, func() {
				if err := rl.Stop(time.Minute); err != nil {
					fmt.Fprintf(stderr, "bench: %v\n", err)
				}
			})
			s.procs = append(s.procs, tracked{"veil relay", rl.PID(), rl.Usage})
			postURL, keysURL = rl.URL+"/gateway", rl.URL+"/ohttp-keys"
		}
	} else {
		postURL = o.GatewayURL
		if o.Mode != "gateway" {
			postURL = o.RelayURL
		}
		u, err := url.Parse(postURL)
		if err != nil {
			return err
		}
		keysURL = u.Scheme + "://" + u.Host + "/ohttp-keys"
		adminURL = o.AdminURL
		if o.Mode == "full" {
			b, err := os.ReadFile(o.AdminTokenFile)
			if err != nil {
				return err
			}
			token, _, _ = strings.Cut(strings.TrimSpace(string(b)), "\n")
			token = strings.TrimSpace(token)
		}
		s.notes = append(s.notes, "processes not started by bench are not measured")
	}
	if o.Mode == "full" {
		if err := loadgen.RegisterSchema(ctx, http.DefaultClient, adminURL, token, []byte(loadgen.SchemaDocument)); err != nil {
			return err
		}
	}
	cfgs, err := loadgen.FetchKeys(ctx, http.DefaultClient, keysURL)
	if err != nil {
		return err
	}
	key, err := loadgen.PickKey(cfgs, kem)
	if err != nil {
		return err
	}
	s.workload = &loadgen.OHTTP{URL: postURL, Key: key, Events: o.Events, CheckResults: o.Mode == "full"}
	return nil
}

// setupIngest runs the inner ingest API in this process — the same
// handler veil serve puts behind the gateway — on a loopback listener,
// over a temporary managed PostgreSQL (or --database-url).
func setupIngest(ctx context.Context, o benchOptions, s *benchSetup) error {
	logger := slog.New(slog.DiscardHandler)
	dir, err := os.MkdirTemp("", "vb")
	if err != nil {
		return err
	}
	s.cleanup = append(s.cleanup, func() { os.RemoveAll(dir) })
	db, err := storage.Open(ctx, storage.Config{URL: o.DatabaseURL, DataDir: dir}, logger)
	if err != nil {
		return err
	}
	s.cleanup = append(s.cleanup, db.Close)
	if o.DatabaseURL == "" {
		if pid, err := loadgen.PostmasterPID(filepath.Join(dir, "postgres")); err == nil {
			s.procs = append(s.procs, tracked{"postgres (all backends)", pid,
				func() (loadgen.Usage, error) { return loadgen.ReadTreeUsage("/proc", pid) }})
		}
	}
	sc, err := schema.Compile([]byte(loadgen.SchemaDocument))
	if err != nil {
		return err
	}
	if _, err := db.PutSchema(ctx, storage.SchemaRecord{Name: sc.Name, Version: sc.Version, Document: sc.Document, CreatedAt: time.Now()}); err != nil {
		return err
	}
	writer, err := storage.NewWriter(db, storage.WriterConfig{Logger: logger})
	if err != nil {
		return err
	}
	s.cleanup = append(s.cleanup, func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = writer.Close(cctx)
	})
	registry, err := schema.NewRegistry(schema.RegistryConfig{Store: ingest.SchemaStore{DB: db}})
	if err != nil {
		return err
	}
	c := defaultServeConfig()
	h, err := innerHandler(c, registry, writer, prometheus.NewRegistry(), logger)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := newHTTPServer(h, nil)
	go srv.Serve(ln)
	s.cleanup = append(s.cleanup, func() {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = srv.Shutdown(cctx)
	})
	s.workload = &loadgen.JSON{URL: "http://" + ln.Addr().String() + "/v1/events", Events: o.Events}
	s.notes = append(s.notes, "ingest runs inside veil bench: its CPU and memory are in the self row")
	return nil
}
