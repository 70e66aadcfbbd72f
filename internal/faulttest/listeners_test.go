package faulttest

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/internal/e2e/e2etest"
	"github.com/veil-telemetry/veil/internal/storage/storagetest"
	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

// serverReadHeaderTimeout is the ReadHeaderTimeout of veil serve's and
// veil relay's listeners (cmd/veil: 5 s, not a flag).
const serverReadHeaderTimeout = 5 * time.Second

// TestSlowLoris opens connections to both listeners of veil serve and to
// veil relay that send their request headers one byte a second: each
// server must cut the connection once its ReadHeaderTimeout has passed,
// and keep serving others meanwhile.
func TestSlowLoris(t *testing.T) {
	s := startServe(t, serveOpts{dbURL: storagetest.URL(t)})
	relayAddr := e2etest.FreeAddr(t)
	relay := startProc(t, "veil relay", "relay", "--listen", relayAddr, "--gateway", s.public+"/gateway")
	e2etest.WaitOK(t, httpc, "http://"+relayAddr+"/ohttp-keys", relay, 30*time.Second)

	targets := map[string]string{"public": s.pubAddr, "admin": s.admAddr, "relay": relayAddr}
	var wg sync.WaitGroup
	for name, addr := range targets {
		for _, partial := range []string{
			"POST /gateway HTTP/1.1\r\nHost: x\r\n",
			"GET /healthz HTTP/1.1\r\n",
		} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cut, err := trickle(addr, partial, 3*serverReadHeaderTimeout)
				if err != nil {
					t.Errorf("%s: %v", name, err)
					return
				}
				if cut < serverReadHeaderTimeout-time.Second || cut > serverReadHeaderTimeout+4*time.Second {
					t.Errorf("%s: slow client cut after %v, want about %v", name, cut, serverReadHeaderTimeout)
				}
			}()
		}
	}
	// Meanwhile the listeners answer other clients.
	time.Sleep(time.Second)
	for name, u := range map[string]string{"public": s.public + "/healthz", "admin": s.admin + "/healthz", "relay": "http://" + relayAddr + "/ohttp-keys"} {
		start := time.Now()
		if r := call(t, http.MethodGet, u, "", nil); r.Status != http.StatusOK || time.Since(start) > 2*time.Second {
			t.Errorf("%s during the slow clients: %d after %v", name, r.Status, time.Since(start))
		}
	}
	wg.Wait()
}

