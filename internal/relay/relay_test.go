package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/veil-telemetry/veil/internal/testlog"
)

// fakeGateway records what reaches it and answers like a gateway.
type fakeGateway struct {
	mu       sync.Mutex
	headers  []http.Header
	bodies   [][]byte
	keyHits  atomic.Int32
	keysBody []byte
	keysCC   string
	status   int
	ctype    string
	extra    http.Header
	delay    time.Duration
}

func (g *fakeGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/ohttp-keys":
		g.keyHits.Add(1)
		w.Header().Set("Content-Type", keysMediaType)
		if g.keysCC != "" {
			w.Header().Set("Cache-Control", g.keysCC)
		}
		w.Write(g.keysBody)
	case "/gateway":
		b, _ := io.ReadAll(r.Body)
		g.mu.Lock()
		g.headers = append(g.headers, r.Header.Clone())
		g.bodies = append(g.bodies, b)
		g.mu.Unlock()
		if g.delay > 0 {
			time.Sleep(g.delay)
		}
		for k, v := range g.extra {
			w.Header()[k] = v
		}
		ct := g.ctype
		if ct == "" {
			ct = responseMediaType
		}
		w.Header().Set("Content-Type", ct)
		st := g.status
		if st == 0 {
			st = http.StatusOK
		}
		w.WriteHeader(st)
		w.Write(append([]byte("res:"), b...))
	default:
		http.NotFound(w, r)
	}
}

type harness struct {
	gw    *fakeGateway
	gwSrv *httptest.Server
	relay *Relay
	srv   *httptest.Server
	logs  *testlog.Buffer
}

func newHarness(t *testing.T, mod func(*Config)) *harness {
	t.Helper()
	gw := &fakeGateway{keysBody: []byte{0, 3, 1, 2, 3}, keysCC: "public, max-age=60"}
	gwSrv := httptest.NewServer(gw)
	t.Cleanup(gwSrv.Close)
	logs := new(testlog.Buffer)
	cfg := Config{
		GatewayURL: gwSrv.URL + "/gateway",
		Logger:     slog.New(slog.NewJSONHandler(logs, nil)),
	}
	if mod != nil {
		mod(&cfg)
	}
	rl, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rl)
	t.Cleanup(srv.Close)
	return &harness{gw: gw, gwSrv: gwSrv, relay: rl, srv: srv, logs: logs}
}

func (h *harness) do(t *testing.T, method, path, ctype string, body []byte, hdr http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func readBody(t *testing.T, r *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestForwardOnlyBodyAndContentType(t *testing.T) {
	h := newHarness(t, nil)
	secret := []byte("ciphertext-bytes")
	clientHdr := http.Header{
		"User-Agent":      {"SecretBrowser/1.0"},
		"X-Forwarded-For": {"203.0.113.7"},
		"Forwarded":       {"for=203.0.113.7"},
		"Cookie":          {"session=abc"},
		"Authorization":   {"Bearer tok"},
		"Accept-Language": {"de-CH"},
		"X-Real-Ip":       {"203.0.113.7"},
	}
	for _, path := range []string{"/", "/gateway"} {
		resp := h.do(t, "POST", path, requestMediaType, secret, clientHdr)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", path, resp.StatusCode)
		}
		if got := resp.Header.Get("Content-Type"); got != responseMediaType {
			t.Errorf("content type %q", got)
		}
		if got := readBody(t, resp); string(got) != "res:"+string(secret) {
			t.Errorf("body %q", got)
		}
		if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Error("no Access-Control-Allow-Origin")
		}
	}
	h.gw.mu.Lock()
	defer h.gw.mu.Unlock()
	for i, hd := range h.gw.headers {
		if !bytes.Equal(h.gw.bodies[i], secret) {
			t.Errorf("gateway got body %q", h.gw.bodies[i])
		}
		for k := range hd {
			switch k {
			case "Content-Type", "Content-Length", "Accept-Encoding":
			default:
				t.Errorf("gateway received header %s: %q", k, hd[k])
			}
		}
		if hd.Get("Accept-Encoding") != "" {
			t.Errorf("Accept-Encoding %q", hd.Get("Accept-Encoding"))
		}
		if hd.Get("Content-Type") != requestMediaType {
			t.Errorf("gateway content type %q", hd.Get("Content-Type"))
		}
	}
	logs := h.logs.String()
	for _, leak := range []string{"127.0.0.1", "203.0.113.7", "SecretBrowser", "session=abc", "ciphertext"} {
		if strings.Contains(logs, leak) {
			t.Errorf("log contains %q:\n%s", leak, logs)
		}
	}
	if n := strings.Count(logs, "\n"); n != 2 {
		t.Errorf("%d log lines, want 2:\n%s", n, logs)
	}
}

