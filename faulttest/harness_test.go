package faulttest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/veil-telemetry/veil/bhttp"
	"github.com/veil-telemetry/veil/ohttp"
	"github.com/veil-telemetry/veil/storage"
	"github.com/veil-telemetry/veil/storage/storagetest"
)

func TestMain(m *testing.M) { storagetest.Main(m) }

// long reports whether the full-length scenarios run (VEIL_LONG=1,
// scripts/faults); CI runs the short ones.
func long() bool { return os.Getenv("VEIL_LONG") == "1" }

// pick is short in CI and full under VEIL_LONG=1.
func pick[T any](short, full T) T {
	if long() {
		return full
	}
	return short
}

// needPostgres skips without PostgreSQL server binaries, except under
// CI=true, where their absence is a failure.
func needPostgres(t testing.TB) {
	t.Helper()
	if os.Getenv(storagetest.EnvURL) != "" {
		return
	}
	if _, err := storage.FindPostgres(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and no PostgreSQL: %v", err)
		}
		t.Skipf("no PostgreSQL: %v", err)
	}
}

var build struct {
	once sync.Once
	bin  string
	err  error
}

// veilBinary builds ./cmd/veil once per test binary.
func veilBinary(t testing.TB) string {
	t.Helper()
	build.once.Do(func() {
		dir, err := os.MkdirTemp("", "veil-fault-bin-")
		if err != nil {
			build.err = err
			return
		}
		build.bin = filepath.Join(dir, "veil")
		cmd := exec.Command("go", "build", "-o", build.bin, "./cmd/veil")
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build ./cmd/veil: %v\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.bin
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// proc is a running veil subcommand. Its output, across restarts, is kept
// for the log scans.
type proc struct {
	name string
	args []string
	out  *lockedBuffer

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

func startProc(t testing.TB, name string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, args: args, out: &lockedBuffer{}}
	p.start(t)
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			out := p.out.String()
			if len(out) > 8000 {
				out = "…" + out[len(out)-8000:]
			}
			t.Logf("%s output (tail):\n%s", name, out)
		}
	})
	return p
}

func (p *proc) start(t testing.TB) {
	t.Helper()
	cmd := exec.Command(veilBinary(t), p.args...)
	cmd.Stdout, cmd.Stderr = p.out, p.out
	cmd.Env = os.Environ()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
}

func (p *proc) current() (*exec.Cmd, chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd, p.done
}

func (p *proc) pid() int {
	cmd, _ := p.current()
	return cmd.Process.Pid
}

func (p *proc) exited() bool {
	_, done := p.current()
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL to this process (by its pid) and waits for it.
func (p *proc) kill() {
	cmd, done := p.current()
	select {
	case <-done:
		return
	default:
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t testing.TB, timeout time.Duration) {
	t.Helper()
	cmd, done := p.current()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(timeout):
		p.kill()
		t.Fatalf("%s: no exit %v after SIGTERM", p.name, timeout)
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("%s: exit code %d after SIGTERM", p.name, code)
	}
}

// hwmKiB is the process's peak resident set (VmHWM) in KiB.
func (p *proc) hwmKiB(t testing.TB) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.pid()) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no VmHWM in /proc/pid/status")
	return 0
}

// httpc is the tests' client; no proxy, short timeouts.
var httpc = &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
	Proxy: nil, MaxIdleConnsPerHost: 64, DisableCompression: true,
}}