// trickle writes partial, then one more header byte per second, and
// reports how long the server took to close the connection.
func trickle(addr, partial string, limit time.Duration) (time.Duration, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	start := time.Now()
	if _, err := io.WriteString(c, partial); err != nil {
		return 0, err
	}
	closed := make(chan struct{})
	go func() {
		// The server may write a 408 before closing; read to EOF.
		io.Copy(io.Discard, c)
		close(closed)
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for time.Since(start) < limit {
		select {
		case <-closed:
			return time.Since(start), nil
		case <-tick.C:
			c.Write([]byte("X")) // "XXXX…" is a header name still being sent
		}
	}
	return time.Since(start), &timeoutErr{limit}
}

type timeoutErr struct{ d time.Duration }

func (e *timeoutErr) Error() string { return "connection still open after " + e.d.String() }

// openAPIRoutes lists the method and path template of every REST route in
// veilv1.OpenAPI.
func openAPIRoutes(t *testing.T) [][2]string {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(veilv1.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	var out [][2]string
	for p, ops := range doc.Paths {
		for m := range ops {
			switch m {
			case "get", "post", "put", "patch", "delete":
				out = append(out, [2]string{strings.ToUpper(m), p})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i][1]+out[i][0] < out[j][1]+out[j][0] })
	if len(out) < 5 {
		t.Fatalf("only %d routes in the OpenAPI document", len(out))
	}
	return out
}

var pathParam = regexp.MustCompile(`\{[^}]+\}`)

// concrete fills a path template's parameters with plausible values.
func concrete(tmpl string) string {
	return pathParam.ReplaceAllStringFunc(tmpl, func(p string) string {
		switch {
		case strings.Contains(p, "version"):
			return "1"
		case strings.Contains(p, "id"):
			return "1"
		}
		return "fault.event"
	})
}

// TestAdminSecurity: every admin route of the OpenAPI document, and the
// admin plane's other endpoints, refuse a missing, wrong or malformed
// token with 401 — and do nothing: no schema gets registered, no key
// rotated.
func TestAdminSecurity(t *testing.T) {
	s := startServe(t, serveOpts{dbURL: storagetest.URL(t)})
	keysBefore := call(t, http.MethodGet, s.admin+"/v1/keys", s.token, nil)
	if keysBefore.Status != http.StatusOK {
		t.Fatalf("keys with the token: %d %s", keysBefore.Status, keysBefore.Body)
	}
	routes := openAPIRoutes(t)
	routes = append(routes,
		[2]string{"GET", "/metrics"}, [2]string{"GET", "/openapi.json"},
		[2]string{"GET", "/v1/events"}, [2]string{"POST", "/v1/events"})
	doc := readFile(t, "testdata/fault.event.json")
	body := append(append([]byte(`{"document":`), doc...), '}')
	wrong := []struct{ name, header string }{
		{"missing", ""},
		{"wrong", "Bearer " + strings.Repeat("0", len(s.token))},
		{"prefix", "Bearer " + s.token[:len(s.token)-1]},
		{"longer", "Bearer " + s.token + "0"},
		{"no scheme", s.token},
		{"basic", "Basic " + s.token},
		{"empty bearer", "Bearer "},
	}
	for _, r := range routes {
		path := concrete(r[1])
		for _, w := range wrong {
			req, err := http.NewRequest(r[0], s.admin+path, strings.NewReader(string(body)))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			if w.header != "" {
				req.Header.Set("Authorization", w.header)
			}
			resp, err := httpc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s %s with %s token: %d, want 401", r[0], path, w.name, resp.StatusCode)
			}
		}
	}
	// Nothing changed.
	if r := call(t, http.MethodGet, s.admin+"/v1/schemas", s.token, nil); r.Status != 200 || strings.Contains(string(r.Body), "fault.event") {
		t.Errorf("schemas after unauthenticated calls: %d %s", r.Status, r.Body)
	}
	if r := call(t, http.MethodGet, s.admin+"/v1/keys", s.token, nil); string(r.Body) != string(keysBefore.Body) {
		t.Errorf("keys changed by unauthenticated calls:\n%s\n%s", keysBefore.Body, r.Body)
	}
	t.Logf("%d admin routes × %d bad tokens refused", len(routes), len(wrong))
}

// TestPublicRouteScan probes the public listener with every admin route,
// the ingest API, debug and dashboard paths under every method: only the
// gateway endpoints and health answer; everything else is 404 or 405.
func TestPublicRouteScan(t *testing.T) {
	s := startServe(t, serveOpts{dbURL: storagetest.URL(t)})
	serving := map[string][]string{
		"/gateway":                   {"POST"},
		"/.well-known/ohttp-gateway": {"GET", "HEAD", "POST"},
		"/ohttp-keys":                {"GET", "HEAD"},
		"/healthz":                   {"GET", "HEAD"},
		"/readyz":                    {"GET", "HEAD"},
	}
	paths := []string{"/", "/v1/events", "/v1/events:batch", "/metrics", "/openapi.json", "/login", "/logout",
		"/debug/pprof/", "/debug/vars", "/dashboard", "/admin", "/v1/", "/ingest", "/gateway/", "/GATEWAY",
		"/gateway/../v1/events", "/%2e%2e/v1/events", "/.well-known/", "/veil.v1.IngestService/SubmitEvents",
		"/veil.v1.KeyService/ListKeys", "/ohttp-keys/", "/healthz/", "/readyz/x"}
	for _, r := range openAPIRoutes(t) {
		paths = append(paths, concrete(r[1]))
	}
	for p := range serving {
		paths = append(paths, p)
	}
	methods := []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
	hits := 0
	for _, p := range paths {
		for _, m := range methods {
			req, err := http.NewRequest(m, s.public+p, strings.NewReader(`{"batch_id":"AAAAAAAAAAAAAAAAAAAAAA","events":[]}`))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+s.token) // even with the admin token
			resp, err := httpc.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", m, p, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			allowed := slices.Contains(serving[req.URL.Path], m)
			switch {
			case allowed:
				hits++
				if resp.StatusCode >= 500 && p != "/readyz" {
					t.Errorf("%s %s: %d", m, p, resp.StatusCode)
				}
			case resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed && resp.StatusCode != http.StatusBadRequest:
				t.Errorf("%s %s on the public listener: %d, want 404/405", m, p, resp.StatusCode)
			}
		}
	}
	t.Logf("%d paths × %d methods scanned, %d gateway/health hits", len(paths), len(methods), hits)
}
