// Package e2e runs veil as a user does: it builds the veil binary, starts
// `veil serve` (with its managed PostgreSQL, or a fresh database on
// VEIL_TEST_DATABASE_URL) and `veil relay` as real processes on loopback,
// and drives them over HTTP: the admin REST API with the bearer token, and
// events through the relay over Oblivious HTTP.
package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/veil-telemetry/veil/bhttp"
	"github.com/veil-telemetry/veil/ohttp"
	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
	"github.com/veil-telemetry/veil/storage"
	"github.com/veil-telemetry/veil/storage/storagetest"
)

func TestMain(m *testing.M) { storagetest.Main(m) }

// needPostgres skips without PostgreSQL server binaries, except under
// CI=true, where their absence is a failure.
func needPostgres(t *testing.T) {
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
func veilBinary(t *testing.T) string {
	t.Helper()
	build.once.Do(func() {
		dir, err := os.MkdirTemp("", "veil-e2e-bin-")
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

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// process is a running veil subcommand whose output is kept for the log
// checks.
type process struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

func (p *process) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func start(t *testing.T, name string, args ...string) *process {
	t.Helper()
	return startIn(t, name, nil, args...)
}

// startIn starts a veil subcommand reading stdin (nil: no input). The
// caller keeps the other end of a pipe and closes stdin after the call.
func startIn(t *testing.T, name string, stdin *os.File, args ...string) *process {
	t.Helper()
	p := &process{done: make(chan struct{})}
	p.cmd = exec.Command(veilBinary(t), args...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if stdin != nil {
		p.cmd.Stdin = stdin
	}
	p.cmd.Env = os.Environ()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		// SIGTERM first, so that serve stops its managed PostgreSQL,
		// which would outlive a SIGKILL.
		select {
		case <-p.done:
		default:
			p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(time.Minute):
				p.cmd.Process.Kill()
				<-p.done
			}
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.output())
		}
	})
	return p
}

// stop sends SIGTERM and waits for a clean exit.
func (p *process) stop(t *testing.T, timeout time.Duration) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("no exit %v after SIGTERM", timeout)
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d after SIGTERM", code)
	}
}

// client trusts the system roots plus the test CA (see TestTLS).
var client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: testRoots}}}

// testRoots holds the test CA once TestTLS made it.
var testRoots = x509.NewCertPool()

type reply struct {
	status int
	header http.Header
	body   []byte
}

func call(t *testing.T, method, url, token, contentType string, body []byte) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{resp.StatusCode, resp.Header, b}
}

// waitFor polls url until it answers 200.
func waitFor(t *testing.T, url string, p *process, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			t.Fatalf("process exited while waiting for %s:\n%s", url, p.output())
		default:
		}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s not 200 after %v", url, timeout)
}

// stack is a running serve + relay pair.
type stack struct {
	serve, relay           *process
	public, admin, relayAt string // base URLs
	token                  string
	dataDir                string
}

// startStack starts serve and relay; with certs, serve's listeners use TLS
// and the relay verifies the gateway against the test CA.
func startStack(t *testing.T, certs *testCerts) *stack {
	t.Helper()
	return startStackWith(t, stackOptions{certs: certs})
}

type stackOptions struct {
	certs     *testCerts
	relayArgs []string // extra `veil relay` flags
}

// fastRelay lifts the relay's per-client rate limit: every test client
// sends from 127.0.0.1, which the default (10/s, burst 20) would throttle.
var fastRelay = []string{"--rate", "10000", "--burst", "10000"}

