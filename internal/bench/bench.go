// Package bench is `veil bench`: it sets up the target of a mode — veil
// serve and veil relay started from this binary, targets already running
// on loopback, or the ingest API in this process — drives it with loadgen
// and reports throughput, latency and the CPU and memory of every process
// it measured.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	goruntime "runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/veil-telemetry/veil/internal/loadgen"
	"github.com/veil-telemetry/veil/ohttp"
)

// Options configures Run; `veil bench` binds each field to a flag.
type Options struct {
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
	// Preseal, when positive, prepares (builds and encapsulates) this many
	// requests after the warm-up and before the timed run, which then
	// sends each once and ends when they are used up; the sealing's CPU is
	// reported apart.
	Preseal int64
	// ServeArgs are extra flags for the spawned veil serve (such as
	// --max-inflight), to measure its settings.
	ServeArgs []string
}

// DefaultOptions are veil bench's defaults.
func DefaultOptions() Options {
	return Options{
		Mode: "gateway", Concurrency: 16, Requests: 10000, Duration: 30 * time.Second,
		Events: 50, Suite: ohttp.KEMX25519.Name(), Timeout: 10 * time.Second, Warmup: 200,
	}
}

// maxEventsPerRequest bounds --events-per-request.
const maxEventsPerRequest = 10000

// maxPreseal bounds --preseal (the sealed requests are held in memory).
const maxPreseal = 1_000_000

