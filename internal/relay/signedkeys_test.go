package relay

import (
	"bytes"
	"crypto/ed25519"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/ohttp/signedkeys"
)

// TestSignedKeysConstants: the relay spells out the signed document's
// media type, path and size bound so as not to link ohttp; they must
// agree with signedkeys.
func TestSignedKeysConstants(t *testing.T) {
	if signedKeysMediaType != signedkeys.MediaType || signedKeysPath != signedkeys.DefaultPath {
		t.Errorf("relay serves %s at %s; signedkeys says %s at %s", signedKeysMediaType, signedKeysPath, signedkeys.MediaType, signedkeys.DefaultPath)
	}
	if maxSignedKeysBytes < signedkeys.MaxLength {
		t.Errorf("maxSignedKeysBytes %d is below signedkeys.MaxLength %d", maxSignedKeysBytes, signedkeys.MaxLength)
	}
}

// signedGateway publishes a plain and a signed key document, counting
// fetches of each.
type signedGateway struct {
	mu          sync.Mutex
	plain       []byte
	signed      []byte
	signedCT    string
	plainHits   atomic.Int32
	signedHits  atomic.Int32
	cacheHeader string
}

func (g *signedGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	w.Header().Set("Cache-Control", g.cacheHeader)
	switch r.URL.Path {
	case "/ohttp-keys":
		g.plainHits.Add(1)
		w.Header().Set("Content-Type", keysMediaType)
		w.Write(g.plain)
	case "/ohttp-keys-signed":
		g.signedHits.Add(1)
		if r.Header.Get("Accept") != signedKeysMediaType {
			http.Error(w, "asked for "+r.Header.Get("Accept"), http.StatusNotAcceptable)
			return
		}
		w.Header().Set("Content-Type", g.signedCT)
		w.Write(g.signed)
	default:
		http.NotFound(w, r)
	}
}

func (g *signedGateway) set(signed []byte, ct string) {
	g.mu.Lock()
	g.signed, g.signedCT = signed, ct
	g.mu.Unlock()
}