// waitOK polls url until it answers 200.
func waitOK(t testing.TB, url string, p *proc, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < timeout {
		if p != nil && p.exited() {
			t.Fatalf("%s exited while waiting for %s", p.name, url)
		}
		resp, err := httpc.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(start)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s not 200 after %v", url, timeout)
	return 0
}

// serveProc is a running `veil serve`.
type serveProc struct {
	*proc
	public, admin string // base URLs
	pubAddr       string
	admAddr       string
	token         string
	dataDir       string
}

type serveOpts struct {
	// dbURL is --database-url; empty: the managed PostgreSQL under the
	// data directory.
	dbURL string
	extra []string
}

// shortTempDir is a temporary directory with a path short enough for
// PostgreSQL's unix socket.
func shortTempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "vf")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func startServe(t testing.TB, o serveOpts) *serveProc {
	t.Helper()
	needPostgres(t)
	dir := shortTempDir(t)
	var tok [24]byte
	rand.Read(tok[:])
	s := &serveProc{token: hex.EncodeToString(tok[:]), dataDir: filepath.Join(dir, "data"),
		pubAddr: freeAddr(t), admAddr: freeAddr(t)}
	tokenFile := filepath.Join(dir, "admin-token")
	if err := os.WriteFile(tokenFile, []byte(s.token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.public, s.admin = "http://"+s.pubAddr, "http://"+s.admAddr
	args := []string{"serve", "--data-dir", s.dataDir, "--listen", s.pubAddr, "--admin-listen", s.admAddr,
		"--admin-token-file", tokenFile, "--kems", "x25519", "--shutdown-timeout", "20s"}
	if o.dbURL != "" {
		args = append(args, "--database-url", o.dbURL)
	}
	args = append(args, o.extra...)
	s.proc = startProc(t, "veil serve", args...)
	waitOK(t, s.public+"/readyz", s.proc, 3*time.Minute)
	return s
}

// restart starts serve again with the same arguments and data directory.
func (s *serveProc) restart(t testing.TB) time.Duration {
	t.Helper()
	s.proc.start(t)
	return waitOK(t, s.public+"/readyz", s.proc, 3*time.Minute)
}

// registerSchema registers a document over the admin REST API.
func (s *serveProc) registerSchema(t testing.TB, doc []byte) {
	t.Helper()
	r := s.adminCall(t, http.MethodPost, "/v1/schemas", s.token, append(append([]byte(`{"document":`), doc...), '}'))
	if r.status != http.StatusOK {
		t.Fatalf("register schema: %d %s", r.status, r.body)
	}
}

func (s *serveProc) adminCall(t testing.TB, method, path, token string, body []byte) outer {
	t.Helper()
	return call(t, method, s.admin+path, token, body)
}

func call(t testing.TB, method, url, token string, body []byte) outer {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := httpc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return outer{resp.StatusCode, resp.Header, b}
}

// sender posts encapsulated requests to a gateway or relay URL.
type sender struct {
	url string
	cfg *ohttp.KeyConfig
	hc  *http.Client
	// header is added to every outer request.
	header http.Header
}

func newSender(t testing.TB, base string, hc *http.Client) *sender {
	t.Helper()
	r := call(t, http.MethodGet, base+"/ohttp-keys", "", nil)
	if r.status != http.StatusOK {
		t.Fatalf("keys: %d", r.status)
	}
	cfgs, err := ohttp.ParseKeyConfigs(r.body)
	if err != nil || len(cfgs) == 0 {
		t.Fatalf("keys: %v (%d configs)", err, len(cfgs))
	}
	return &sender{url: base + "/gateway", cfg: cfgs[0], hc: hc}
}

// exchange is one OHTTP exchange's outcome. err is a transport failure
// (no answer); outer is the outer status; inner is set for outer 200.
type exchangeResult struct {
	err     error
	outer   int
	retry   string // outer Retry-After
	inner   *bhttp.Response
	latency time.Duration
}

func (s *sender) send(ctx context.Context, inner []byte) exchangeResult {
	enc, cctx, err := ohttp.EncapsulateRequest(rand.Reader, s.cfg, ohttp.DefaultSuite, inner)
	if err != nil {
		return exchangeResult{err: err}
	}
	return s.sendSealed(ctx, enc, cctx)
}

func (s *sender) sendSealed(ctx context.Context, enc []byte, cctx *ohttp.ClientContext) exchangeResult {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(enc))
	if err != nil {
		return exchangeResult{err: err}
	}
	req.Header.Set("Content-Type", ohttp.RequestMediaType)
	for k, v := range s.header {
		req.Header[k] = v
	}
	start := time.Now()
	resp, err := s.hc.Do(req)
	if err != nil {
		return exchangeResult{err: err, latency: time.Since(start)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	r := exchangeResult{outer: resp.StatusCode, retry: resp.Header.Get("Retry-After"), latency: time.Since(start)}
	if err != nil {
		r.err = err
		return r
	}
	if resp.StatusCode != http.StatusOK {
		return r
	}
	plain, err := cctx.DecapsulateResponse(body)
	if err != nil {
		r.err = err
		return r
	}
	r.inner, r.err = bhttp.UnmarshalResponse(plain)
	return r
}

// dbCount counts with a fresh connection to url (the server under test's
// database).
func dbCount(t testing.TB, url, q string, args ...any) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int64
	if err := conn.QueryRow(ctx, q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}