func TestResponseHeadersFiltered(t *testing.T) {
	h := newHarness(t, nil)
	h.gw.status = http.StatusServiceUnavailable
	h.gw.ctype = problemMediaType
	h.gw.extra = http.Header{
		"Retry-After": {"7"},
		"Set-Cookie":  {"gw=1"},
		"Server":      {"gateway/1"},
		"X-Internal":  {"node-3"},
	}
	resp := h.do(t, "POST", "/", requestMediaType, []byte("x"), nil)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := resp.Header.Get("Retry-After"); got != "7" {
		t.Errorf("Retry-After %q", got)
	}
	if got := resp.Header.Get("Content-Type"); got != problemMediaType {
		t.Errorf("Content-Type %q", got)
	}
	for _, k := range []string{"Set-Cookie", "Server", "X-Internal"} {
		if v := resp.Header.Get(k); v != "" {
			t.Errorf("%s passed back: %q", k, v)
		}
	}

	// A body of an unexpected type is not passed on.
	h.gw.ctype = "text/html"
	h.gw.status = http.StatusInternalServerError
	resp = h.do(t, "POST", "/", requestMediaType, []byte("x"), nil)
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if b := readBody(t, resp); len(b) != 0 {
		t.Errorf("body %q passed back", b)
	}
}

func TestErrors(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxBodyBytes = 16 })
	tests := []struct {
		name, method, path, ctype string
		body                      []byte
		status                    int
		allow                     string
	}{
		{"get root", "GET", "/", "", nil, 405, "POST, OPTIONS"},
		{"put gateway", "PUT", "/gateway", requestMediaType, []byte("x"), 405, "POST, OPTIONS"},
		{"post keys", "POST", "/ohttp-keys", requestMediaType, []byte("x"), 405, "GET, HEAD, OPTIONS"},
		{"no type", "POST", "/", "", []byte("x"), 415, ""},
		{"wrong type", "POST", "/", "application/json", []byte("{}"), 415, ""},
		{"response type", "POST", "/", responseMediaType, []byte("x"), 415, ""},
		{"too big", "POST", "/", requestMediaType, bytes.Repeat([]byte("a"), 17), 413, ""},
		{"unknown path", "POST", "/elsewhere", requestMediaType, []byte("x"), 404, ""},
		{"absolute path", "GET", "/http://evil.example/", "", nil, 404, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := h.do(t, tc.method, tc.path, tc.ctype, tc.body, nil)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if got := resp.Header.Get("Allow"); got != tc.allow {
				t.Errorf("Allow %q, want %q", got, tc.allow)
			}
			if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
				t.Error("error response without Access-Control-Allow-Origin")
			}
			if resp.Header.Get("Access-Control-Allow-Credentials") != "" {
				t.Error("Access-Control-Allow-Credentials set")
			}
			if got := resp.Header.Get("Content-Type"); got != problemMediaType {
				t.Errorf("Content-Type %q", got)
			}
			var p struct{ Status int }
			if err := json.Unmarshal(readBody(t, resp), &p); err != nil || p.Status != tc.status {
				t.Errorf("problem body: %v %+v", err, p)
			}
		})
	}
	if len(h.gw.bodies) != 0 {
		t.Errorf("gateway reached %d times", len(h.gw.bodies))
	}
}

func TestTooBigStreamed(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxBodyBytes = 16 })
	// No Content-Length: the limit applies while reading.
	pr, pw := io.Pipe()
	go func() {
		pw.Write(bytes.Repeat([]byte("a"), 64))
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", h.srv.URL+"/", pr)
	req.Header.Set("Content-Type", requestMediaType)
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

func TestPreflight(t *testing.T) {
	h := newHarness(t, nil)
	for _, path := range []string{"/", "/gateway", "/ohttp-keys", "/.well-known/ohttp-gateway"} {
		resp := h.do(t, "OPTIONS", path, "", nil, http.Header{
			"Origin":                         {"https://app.example"},
			"Access-Control-Request-Method":  {"POST"},
			"Access-Control-Request-Headers": {"content-type"},
		})
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("%s: status %d", path, resp.StatusCode)
		}
		want := map[string]string{
			"Access-Control-Allow-Origin":  "*",
			"Access-Control-Allow-Methods": "POST, GET",
			"Access-Control-Allow-Headers": "Content-Type",
			"Access-Control-Max-Age":       preflightMaxAge,
		}
		for k, v := range want {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", path, k, got, v)
			}
		}
		if resp.Header.Get("Access-Control-Allow-Credentials") != "" {
			t.Error("credentials allowed")
		}
	}
}

