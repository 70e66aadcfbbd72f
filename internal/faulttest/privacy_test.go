package faulttest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/veil-telemetry/veil/bhttp"
	"github.com/veil-telemetry/veil/internal/e2e/e2etest"
	"github.com/veil-telemetry/veil/internal/gateway"
	"github.com/veil-telemetry/veil/internal/storage/storagetest"
)

// The client's own address: a loopback address of its own, so that any
// trace of it is unambiguous.
const clientIP = "127.0.0.77"

// Planted identifiers. Each must appear nowhere: not in a log line, not in
// /metrics, not in a row.
var (
	plantedValues = []string{
		"mail jane.planted@example.org",
		"call +44 20 7946 0958",
		"from 192.0.2.44 today",
		"dev 3f2504e0-4f89-11d3-9a0c-0305e82c3301",
		"mac 00:1a:2b:3c:4d:5e",
	}
	plantedNeedles = []string{
		"jane.planted@example.org", "7946 0958", "192.0.2.44", "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
		"00:1a:2b:3c:4d:5e", "planted-field@example.net",
	}
	outerHeaders = map[string]string{
		"User-Agent":      "PlantedOuterAgent/7.7",
		"Cookie":          "sid=planted-outer-cookie-31337",
		"X-Forwarded-For": "198.51.100.77",
		"Forwarded":       "for=198.51.100.78",
		"Authorization":   "Bearer planted-outer-auth-31337",
		"X-Real-Ip":       "198.51.100.79",
	}
	innerHeaders = []bhttp.Field{
		{Name: "user-agent", Value: "PlantedInnerAgent/9.9"},
		{Name: "cookie", Value: "sid=planted-inner-cookie-4242"},
		{Name: "x-forwarded-for", Value: "203.0.113.99"},
		{Name: "authorization", Value: "Bearer planted-inner-auth-4242"},
	}
)

// needles is every string the leak scans look for.
func needles() []string {
	out := append([]string{clientIP}, plantedNeedles...)
	for _, v := range outerHeaders {
		out = append(out, v)
	}
	for _, f := range innerHeaders {
		out = append(out, f.Value)
	}
	return out
}

// clientFrom is an HTTP client whose connections come from ip.
func clientFrom(t testing.TB, ip string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{Proxy: nil, DialContext: d.DialContext}}
}

// captured is one request the relay forwarded.
type captured struct {
	method, path string
	header       http.Header
	remote       string
	body         []byte
}

// captureProxy stands between relay and gateway and records what the
// relay forwards.
type captureProxy struct {
	mu   sync.Mutex
	reqs []captured
	to   string
}

