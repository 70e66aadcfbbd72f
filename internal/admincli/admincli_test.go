package admincli

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/veil-telemetry/veil/internal/admin"
	"github.com/veil-telemetry/veil/internal/storage"
	"github.com/veil-telemetry/veil/internal/storage/storagetest"
	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

func TestMain(m *testing.M) { storagetest.Main(m) }

const testToken = "admincli-test-token-0123456789abcdef"

// server is a real admin plane on a real database, served on loopback
// as veil serve serves it: h2c, or TLS with HTTP/2.
type server struct {
	db     *storage.DB
	adm    *admin.Server
	addr   string // what --admin is given
	caFile string // with TLS: the server's certificate, PEM
}

func newServer(t *testing.T, useTLS bool) *server {
	t.Helper()
	tok, err := admin.ParseTokens(strings.NewReader(testToken + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := &server{db: storagetest.New(t)}
	adm, err := admin.New(admin.Config{DB: s.db, Tokens: tok})
	if err != nil {
		t.Fatal(err)
	}
	if err := adm.EnsureKeys(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.adm = adm
	if useTLS {
		hs := httptest.NewUnstartedServer(adm.Handler())
		hs.EnableHTTP2 = true
		// The untrusted-certificate test makes the handshake fail on
		// purpose; net/http would log it.
		hs.Config.ErrorLog = log.New(io.Discard, "", 0)
		hs.StartTLS()
		t.Cleanup(hs.Close)
		s.addr = hs.URL // https://127.0.0.1:port
		s.caFile = filepath.Join(t.TempDir(), "ca.pem")
		pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hs.Certificate().Raw})
		if err := os.WriteFile(s.caFile, pemBytes, 0o600); err != nil {
			t.Fatal(err)
		}
		return s
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	hs := &http.Server{Handler: adm.Handler(), Protocols: &protos, HTTP2: adm.HTTP2Config(), ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	s.addr = ln.Addr().String()
	return s
}

func writeTokenFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "admin-token")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// client is a CLI writing to a buffer.
type client struct {
	*CLI
	out *bytes.Buffer
}

func (s *server) client(t *testing.T, json bool) client {
	t.Helper()
	var out bytes.Buffer
	c, err := New(Config{
		Addr: s.addr, TokenFile: writeTokenFile(t, "# the test's token\n"+testToken+"\n"),
		CAFile: s.caFile, Timeout: 10 * time.Second, JSON: json, Out: &out,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return client{c, &out}
}

// take returns what was printed since the last take.
func (c client) take() string {
	s := c.out.String()
	c.out.Reset()
	return s
}

// oneDocument checks that s is exactly one JSON document and decodes it
// into m with protojson.
func oneDocument(t *testing.T, s string, m proto.Message) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, s)
	}
	if err := dec.Decode(&raw); err != io.EOF {
		t.Fatalf("more than one JSON document (%v):\n%s", err, s)
	}
	if m != nil {
		if err := protojson.Unmarshal(raw, m); err != nil {
			t.Fatalf("not the API's answer: %v\n%s", err, s)
		}
	}
}

// lines returns the whitespace-separated fields of each output line.
func lines(s string) [][]string {
	var out [][]string
	for _, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		out = append(out, strings.Fields(l))
	}
	return out
}

func asProblem(t *testing.T, err error) *ProblemError {
	t.Helper()
	var p *ProblemError
	if !errors.As(err, &p) {
		t.Fatalf("want a *ProblemError, got %T: %v", err, err)
	}
	for _, raw := range []string{"rpc error", "desc =", "proto:"} {
		if strings.Contains(err.Error(), raw) {
			t.Errorf("error shows a raw status (%q): %v", raw, err)
		}
	}
	return p
}

var ctx = context.Background()

