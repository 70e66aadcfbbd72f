package gateway_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"github.com/veil-telemetry/veil/internal/keystate"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/bhttp"
	"github.com/veil-telemetry/veil/internal/gateway"
	"github.com/veil-telemetry/veil/internal/testlog"
	"github.com/veil-telemetry/veil/ohttp"
)

// memStore is an in-memory KeyStore.
type memStore struct {
	mu    sync.Mutex
	keys  []gateway.Key
	reads int
	err   error
}

func (s *memStore) LiveKeys(context.Context) ([]gateway.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	return append([]gateway.Key(nil), s.keys...), s.err
}

func (s *memStore) set(keys ...gateway.Key) {
	s.mu.Lock()
	s.keys = keys
	s.mu.Unlock()
}

func (s *memStore) readCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads
}

func genKey(t testing.TB, id uint8, kem ohttp.KEMID) *ohttp.PrivateKey {
	t.Helper()
	k, err := ohttp.GenerateKey(nil, id, kem, []ohttp.SymmetricSuite{ohttp.DefaultSuite,
		{KDF: ohttp.KDFHKDFSHA256, AEAD: ohttp.AEADChaCha20Poly1305}})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// seen is what the inner handler received.
type seen struct {
	method, path, rawQuery, host, remoteAddr, requestURI string
	header                                               http.Header
	body                                                 []byte
	encHash                                              [32]byte
	hasHash                                              bool
	ctxLocalAddr                                         any
}

type encHashKey struct{}

// recordingInner records every request and answers 201 with a JSON body.
type recordingInner struct {
	mu   sync.Mutex
	reqs []seen
	// block, if set, is waited on before answering.
	block chan struct{}
}

func (h *recordingInner) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s := seen{
		method: r.Method, path: r.URL.Path, rawQuery: r.URL.RawQuery, host: r.Host,
		remoteAddr: r.RemoteAddr, requestURI: r.RequestURI, header: r.Header.Clone(), body: b,
		ctxLocalAddr: r.Context().Value(http.LocalAddrContextKey),
	}
	s.encHash, s.hasHash = r.Context().Value(encHashKey{}).([32]byte)
	h.mu.Lock()
	h.reqs = append(h.reqs, s)
	h.mu.Unlock()
	if h.block != nil {
		<-h.block
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Add("X-Inner", "a")
	w.Header().Add("X-Inner", "b")
	w.WriteHeader(http.StatusCreated)
	io.WriteString(w, `{"results":[{"status":"accepted"}]}`)
}

func (h *recordingInner) last(t *testing.T) seen {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.reqs) == 0 {
		t.Fatal("inner handler not reached")
	}
	return h.reqs[len(h.reqs)-1]
}

func (h *recordingInner) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.reqs)
}

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type env struct {
	store *memStore
	inner *recordingInner
	gw    *gateway.Gateway
	srv   *httptest.Server
	logs  *testlog.Buffer
	key   *ohttp.PrivateKey
	now   func() time.Time
}

func newEnv(t *testing.T, mod func(*gateway.Config)) *env {
	t.Helper()
	key := genKey(t, 1, ohttp.KEMX25519)
	store := &memStore{keys: []gateway.Key{{Private: key, State: keystate.Current}}}
	inner := &recordingInner{}
	logs := &testlog.Buffer{}
	clock := func() time.Time { return testNow }
	cfg := gateway.Config{
		Keys:  store,
		Inner: inner,
		WithEncHash: func(ctx context.Context, h [32]byte) context.Context {
			return context.WithValue(ctx, encHashKey{}, h)
		},
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    clock,
	}
	if mod != nil {
		mod(&cfg)
	}
	g, err := gateway.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return &env{store: store, inner: inner, gw: g, srv: srv, logs: logs, key: key, now: cfg.Now}
}

// innerRequest is a typical inner request with some fields that must not
// reach ingest.
func innerRequest(date time.Time, body []byte) *bhttp.Request {
	return &bhttp.Request{
		Method:    "POST",
		Scheme:    "https",
		Authority: "evil.example:8443",
		Path:      "/v1/events?x=1",
		Header: []bhttp.Field{
			{Name: "content-type", Value: "application/json"},
			{Name: "content-length", Value: "999"},
			{Name: "date", Value: date.UTC().Format(http.TimeFormat)},
			{Name: "accept", Value: "application/json"},
			{Name: "user-agent", Value: "InnerAgent/9"},
			{Name: "cookie", Value: "inner=cookie"},
			{Name: "authorization", Value: "Bearer inner"},
			{Name: "x-forwarded-for", Value: "198.51.100.9"},
			{Name: "host", Value: "evil.example"},
		},
		Content: body,
	}
}

// seal encapsulates an inner request for key.
func seal(t testing.TB, cfg *ohttp.KeyConfig, req *bhttp.Request) ([]byte, *ohttp.ClientContext) {
	t.Helper()
	msg, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	enc, cc, err := ohttp.EncapsulateRequest(nil, cfg, ohttp.DefaultSuite, msg)
	if err != nil {
		t.Fatal(err)
	}
	return enc, cc
}

func encHashOf(t testing.TB, encReq []byte) [32]byte {
	t.Helper()
	r, err := ohttp.ParseEncapsulatedRequest(encReq)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(r.Enc)
}

func post(t *testing.T, url string, body []byte, hdr http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ohttp.RequestMediaType)
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// open reads an outer 200 and decrypts the inner response.
func open(t *testing.T, resp *http.Response, cc *ohttp.ClientContext) *bhttp.Response {
	t.Helper()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("outer status %d: %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != ohttp.ResponseMediaType {
		t.Fatalf("outer content type %q", ct)
	}
	plain, err := cc.DecapsulateResponse(body)
	if err != nil {
		t.Fatal(err)
	}
	r, err := bhttp.UnmarshalResponse(plain)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func field(fs []bhttp.Field, name string) string {
	for _, f := range fs {
		if f.Name == name {
			return f.Value
		}
	}
	return ""
}
