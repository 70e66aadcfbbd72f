package admin

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/veil-telemetry/veil/internal/problem"
	"github.com/veil-telemetry/veil/internal/problem/problemtest"
	"github.com/veil-telemetry/veil/internal/storage"
	"github.com/veil-telemetry/veil/internal/storage/storagetest"
	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

func TestMain(m *testing.M) { storagetest.Main(m) }

const testToken = "test-admin-token-0123456789abcdef"

type harness struct {
	srv       *Server
	db        *storage.DB
	url       string // http://127.0.0.1:port
	addr      string
	http      *http.Client
	invalided []string
}

// newHarness serves the admin plane on loopback with h2c, as veil serve
// does, over a fresh database.
func newHarness(t *testing.T, mod func(*Config)) *harness {
	t.Helper()
	tok, err := ParseTokens(strings.NewReader(testToken + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{db: storagetest.New(t)}
	cfg := Config{
		DB: h.db, Tokens: tok,
		SchemaRegistered: func(name string, version int) {
			h.invalided = append(h.invalided, name)
		},
	}
	if mod != nil {
		mod(&cfg)
	}
	h.srv, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.srv.Close)
	if err := h.srv.EnsureKeys(context.Background()); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	hs := &http.Server{Handler: h.srv.Handler(), Protocols: &protos, HTTP2: h.srv.HTTP2Config(), ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	h.addr = ln.Addr().String()
	h.url = "http://" + h.addr
	h.http = &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	return h
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (h *harness) do(t *testing.T, method, path, token string, body any) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, h.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, b}
}

func exampleSchema(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile("testdata/app.launch.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func mustProblem(t *testing.T, r response, status int) problem.Details {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	return problemtest.Decode(t, r.status, r.header, r.body)
}

func TestRESTRequiresToken(t *testing.T) {
	h := newHarness(t, nil)
	for _, path := range []string{"/v1/schemas", "/v1/keys", "/v1/stats", "/metrics", "/openapi.json"} {
		for _, tok := range []string{"", "wrong-token-0123456789abcdef"} {
			r := h.do(t, "GET", path, tok, nil)
			mustProblem(t, r, http.StatusUnauthorized)
			if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s: no WWW-Authenticate", path)
			}
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if r := h.do(t, "GET", path, "", nil); r.status != 200 {
			t.Errorf("%s: %d", path, r.status)
		}
	}
	if r := h.do(t, "GET", "/openapi.json", testToken, nil); r.status != 200 || !bytes.Equal(r.body, veilv1.OpenAPI) {
		t.Errorf("openapi: %d", r.status)
	}
	mustProblem(t, h.do(t, "GET", "/nothing/here", testToken, nil), http.StatusNotFound)
	mustProblem(t, h.do(t, "GET", "/v1/nothing", testToken, nil), http.StatusNotFound)
}

func TestReadyz(t *testing.T) {
	ready := false
	h := newHarness(t, func(c *Config) {
		c.Ready = func(context.Context) error {
			if !ready {
				return errNotReadyForTest
			}
			return nil
		}
	})
	r := h.do(t, "GET", "/readyz", "", nil)
	if r.status != 503 || !strings.Contains(string(r.body), "writer") {
		t.Fatalf("%d %s", r.status, r.body)
	}
	ready = true
	if r := h.do(t, "GET", "/readyz", "", nil); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
}

var errNotReadyForTest = &problem.Error{Kind: problem.Unavailable, Message: "writer not connected"}

func TestRegisterSchema(t *testing.T) {
	h := newHarness(t, nil)
	doc := exampleSchema(t)
	r := h.do(t, "POST", "/v1/schemas", testToken, map[string]any{"document": doc})
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var resp struct {
		Schema struct {
			Name        string   `json:"name"`
			Version     int      `json:"version"`
			Granularity string   `json:"granularity"`
			Dimensions  []string `json:"dimensions"`
			Measures    []string `json:"measures"`
		} `json:"schema"`
		Created bool `json:"created"`
	}
	if err := json.Unmarshal(r.body, &resp); err != nil {
		t.Fatal(err)
	}
	if !resp.Created || resp.Schema.Name != "app.launch" || resp.Schema.Version != 1 ||
		resp.Schema.Granularity != "hour" || len(resp.Schema.Dimensions) != 2 || resp.Schema.Measures[0] != "cold_start_ms" {
		t.Fatalf("%s", r.body)
	}
	if len(h.invalided) != 1 || h.invalided[0] != "app.launch" {
		t.Errorf("registry not told: %v", h.invalided)
	}

	// The identical document, members reordered: a no-op.
	r = h.do(t, "POST", "/v1/schemas", testToken, map[string]any{"document": exampleSchema(t)})
	if r.status != 200 || !strings.Contains(string(r.body), `"created":false`) {
		t.Fatalf("re-register: %d %s", r.status, r.body)
	}

	// A different document under the same version: conflict.
	changed := exampleSchema(t)
	changed["x-veil"].(map[string]any)["retention_days"] = 90
	p := mustProblem(t, h.do(t, "POST", "/v1/schemas", testToken, map[string]any{"document": changed}), http.StatusConflict)
	if p.Type != problem.Conflict.Type() || p.Detail == "" {
		t.Errorf("%+v", p)
	}

	// Lint findings come back as a 400 problem listing each.
	bad := exampleSchema(t)
	bad["properties"].(map[string]any)["email"] = map[string]any{"type": "string", "x-veil-role": "dimension"}
	p = mustProblem(t, h.do(t, "POST", "/v1/schemas", testToken, map[string]any{"document": bad}), http.StatusBadRequest)
	rules := map[string]bool{}
	for _, f := range p.Findings {
		if f.Property == "email" {
			rules[f.Rule] = true
		}
		if f.Message == "" {
			t.Errorf("finding without message: %+v", f)
		}
	}
	if !rules["identifying_name"] || !rules["unbounded_string"] {
		t.Errorf("findings %+v", p.Findings)
	}

	mustProblem(t, h.do(t, "POST", "/v1/schemas", testToken, `{"document": 3}`), http.StatusBadRequest)
	mustProblem(t, h.do(t, "POST", "/v1/schemas", testToken, `{"nonsense": 1}`), http.StatusBadRequest)
	mustProblem(t, h.do(t, "POST", "/v1/schemas", testToken, `{`), http.StatusBadRequest)

	r = h.do(t, "GET", "/v1/schemas/app.launch/versions/1", testToken, nil)
	if r.status != 200 || !strings.Contains(string(r.body), `"cold_start_ms"`) {
		t.Fatalf("get: %d %s", r.status, r.body)
	}
	mustProblem(t, h.do(t, "GET", "/v1/schemas/app.launch/versions/2", testToken, nil), http.StatusNotFound)
	r = h.do(t, "GET", "/v1/schemas", testToken, nil)
	if r.status != 200 || strings.Count(string(r.body), `"create_time"`) != 1 {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
}

func TestKeys(t *testing.T) {
	h := newHarness(t, nil)
	type key struct {
		KeyID uint8  `json:"key_id"`
		KEM   string `json:"kem"`
		State string `json:"state"`
	}
	list := func() []key {
		r := h.do(t, "GET", "/v1/keys", testToken, nil)
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		var out struct{ Keys []key }
		if err := json.Unmarshal(r.body, &out); err != nil {
			t.Fatal(err)
		}
		return out.Keys
	}
	keys := list()
	if len(keys) != 2 || keys[0].State != "current" || keys[1].State != "current" {
		t.Fatalf("first start keys: %+v", keys)
	}
	// EnsureKeys again adds nothing.
	if err := h.srv.EnsureKeys(context.Background()); err != nil || len(list()) != 2 {
		t.Fatalf("EnsureKeys twice: %v", err)
	}
	r := h.do(t, "POST", "/v1/keys:rotate", testToken, `{"kems":["x25519"]}`)
	if r.status != 200 {
		t.Fatalf("rotate: %d %s", r.status, r.body)
	}
	keys = list()
	states := map[string]int{}
	var active uint8
	var current uint8
	for _, k := range keys {
		states[k.KEM+"/"+k.State]++
		if k.KEM == "x25519" && k.State == "active" {
			active = k.KeyID
		}
		if k.KEM == "x25519" && k.State == "current" {
			current = k.KeyID
		}
	}
	if states["x25519/current"] != 1 || states["x25519/active"] != 1 || states["xwing/current"] != 1 {
		t.Fatalf("after rotate: %+v", keys)
	}
	p := mustProblem(t, h.do(t, "POST", "/v1/keys/"+itoa(current)+":retire", testToken, `{}`), http.StatusConflict)
	if !strings.Contains(p.Detail, "current") {
		t.Errorf("%+v", p)
	}
	if r := h.do(t, "POST", "/v1/keys/"+itoa(active)+":retire", testToken, `{}`); r.status != 200 || !strings.Contains(string(r.body), `"retired"`) {
		t.Fatalf("retire: %d %s", r.status, r.body)
	}
	mustProblem(t, h.do(t, "POST", "/v1/keys/"+itoa(active)+":retire", testToken, `{}`), http.StatusNotFound)
	mustProblem(t, h.do(t, "POST", "/v1/keys:rotate", testToken, `{"kems":["rsa"]}`), http.StatusBadRequest)
	mustProblem(t, h.do(t, "POST", "/v1/keys/300:retire", testToken, `{}`), http.StatusBadRequest)

	// Rotating every KEM rotates both.
	if r := h.do(t, "POST", "/v1/keys:rotate", testToken, `{}`); r.status != 200 || strings.Count(string(r.body), `"current"`) != 2 {
		t.Fatalf("rotate all: %d %s", r.status, r.body)
	}
}

func TestRotateDue(t *testing.T) {
	now := time.Now()
	h := newHarness(t, func(c *Config) {
		c.Now = func() time.Time { return now }
		c.KeyRotate = time.Hour
	})
	next, err := h.srv.RotateDue(context.Background())
	if err != nil || next.Sub(now) > time.Hour || next.Before(now) {
		t.Fatalf("next %v err %v", next, err)
	}
	keys, _ := h.db.ListKeys(context.Background())
	if len(keys) != 2 {
		t.Fatalf("rotated early: %d keys", len(keys))
	}
	now = now.Add(61 * time.Minute)
	if _, err := h.srv.RotateDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	keys, _ = h.db.ListKeys(context.Background())
	if len(keys) != 4 {
		t.Fatalf("after due: %d keys", len(keys))
	}
}

func itoa(id uint8) string { return strconv.Itoa(int(id)) }

func TestGRPC(t *testing.T) {
	h := newHarness(t, nil)
	conn, err := grpc.NewClient(h.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	keys := veilv1.NewKeyServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := keys.ListKeys(ctx, &veilv1.ListKeysRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("no token: %v", err)
	}
	actx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+testToken)
	resp, err := keys.ListKeys(actx, &veilv1.ListKeysRequest{})
	if err != nil || len(resp.Keys) != 2 {
		t.Fatalf("%v %v", resp, err)
	}

	schemas := veilv1.NewSchemaServiceClient(conn)
	bad := exampleSchema(t)
	bad["properties"].(map[string]any)["user_id"] = map[string]any{"type": "integer", "x-veil-role": "dimension"}
	doc, err := structpb.NewStruct(bad)
	if err != nil {
		t.Fatal(err)
	}
	_, err = schemas.RegisterSchema(actx, &veilv1.RegisterSchemaRequest{Document: doc})
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("lint over gRPC: %v", err)
	}
	var br *errdetails.BadRequest
	for _, d := range st.Details() {
		if b, ok := d.(*errdetails.BadRequest); ok {
			br = b
		}
	}
	if br == nil || len(br.FieldViolations) == 0 || br.FieldViolations[0].Field != "user_id" {
		t.Fatalf("details %v", st.Details())
	}
	if _, err := veilv1.NewQueryServiceClient(conn).GetAggregates(actx, &veilv1.GetAggregatesRequest{Schema: "x", Version: 1, Bucket: "week"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("bad bucket: %v", err)
	}
}

func TestDashboard(t *testing.T) {
	h := newHarness(t, nil)
	r := h.do(t, "GET", "/", "", nil)
	if r.status != 401 || !strings.Contains(string(r.body), `<form method="post" action="/login">`) {
		t.Fatalf("login page: %d %s", r.status, r.body)
	}
	form := url.Values{"token": {"wrong-token-0123456789abcdef"}}
	resp, err := h.http.PostForm(h.url+"/login", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || len(resp.Cookies()) != 0 {
		t.Fatalf("bad login: %d", resp.StatusCode)
	}
	resp, err = h.http.PostForm(h.url+"/login", url.Values{"token": {testToken}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cookies := resp.Cookies()
	if resp.StatusCode != http.StatusSeeOther || len(cookies) != 1 || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("login: %d %+v", resp.StatusCode, cookies)
	}
	if strings.Contains(cookies[0].Value, testToken) {
		t.Error("cookie holds the token in clear text form")
	}
	req, _ := http.NewRequest("GET", h.url+"/", nil)
	req.AddCookie(cookies[0])
	resp, err = h.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Gateway keys") || !strings.Contains(string(body), "xwing") {
		t.Fatalf("dashboard: %d %s", resp.StatusCode, body)
	}
	if strings.Contains(string(body), "<script") {
		t.Error("dashboard has script")
	}
	// The cookie does not open the API.
	req, _ = http.NewRequest("GET", h.url+"/v1/keys", nil)
	req.AddCookie(cookies[0])
	resp, err = h.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("cookie opened the API: %d", resp.StatusCode)
	}
}

func TestMetricsLabelsAreClosed(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHarness(t, func(c *Config) { c.Registerer, c.Gatherer = reg, reg })
	h.do(t, "GET", "/v1/keys", testToken, nil)
	h.do(t, "GET", "/v1/schemas/some.random.name/versions/7", testToken, nil)
	h.do(t, "GET", "/v1/does-not-exist-"+testToken, testToken, nil)
	r := h.do(t, "GET", "/metrics", testToken, nil)
	if r.status != 200 {
		t.Fatal(r.status)
	}
	body := string(r.body)
	if !strings.Contains(body, `veil_admin_requests_total{code="200",method="GET /v1/keys",transport="rest"} 1`) {
		t.Errorf("missing keys counter:\n%s", body)
	}
	for _, leak := range []string{"some.random.name", "does-not-exist", testToken} {
		if strings.Contains(body, leak) {
			t.Errorf("metrics carry a request value %q", leak)
		}
	}
	if !strings.Contains(body, `veil_keys_rotations_total`) && strings.Contains(body, "rotations") {
		t.Error("rotation metric misnamed")
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	db := storagetest.New(t)
	tok, _ := ParseTokens(strings.NewReader(testToken))
	for name, c := range map[string]Config{
		"no db":     {Tokens: tok},
		"no tokens": {DB: db},
		"k=1":       {DB: db, Tokens: tok, K: 1},
		"bad kem":   {DB: db, Tokens: tok, KEMs: []string{"rsa"}},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestPprofRequiresToken(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Pprof = true })
	paths := []string{"/debug/pprof/", "/debug/pprof/heap?debug=1", "/debug/pprof/goroutine", "/debug/pprof/profile?seconds=1"}
	for _, path := range paths {
		for _, tok := range []string{"", "wrong-token-0123456789abcdef"} {
			mustProblem(t, h.do(t, "GET", path, tok, nil), http.StatusUnauthorized)
		}
		if r := h.do(t, "GET", path, testToken, nil); r.status != 200 || len(r.body) == 0 {
			t.Errorf("%s with the token: %d", path, r.status)
		}
	}
	// The command line may hold a database password.
	if r := h.do(t, "GET", "/debug/pprof/cmdline", testToken, nil); r.status != http.StatusNotFound {
		t.Errorf("cmdline: %d, want 404", r.status)
	}
	// Off by default.
	h = newHarness(t, nil)
	mustProblem(t, h.do(t, "GET", "/debug/pprof/", testToken, nil), http.StatusNotFound)
	mustProblem(t, h.do(t, "GET", "/debug/pprof/heap", "", nil), http.StatusNotFound)
}

// TestLoginRefusesCrossOrigin: a page on another site must not be able to
// sign the admin's browser in (with the attacker's token) or out.
func TestLoginRefusesCrossOrigin(t *testing.T) {
	h := newHarness(t, nil)
	for _, path := range []string{"/login", "/logout"} {
		for name, set := range map[string]func(http.Header){
			"sec-fetch-site": func(hd http.Header) { hd.Set("Sec-Fetch-Site", "cross-site") },
			"origin":         func(hd http.Header) { hd.Set("Origin", "https://evil.example") },
		} {
			req, _ := http.NewRequest("POST", h.url+path, strings.NewReader(url.Values{"token": {testToken}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			set(req.Header)
			resp, err := h.http.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
				t.Errorf("%s %s: %d, cookies %v", path, name, resp.StatusCode, resp.Cookies())
			}
			if ct := resp.Header.Get("Content-Type"); ct != problem.MediaType {
				t.Errorf("%s %s: Content-Type %q", path, name, ct)
			}
		}
	}
	// The same-origin form still works.
	req, _ := http.NewRequest("POST", h.url+"/login", strings.NewReader(url.Values{"token": {testToken}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Origin", h.url)
	resp, err := h.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 {
		t.Errorf("same-origin login: %d", resp.StatusCode)
	}
}

// TestDashboardSession: the cookie is a signed, expiring session, not the
// token in another encoding, and it never works as a bearer token.
func TestDashboardSession(t *testing.T) {
	now := time.Now()
	h := newHarness(t, func(c *Config) {
		c.Now = func() time.Time { return now }
		c.SecureCookie = true
	})
	resp, err := h.http.PostForm(h.url+"/login", url.Values{"token": {testToken}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cookies := resp.Cookies()
	if resp.StatusCode != http.StatusSeeOther || len(cookies) != 1 {
		t.Fatalf("login: %d %v", resp.StatusCode, cookies)
	}
	c := cookies[0]
	if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
		t.Errorf("cookie flags: %+v", c)
	}
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
		if b, err := enc.DecodeString(c.Value); err == nil && strings.Contains(string(b), testToken) {
			t.Fatal("the cookie is the token, encoded")
		}
	}
	if strings.Contains(c.Value, testToken) {
		t.Fatal("the cookie holds the token")
	}
	if r := h.do(t, "GET", "/v1/keys", c.Value, nil); r.status != http.StatusUnauthorized {
		t.Errorf("cookie value as a bearer token: %d", r.status)
	}
	get := func(cookie *http.Cookie) int {
		req, _ := http.NewRequest("GET", h.url+"/", nil)
		req.AddCookie(cookie)
		resp, err := h.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(c); code != 200 {
		t.Fatalf("session: %d", code)
	}
	// A cookie in the old form (the token, base64url) or a tampered
	// expiry opens nothing.
	if code := get(&http.Cookie{Name: cookieName, Value: base64.RawURLEncoding.EncodeToString([]byte(testToken))}); code != 401 {
		t.Errorf("token-as-cookie: %d", code)
	}
	exp, mac, _ := strings.Cut(c.Value, ".")
	n, _ := strconv.ParseInt(exp, 10, 64)
	if code := get(&http.Cookie{Name: cookieName, Value: strconv.FormatInt(n+3600, 10) + "." + mac}); code != 401 {
		t.Errorf("extended expiry: %d", code)
	}
	now = now.Add(sessionTTL + time.Second)
	if code := get(c); code != 401 {
		t.Errorf("expired session: %d", code)
	}
}

// TestRESTBodyTooLarge: a REST body over the admin bound is a 413
// problem, whether its length is declared or it is streamed.
func TestRESTBodyTooLarge(t *testing.T) {
	h := newHarness(t, nil)
	big := `{"document":{"x":"` + strings.Repeat("a", maxRequestBody) + `"}}`
	p := mustProblem(t, h.do(t, "POST", "/v1/schemas", testToken, big), http.StatusRequestEntityTooLarge)
	if !strings.HasSuffix(p.Type, "too_large") {
		t.Errorf("declared length: type %q", p.Type)
	}
	// Streamed: no Content-Length, the limit is met while reading.
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte(big))
		pw.Close()
	}()
	req, err := http.NewRequest("POST", h.url+"/v1/schemas", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	mustProblem(t, response{resp.StatusCode, resp.Header, body}, http.StatusRequestEntityTooLarge)
	// A body within the bound still reaches the handler (and fails there
	// on its own merits).
	mustProblem(t, h.do(t, "POST", "/v1/schemas", testToken, `{"document":{"x":"a"}}`), http.StatusBadRequest)
}
