package gateway_test

import (
	"bytes"
	"github.com/veil-telemetry/veil/internal/keystate"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/internal/gateway"
	"github.com/veil-telemetry/veil/ohttp"
)

// FuzzServeHTTP posts arbitrary bodies to the gateway: no input may panic
// it, every answer has a documented status, and every key problem is the
// same bytes whatever check failed (RFC 9458 §6.4).
func FuzzServeHTTP(f *testing.F) {
	// A key derived from a fixed seed, so seeds sealed to it stay
	// meaningful across runs of the fuzzer.
	key, err := ohttp.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{7}, 64)), 1, ohttp.KEMX25519,
		[]ohttp.SymmetricSuite{ohttp.DefaultSuite, {KDF: ohttp.KDFHKDFSHA256, AEAD: ohttp.AEADChaCha20Poly1305}})
	if err != nil {
		f.Fatal(err)
	}
	g, err := gateway.New(gateway.Config{
		Keys: &memStore{keys: []gateway.Key{{Private: key, State: keystate.Current}}},
		Inner: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusCreated)
		}),
		Now:             func() time.Time { return testNow },
		MaxRequestBytes: 64 << 10,
	})
	if err != nil {
		f.Fatal(err)
	}

	good, _ := seal(f, &key.Config, innerRequest(testNow, []byte(`{"events":[]}`)))
	stale, _ := seal(f, &key.Config, innerRequest(testNow.Add(-time.Hour), nil))
	f.Add(good)
	f.Add(stale)
	for _, n := range []int{0, 1, 6, 7, 7 + 32, 7 + 32 + 15, len(good) - 1} {
		f.Add(good[:n])
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)-1] ^= 1
	f.Add(flipped)
	otherKey := bytes.Clone(good)
	otherKey[0] = 9
	f.Add(otherKey)

	post := func(body []byte) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/gateway", bytes.NewReader(body))
		req.Header.Set("Content-Type", ohttp.RequestMediaType)
		g.ServeHTTP(rec, req)
		return rec
	}
	if rec := post(good); rec.Code != http.StatusOK {
		f.Fatalf("good seed: status %d", rec.Code)
	}
	keyProblem := func() []byte {
		rec := post(otherKey)
		if rec.Code != gateway.StatusKeyProblem {
			f.Fatalf("unknown key: status %d", rec.Code)
		}
		return rec.Body.Bytes()
	}()

	f.Fuzz(func(t *testing.T, body []byte) {
		rec := post(body)
		switch rec.Code {
		case http.StatusOK:
			if ct := rec.Header().Get("Content-Type"); ct != ohttp.ResponseMediaType {
				t.Fatalf("200 with content type %q", ct)
			}
		case gateway.StatusKeyProblem:
			if !bytes.Equal(rec.Body.Bytes(), keyProblem) {
				t.Fatalf("key problem body differs:\n%s\n%s", rec.Body.Bytes(), keyProblem)
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("%d with content type %q", rec.Code, ct)
			}
		default:
			t.Fatalf("undocumented status %d", rec.Code)
		}
	})
}
