package faulttest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/veil-telemetry/veil/bhttp"
	"github.com/veil-telemetry/veil/internal/e2e/e2etest"
	"github.com/veil-telemetry/veil/internal/storage/storagetest"
	"github.com/veil-telemetry/veil/ohttp"
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

// startProc starts a veil subcommand. One still running when the test
// ends gets SIGKILL: every serve here runs on a storagetest database, so
// nothing outlives it. A failed test logs the tail of its output.
func startProc(t testing.TB, name string, args ...string) *e2etest.Process {
	t.Helper()
	return e2etest.Start(t, name, e2etest.Options{LogTail: 8000}, args...)
}

// hwmKiB is the process's peak resident set (VmHWM) in KiB.
func hwmKiB(t testing.TB, p *e2etest.Process) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.Pid()) + "/status")
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

// serveProc is a running `veil serve`.
type serveProc struct {
	proc          *e2etest.Process
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
	e2etest.NeedPostgres(t)
	dir := shortTempDir(t)
	var tok [24]byte
	rand.Read(tok[:])
	s := &serveProc{token: hex.EncodeToString(tok[:]), dataDir: filepath.Join(dir, "data"),
		pubAddr: e2etest.FreeAddr(t), admAddr: e2etest.FreeAddr(t)}
	tokenFile := filepath.Join(dir, "admin-token")
	if err := os.WriteFile(tokenFile, []byte(s.token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.public, s.admin = "http://"+s.pubAddr, "http://"+s.admAddr
	args := []string{"serve", "--data-dir", s.dataDir, "--listen", s.pubAddr, "--admin-listen", s.admAddr,
		"--admin-token-file", tokenFile, "--kems", "x25519", "--shutdown-timeout", "20s",
		// Mix every second, whatever the count, so tests see the rollups
		// soon (a later --mix-k in extra wins).
		"--mix-interval", "1s", "--mix-k", "1"}
	if o.dbURL != "" {
		args = append(args, "--database-url", o.dbURL)
	}
	args = append(args, o.extra...)
	s.proc = startProc(t, "veil serve", args...)
	e2etest.WaitOK(t, httpc, s.public+"/readyz", s.proc, 3*time.Minute)
	return s
}

// restart starts serve again with the same arguments and data directory.
func (s *serveProc) restart(t testing.TB) time.Duration {
	t.Helper()
	s.proc.Restart(t)
	return e2etest.WaitOK(t, httpc, s.public+"/readyz", s.proc, 3*time.Minute)
}

// registerSchema registers a document over the admin REST API.
func (s *serveProc) registerSchema(t testing.TB, doc []byte) {
	t.Helper()
	e2etest.RegisterSchema(t, httpc, s.admin, s.token, doc)
}

// call sends a request with httpc; a body goes as JSON.
func call(t testing.TB, method, url, token string, body []byte) e2etest.Reply {
	t.Helper()
	contentType := ""
	if body != nil {
		contentType = "application/json"
	}
	return e2etest.Call(t, httpc, method, url, token, contentType, body)
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
	cfgs := e2etest.FetchKeys(t, httpc, base)
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
// seqSum is the SQL sum of the "seq" measure over rollups matching a
// condition: with the count, it checks that each event is stored once.
func seqSum(where string) string {
	return `SELECT coalesce(sum(r.measure_stats[4 * e.i - 2]), 0)::bigint
		FROM rollups r CROSS JOIN LATERAL unnest(r.measure_names) WITH ORDINALITY AS e(n, i)
		WHERE e.n = 'seq' AND ` + where
}

// mixedCount waits until the mixer has folded every staged request (the
// staging table is empty), then runs dbCount.
func mixedCount(t testing.TB, url, q string, args ...any) int64 {
	t.Helper()
	e2etest.Eventually(t, time.Minute, "every staged request to be mixed", func() bool {
		return dbCount(t, url, "SELECT count(*) FROM staging") == 0
	})
	return dbCount(t, url, q, args...)
}

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
