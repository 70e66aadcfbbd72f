// Package e2e runs veil as a user does: it builds the veil binary, starts
// `veil serve` (with its managed PostgreSQL, or a fresh database on
// VEIL_TEST_DATABASE_URL) and `veil relay` as real processes on loopback,
// and drives them over HTTP: the admin REST API with the bearer token, and
// events through the relay over Oblivious HTTP.
package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/veil-telemetry/veil/bhttp"
	"github.com/veil-telemetry/veil/internal/e2e/e2etest"
	"github.com/veil-telemetry/veil/internal/storage/storagetest"
	"github.com/veil-telemetry/veil/ohttp"
	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

func TestMain(m *testing.M) { storagetest.Main(m) }

// start starts a veil subcommand reading stdin (nil: no input). One still
// running when the test ends gets SIGTERM first, so that serve stops its
// managed PostgreSQL, which would outlive a SIGKILL.
func start(t *testing.T, name string, stdin *os.File, args ...string) *e2etest.Process {
	t.Helper()
	return e2etest.Start(t, name, e2etest.Options{Stdin: stdin, KillAfter: time.Minute}, args...)
}

// client trusts the system roots plus the test CA (see TestTLS).
var client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: testRoots}}}

// testRoots holds the test CA once TestTLS made it.
var testRoots = x509.NewCertPool()

func call(t *testing.T, method, url, token, contentType string, body []byte) e2etest.Reply {
	t.Helper()
	return e2etest.Call(t, client, method, url, token, contentType, body)
}

// stack is a running serve + relay pair.
type stack struct {
	serve, relay           *e2etest.Process
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
	serveArgs []string // extra `veil serve` flags
}

// fastRelay lifts the relay's per-client rate limit: every test client
// sends from 127.0.0.1, which the default (10/s, burst 20) would throttle.
var fastRelay = []string{"--rate", "10000", "--burst", "10000"}