// TestSignedKeysCached: the relay fetches the signed document from the
// gateway's origin, caches it apart from the plain one, and serves the
// exact bytes (they verify) with its media type, validators and CORS.
func TestSignedKeysCached(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	pin, err := signedkeys.PinOf(pub)
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte{0, 3, 1, 2, 3}
	signed, err := signedkeys.Sign(plain, priv)
	if err != nil {
		t.Fatal(err)
	}
	gw := &signedGateway{plain: plain, signed: signed, signedCT: signedKeysMediaType, cacheHeader: "public, max-age=60"}
	gwSrv := httptest.NewServer(gw)
	t.Cleanup(gwSrv.Close)
	rl, err := New(Config{GatewayURL: gwSrv.URL + "/gateway", Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rl)
	t.Cleanup(srv.Close)
	get := func(path string, hdr ...string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp, b.Bytes()
	}

	var etag string
	for i := range 2 {
		resp, body := get(signedkeys.DefaultPath)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != signedkeys.MediaType {
			t.Fatalf("signed keys: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if got, err := signedkeys.Verify(body, pin); err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("served document does not verify: %v", err)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age="+[]string{"60", "50"}[i] {
			t.Errorf("Cache-Control %q", cc)
		}
		if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Error("no Access-Control-Allow-Origin")
		}
		etag = resp.Header.Get("ETag")
		advance(10 * time.Second)
	}
	if resp, _ := get(signedkeys.DefaultPath, "If-None-Match", etag); resp.StatusCode != http.StatusNotModified {
		t.Errorf("conditional GET: %d", resp.StatusCode)
	}
	if resp, body := get("/ohttp-keys"); resp.StatusCode != 200 || !bytes.Equal(body, plain) || resp.Header.Get("Content-Type") != keysMediaType {
		t.Errorf("plain keys beside the signed ones: %d %x", resp.StatusCode, body)
	}
	if s, p := gw.signedHits.Load(), gw.plainHits.Load(); s != 1 || p != 1 {
		t.Errorf("gateway asked %d times for the signed and %d for the plain document, want 1 and 1", s, p)
	}

	// Past max-age, a document of the wrong media type is not passed on,
	// but the last good one stands in while the gateway misbehaves.
	gw.set([]byte("not signed"), keysMediaType)
	advance(time.Minute)
	if resp, body := get(signedkeys.DefaultPath); resp.StatusCode != 200 || !bytes.Equal(body, signed) {
		t.Errorf("upstream wrong media type, cached document stale: %d", resp.StatusCode)
	}
	// Without one to stand in, it is a 502.
	rl2, err := New(Config{GatewayURL: gwSrv.URL + "/gateway", Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	rl2.ServeHTTP(rec, httptest.NewRequest("GET", signedkeys.DefaultPath, nil))
	if rec.Code != http.StatusBadGateway {
		t.Errorf("fresh relay, upstream wrong media type: %d, want 502", rec.Code)
	}
	// Too large for a signed document.
	gw.set(make([]byte, maxSignedKeysBytes+1), signedKeysMediaType)
	rl3, err := New(Config{GatewayURL: gwSrv.URL + "/gateway", Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	rec = httptest.NewRecorder()
	rl3.ServeHTTP(rec, httptest.NewRequest("GET", signedkeys.DefaultPath, nil))
	if rec.Code != http.StatusBadGateway {
		t.Errorf("oversized signed document: %d, want 502", rec.Code)
	}
	// POST is not allowed; OPTIONS is a preflight.
	rec = httptest.NewRecorder()
	rl.ServeHTTP(rec, httptest.NewRequest("POST", signedkeys.DefaultPath, nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	rl.ServeHTTP(rec, httptest.NewRequest("OPTIONS", signedkeys.DefaultPath, nil))
	if rec.Code != http.StatusNoContent {
		t.Errorf("OPTIONS: %d", rec.Code)
	}
}

func TestSignedKeysURL(t *testing.T) {
	rl, err := New(Config{GatewayURL: "https://gw.example:8443/gateway"})
	if err != nil {
		t.Fatal(err)
	}
	if rl.gateways.all[0].signedKeys != "https://gw.example:8443/ohttp-keys-signed" {
		t.Errorf("signed keys URL %q", rl.gateways.all[0].signedKeys)
	}
	rl, err = New(Config{GatewayURL: "https://gw.example/gateway", SignedKeysURL: "https://keys.example/signed"})
	if err != nil || rl.gateways.all[0].signedKeys != "https://keys.example/signed" {
		t.Errorf("configured signed keys URL: %v %v", rl, err)
	}
	if _, err := New(Config{GatewayURL: "https://gw.example/gateway", SignedKeysURL: "nope"}); err == nil {
		t.Error("New accepted a relative SignedKeysURL")
	}
}

func TestPlainUpstreams(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want []string
	}{
		{Config{GatewayURL: "https://gw.example/gateway"}, nil},
		{Config{GatewayURL: "http://127.0.0.1:8080/gateway"}, nil},
		{Config{GatewayURL: "http://[::1]:8080/gateway"}, nil},
		{Config{GatewayURL: "http://localhost:8080/gateway"}, nil},
		{Config{GatewayURL: "http://veil:8080/gateway"}, []string{
			"http://veil:8080/gateway", "http://veil:8080/ohttp-keys", "http://veil:8080/ohttp-keys-signed"}},
		{Config{GatewayURL: "https://gw.example/gateway", SignedKeysURL: "http://10.0.0.1/s"}, []string{"http://10.0.0.1/s"}},
	} {
		rl, err := New(tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := rl.PlainUpstreams(); !slices.Equal(got, tc.want) {
			t.Errorf("%+v: %q, want %q", tc.cfg, got, tc.want)
		}
	}
}
