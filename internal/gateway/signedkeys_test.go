package gateway_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"github.com/veil-telemetry/veil/internal/keystate"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/internal/gateway"
	"github.com/veil-telemetry/veil/ohttp"
	"github.com/veil-telemetry/veil/ohttp/signedkeys"
)

// edSigner signs with one Ed25519 key, counting calls; fail makes it fail.
type edSigner struct {
	key   ed25519.PrivateKey
	calls atomic.Int32
	mu    sync.Mutex
	fail  error
}

func newEdSigner(t *testing.T) (*edSigner, signedkeys.Pin) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := signedkeys.PinOf(pub)
	if err != nil {
		t.Fatal(err)
	}
	return &edSigner{key: priv}, p
}

func (s *edSigner) SignKeys(_ context.Context, keys []byte) ([]byte, error) {
	s.calls.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return nil, s.fail
	}
	return signedkeys.Sign(keys, s.key)
}

func (s *edSigner) setFail(err error) {
	s.mu.Lock()
	s.fail = err
	s.mu.Unlock()
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func get(t *testing.T, url string, hdr ...string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{resp.StatusCode, resp.Header, b}
}

// TestSignedKeys: the signed document carries the plain document's exact
// bytes, verifies against the signing key's pin, and is cached like it.
func TestSignedKeys(t *testing.T) {
	signer, pin := newEdSigner(t)
	var now atomic.Int64
	now.Store(testNow.UnixNano())
	e := newEnv(t, func(c *gateway.Config) {
		c.Signer = signer
		c.KeysMaxAge = time.Hour
		c.KeyRefresh = time.Minute
		c.Now = func() time.Time { return time.Unix(0, now.Load()) }
	})
	active := genKey(t, 7, ohttp.KEMX25519)
	e.store.set(
		gateway.Key{Private: e.key, State: keystate.Current},
		gateway.Key{Private: active, State: keystate.Active, RetireAfter: testNow.Add(20 * time.Minute)},
	)
	plain := get(t, e.srv.URL+"/ohttp-keys")
	signed := get(t, e.srv.URL+signedkeys.DefaultPath)
	if signed.status != 200 || signed.header.Get("Content-Type") != signedkeys.MediaType {
		t.Fatalf("signed keys: %d %q %s", signed.status, signed.header.Get("Content-Type"), signed.body)
	}
	if got, want := signed.header.Get("Cache-Control"), plain.header.Get("Cache-Control"); got != want || want != "public, max-age=1200" {
		t.Errorf("Cache-Control %q, want the plain document's %q (capped by the active key's end)", got, want)
	}
	keys, err := signedkeys.Verify(signed.body, pin)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !bytes.Equal(keys, plain.body) {
		t.Fatalf("signed key document %x differs from the published one %x", keys, plain.body)
	}

	// Conditional GET.
	if r := get(t, e.srv.URL+signedkeys.DefaultPath, "If-None-Match", signed.header.Get("ETag")); r.status != http.StatusNotModified {
		t.Errorf("conditional GET: %d", r.status)
	}
	if n := signer.calls.Load(); n != 1 {
		t.Errorf("%d signatures for unchanged keys, want 1 (cached)", n)
	}

	// After KeyRefresh it is signed again (a signing key may have been
	// added), and the same keys give the same bytes.
	now.Add(int64(2 * time.Minute))
	again := get(t, e.srv.URL+signedkeys.DefaultPath)
	if n := signer.calls.Load(); n != 2 || !bytes.Equal(again.body, signed.body) {
		t.Errorf("after KeyRefresh: %d signatures, same bytes %v; want 2, true", n, bytes.Equal(again.body, signed.body))
	}

	// Signing fails: the document over the same keys stands in.
	signer.setFail(errors.New("database down"))
	now.Add(int64(2 * time.Minute))
	if r := get(t, e.srv.URL+signedkeys.DefaultPath); r.status != 200 || !bytes.Equal(r.body, signed.body) {
		t.Errorf("signing down, keys unchanged: %d; want the cached document", r.status)
	}
	// ... but not over other keys.
	e.store.set(gateway.Key{Private: genKey(t, 9, ohttp.KEMX25519), State: keystate.Current})
	if err := e.gw.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := get(t, e.srv.URL+signedkeys.DefaultPath)
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("signing down, keys changed: %d %v; want 503 with Retry-After, no-store", r.status, r.header)
	}
	signer.setFail(nil)
	r = get(t, e.srv.URL+signedkeys.DefaultPath)
	keys, err = signedkeys.Verify(r.body, pin)
	if err != nil {
		t.Fatal(err)
	}
	cfgs, err := ohttp.ParseKeyConfigs(keys)
	if err != nil || len(cfgs) != 1 || cfgs[0].KeyID != 9 {
		t.Errorf("after the rotation the signed keys are %v (%v), want key 9 only", cfgs, err)
	}
	if !strings.Contains(e.logs.String(), `"route":"keys_signed"`) {
		t.Error("no log line for the signed keys route")
	}
}

func TestSignedKeysRoutes(t *testing.T) {
	signer, _ := newEdSigner(t)
	e := newEnv(t, func(c *gateway.Config) { c.Signer = signer })
	for _, m := range []string{http.MethodPost, http.MethodPut} {
		req, _ := http.NewRequest(m, e.srv.URL+signedkeys.DefaultPath, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: %d, Allow %q", m, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
	resp, err := http.Head(e.srv.URL + signedkeys.DefaultPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength <= 0 {
		t.Errorf("HEAD: %d, length %d", resp.StatusCode, resp.ContentLength)
	}

	// Without a Signer the path does not exist.
	plain := newEnv(t, nil)
	if r := get(t, plain.srv.URL+signedkeys.DefaultPath); r.status != http.StatusNotFound {
		t.Errorf("no signer: %d, want 404", r.status)
	}
}