func TestKeysCached(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	h := newHarness(t, func(c *Config) { c.Now = clock })

	var etag string
	for i, path := range []string{"/ohttp-keys", "/.well-known/ohttp-gateway", "/ohttp-keys"} {
		resp := h.do(t, "GET", path, "", nil, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if got := readBody(t, resp); !bytes.Equal(got, h.gw.keysBody) {
			t.Errorf("body %x", got)
		}
		if ct := resp.Header.Get("Content-Type"); ct != keysMediaType {
			t.Errorf("content type %q", ct)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age="+[]string{"60", "50", "50"}[i] {
			t.Errorf("Cache-Control %q", cc)
		}
		if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Error("no ACAO")
		}
		etag = resp.Header.Get("ETag")
		advance(10 * time.Second)
		if i == 1 {
			advance(-10 * time.Second)
		}
	}
	if n := h.gw.keyHits.Load(); n != 1 {
		t.Errorf("gateway asked %d times, want 1", n)
	}
	resp := h.do(t, "GET", "/ohttp-keys", "", nil, http.Header{"If-None-Match": {etag}})
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("conditional GET: %d", resp.StatusCode)
	}

	// Past max-age the relay asks again and serves the new document.
	h.gw.keysBody = []byte{0, 1, 9}
	advance(time.Minute)
	resp = h.do(t, "GET", "/ohttp-keys", "", nil, nil)
	if got := readBody(t, resp); !bytes.Equal(got, h.gw.keysBody) {
		t.Errorf("after expiry: %x", got)
	}
	if n := h.gw.keyHits.Load(); n != 2 {
		t.Errorf("gateway asked %d times, want 2", n)
	}

	// The gateway going away does not take the keys with it.
	h.gwSrv.Close()
	advance(2 * time.Minute)
	resp = h.do(t, "GET", "/ohttp-keys", "", nil, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "public, max-age=0" {
		t.Errorf("stale: %d %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
}

func TestKeysUpstreamFailure(t *testing.T) {
	h := newHarness(t, nil)
	h.gwSrv.Close()
	resp := h.do(t, "GET", "/ohttp-keys", "", nil, nil)
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

func TestKeysTTL(t *testing.T) {
	rl, err := New(Config{GatewayURL: "http://gw.invalid/gateway", KeysMaxTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cc, age string
		want    time.Duration
	}{
		{"", "", DefaultKeysTTL},
		{"public, max-age=300", "", 300 * time.Second},
		{"max-age=300, s-maxage=100", "", 100 * time.Second},
		{"max-age=300", "100", 200 * time.Second},
		{"max-age=999999", "", time.Hour},
		{"no-store", "", 0},
		{"private, max-age=60", "", 0},
		{"max-age=junk", "", DefaultKeysTTL},
	} {
		h := http.Header{}
		if tc.cc != "" {
			h.Set("Cache-Control", tc.cc)
		}
		if tc.age != "" {
			h.Set("Age", tc.age)
		}
		if got := rl.keysTTL(h); got != tc.want {
			t.Errorf("%q age %q: %v, want %v", tc.cc, tc.age, got, tc.want)
		}
	}
}

func TestRateLimit(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rl, err := New(Config{
		GatewayURL:     "http://gw.invalid/gateway",
		PerClientRate:  rate.Every(2 * time.Second),
		PerClientBurst: 2,
		Now:            func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	get := func(addr string) *http.Response {
		r := httptest.NewRequest("POST", "/", nil) // 415 once allowed: no gateway needed
		r.RemoteAddr = addr
		w := httptest.NewRecorder()
		rl.ServeHTTP(w, r)
		return w.Result()
	}
	for i := range 2 {
		if st := get("192.0.2.1:1000").StatusCode; st != 415 {
			t.Fatalf("request %d: %d", i, st)
		}
	}
	resp := get("192.0.2.1:2000")
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := resp.Header.Get("Retry-After"); got != "2" {
		t.Errorf("Retry-After %q", got)
	}
	if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Error("429 without ACAO")
	}
	// Another address has its own bucket; an IPv6 /64 shares one.
	if st := get("192.0.2.2:1000").StatusCode; st != 415 {
		t.Errorf("other client: %d", st)
	}
	get("[2001:db8::1]:1")
	get("[2001:db8::2]:1")
	if st := get("[2001:db8::3]:1").StatusCode; st != 429 {
		t.Errorf("same /64: %d", st)
	}
	now = now.Add(2 * time.Second)
	if st := get("192.0.2.1:1000").StatusCode; st != 415 {
		t.Errorf("after refill: %d", st)
	}
}

func TestLimiterSetBounded(t *testing.T) {
	s := newLimiterSet(1, 1, 100)
	now := time.Now()
	for i := range 10000 {
		s.allow(net.IPv4(10, byte(i>>16), byte(i>>8), byte(i)).String(), now)
		if n := s.size(); n > 100 {
			t.Fatalf("holds %d buckets", n)
		}
	}
	// A recently seen client keeps its (empty) bucket.
	s.allow("10.9.9.9", now)
	for i := range 40 {
		s.allow(net.IPv4(11, 0, 0, byte(i)).String(), now)
	}
	if _, ok := s.allow("10.9.9.9", now); ok {
		t.Error("recent client's bucket was forgotten")
	}
}

func TestClientKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1:443":          "192.0.2.1",
		"[::ffff:192.0.2.1]:443": "192.0.2.1",
		"[2001:db8:1:2:3::4]:1":  "2001:db8:1:2::/64",
		"[fe80::1%eth0]:1":       "fe80::/64",
		"garbage":                "garbage",
	} {
		if got := clientKey(in); got != want {
			t.Errorf("clientKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUpstreamFailures(t *testing.T) {
	t.Run("down", func(t *testing.T) {
		h := newHarness(t, nil)
		h.gwSrv.Close()
		resp := h.do(t, "POST", "/", requestMediaType, []byte("x"), nil)
		if resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Error("502 without ACAO")
		}
	})
	t.Run("timeout", func(t *testing.T) {
		h := newHarness(t, func(c *Config) { c.UpstreamTimeout = 50 * time.Millisecond })
		h.gw.delay = 500 * time.Millisecond
		resp := h.do(t, "POST", "/", requestMediaType, []byte("x"), nil)
		if resp.StatusCode != http.StatusGatewayTimeout {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("oversized answer", func(t *testing.T) {
		h := newHarness(t, func(c *Config) { c.MaxResponseBytes = 8 })
		resp := h.do(t, "POST", "/", requestMediaType, []byte("0123456789"), nil)
		if resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("redirect not followed", func(t *testing.T) {
		var hit atomic.Bool
		elsewhere := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hit.Store(true) }))
		defer elsewhere.Close()
		h := newHarness(t, nil)
		h.gw.status = http.StatusTemporaryRedirect
		h.gw.extra = http.Header{"Location": {elsewhere.URL}}
		resp := h.do(t, "POST", "/", requestMediaType, []byte("x"), nil)
		if resp.StatusCode != http.StatusBadGateway || hit.Load() {
			t.Fatalf("status %d, followed %v", resp.StatusCode, hit.Load())
		}
	})
}

func TestNewValidates(t *testing.T) {
	for _, c := range []Config{
		{},
		{GatewayURL: "ftp://gw/x"},
		{GatewayURL: "/gateway"},
		{GatewayURL: "https://user:pw@gw/gateway"},
		{GatewayURL: "https://gw/gateway", KeysURL: "nope"},
		{GatewayURL: "https://gw/gateway", MaxBodyBytes: -1},
		{GatewayURL: "https://gw/gateway", MaxClients: 1},
		{GatewayURL: "https://gw/gateway", MaxInFlight: -1},
		{GatewayURL: "https://gw/gateway", MaxClients: -1},
		{GatewayURL: "https://gw/gateway", KeysTTL: -time.Second},
		{GatewayURL: "https://gw/gateway", PerClientBurst: -1},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) succeeded", c)
		}
	}
	rl, err := New(Config{GatewayURL: "https://gw.example:8443/gateway"})
	if err != nil {
		t.Fatal(err)
	}
	if rl.gateways.all[0].keys != "https://gw.example:8443/ohttp-keys" {
		t.Errorf("keys URL %q", rl.gateways.all[0].keys)
	}
}

func TestHealthz(t *testing.T) {
	h := newHarness(t, nil)
	if resp := h.do(t, "GET", "/healthz", "", nil, nil); resp.StatusCode != 200 {
		t.Errorf("status %d", resp.StatusCode)
	}
}

// TestImports enforces that the relay links nothing beyond the standard
// library, golang.org/x/time/rate and four std-only packages of this
// module (problem documents, cache validators, TLS settings, body reading
// under a rate and a byte budget): in particular
// no ohttp, no HPKE, no key material (DESIGN.md, privacy invariant 6). The
// list is of every dependency, direct or not, so those stay std-only too.
func TestImports(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go tool not found: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, goTool, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for p := range strings.FieldsSeq(string(out)) {
		switch p {
		case "github.com/veil-telemetry/veil/internal/relay", "golang.org/x/time/rate",
			"github.com/veil-telemetry/veil/internal/problem", "github.com/veil-telemetry/veil/internal/httpcache",
			"github.com/veil-telemetry/veil/internal/tlsconfig", "github.com/veil-telemetry/veil/internal/bodyread",
			"github.com/veil-telemetry/veil/internal/relay/proxyproto": // std only, reads load balancers' headers
		default:
			t.Errorf("relay depends on %s", p)
		}
	}
}

// TestUpstreamTLSFailureLogged: a gateway whose certificate the relay does
// not trust is answered 502 as before, and the log says why — the TLS
// handshake and its reason — without a client detail.
func TestUpstreamTLSFailureLogged(t *testing.T) {
	gw := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(gw.Close)
	logs := new(testlog.Buffer)
	rl, err := New(Config{
		GatewayURL: gw.URL + "/gateway",
		Logger:     slog.New(slog.NewJSONHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rl)
	t.Cleanup(srv.Close)
	// Remember the client's address, to look for it in the log.
	var clientAddr atomic.Value
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			clientAddr.Store(c.LocalAddr().String())
		}
		return c, err
	}}
	t.Cleanup(tr.CloseIdleConnections)
	for _, path := range []string{"/gateway", "/ohttp-keys"} {
		method, ctype := http.MethodPost, requestMediaType
		if path == "/ohttp-keys" {
			method, ctype = http.MethodGet, ""
		}
		req, _ := http.NewRequest(method, srv.URL+path, bytes.NewReader([]byte("sealed")))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		req.Header.Set("User-Agent", "client-marker/1.0")
		req.Header.Set("X-Forwarded-For", "198.51.100.7")
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("%s: status %d, want 502", path, resp.StatusCode)
		}
	}
	out := logs.String()
	var tlsLines int
	for line := range strings.Lines(out) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["kind"] == "tls" && strings.Contains(fmt.Sprint(rec["reason"]), "certificate") {
			tlsLines++
		}
	}
	if tlsLines != 2 {
		t.Errorf("%d log lines give the TLS reason, want 2 (forward and keys):\n%s", tlsLines, out)
	}
	for _, secret := range []string{clientAddr.Load().(string), "client-marker", "198.51.100.7", "sealed"} {
		if strings.Contains(out, secret) {
			t.Errorf("log holds a client detail %q:\n%s", secret, out)
		}
	}
}

// TestKeysCacheControlPassThrough: a gateway's no-store or private reaches
// the client as such, never rewritten into a public answer.
func TestKeysCacheControlPassThrough(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		gateway     string
		first, next string // at once, and 10 s later
	}{
		{"no-store", "no-store", "no-store"},
		{"no-store, max-age=60", "no-store", "no-store"},
		// Shared caches may not keep a private answer, the relay
		// included: each request fetches it anew.
		{"private, max-age=60", "private, max-age=60", "private, max-age=60"},
		{"private", "private, max-age=0", "private, max-age=0"},
		{"public, max-age=60", "public, max-age=60", "public, max-age=50"},
	} {
		t.Run(tc.gateway, func(t *testing.T) {
			var mu sync.Mutex
			clock := now
			h := newHarness(t, func(c *Config) {
				c.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
			})
			h.gw.keysCC = tc.gateway
			for i, want := range []string{tc.first, tc.next} {
				resp := h.do(t, "GET", "/ohttp-keys", "", nil, nil)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d", resp.StatusCode)
				}
				if got := resp.Header.Get("Cache-Control"); got != want {
					t.Errorf("request %d: Cache-Control %q, want %q", i, got, want)
				}
				mu.Lock()
				clock = clock.Add(10 * time.Second)
				mu.Unlock()
			}
		})
	}
}