func TestSchemas(t *testing.T) {
	s := newServer(t, false)
	c := s.client(t, false)
	file := filepath.Join("testdata", "app.launch.json")

	if err := c.RegisterSchemas(ctx, []string{file}); err != nil {
		t.Fatal(err)
	}
	out := lines(c.take())
	if len(out) != 2 || strings.Join(out[0], " ") != "FILE NAME VERSION RESULT" ||
		strings.Join(out[1], " ") != file+" app.launch 1 registered" {
		t.Fatalf("register: %q", out)
	}
	if err := c.RegisterSchemas(ctx, []string{file}); err != nil {
		t.Fatal(err)
	}
	if got := c.take(); !strings.Contains(got, "unchanged") {
		t.Fatalf("register again: %q", got)
	}

	if err := c.ListSchemas(ctx); err != nil {
		t.Fatal(err)
	}
	out = lines(c.take())
	if len(out) != 2 || out[0][0] != "NAME" || len(out[1]) != 8 || out[1][7] != "enabled" {
		t.Fatalf("list: %q", out)
	}

	// disable and enable print the new state, and list shows it.
	if err := c.SetSchemaDisabled(ctx, "app.launch", "1", true); err != nil {
		t.Fatal(err)
	}
	if got := c.take(); got != "app.launch v1: disabled\n" {
		t.Errorf("disable: %q", got)
	}
	if err := c.ListSchemas(ctx); err != nil {
		t.Fatal(err)
	}
	if l := lines(c.take()); len(l) != 2 || l[1][7] != "disabled" {
		t.Errorf("list after disable: %q", l)
	}
	if err := c.SetSchemaDisabled(ctx, "app.launch", "1", false); err != nil {
		t.Fatal(err)
	}
	if got := c.take(); got != "app.launch v1: enabled\n" {
		t.Errorf("enable: %q", got)
	}
	if err := c.SetSchemaDisabled(ctx, "app.launch", "x", true); err == nil {
		t.Error("a bad version was accepted")
	}
	if got := strings.Join(out[1][:6], " "); got != "app.launch 1 hour 30d app_version,os cold_start_ms" {
		t.Errorf("list row: %q", got)
	}

	// get prints the document as registered: the same JSON as the file.
	if err := c.GetSchema(ctx, "app.launch", "1"); err != nil {
		t.Fatal(err)
	}
	var got, want any
	if err := json.Unmarshal(c.out.Bytes(), &got); err != nil {
		t.Fatalf("get: %v\n%s", err, c.out)
	}
	c.take()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if g, _ := json.Marshal(got); !bytes.Equal(g, mustMarshal(t, want)) {
		t.Errorf("get: %s\nwant %s", g, mustMarshal(t, want))
	}

	// Not found names what was asked; a bad version never reaches the
	// server.
	p := asProblem(t, c.GetSchema(ctx, "app.lunch", "3"))
	if p.Title != "Not found" || !strings.Contains(p.Error(), "app.lunch version 3") {
		t.Errorf("not found: %v", p)
	}
	var ue *UsageError
	if err := c.GetSchema(ctx, "app.launch", "one"); !errors.As(err, &ue) {
		t.Errorf("version one: %v", err)
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSchemasJSON(t *testing.T) {
	s := newServer(t, false)
	c := s.client(t, true)
	file := filepath.Join("testdata", "app.launch.json")
	if err := c.RegisterSchemas(ctx, []string{file}); err != nil {
		t.Fatal(err)
	}
	out := c.take()
	oneDocument(t, out, nil)
	var answers []json.RawMessage
	if err := json.Unmarshal([]byte(out), &answers); err != nil || len(answers) != 1 {
		t.Fatalf("register --json: want an array of one answer (%v):\n%s", err, out)
	}
	var reg veilv1.RegisterSchemaResponse
	if err := protojson.Unmarshal(answers[0], &reg); err != nil || !reg.GetCreated() || reg.GetSchema().GetName() != "app.launch" {
		t.Fatalf("register answer (%v): %s", err, answers[0])
	}

	if err := c.ListSchemas(ctx); err != nil {
		t.Fatal(err)
	}
	var list veilv1.ListSchemasResponse
	oneDocument(t, c.take(), &list)
	if len(list.GetSchemas()) != 1 || list.GetSchemas()[0].GetVersion() != 1 {
		t.Fatalf("list --json: %v", &list)
	}

	if err := c.GetSchema(ctx, "app.launch", "1"); err != nil {
		t.Fatal(err)
	}
	var one veilv1.Schema
	oneDocument(t, c.take(), &one)
	if one.GetName() != "app.launch" || one.GetDocument().GetFields()["x-veil"] == nil {
		t.Fatalf("get --json: %v", &one)
	}
}

func TestRegisterRefused(t *testing.T) {
	s := newServer(t, false)
	c := s.client(t, false)
	dir := t.TempDir()
	good := filepath.Join("testdata", "app.launch.json")
	bad := filepath.Join(dir, "bad.json")
	err := os.WriteFile(bad, []byte(`{
	  "$schema": "https://json-schema.org/draft/2020-12/schema",
	  "x-veil": {"name": "signup", "version": 1},
	  "type": "object", "additionalProperties": false,
	  "properties": {"email": {"type": "string", "x-veil-role": "dimension"}}
	}`), 0o600)
	if err != nil {
		t.Fatal(err)
	}

	// The good file is registered and printed; the bad one stops the run
	// with the problem's title, detail and findings.
	err = c.RegisterSchemas(ctx, []string{good, bad})
	p := asProblem(t, err)
	if p.Title != "Invalid request" || p.Kind != "invalid" {
		t.Errorf("problem %+v", p)
	}
	rules := map[string]bool{}
	for _, f := range p.Findings {
		if f.Property == "email" {
			rules[f.Rule] = true
		}
	}
	if !rules["identifying_name"] || !rules["unbounded_string"] {
		t.Errorf("findings %+v", p.Findings)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, bad+": Invalid request: ") || !strings.Contains(msg, "\n  email: identifying_name: ") {
		t.Errorf("message:\n%s", msg)
	}
	if out := c.take(); !strings.Contains(out, "app.launch") || strings.Contains(out, "signup") {
		t.Errorf("output: %q", out)
	}

	// A file that is not JSON is refused before anything is sent.
	notJSON := filepath.Join(dir, "x.json")
	if err := os.WriteFile(notJSON, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.json")
	raw, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(other, bytes.Replace(raw, []byte(`"version": 1`), []byte(`"version": 2`), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.RegisterSchemas(ctx, []string{other, notJSON}); err == nil || !strings.Contains(err.Error(), notJSON) {
		t.Fatalf("not JSON: %v", err)
	}
	if err := c.ListSchemas(ctx); err != nil {
		t.Fatal(err)
	}
	if out := c.take(); strings.Count(out, "app.launch") != 1 {
		t.Errorf("version 2 was sent although a later file did not parse:\n%s", out)
	}
	var ue *UsageError
	if err := c.RegisterSchemas(ctx, nil); !errors.As(err, &ue) {
		t.Errorf("no file: %v", err)
	}
}

func TestKeys(t *testing.T) {
	s := newServer(t, false)
	c := s.client(t, false)
	keyRows := func() map[string][]string {
		t.Helper()
		if err := c.ListKeys(ctx); err != nil {
			t.Fatal(err)
		}
		out := lines(c.take())
		if len(out) < 2 || strings.Join(out[0], " ") != "ID KEM STATE CREATED RETIRES" {
			t.Fatalf("keys list: %q", out)
		}
		rows := map[string][]string{}
		for _, r := range out[1:] {
			rows[r[0]] = r
		}
		return rows
	}
	rows := keyRows()
	if len(rows) != 2 || rows["0"][1] != "x25519" || rows["0"][3] != "current" || rows["1"][1] != "xwing" {
		t.Fatalf("keys: %q", rows)
	}

	if err := c.RotateKeys(ctx, []string{"x25519"}); err != nil {
		t.Fatal(err)
	}
	out := lines(c.take())
	if len(out) != 2 || out[1][1] != "x25519" || out[1][3] != "current" {
		t.Fatalf("rotate: %q", out)
	}
	newID := out[1][0]
	rows = keyRows()
	if len(rows) != 3 || rows["0"][3] != "active" || rows["0"][5] == "-" {
		t.Fatalf("after rotate: %q", rows)
	}

	if err := c.RetireKey(ctx, "0"); err != nil {
		t.Fatal(err)
	}
	if out := lines(c.take()); len(out) != 2 || out[1][0] != "0" || out[1][3] != "retired" {
		t.Fatalf("retire: %q", out)
	}
	p := asProblem(t, c.RetireKey(ctx, newID))
	if p.Title != "Conflict" || !strings.Contains(p.Detail, "rotate") {
		t.Errorf("retire current: %v", p)
	}
	p = asProblem(t, c.RotateKeys(ctx, []string{"rsa"}))
	if p.Title != "Invalid request" {
		t.Errorf("rotate rsa: %v", p)
	}
	var ue *UsageError
	if err := c.RetireKey(ctx, "256"); !errors.As(err, &ue) {
		t.Errorf("retire 256: %v", err)
	}

	// JSON: the API's answer, key configurations included.
	j := s.client(t, true)
	if err := j.ListKeys(ctx); err != nil {
		t.Fatal(err)
	}
	var list veilv1.ListKeysResponse
	oneDocument(t, j.take(), &list)
	if len(list.GetKeys()) != 3 || list.GetKeys()[0].GetConfigHex() == "" {
		t.Errorf("keys --json: %v", &list)
	}
}

// seed registers the example schema and commits 12 ios and 3 android
// events in the current hour, with outcome counts that include events
// naming no registered schema.
func seed(t *testing.T, s *server, c client) {
	t.Helper()
	if err := c.RegisterSchemas(ctx, []string{filepath.Join("testdata", "app.launch.json")}); err != nil {
		t.Fatal(err)
	}
	c.take()
	hour := time.Now().UTC().Truncate(time.Hour)
	b := &storage.Batch{}
	for i := range 15 {
		os := "ios"
		if i >= 12 {
			os = "android"
		}
		b.Records = append(b.Records, storage.Record{
			Bucket: hour, Schema: "app.launch", Version: 1,
			Dimensions: map[string]any{"os": os, "app_version": "1.2"},
			Measures:   map[string]float64{"cold_start_ms": float64(300 + i)},
		})
	}
	b.Outcomes = []storage.OutcomeCount{
		{Bucket: hour, Schema: "app.launch", Version: 1, Outcome: "accepted", Count: 15},
		{Bucket: hour, Schema: "app.launch", Version: 1, Outcome: "rejected", Reason: "identifier_email", Count: 1},
		{Bucket: hour, Schema: "", Version: 0, Outcome: "rejected", Reason: "schema_unknown", Count: 2},
	}
	w := storagetest.NewWriter(t, s.db, storage.WriterConfig{})
	defer w.Close(context.Background())
	if _, err := w.Write(context.Background(), b); err != nil {
		t.Fatal(err)
	}
}

func TestAggregates(t *testing.T) {
	s := newServer(t, false)
	c := s.client(t, false)
	seed(t, s, c)

	// No --from/--to: the API's last 24 hours, which hold this hour.
	q := AggregatesQuery{Schema: "app.launch", Version: 1, GroupBy: []string{"os"}}
	if err := c.Aggregates(ctx, q); err != nil {
		t.Fatal(err)
	}
	out := lines(c.take())
	if len(out) != 3 {
		t.Fatalf("aggregates: %q", out)
	}
	if got := strings.Join(out[0], " "); got != "BUCKET os EVENTS MEASURE COUNT SUM MIN MAX MEAN" {
		t.Errorf("header %q", got)
	}
	// 12 ios events, cold_start_ms 300..311.
	if got := strings.Join(out[1][1:], " "); got != "ios 12 cold_start_ms 12 3666 300 311 305.5" {
		t.Errorf("ios row %q", got)
	}
	if b, err := time.Parse(time.RFC3339, out[1][0]); err != nil || !b.Equal(time.Now().UTC().Truncate(time.Hour)) && !b.Equal(time.Now().UTC().Truncate(time.Hour).Add(-time.Hour)) {
		t.Errorf("bucket %q (%v)", out[1][0], err)
	}
	if got := strings.Join(out[2], " "); got != "1 group withheld: fewer than k=10 events" {
		t.Errorf("footer %q", got)
	}

	// Relative times: the last two hours hold this hour's bucket; the
	// hour that ended an hour ago does not.
	q.From, q.To = "-2h", "now"
	if err := c.Aggregates(ctx, q); err != nil {
		t.Fatal(err)
	}
	if got := c.take(); !strings.Contains(got, "ios") {
		t.Errorf("-2h..now: %q", got)
	}
	q.From, q.To = "-2h", "-1h"
	if err := c.Aggregates(ctx, q); err != nil {
		t.Fatal(err)
	}
	if got := c.take(); strings.Contains(got, "ios") || !strings.Contains(got, "no group in this range") {
		t.Errorf("-2h..-1h: %q", got)
	}

	// Mistakes: a bad time is a usage error naming the flag; the server's
	// refusals come back as problems.
	var ue *UsageError
	q.From, q.To = "yesterday", ""
	if err := c.Aggregates(ctx, q); !errors.As(err, &ue) || !strings.HasPrefix(err.Error(), "--from: ") || !strings.Contains(err.Error(), "RFC 3339") {
		t.Errorf("bad --from: %v", err)
	}
	q.From, q.GroupBy = "", []string{"device"}
	p := asProblem(t, c.Aggregates(ctx, q))
	if p.Title != "Invalid request" || !strings.Contains(p.Detail, `"device"`) {
		t.Errorf("unknown dimension: %v", p)
	}
	q.GroupBy, q.Bucket = nil, "week"
	if p := asProblem(t, c.Aggregates(ctx, q)); !strings.Contains(p.Detail, "hour or day") {
		t.Errorf("bucket week: %v", p)
	}
	if p := asProblem(t, c.Aggregates(ctx, AggregatesQuery{Schema: "app.lunch", Version: 1})); p.Title != "Not found" || !strings.Contains(p.Detail, "app.lunch version 1") {
		t.Errorf("unknown schema: %v", p)
	}
	if err := c.Aggregates(ctx, AggregatesQuery{Schema: "app.launch"}); !errors.As(err, &ue) {
		t.Errorf("no version: %v", err)
	}

	// JSON: exactly one document, the API's answer.
	j := s.client(t, true)
	if err := j.Aggregates(ctx, AggregatesQuery{Schema: "app.launch", Version: 1, GroupBy: []string{"os"}, Bucket: "day"}); err != nil {
		t.Fatal(err)
	}
	var resp veilv1.GetAggregatesResponse
	oneDocument(t, j.take(), &resp)
	if len(resp.GetGroups()) != 1 || resp.GetGroups()[0].GetCount() != 12 || resp.GetSuppressedGroups() != 1 || resp.GetK() != 10 {
		t.Errorf("aggregates --json: %v", &resp)
	}
}

func TestStats(t *testing.T) {
	s := newServer(t, false)
	c := s.client(t, false)
	seed(t, s, c)
	if err := c.Stats(ctx, "", ""); err != nil {
		t.Fatal(err)
	}
	out := c.take()
	rows := map[string]bool{}
	for _, l := range lines(out) {
		rows[strings.Join(l, " ")] = true
	}
	for _, want := range []string{
		"SCHEMA VERSION OUTCOME REASON EVENTS",
		"app.launch 1 accepted - 15",
		"app.launch 1 rejected identifier_email 1",
		"(unregistered) - rejected schema_unknown 2",
		"accepted 15, rejected 3",
	} {
		if !rows[want] {
			t.Errorf("stats lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "the name they sent is not kept") {
		t.Errorf("no note on (unregistered):\n%s", out)
	}
	if err := c.Stats(ctx, "-3h", "-2h"); err != nil {
		t.Fatal(err)
	}
	if got := c.take(); !strings.Contains(got, "accepted 0, rejected 0") {
		t.Errorf("empty range: %q", got)
	}
	var ue *UsageError
	if err := c.Stats(ctx, "", "tomorrow"); !errors.As(err, &ue) || !strings.HasPrefix(err.Error(), "--to: ") {
		t.Errorf("bad --to: %v", err)
	}
	if p := asProblem(t, c.Stats(ctx, "now", "-1h")); !strings.Contains(p.Detail, "from must be before to") {
		t.Errorf("reversed range: %v", p)
	}

	j := s.client(t, true)
	if err := j.Stats(ctx, "", ""); err != nil {
		t.Fatal(err)
	}
	var resp veilv1.GetStatsResponse
	oneDocument(t, j.take(), &resp)
	if resp.GetAccepted() != 15 || resp.GetRejected() != 3 || len(resp.GetRows()) != 3 {
		t.Errorf("stats --json: %v", &resp)
	}
}

func TestTLS(t *testing.T) {
	s := newServer(t, true)
	c := s.client(t, false)
	if err := c.ListKeys(ctx); err != nil {
		t.Fatal(err)
	}
	if out := c.take(); strings.Count(out, "current") != 2 {
		t.Errorf("keys over TLS: %q", out)
	}
	// Without the CA the certificate is not trusted: nothing is sent.
	s.caFile = ""
	c = s.client(t, false)
	if err := c.ListKeys(ctx); !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted certificate: %v", err)
	}
}

func TestConnectionErrors(t *testing.T) {
	s := newServer(t, false)

	// A token the server does not accept.
	var out bytes.Buffer
	tokFile := writeTokenFile(t, "wrong-token-0123456789abcdef\n")
	c, err := New(Config{Addr: s.addr, TokenFile: tokFile, Timeout: 10 * time.Second, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p := asProblem(t, c.ListKeys(ctx))
	if p.Title != "Unauthenticated" || !strings.Contains(p.Error(), tokFile) {
		t.Errorf("bad token: %v", p)
	}

	// Nothing listening: the error names the address and what to check.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, err = New(Config{Addr: addr, TokenFile: writeTokenFile(t, testToken), Timeout: 10 * time.Second, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.Stats(ctx, "", "")
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "--admin") {
		t.Errorf("nothing listening: %v", err)
	}
	if strings.Contains(err.Error(), "desc =") {
		t.Errorf("raw gRPC text: %v", err)
	}

	// An HTTP/2 server that is not the admin API (the public listener
	// answers 404 to everything it does not serve).
	other := httptest.NewUnstartedServer(http.NotFoundHandler())
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	other.Config.Protocols = &protos
	other.Start()
	defer other.Close()
	c, err = New(Config{Addr: other.URL, TokenFile: writeTokenFile(t, testToken), Timeout: 10 * time.Second, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.ListSchemas(ctx)
	if err == nil || !strings.Contains(err.Error(), "does not serve the veil admin API") || strings.Contains(err.Error(), "HTTP status") {
		t.Errorf("not the admin API: %v", err)
	}
	if out.Len() != 0 {
		t.Errorf("printed %q", out.String())
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	tok := writeTokenFile(t, testToken)
	var ue *UsageError
	for _, cfg := range []Config{
		{Addr: "127.0.0.1", TokenFile: tok},
		{Addr: "https://127.0.0.1:8081/path", TokenFile: tok},
		{Addr: "127.0.0.1:8081", TokenFile: tok, CAFile: tok},
		{Addr: "127.0.0.1:8081"},
	} {
		if _, err := New(cfg); !errors.As(err, &ue) {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
	if _, err := New(Config{TokenFile: filepath.Join(t.TempDir(), "missing")}); err == nil || !strings.Contains(err.Error(), "--token-file") {
		t.Errorf("missing token file: %v", err)
	}
	c, err := New(Config{Addr: "http://localhost:8081/", TokenFile: tok})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func TestTokenFile(t *testing.T) {
	for _, tc := range []struct{ flag, env, dataDir, want string }{
		{"a", "b", "d", "a"},
		{"", "b", "d", "b"},
		{"", "", "d", filepath.Join("d", "admin-token")},
		{"", "", "", filepath.Join("veil-data", "admin-token")},
	} {
		if got := TokenFile(tc.flag, tc.env, tc.dataDir); got != tc.want {
			t.Errorf("TokenFile(%q, %q, %q) = %q, want %q", tc.flag, tc.env, tc.dataDir, got, tc.want)
		}
	}

	tok, err := LoadToken(writeTokenFile(t, "\n# comment\n  first-token-0123456789  \nsecond-token-0123456789\n"))
	if err != nil || tok != "first-token-0123456789" {
		t.Errorf("LoadToken = %q, %v", tok, err)
	}
	if _, err := LoadToken(writeTokenFile(t, "# only a comment\n\n")); !errors.Is(err, ErrNoToken) {
		t.Errorf("empty file: %v", err)
	}
}

func TestParseTime(t *testing.T) {
	now := time.Date(2030, 6, 15, 12, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"now", now},
		{"-24h", now.Add(-24 * time.Hour)},
		{"-90m", now.Add(-90 * time.Minute)},
		{"+1h", now.Add(time.Hour)},
		{"-7d", now.AddDate(0, 0, -7)},
		{"-1d12h", now.Add(-36 * time.Hour)},
		{"2025-01-31T09:00:00Z", time.Date(2025, 1, 31, 9, 0, 0, 0, time.UTC)},
		{"2025-01-31T10:00:00.5+01:00", time.Date(2025, 1, 31, 9, 0, 0, 5e8, time.UTC)},
		{"2025-01-31", time.Date(2025, 1, 31, 0, 0, 0, 0, time.UTC)},
	} {
		got, err := ParseTime(tc.in, now)
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "yesterday", "24h", "-", "+", "-d", "--1h", "-+1h", "-1h-", "-1.5d", "-7dd", "-999999999d", "2025-01-31T09:00:00", "31/01/2025"} {
		if got, err := ParseTime(in, now); err == nil || !strings.Contains(err.Error(), "RFC 3339") {
			t.Errorf("ParseTime(%q) = %v, %v; want an error naming the forms", in, got, err)
		}
	}
}
