package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/veil-telemetry/veil/internal/gateway"
	"github.com/veil-telemetry/veil/ohttp"
)

// TestRetireTakesEffectAtOnce (issue 14 §4): with the admin plane and the
// gateway in one process, as veil serve wires them, a key retired
// through the API is refused and unpublished by the gateway on the very
// next request, not at its next periodic ring refresh (a minute later).
func TestRetireTakesEffectAtOnce(t *testing.T) {
	var gw *gateway.Gateway
	h := newHarness(t, func(c *Config) {
		c.KEMs = []string{"x25519"}
		c.KeysChanged = func(ctx context.Context) {
			if gw != nil {
				gw.Refresh(ctx)
			}
		}
	})
	var err error
	gw, err = gateway.New(gateway.Config{Keys: h.srv, Inner: http.NotFoundHandler()})
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	published := func() []*ohttp.KeyConfig {
		t.Helper()
		rec := httptest.NewRecorder()
		gw.ServeHTTP(rec, httptest.NewRequest("GET", "/ohttp-keys", nil))
		if rec.Code != 200 {
			t.Fatalf("keys: %d", rec.Code)
		}
		cfgs, err := ohttp.ParseKeyConfigs(rec.Body.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		return cfgs
	}
	// send seals a request to cfg and returns the gateway's outer status
	// and problem type: a key it decrypts with answers 200 (whatever the
	// inner message), a refused key 400 with the key problem.
	send := func(cfg *ohttp.KeyConfig) (int, string) {
		t.Helper()
		enc, _, err := ohttp.EncapsulateRequest(nil, cfg, ohttp.DefaultSuite, []byte("not a message"))
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest("POST", "/gateway", bytes.NewReader(enc))
		req.Header.Set("Content-Type", "message/ohttp-req")
		rec := httptest.NewRecorder()
		gw.ServeHTTP(rec, req)
		var p struct{ Type string }
		b, _ := io.ReadAll(rec.Body)
		json.Unmarshal(b, &p)
		return rec.Code, p.Type
	}

	before := published()
	if len(before) != 1 {
		t.Fatalf("%d keys published, want 1", len(before))
	}
	old := before[0]
	if code, _ := send(old); code != 200 {
		t.Fatalf("the current key answered %d", code)
	}

	// Rotate: the new key is published at once, first.
	if r := h.do(t, "POST", "/v1/keys:rotate", testToken, `{}`); r.status != 200 {
		t.Fatalf("rotate: %d %s", r.status, r.body)
	}
	after := published()
	if len(after) != 2 || after[0].KeyID == old.KeyID || after[1].KeyID != old.KeyID {
		t.Fatalf("after rotation published %d keys, first %d (old %d)", len(after), after[0].KeyID, old.KeyID)
	}
	if code, _ := send(old); code != 200 {
		t.Fatalf("the rotated-out key answered %d during its grace", code)
	}

	// Retire the old key: refused and unpublished on the next request.
	if r := h.do(t, "POST", "/v1/keys/"+itoa(old.KeyID)+":retire", testToken, `{}`); r.status != 200 {
		t.Fatalf("retire: %d %s", r.status, r.body)
	}
	if code, typ := send(old); code != gateway.StatusKeyProblem || typ != ohttp.ProblemTypeKey {
		t.Errorf("retired key answered %d %q, want %d with the key problem", code, typ, gateway.StatusKeyProblem)
	}
	for _, c := range published() {
		if c.KeyID == old.KeyID {
			t.Errorf("retired key %d still published", old.KeyID)
		}
	}
	if code, _ := send(after[0]); code != 200 {
		t.Errorf("the new current key answered %d", code)
	}
}