func startStackWith(t *testing.T, o stackOptions) *stack {
	t.Helper()
	certs := o.certs
	needPostgres(t)
	s := &stack{dataDir: t.TempDir()}
	pub, adm, rel := freeAddr(t), freeAddr(t), freeAddr(t)
	scheme := "http://"
	if certs != nil {
		scheme = "https://"
	}
	s.public, s.admin, s.relayAt = scheme+pub, scheme+adm, "http://"+rel
	args := []string{"serve", "--data-dir", s.dataDir, "--listen", pub, "--admin-listen", adm}
	if os.Getenv(storagetest.EnvURL) != "" {
		args = append(args, "--database-url", storagetest.URL(t))
	}
	relayArgs := []string{"relay", "--listen", rel, "--gateway", s.public + "/gateway"}
	if certs != nil {
		args = append(args, "--tls-cert", certs.cert, "--tls-key", certs.key)
		relayArgs = append(relayArgs, "--gateway-ca", certs.cert)
	}
	s.serve = start(t, "serve", args...)
	// First start: initdb, migrations, keys. Generous for slow machines.
	waitFor(t, s.public+"/readyz", s.serve, 3*time.Minute)
	s.relay = start(t, "relay", append(relayArgs, o.relayArgs...)...)
	waitFor(t, s.relayAt+"/ohttp-keys", s.relay, 30*time.Second)
	tok, err := os.ReadFile(filepath.Join(s.dataDir, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	s.token = strings.TrimSpace(string(tok))
	return s
}

// ohttpClient sends inner requests through the relay.
type ohttpClient struct {
	t     *testing.T
	relay string
	cfgs  []*ohttp.KeyConfig
}

func newOHTTPClient(t *testing.T, relay string) *ohttpClient {
	t.Helper()
	r := call(t, "GET", relay+"/ohttp-keys", "", "", nil)
	if r.status != 200 || r.header.Get("Content-Type") != ohttp.KeysMediaType {
		t.Fatalf("keys through relay: %d %q", r.status, r.header.Get("Content-Type"))
	}
	cfgs, err := ohttp.ParseKeyConfigs(r.body)
	if err != nil {
		t.Fatal(err)
	}
	return &ohttpClient{t: t, relay: relay, cfgs: cfgs}
}

func (c *ohttpClient) config(kem ohttp.KEMID) *ohttp.KeyConfig {
	for _, cfg := range c.cfgs {
		if cfg.KEM == kem {
			return cfg
		}
	}
	c.t.Fatalf("no key config for KEM %v among %d", kem, len(c.cfgs))
	return nil
}

// send encapsulates req to a key of kem, posts it to the relay, and
// returns the decapsulated inner response.
func (c *ohttpClient) send(kem ohttp.KEMID, req *bhttp.Request) *bhttp.Response {
	c.t.Helper()
	msg, err := req.Marshal()
	if err != nil {
		c.t.Fatal(err)
	}
	enc, ctx, err := ohttp.EncapsulateRequest(rand.Reader, c.config(kem), ohttp.DefaultSuite, msg)
	if err != nil {
		c.t.Fatal(err)
	}
	r := call(c.t, "POST", c.relay+"/gateway", "", ohttp.RequestMediaType, enc)
	if r.status != 200 || r.header.Get("Content-Type") != ohttp.ResponseMediaType {
		c.t.Fatalf("relay answered %d %q: %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	plain, err := ctx.DecapsulateResponse(r.body)
	if err != nil {
		c.t.Fatal(err)
	}
	resp, err := bhttp.UnmarshalResponse(plain)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp
}

func innerRequest(authority, path string, body []byte) *bhttp.Request {
	return &bhttp.Request{
		Method: "POST", Scheme: "https", Authority: authority, Path: path,
		Header: []bhttp.Field{
			{Name: "content-type", Value: "application/json"},
			{Name: "date", Value: time.Now().UTC().Format(http.TimeFormat)},
			{Name: "user-agent", Value: "e2e-identifying-agent/1.0"},
		},
		Content: body,
	}
}

type event struct {
	Schema  string         `json:"schema"`
	Version int            `json:"version"`
	Fields  map[string]any `json:"fields"`
}

func batchBody(t *testing.T, evs []event) []byte {
	t.Helper()
	id := make([]byte, 16)
	rand.Read(id)
	b, err := json.Marshal(map[string]any{"batch_id": base64.RawURLEncoding.EncodeToString(id), "events": evs})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type eventResult struct {
	Index  int    `json:"index"`
	Status string `json:"status"`
	Reason string `json:"reason"`
	Field  string `json:"field"`
}

func results(t *testing.T, resp *bhttp.Response) []eventResult {
	t.Helper()
	if resp.StatusCode != 200 {
		t.Fatalf("inner status %d: %s", resp.StatusCode, resp.Content)
	}
	var out struct{ Results []eventResult }
	if err := json.Unmarshal(resp.Content, &out); err != nil {
		t.Fatalf("%v: %s", err, resp.Content)
	}
	return out.Results
}

const rejectedValue = "someone@example.com"

func TestEndToEnd(t *testing.T) {
	s := startStack(t, nil)

	// readyz on both listeners.
	for _, u := range []string{s.public + "/readyz", s.admin + "/readyz", s.public + "/healthz", s.admin + "/healthz"} {
		if r := call(t, "GET", u, "", "", nil); r.status != 200 {
			t.Errorf("%s: %d", u, r.status)
		}
	}

	// The admin API answers 401 without a token, with a problem.
	for _, path := range []string{"/v1/schemas", "/v1/keys", "/v1/stats", "/metrics", "/openapi.json"} {
		r := call(t, "GET", s.admin+path, "", "", nil)
		if r.status != 401 || r.header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s without token: %d %q", path, r.status, r.header.Get("Content-Type"))
		}
	}

	// Register the DESIGN.md example schema over REST with the token.
	doc, err := os.ReadFile("testdata/app.launch.json")
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"document":` + string(doc) + `}`)
	r := call(t, "POST", s.admin+"/v1/schemas", s.token, "application/json", body)
	if r.status != 200 || !bytes.Contains(r.body, []byte(`"created":true`)) {
		t.Fatalf("register: %d %s", r.status, r.body)
	}

	// The public listener does not serve the ingest API (or any admin
	// route) in the clear.
	for _, path := range []string{"/v1/events", "/v1/schemas", "/v1/keys:rotate"} {
		if r := call(t, "POST", s.public+path, "", "application/json", batchBody(t, nil)); r.status != 404 {
			t.Errorf("POST %s in the clear on the public listener: %d", path, r.status)
		}
	}

	oc := newOHTTPClient(t, s.relayAt)
	if len(oc.cfgs) < 2 {
		t.Fatalf("want an X25519 and an X-Wing key, got %d configs", len(oc.cfgs))
	}

	// 12 ios events (above k=10), 3 android (below), one rejected.
	var evs []event
	for i := range 12 {
		evs = append(evs, event{"app.launch", 1, map[string]any{"os": "ios", "app_version": "1.2", "cold_start_ms": 100 + i}})
	}
	res := results(t, oc.send(ohttp.KEMX25519, innerRequest("collector.example", "/v1/events", batchBody(t, evs))))
	if len(res) != 12 {
		t.Fatalf("results %+v", res)
	}
	for _, e := range res {
		if e.Status != "accepted" {
			t.Fatalf("ios event: %+v", e)
		}
	}
	// A second batch over X-Wing, with a client-chosen inner authority
	// pointing at the admin listener: it still reaches only ingest.
	evs = evs[:0]
	for range 3 {
		evs = append(evs, event{"app.launch", 1, map[string]any{"os": "android", "cold_start_ms": 900}})
	}
	evs = append(evs, event{"app.launch", 1, map[string]any{"os": "ios", "app_version": rejectedValue}})
	adminHost := strings.TrimPrefix(s.admin, "http://")
	batch := batchBody(t, evs)
	res = results(t, oc.send(ohttp.KEMXWing, innerRequest(adminHost, "/v1/events", batch)))
	if len(res) != 4 || res[0].Status != "accepted" || res[3].Status != "rejected" || res[3].Field != "app_version" || res[3].Reason == "" {
		t.Fatalf("android batch: %+v", res)
	}
	// The same batch again (a retry) is a duplicate and adds nothing.
	res = results(t, oc.send(ohttp.KEMX25519, innerRequest("collector.example", "/v1/events", batch)))
	// (the rejected event is re-checked and rejected again).
	for i, e := range res {
		if want := map[bool]string{true: "rejected", false: "duplicate"}[i == 3]; e.Status != want {
			t.Fatalf("retry: %+v", res)
		}
	}
	// The admin API is not reachable through the gateway, whatever the
	// authority says.
	for _, path := range []string{"/v1/schemas", "/v1/keys:rotate", "/metrics"} {
		resp := oc.send(ohttp.KEMX25519, innerRequest(adminHost, path, body))
		if resp.StatusCode != 404 {
			t.Errorf("inner POST %s to %s: %d %s", path, adminHost, resp.StatusCode, resp.Content)
		}
	}

	// Aggregates: the ios group (12) is shown, the android group (3 < k)
	// is suppressed.
	r = call(t, "GET", s.admin+"/v1/aggregates?schema=app.launch&version=1&group_by=os", s.token, "", nil)
	if r.status != 200 {
		t.Fatalf("aggregates: %d %s", r.status, r.body)
	}
	var agg struct {
		Groups []struct {
			Group    map[string]any `json:"group"`
			Count    json.Number    `json:"count"`
			Measures map[string]struct {
				Count json.Number `json:"count"`
				Sum   float64     `json:"sum"`
				Min   float64     `json:"min"`
				Max   float64     `json:"max"`
			} `json:"measures"`
		} `json:"groups"`
		Suppressed int `json:"suppressed_groups"`
		K          int `json:"k"`
	}
	if err := json.Unmarshal(r.body, &agg); err != nil {
		t.Fatalf("%v: %s", err, r.body)
	}
	if agg.K != 10 || agg.Suppressed != 1 || len(agg.Groups) != 1 {
		t.Fatalf("aggregates: %s", r.body)
	}
	g := agg.Groups[0]
	m := g.Measures["cold_start_ms"]
	if g.Group["os"] != "ios" || g.Count.String() != "12" || m.Min != 100 || m.Max != 111 || m.Sum != 1266 {
		t.Fatalf("ios group: %s", r.body)
	}

	// Stats: 15 accepted, 1 rejected (the duplicate adds nothing).
	r = call(t, "GET", s.admin+"/v1/stats", s.token, "", nil)
	var stats struct {
		Accepted json.Number `json:"accepted"`
		Rejected json.Number `json:"rejected"`
		Rows     []struct {
			Outcome string `json:"outcome"`
			Reason  string `json:"reason"`
		} `json:"rows"`
	}
	if err := json.Unmarshal(r.body, &stats); err != nil || r.status != 200 {
		t.Fatalf("stats: %d %s", r.status, r.body)
	}
	if stats.Accepted.String() != "15" || stats.Rejected.String() != "1" {
		t.Fatalf("stats: %s", r.body)
	}

	// gRPC on the admin listener (h2c), with and without the token.
	checkAdminGRPC(t, strings.TrimPrefix(s.admin, "http://"), s.token)

	// Metrics and the dashboard, with the token.
	r = call(t, "GET", s.admin+"/metrics", s.token, "", nil)
	if r.status != 200 || !bytes.Contains(r.body, []byte("veil_admin_requests_total")) || !bytes.Contains(r.body, []byte("go_goroutines")) {
		t.Errorf("metrics: %d", r.status)
	}
	if bytes.Contains(r.body, []byte(rejectedValue)) {
		t.Error("metrics hold an event value")
	}
	r = call(t, "GET", s.admin+"/", s.token, "", nil)
	if r.status != 200 || !bytes.Contains(r.body, []byte("app.launch")) {
		t.Errorf("dashboard: %d", r.status)
	}

	// SIGTERM drains and exits cleanly; logs hold no event value, token or
	// inner header.
	s.relay.stop(t, 30*time.Second)
	s.serve.stop(t, 2*time.Minute)
	logs := s.serve.output() + s.relay.output()
	for _, secret := range []string{rejectedValue, s.token, "e2e-identifying-agent"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
	if !strings.Contains(s.serve.output(), filepath.Join(s.dataDir, "admin-token")) {
		t.Error("serve did not log the admin token's path")
	}
}

func checkAdminGRPC(t *testing.T, addr, token string) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	keys := veilv1.NewKeyServiceClient(conn)
	if _, err := keys.ListKeys(ctx, &veilv1.ListKeysRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("gRPC without token: %v", err)
	}
	resp, err := keys.ListKeys(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token), &veilv1.ListKeysRequest{})
	if err != nil || len(resp.GetKeys()) != 2 {
		t.Errorf("gRPC ListKeys: %v %v", resp, err)
	}
}

type testCerts struct{ cert, key string }

// newTestCerts writes a self-signed certificate for 127.0.0.1 and adds it
// to the client's roots.
func newTestCerts(t *testing.T) *testCerts {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "veil e2e"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	testRoots.AddCert(cert)
	keyDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := &testCerts{cert: filepath.Join(dir, "cert.pem"), key: filepath.Join(dir, "key.pem")}
	os.WriteFile(c.cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(c.key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	return c
}

// TestTLS runs both listeners over TLS: the relay verifies the gateway's
// certificate, the admin API answers REST and gRPC over HTTPS.
func TestTLS(t *testing.T) {
	certs := newTestCerts(t)
	s := startStack(t, certs)
	if r := call(t, "GET", s.admin+"/readyz", "", "", nil); r.status != 200 {
		t.Fatalf("admin readyz over TLS: %d", r.status)
	}
	doc, err := os.ReadFile("testdata/app.launch.json")
	if err != nil {
		t.Fatal(err)
	}
	if r := call(t, "POST", s.admin+"/v1/schemas", s.token, "application/json", []byte(`{"document":`+string(doc)+`}`)); r.status != 200 {
		t.Fatalf("register over TLS: %d %s", r.status, r.body)
	}
	oc := newOHTTPClient(t, s.relayAt)
	res := results(t, oc.send(ohttp.KEMX25519, innerRequest("collector.example", "/v1/events",
		batchBody(t, []event{{"app.launch", 1, map[string]any{"os": "ios"}}}))))
	if len(res) != 1 || res[0].Status != "accepted" {
		t.Fatalf("%+v", res)
	}
	conn, err := grpc.NewClient(strings.TrimPrefix(s.admin, "https://"),
		grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: testRoots})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+s.token), 10*time.Second)
	defer cancel()
	if resp, err := veilv1.NewKeyServiceClient(conn).ListKeys(ctx, &veilv1.ListKeysRequest{}); err != nil || len(resp.GetKeys()) != 2 {
		t.Fatalf("gRPC over TLS: %v %v", resp, err)
	}
	s.relay.stop(t, 30*time.Second)
	s.serve.stop(t, 2*time.Minute)
}
