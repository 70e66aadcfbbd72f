package faulttest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"github.com/veil-telemetry/veil/internal/keystate"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/veil-telemetry/veil/bhttp"
	"github.com/veil-telemetry/veil/internal/admin"
	"github.com/veil-telemetry/veil/internal/e2e/e2etest"
	"github.com/veil-telemetry/veil/internal/gateway"
	"github.com/veil-telemetry/veil/internal/ingest"
	"github.com/veil-telemetry/veil/internal/schema"
	"github.com/veil-telemetry/veil/internal/storage"
	"github.com/veil-telemetry/veil/internal/storage/storagetest"
	"github.com/veil-telemetry/veil/internal/testlog"
	"github.com/veil-telemetry/veil/ohttp"
)

// Limits of the in-process stack: veil serve's defaults.
const (
	maxRequestBytes = 1 << 20
	maxInnerBytes   = gateway.DefaultMaxInnerBytes
	maxEvents       = ingest.DefaultMaxEvents
	replayWindow    = 5 * time.Minute
)

// Key ids of the in-process stack's key ring.
const (
	keyCurrent uint8 = 1
	keyRetired uint8 = 2 // retired, grace period over
	keyUnknown uint8 = 9
)

// staticKeys is a gateway.KeyStore over a fixed key ring.
type staticKeys []gateway.Key

func (k staticKeys) LiveKeys(context.Context) ([]gateway.Key, error) { return k, nil }

// inproc is the public side of veil serve wired in process, the way
// cmd/veil/serve.go wires it: gateway → grpc-gateway mux → ingest →
// storage writer → a fresh PostgreSQL database.
type inproc struct {
	db      *storage.DB
	writer  *storage.Writer
	gw      *gateway.Gateway
	gwKeys  staticKeys   // the current key
	handler http.Handler // the public listener's handler
	cfg     *ohttp.KeyConfig
	retired *ohttp.KeyConfig
	logs    *testlog.Buffer
	metrics *prometheus.Registry
}

func newInproc(t *testing.T) *inproc {
	t.Helper()
	e2etest.NeedPostgres(t)
	ctx := context.Background()
	db := storagetest.New(t)
	logs := &testlog.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	writer := storagetest.NewWriter(t, db, storage.WriterConfig{Logger: logger})
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		writer.Close(c)
	})
	doc := readFile(t, "testdata/fault.event.json")
	if _, err := db.PutSchema(ctx, storage.SchemaRecord{Name: "fault.event", Version: 1, Document: doc}); err != nil {
		t.Fatal(err)
	}
	registry, err := schema.NewRegistry(schema.RegistryConfig{Store: ingest.SchemaStore{DB: db}})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	metrics, err := ingest.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ingest.New(ingest.Config{Registry: registry, Writer: writer, Logger: logger, Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	mux, err := ingest.Handler(srv, logger, maxRequestBytes*4)
	if err != nil {
		t.Fatal(err)
	}
	suites := []ohttp.SymmetricSuite{ohttp.DefaultSuite}
	cur, err := ohttp.GenerateKey(rand.Reader, keyCurrent, ohttp.KEMX25519, suites)
	if err != nil {
		t.Fatal(err)
	}
	old, err := ohttp.GenerateKey(rand.Reader, keyRetired, ohttp.KEMX25519, suites)
	if err != nil {
		t.Fatal(err)
	}
	keys := staticKeys{
		{Private: cur, State: keystate.Current},
		{Private: old, State: keystate.Draining, RetireAfter: time.Now().Add(-time.Minute)},
	}
	gw, err := gateway.New(gateway.Config{
		Keys:            keys,
		Inner:           mux,
		WithEncHash:     ingest.WithEncHash,
		ReplayWindow:    replayWindow,
		MaxRequestBytes: maxRequestBytes,
		Logger:          logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	public := http.NewServeMux()
	public.Handle("GET /readyz", admin.ReadyHandler(nil))
	public.Handle("/", gw)
	return &inproc{db: db, writer: writer, gw: gw, gwKeys: keys[:1], handler: public,
		cfg: &cur.Config, retired: &old.Config, logs: logs, metrics: reg}
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// post sends body to the in-process public handler as POST /gateway.
func (s *inproc) post(body []byte, header map[string]string) e2etest.Reply {
	req := httptest.NewRequest(http.MethodPost, "http://veil.test/gateway", bytes.NewReader(body))
	req.Header.Set("Content-Type", ohttp.RequestMediaType)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, req)
	return e2etest.Reply{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
}

// ev is one event of fault.event.
type ev struct {
	OS    string `json:"os,omitempty"`
	Label string `json:"label,omitempty"`
	Seq   *int64 `json:"seq,omitempty"`
}

func seqEv(os string, seq int64) ev { return ev{OS: os, Seq: &seq} }

// batchJSON encodes POST /v1/events for fault.event events.
func batchJSON(id string, evs []ev) []byte {
	type event struct {
		Schema  string `json:"schema"`
		Version int    `json:"version"`
		Fields  ev     `json:"fields"`
	}
	out := struct {
		BatchID string  `json:"batch_id"`
		Events  []event `json:"events"`
	}{BatchID: id, Events: make([]event, len(evs))}
	for i, e := range evs {
		out.Events[i] = event{"fault.event", 1, e}
	}
	b, _ := json.Marshal(out)
	return b
}

func statuses(rs []e2etest.EventResult) map[string]int {
	m := map[string]int{}
	for _, r := range rs {
		m[r.Status]++
	}
	return m
}

// fieldOf returns a header field of a Binary HTTP response.
func fieldOf(resp *bhttp.Response, name string) string {
	for _, f := range resp.Header {
		if strings.EqualFold(f.Name, name) {
			return f.Value
		}
	}
	return ""
}

// problemType is the "type" of a problem+json body.
func problemType(body []byte) string {
	var p struct{ Type string }
	_ = json.Unmarshal(body, &p)
	return p.Type
}

// count runs a counting query on db, as its owner (the service's login
// may not read events).
func count(t testing.TB, db *storage.DB, q string, args ...any) int64 {
	t.Helper()
	storagetest.Mix(t, db)
	var n int64
	if err := storagetest.Owner(t, db).QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}