func (p *captureProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	p.mu.Lock()
	p.reqs = append(p.reqs, captured{r.Method, r.URL.Path, r.Header.Clone(), r.RemoteAddr, body})
	p.mu.Unlock()
	req, _ := http.NewRequestWithContext(r.Context(), r.Method, p.to+r.URL.RequestURI(), bytes.NewReader(body))
	req.Header.Set("Content-Type", r.Header.Get("Content-Type"))
	resp, err := httpc.Do(req)
	if err != nil {
		http.Error(w, "upstream", http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

// TestPrivacyLeakScan runs the full path — client, veil relay, veil serve
// — with identifiers planted in event values, in a field name, and in the
// outer and inner headers, sent from a distinctive client address. Then it
// searches every log line of serve and relay, the /metrics output, and
// every row of every table for each of them, and fails on any hit. It also
// checks party separation: what the relay forwards carries no client
// header, no client address and no plaintext.
func TestPrivacyLeakScan(t *testing.T) {
	dbURL := storagetest.URL(t)
	s := startServe(t, serveOpts{dbURL: dbURL, extra: []string{"--log-level", "debug"}})
	s.registerSchema(t, readFile(t, "testdata/fault.event.json"))
	proxy := &captureProxy{to: s.public}
	ps := httptest.NewServer(proxy)
	defer ps.Close()
	relayAddr := e2etest.FreeAddr(t)
	relay := startProc(t, "veil relay", "relay", "--listen", relayAddr, "--gateway", ps.URL+"/gateway",
		"--rate", "1000", "--burst", "1000")
	e2etest.WaitOK(t, httpc, "http://"+relayAddr+"/ohttp-keys", relay, 30*time.Second)

	snd := newSender(t, "http://"+relayAddr, clientFrom(t, clientIP))
	snd.header = http.Header{}
	for k, v := range outerHeaders {
		snd.header.Set(k, v)
	}
	var evs []map[string]any
	for _, v := range plantedValues {
		evs = append(evs, map[string]any{"os": "ios", "label": v})
	}
	evs = append(evs, map[string]any{"os": "ios", "planted-field@example.net": 1})
	for i := range 12 {
		evs = append(evs, map[string]any{"os": "android", "seq": i, "label": "fine"})
	}
	var ws []e2etest.Event
	for _, e := range evs {
		ws = append(ws, e2etest.Event{Schema: "fault.event", Version: 1, Fields: e})
	}
	batchID := e2etest.NewBatchID()
	body := e2etest.Batch(t, batchID, ws)
	inner := e2etest.Inner{Content: body, Header: innerHeaders}.Marshal(t)
	ctx := context.Background()
	for attempt := range 2 { // the second is a retry: answered duplicate
		r := snd.send(ctx, inner)
		if r.err != nil || r.outer != 200 {
			t.Fatalf("attempt %d: %v %d", attempt, r.err, r.outer)
		}
		rs := e2etest.Results(t, r.inner)
		st := statuses(rs)
		want := map[int]string{0: "accepted", 1: "duplicate"}[attempt]
		if st["rejected"] != len(plantedValues)+1 || st[want] != 12 {
			t.Fatalf("attempt %d: results %v (%+v)", attempt, st, rs)
		}
		for _, x := range rs[:len(plantedValues)+1] {
			if !strings.HasPrefix(x.Reason, "identifier_") && x.Reason != "field_unknown" {
				t.Errorf("planted value rejected as %q", x.Reason)
			}
		}
	}
	// A malformed request and a wrong-key one, to have the error paths
	// logged too.
	snd.send(ctx, []byte("garbage with jane.planted@example.org"))
	if n := mixedCount(t, dbURL, "SELECT coalesce(sum(count), 0)::bigint FROM rollups WHERE schema_name = 'fault.event'"); n != 12 {
		t.Fatalf("%d events stored, want 12", n)
	}

	metrics := call(t, http.MethodGet, s.admin+"/metrics", s.token, nil)
	if metrics.Status != http.StatusOK {
		t.Fatalf("metrics: %d", metrics.Status)
	}
	rows := allRows(t, dbURL)
	relay.Stop(t, 30*time.Second)
	s.proc.Stop(t, time.Minute)

	sources := map[string]string{
		"serve log": s.proc.Output(),
		"relay log": relay.Output(),
		"/metrics":  string(metrics.Body),
	}
	for table, text := range rows {
		sources["table "+table] = text
	}
	hits := 0
	for name, text := range sources {
		low := strings.ToLower(text)
		for _, n := range needles() {
			if strings.Contains(low, strings.ToLower(n)) {
				hits++
				t.Errorf("%s contains planted %q", name, n)
			}
		}
	}
	t.Logf("leak scan: %d needles over %d sources (%d tables, %d log bytes, %d metrics bytes): %d hits",
		len(needles()), len(sources), len(rows), len(sources["serve log"])+len(sources["relay log"]), len(metrics.Body), hits)

	// No table holds the batch id: the dedup table holds a keyed hash.
	raw, _ := base64.RawURLEncoding.DecodeString(batchID)
	// Positive control: the scan does see what is stored — an accepted
	// value in the rollups, and a claim in the dedup table.
	if !strings.Contains(rows["public.rollups"], "fault.event") || rows["public.dedup_claims"] == "" {
		t.Error("the row scan does not find the stored cells or claims: the scan is blind")
	}
	for table, text := range rows {
		if strings.Contains(text, batchID) || strings.Contains(text, hex.EncodeToString(raw)) {
			t.Errorf("table %s holds the batch id", table)
		}
	}

	// Party separation: the relay forwarded only the body and its type.
	proxy.mu.Lock()
	defer proxy.mu.Unlock()
	if len(proxy.reqs) < 3 {
		t.Fatalf("relay forwarded %d requests", len(proxy.reqs))
	}
	for _, c := range proxy.reqs {
		for k, v := range c.header {
			switch k {
			case "Content-Type", "Content-Length", "Accept-Encoding", "User-Agent", "Accept", "Cache-Control":
			default:
				t.Errorf("relay forwarded header %s: %v", k, v)
			}
			for _, n := range needles() {
				if strings.Contains(strings.Join(v, ","), n) {
					t.Errorf("relay forwarded %s: %v (planted %q)", k, v, n)
				}
			}
		}
		if strings.HasPrefix(c.remote, clientIP+":") {
			t.Errorf("relay forwarded from the client's address %s", c.remote)
		}
		for _, n := range append(needles(), `"batch_id"`, "fault.event", "/v1/events") {
			if bytes.Contains(c.body, []byte(n)) {
				t.Errorf("forwarded %s %s body holds plaintext %q", c.method, c.path, n)
			}
		}
	}
}

// allRows returns, per table of every non-system schema, the text of all
// its rows (SELECT t::text).
func allRows(t *testing.T, url string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rs, err := conn.Query(ctx, `SELECT quote_ident(table_schema) || '.' || quote_ident(table_name)
		FROM information_schema.tables
		WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE'
		ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rs, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, tb := range tables {
		rs, err := conn.Query(ctx, "SELECT t::text FROM "+tb+" t")
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rs, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		out[tb] = strings.Join(lines, "\n")
	}
	if _, ok := out["public.rollups"]; !ok || len(out) < 5 {
		t.Fatalf("tables found: %v", len(out))
	}
	return out
}

// TestInnerHandlerSeesNoClient sends a request from a distinctive address
// with identifying outer and inner headers through a real listener to the
// gateway: its inner handler sees a constant address, a constant host, only
// the allow-listed headers, and no value of the outer request's context.
func TestInnerHandlerSeesNoClient(t *testing.T) {
	s := newInproc(t)
	type seen struct {
		remote, host string
		header       http.Header
		localAddr    any
		server       any
	}
	var got []seen
	var mu sync.Mutex
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, seen{r.RemoteAddr, r.Host, r.Header.Clone(),
			r.Context().Value(http.LocalAddrContextKey), r.Context().Value(http.ServerContextKey)})
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"results":[]}`)
	})
	gw, err := gateway.New(gateway.Config{Keys: staticKeysOf(t, s), Inner: inner})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	defer srv.Close()
	snd := &sender{url: srv.URL + "/gateway", cfg: s.cfg, hc: clientFrom(t, clientIP), header: http.Header{}}
	for k, v := range outerHeaders {
		snd.header.Set(k, v)
	}
	r := snd.send(context.Background(), e2etest.Inner{Authority: clientIP + ":443", Header: innerHeaders, Content: []byte(`{}`)}.Marshal(t))
	if r.err != nil || r.outer != 200 || r.inner.StatusCode != 200 {
		t.Fatalf("%v %d", r.err, r.outer)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("inner handler called %d times", len(got))
	}
	g := got[0]
	if g.remote != gateway.InnerRemoteAddr {
		t.Errorf("inner RemoteAddr %q, want %q", g.remote, gateway.InnerRemoteAddr)
	}
	if strings.Contains(g.host, clientIP) {
		t.Errorf("inner Host %q", g.host)
	}
	for k, v := range g.header {
		switch k {
		case "Content-Type", "Content-Length", "Date", "Accept":
		default:
			t.Errorf("inner handler saw header %s: %v", k, v)
		}
	}
	if g.localAddr != nil || g.server != nil {
		t.Errorf("inner context carries the outer connection: %v %v", g.localAddr, g.server)
	}
	dump := fmt.Sprint(g)
	for _, n := range needles() {
		if strings.Contains(dump, n) {
			t.Errorf("inner handler saw planted %q", n)
		}
	}
}

// staticKeysOf is the in-process stack's current key alone.
func staticKeysOf(t *testing.T, s *inproc) gateway.KeyStore {
	t.Helper()
	keys, err := s.gwKeys.LiveKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return staticKeys(keys)
}

// TestRowsCarryNoOrder checks the event tables' columns: no sequential or
// time-ordered id, no batch id, no arrival time beyond the coarse bucket.
func TestRowsCarryNoOrder(t *testing.T) {
	db := storagetest.New(t)
	tables := []string{"events", "rollups", "ingest_outcomes"}
	// As the owner: information_schema shows a login only what it may use.
	rs, err := storagetest.Owner(t, db).Query(context.Background(), `SELECT table_name, column_name, data_type, coalesce(column_default, ''), is_identity
		FROM information_schema.columns
		WHERE table_schema = 'public' AND table_name = ANY($1)`, tables)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	seen := map[string]bool{}
	for rs.Next() {
		var table, col, typ, def, ident string
		if err := rs.Scan(&table, &col, &typ, &def, &ident); err != nil {
			t.Fatal(err)
		}
		n++
		seen[table] = true
		if ident == "YES" || strings.Contains(def, "nextval") || strings.Contains(def, "now()") || strings.Contains(def, "uuid") {
			t.Errorf("%s.%s has default %q (identity %s): an arrival-ordered value", table, col, def, ident)
		}
		for _, bad := range []string{"id", "batch", "seq", "created", "received", "arrival", "inserted", "ts"} {
			if col == bad || strings.HasPrefix(col, bad+"_") || strings.HasSuffix(col, "_"+bad) {
				t.Errorf("%s.%s: a column named like an id or arrival time", table, col)
			}
		}
		if strings.HasPrefix(typ, "timestamp") && col != "bucket" && col != "hour" {
			t.Errorf("%s.%s: a timestamp other than the coarse bucket", table, col)
		}
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	// A table named here but gone (dropped by a migration) would be
	// checked silently for nothing.
	for _, tb := range tables {
		if !seen[tb] {
			t.Errorf("table %s does not exist: update this list", tb)
		}
	}
	if n < 10 {
		t.Fatalf("only %d columns found", n)
	}
}