// Validate refuses bad options; every message names the flag.
func (o *Options) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch o.Mode {
	case "gateway", "relay", "full", "ingest", "durable", "forward":
	default:
		bad("--mode %q: want gateway, relay, full, durable, forward or ingest", o.Mode)
	}
	if o.Preseal < 0 || o.Preseal > maxPreseal {
		bad("--preseal %d: must be 0 to %d", o.Preseal, maxPreseal)
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
	if o.Events < 1 || o.Events > maxEventsPerRequest {
		bad("--events-per-request %d: must be 1 to %d", o.Events, maxEventsPerRequest)
	}
	if o.ServeProfile != "" && (!o.Spawn || o.Mode == "ingest" || o.Mode == "forward") {
		bad("--serve-cpuprofile needs --spawn and a mode that runs veil serve")
	}
	if !o.Spawn {
		need := map[string][]string{
			"gateway": {"--gateway-url"}, "relay": {"--relay-url"},
			"full":    {"--relay-url", "--admin-url", "--admin-token-file"},
			"durable": {"--gateway-url", "--admin-url", "--admin-token-file"},
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

// suiteKEM is the KEM of --suite: one of those veil serve gives a key by
// default.
func suiteKEM(s string) (ohttp.KEMID, error) {
	kem, err := ohttp.ParseKEM(s)
	if err != nil || (kem != ohttp.KEMX25519 && kem != ohttp.KEMXWing) {
		return 0, fmt.Errorf("--suite %q: want x25519 or xwing", s)
	}
	return kem, nil
}

// tracked is a process whose usage the report shows.
type tracked struct {
	name string
	pid  int
	read func() (loadgen.Usage, error)
}

// setup is what a mode set up: the workload, the processes to measure,
// and how to tear it all down.
type setup struct {
	workload loadgen.Workload
	procs    []tracked
	notes    []string
	cleanup  []func()
	// adminURL and token reach the spawned veil serve's admin listener.
	adminURL, token string
}

func (s *setup) close() {
	for i := len(s.cleanup) - 1; i >= 0; i-- {
		s.cleanup[i]()
	}
}

// Run sets up the mode's target, warms it up, runs the load and reports.
// Progress and notices go to stderr (a progress bar when it is a
// terminal).
func Run(ctx context.Context, o Options, stderr io.Writer) (*loadgen.Report, error) {
	s := &setup{}
	defer s.close()
	if err := s.start(ctx, o, stderr); err != nil {
		return nil, err
	}

	client := loadgen.NewClient(o.Concurrency)
	defer client.CloseIdleConnections()
	if o.Warmup > 0 {
		st, err := loadgen.Run(ctx, loadgen.Config{Workload: s.workload, Client: client,
			Concurrency: o.Concurrency, Requests: o.Warmup, Duration: time.Minute, Timeout: o.Timeout})
		if err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
		if st.OK == 0 {
			return nil, fmt.Errorf("warm-up: every request failed: %v", st.Errors)
		}
	}

	if o.Preseal > 0 {
		sealed, err := loadgen.Preseal(ctx, s.workload, int(o.Preseal), max(1, goruntime.NumCPU()))
		if err != nil {
			return nil, fmt.Errorf("pre-sealing: %w", err)
		}
		s.workload = sealed
		s.notes = append(s.notes, fmt.Sprintf("pre-sealed %d requests before the timed run: %.1f µs CPU each, not in the figures above",
			sealed.Count, float64(sealed.Sealing.Microseconds())/float64(sealed.Count)))
	}

	before := make([]loadgen.Usage, len(s.procs))
	for i, p := range s.procs {
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
			serveProf <- loadgen.FetchCPUProfile(ctx, s.adminURL, s.token, serveProfileSpan(o.Duration), o.ServeProfile)
		}()
	}
	progress, finish := newProgress(stderr, o)
	st, err := loadgen.Run(ctx, loadgen.Config{
		Workload: s.workload, Client: client, Concurrency: o.Concurrency,
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
	if sealed, ok := s.workload.(*loadgen.Sealed); ok && sealed.Used() == sealed.Count {
		rep.Notes = append(rep.Notes, "the pre-sealed requests ran out before --duration: raise --preseal for a longer run")
	}
	for i, p := range s.procs {
		after, err := p.read()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.name, err)
		}
		rep.AddProcess(p.name, p.pid, before[i], after)
	}
	rep.AddProcess("veil bench (self)", os.Getpid(), selfBefore, loadgen.SelfUsage())
	rep.Notes = append(rep.Notes, s.notes...)
	if profErr != nil {
		rep.Notes = append(rep.Notes, "veil serve CPU profile failed: "+profErr.Error())
	}
	return rep, nil
}

// serveProfileSpan is how long the spawned serve is profiled: the load's
// duration, within the admin listener's write timeout.
func serveProfileSpan(d time.Duration) time.Duration {
	return min(max(d, time.Second), 55*time.Second)
}

// newProgress draws a progress bar on stderr when it is a terminal.
func newProgress(stderr io.Writer, o Options) (func(int64), func()) {
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

// start starts or finds what the mode needs.
func (s *setup) start(ctx context.Context, o Options, stderr io.Writer) error {
	switch o.Mode {
	case "ingest":
		return s.startIngest(ctx, o)
	case "forward":
		return s.startForward(o)
	}
	// durable: veil serve's real ingest, driven at the gateway directly;
	// full: the same through veil relay.
	durable := o.Mode == "full" || o.Mode == "durable"
	viaRelay := o.Mode == "relay" || o.Mode == "full"
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
		so := loadgen.ServeOptions{Exe: exe, Dir: dir, NoopInner: !durable}
		if o.ServeProfile != "" {
			so.ExtraArgs = append(so.ExtraArgs, "--admin-pprof")
		}
		so.ExtraArgs = append(so.ExtraArgs, o.ServeArgs...)
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
		if viaRelay {
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
		if viaRelay {
			postURL = o.RelayURL
		}
		u, err := url.Parse(postURL)
		if err != nil {
			return err
		}
		keysURL = u.Scheme + "://" + u.Host + "/ohttp-keys"
		adminURL = o.AdminURL
		if durable {
			b, err := os.ReadFile(o.AdminTokenFile)
			if err != nil {
				return err
			}
			token, _, _ = strings.Cut(strings.TrimSpace(string(b)), "\n")
			token = strings.TrimSpace(token)
		}
		s.notes = append(s.notes, "processes not started by bench are not measured")
	}
	if durable {
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
	s.workload = &loadgen.OHTTP{URL: postURL, Key: key, Events: o.Events, CheckResults: durable}
	return nil
}
