package redeem

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/privacypass"
)

type fixedClock struct{ t time.Time }

func (c *fixedClock) now() time.Time { return c.t }

func tokenFor(t *testing.T, k *privacypass.IssuerKey, challenge []byte) *privacypass.Token {
	t.Helper()
	req, p, err := privacypass.NewTokenRequest(nil, k.Public, challenge)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := k.Sign(req)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := p.Finalize(resp)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestCheckWindowsAndReasons(t *testing.T) {
	key, err := privacypass.GenerateIssuerKey()
	if err != nil {
		t.Fatal(err)
	}
	clk := &fixedClock{time.Date(2030, 1, 2, 10, 30, 0, 0, time.UTC)}
	r, err := New(Config{Secret: bytes.Repeat([]byte{7}, 32), Window: time.Hour, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	// No key yet: every token is refused, reason no_issuer.
	if c := r.Check("PrivateToken token=\"AAAA\""); c.Verified || c.Reason != string(privacypass.ReasonNoIssuer) {
		t.Fatalf("without keys: %+v", c)
	}
	if err := r.SetKeys([]*privacypass.PublicKey{key.Public}); err != nil {
		t.Fatal(err)
	}
	// The published document names this window's challenge and the key.
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("GET", "/private-token-challenge", nil))
	var doc challengeDoc
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || len(doc.Challenges) != 1 {
		t.Fatalf("document: %v %s", err, rec.Body)
	}
	if doc.WindowStart != clk.t.Truncate(time.Hour).Unix() || rec.Header().Get("Cache-Control") != "public, max-age=300" {
		t.Fatalf("document window %d, cache %q", doc.WindowStart, rec.Header().Get("Cache-Control"))
	}
	ch, _ := base64.RawURLEncoding.DecodeString(doc.Challenges[0].Challenge)
	tok := tokenFor(t, key, ch)
	authz := privacypass.FormatAuthorization(tok.Marshal())

	c := r.Check(authz)
	if !c.Verified || len(c.Hash) != HashSize || !c.Window.Equal(clk.t.Truncate(time.Hour)) {
		t.Fatalf("valid token: %+v", c)
	}
	refusal := c.Challenge
	// The next window still redeems it (as of its own window); the one
	// after does not.
	clk.t = clk.t.Add(time.Hour)
	c2 := r.Check(authz)
	if !c2.Verified || !c2.Window.Equal(c.Window) || !bytes.Equal(c2.Hash, c.Hash) {
		t.Fatalf("next window: %+v", c2)
	}
	if c2.Challenge == refusal {
		t.Fatal("the challenge did not change with the window")
	}
	clk.t = clk.t.Add(time.Hour)
	if c3 := r.Check(authz); c3.Verified || c3.Reason != string(privacypass.ReasonWrongWindow) {
		t.Fatalf("two windows later: %+v", c3)
	}
	// Refusals within a window carry identical challenge bytes.
	var seen string
	for want, a := range map[privacypass.Reason]string{
		privacypass.ReasonMissing:   "",
		privacypass.ReasonMalformed: "PrivateToken token=\"AAAA\"",
	} {
		c := r.Check(a)
		if c.Verified || c.Reason != string(want) {
			t.Errorf("%s: %+v", want, c)
		}
		if seen != "" && c.Challenge != seen {
			t.Error("refusal challenges differ")
		}
		seen = c.Challenge
	}
	if err := r.SetKeys([]*privacypass.PublicKey{key.Public, key.Public, key.Public}); err == nil {
		t.Fatal("three keys accepted")
	}
}

func TestLoadKeyFilesAndSecret(t *testing.T) {
	key, err := privacypass.GenerateIssuerKey()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "token-key-1.spki"), key.Public.SPKI, 0o644); err != nil {
		t.Fatal(err)
	}
	keys, err := LoadKeyFiles([]string{dir})
	if err != nil || len(keys) != 1 || keys[0].ID != key.Public.ID {
		t.Fatalf("%v %v", keys, err)
	}
	os.WriteFile(filepath.Join(dir, "token-key-2.spki"), []byte("not a key"), 0o644)
	if _, err := LoadKeyFiles([]string{dir}); err == nil {
		t.Fatal("a bad key file loaded")
	}
	p := filepath.Join(dir, "s", "token.secret")
	a, err := LoadOrCreateSecret(p)
	if err != nil || len(a) != SecretSize {
		t.Fatal(err)
	}
	b, _ := LoadOrCreateSecret(p)
	if !bytes.Equal(a, b) {
		t.Fatal("the secret changed")
	}
}