func startStackWith(t *testing.T, o stackOptions) *stack {
	t.Helper()
	certs := o.certs
	e2etest.NeedPostgres(t)
	s := &stack{dataDir: t.TempDir()}
	pub, adm, rel := e2etest.FreeAddr(t), e2etest.FreeAddr(t), e2etest.FreeAddr(t)
	scheme := "http://"
	if certs != nil {
		scheme = "https://"
	}
	s.public, s.admin, s.relayAt = scheme+pub, scheme+adm, "http://"+rel
	// Mix every second, whatever the count, so aggregates come soon
	// (s.settle waits for it).
	args := []string{"serve", "--data-dir", s.dataDir, "--listen", pub, "--admin-listen", adm, "--mix-interval", "1s", "--mix-k", "1"}
	if os.Getenv(storagetest.EnvURL) != "" {
		args = append(args, "--database-url", storagetest.URL(t))
	}
	relayArgs := []string{"relay", "--listen", rel, "--gateway", s.public + "/gateway"}
	if certs != nil {
		args = append(args, "--tls-cert", certs.cert, "--tls-key", certs.key)
		relayArgs = append(relayArgs, "--gateway-ca", certs.cert)
	}
	s.serve = start(t, "serve", nil, append(args, o.serveArgs...)...)
	// First start: initdb, migrations, keys. Generous for slow machines.
	e2etest.WaitOK(t, client, s.public+"/readyz", s.serve, 3*time.Minute)
	s.relay = start(t, "relay", nil, append(relayArgs, o.relayArgs...)...)
	e2etest.WaitOK(t, client, s.relayAt+"/ohttp-keys", s.relay, 30*time.Second)
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
	return &ohttpClient{t: t, relay: relay, cfgs: e2etest.FetchKeys(t, client, relay)}
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
func (c *ohttpClient) send(kem ohttp.KEMID, req e2etest.Inner) *bhttp.Response {
	c.t.Helper()
	sl := e2etest.Seal(c.t, c.config(kem), req.Marshal(c.t))
	return sl.Open(c.t, call(c.t, "POST", c.relay+"/gateway", "", ohttp.RequestMediaType, sl.Body))
}

// innerRequest is an inner POST whose user-agent the log checks look for.
func innerRequest(authority, path string, body []byte) e2etest.Inner {
	return e2etest.Inner{Authority: authority, Path: path, Content: body,
		Header: []bhttp.Field{{Name: "user-agent", Value: "e2e-identifying-agent/1.0"}}}
}

func batchBody(t *testing.T, evs []e2etest.Event) []byte {
	t.Helper()
	return e2etest.Batch(t, e2etest.NewBatchID(), evs)
}

const rejectedValue = "someone@example.com"

func TestEndToEnd(t *testing.T) {
	s := startStack(t, nil)

	// readyz on both listeners.
	for _, u := range []string{s.public + "/readyz", s.admin + "/readyz", s.public + "/healthz", s.admin + "/healthz"} {
		if r := call(t, "GET", u, "", "", nil); r.Status != 200 {
			t.Errorf("%s: %d", u, r.Status)
		}
	}

	// The admin API answers 401 without a token, with a problem.
	for _, path := range []string{"/v1/schemas", "/v1/keys", "/v1/stats", "/metrics", "/openapi.json"} {
		r := call(t, "GET", s.admin+path, "", "", nil)
		if r.Status != 401 || r.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s without token: %d %q", path, r.Status, r.Header.Get("Content-Type"))
		}
	}

	// Register the DESIGN.md example schema over REST with the token.
	doc, err := os.ReadFile("testdata/app.launch.json")
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"document":` + string(doc) + `}`)
	r := call(t, "POST", s.admin+"/v1/schemas", s.token, "application/json", body)
	if r.Status != 200 || !bytes.Contains(r.Body, []byte(`"created":true`)) {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}

	// The public listener does not serve the ingest API (or any admin
	// route) in the clear.
	for _, path := range []string{"/v1/events", "/v1/schemas", "/v1/keys:rotate"} {
		if r := call(t, "POST", s.public+path, "", "application/json", batchBody(t, nil)); r.Status != 404 {
			t.Errorf("POST %s in the clear on the public listener: %d", path, r.Status)
		}
	}

	oc := newOHTTPClient(t, s.relayAt)
	if len(oc.cfgs) < 2 {
		t.Fatalf("want an X25519 and an X-Wing key, got %d configs", len(oc.cfgs))
	}

	// 12 ios events (above k=10), 3 android (below), one rejected.
	var evs []e2etest.Event
	for i := range 12 {
		evs = append(evs, e2etest.Event{Schema: "app.launch", Version: 1, Fields: map[string]any{"os": "ios", "app_version": "1.2", "cold_start_ms": 100 + i}})
	}
	res := e2etest.Results(t, oc.send(ohttp.KEMX25519, innerRequest("collector.example", "/v1/events", batchBody(t, evs))))
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
		evs = append(evs, e2etest.Event{Schema: "app.launch", Version: 1, Fields: map[string]any{"os": "android", "cold_start_ms": 900}})
	}
	evs = append(evs, e2etest.Event{Schema: "app.launch", Version: 1, Fields: map[string]any{"os": "ios", "app_version": rejectedValue}})
	adminHost := strings.TrimPrefix(s.admin, "http://")
	batch := batchBody(t, evs)
	res = e2etest.Results(t, oc.send(ohttp.KEMXWing, innerRequest(adminHost, "/v1/events", batch)))
	if len(res) != 4 || res[0].Status != "accepted" || res[3].Status != "rejected" || res[3].Field != "app_version" || res[3].Reason == "" {
		t.Fatalf("android batch: %+v", res)
	}
	// The same batch again (a retry) is a duplicate and adds nothing.
	res = e2etest.Results(t, oc.send(ohttp.KEMX25519, innerRequest("collector.example", "/v1/events", batch)))
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

	// Aggregates (the schema declares exact mode: these tests count
	// deliveries): the ios group (12) is shown, the android group (3 < k)
	// is suppressed, and no minimum or maximum is released.
	s.settle(t)
	r = call(t, "GET", s.admin+"/v1/aggregates?schema=app.launch&version=1&group_by=os", s.token, "", nil)
	if r.Status != 200 {
		t.Fatalf("aggregates: %d %s", r.Status, r.Body)
	}
	var agg struct {
		Groups []struct {
			Group    map[string]any `json:"group"`
			Count    json.Number    `json:"count"`
			Measures map[string]struct {
				Count json.Number `json:"count"`
				Sum   float64     `json:"sum"`
				Min   *float64    `json:"min"`
				Max   *float64    `json:"max"`
			} `json:"measures"`
		} `json:"groups"`
		Suppressed int    `json:"suppressed_groups"`
		K          int    `json:"k"`
		Label      string `json:"label"`
	}
	if err := json.Unmarshal(r.Body, &agg); err != nil {
		t.Fatalf("%v: %s", err, r.Body)
	}
	if agg.K != 10 || agg.Suppressed != 1 || len(agg.Groups) != 1 {
		t.Fatalf("aggregates: %s", r.Body)
	}
	g := agg.Groups[0]
	m := g.Measures["cold_start_ms"]
	if g.Group["os"] != "ios" || g.Count.String() != "12" || m.Min != nil || m.Max != nil || m.Sum != 1266 || agg.Label != "exact — subtractable" {
		t.Fatalf("ios group: %s", r.Body)
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
	if err := json.Unmarshal(r.Body, &stats); err != nil || r.Status != 200 {
		t.Fatalf("stats: %d %s", r.Status, r.Body)
	}
	if stats.Accepted.String() != "15" || stats.Rejected.String() != "1" {
		t.Fatalf("stats: %s", r.Body)
	}

	// gRPC on the admin listener (h2c), with and without the token.
	checkAdminGRPC(t, strings.TrimPrefix(s.admin, "http://"), s.token)

	// Metrics and the dashboard, with the token.
	r = call(t, "GET", s.admin+"/metrics", s.token, "", nil)
	if r.Status != 200 || !bytes.Contains(r.Body, []byte("veil_admin_requests_total")) || !bytes.Contains(r.Body, []byte("go_goroutines")) {
		t.Errorf("metrics: %d", r.Status)
	}
	// The writer has committed the batches above.
	if m := regexp.MustCompile(`(?m)^veil_writer_transactions_total (\d+)$`).FindSubmatch(r.Body); m == nil || string(m[1]) == "0" {
		t.Errorf("metrics: veil_writer_transactions_total missing or zero: %q", m)
	}
	if bytes.Contains(r.Body, []byte(rejectedValue)) {
		t.Error("metrics hold an event value")
	}
	r = call(t, "GET", s.admin+"/", s.token, "", nil)
	if r.Status != 200 || !bytes.Contains(r.Body, []byte("app.launch")) {
		t.Errorf("dashboard: %d", r.Status)
	}

	// SIGTERM drains and exits cleanly; logs hold no event value, token or
	// inner header.
	s.relay.Stop(t, 30*time.Second)
	s.serve.Stop(t, 2*time.Minute)
	logs := s.serve.Output() + s.relay.Output()
	for _, secret := range []string{rejectedValue, s.token, "e2e-identifying-agent"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
	if !strings.Contains(s.serve.Output(), filepath.Join(s.dataDir, "admin-token")) {
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
	cert, key, c := e2etest.WriteSelfSigned(t)
	testRoots.AddCert(c)
	return &testCerts{cert: cert, key: key}
}

// TestTLS runs both listeners over TLS: the relay verifies the gateway's
// certificate, the admin API answers REST and gRPC over HTTPS.
func TestTLS(t *testing.T) {
	certs := newTestCerts(t)
	s := startStack(t, certs)
	if r := call(t, "GET", s.admin+"/readyz", "", "", nil); r.Status != 200 {
		t.Fatalf("admin readyz over TLS: %d", r.Status)
	}
	s.registerSchema(t, "testdata/app.launch.json")
	oc := newOHTTPClient(t, s.relayAt)
	res := e2etest.Results(t, oc.send(ohttp.KEMX25519, innerRequest("collector.example", "/v1/events",
		batchBody(t, []e2etest.Event{{Schema: "app.launch", Version: 1, Fields: map[string]any{"os": "ios"}}}))))
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
	s.relay.Stop(t, 30*time.Second)
	s.serve.Stop(t, 2*time.Minute)
}
