package issuer_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/internal/issuer"
	"github.com/veil-telemetry/veil/privacypass"
)

var (
	keysOnce sync.Once
	testKeys []*privacypass.IssuerKey
)

// keys makes two keys once per test binary (2048-bit generation is slow).
func keys(t *testing.T) []*privacypass.IssuerKey {
	t.Helper()
	keysOnce.Do(func() {
		for range 2 {
			k, err := privacypass.GenerateIssuerKey()
			if err != nil {
				panic(err)
			}
			testKeys = append(testKeys, k)
		}
	})
	return testKeys
}

const cred = "device-credential-0001"

type clock struct{ t atomic.Int64 }

func (c *clock) now() time.Time      { return time.Unix(c.t.Load(), 0) }
func (c *clock) add(d time.Duration) { c.t.Add(int64(d / time.Second)) }

func newIssuer(t *testing.T, quota int, dir string, firstKey ...int32) (*issuer.Issuer, *clock, *httptest.Server) {
	t.Helper()
	att, err := issuer.ParseStaticAttester([]byte("# devices\n" + cred + "\n\nanother-credential-02\n"))
	if err != nil {
		t.Fatal(err)
	}
	ks := keys(t)
	var next atomic.Int32
	if len(firstKey) > 0 {
		next.Store(firstKey[0])
	}
	c := &clock{}
	c.t.Store(1_800_000_000 - 1_800_000_000%86400 + 3600)
	is, err := issuer.New(issuer.Config{
		Attester: att, Quota: quota, Epoch: 24 * time.Hour, Window: time.Hour, KeyDir: dir, Now: c.now,
		NewKey: func() (*privacypass.IssuerKey, error) { return ks[int(next.Add(1)-1)%len(ks)], nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(is.Handler())
	t.Cleanup(srv.Close)
	return is, c, srv
}

func directory(t *testing.T, srv *httptest.Server) *privacypass.Directory {
	t.Helper()
	resp, err := http.Get(srv.URL + privacypass.WellKnownIssuerDirectory)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != privacypass.MediaTypeIssuerDirectory {
		t.Fatalf("directory: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	d, err := privacypass.ParseDirectory(body)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// issue asks for n tokens for challenge and returns the HTTP status and
// the finalized tokens.
func issue(t *testing.T, srv *httptest.Server, key *privacypass.PublicKey, auth string, challenge []byte, n int) (int, []*privacypass.Token) {
	t.Helper()
	var body []byte
	var pending []*privacypass.PendingToken
	for range n {
		req, p, err := privacypass.NewTokenRequest(nil, key, challenge)
		if err != nil {
			t.Fatal(err)
		}
		body = append(body, req.Marshal()...)
		pending = append(pending, p)
	}
	hreq, _ := http.NewRequest("POST", srv.URL+issuer.DefaultRequestPath, bytes.NewReader(body))
	hreq.Header.Set("Content-Type", privacypass.MediaTypeTokenRequest)
	if auth != "" {
		hreq.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return resp.StatusCode, nil
	}
	rs, err := privacypass.ParseTokenResponses(out)
	if err != nil {
		t.Fatal(err)
	}
	var toks []*privacypass.Token
	for i, r := range rs {
		tok, err := pending[i].Finalize(r)
		if err != nil {
			t.Fatalf("finalize %d: %v", i, err)
		}
		toks = append(toks, tok)
	}
	return 200, toks
}

func TestIssuanceQuotaAndRotation(t *testing.T) {
	dir := t.TempDir()
	_, clk, srv := newIssuer(t, 3, dir)
	d := directory(t, srv)
	pubs, err := d.PublicKeys()
	if err != nil || len(pubs) != 1 {
		t.Fatalf("directory keys %d %v", len(pubs), err)
	}
	key := pubs[0]
	ch, _ := privacypass.TokenChallenge{TokenType: privacypass.TokenTypeBlindRSA, IssuerName: "issuer.test"}.Marshal()

	st, toks := issue(t, srv, key, cred, ch, 2)
	if st != 200 || len(toks) != 2 {
		t.Fatalf("first: %d, %d tokens", st, len(toks))
	}
	for _, tok := range toks {
		if _, err := privacypass.NewVerifier(key).Verify(tok, privacypass.ChallengeDigest(ch)); err != nil {
			t.Fatal(err)
		}
	}
	// One left of T = 3: a request for 2 gets 1, then 429.
	if st, toks = issue(t, srv, key, cred, ch, 2); st != 200 || len(toks) != 1 {
		t.Fatalf("second: %d, %d tokens", st, len(toks))
	}
	if st, _ = issue(t, srv, key, cred, ch, 1); st != http.StatusTooManyRequests {
		t.Fatalf("past quota: %d", st)
	}
	// Another credential has its own quota; no credential is refused.
	if st, _ = issue(t, srv, key, "another-credential-02", ch, 1); st != 200 {
		t.Fatalf("other credential: %d", st)
	}
	if st, _ = issue(t, srv, key, "not-a-known-credential", ch, 1); st != http.StatusUnauthorized {
		t.Fatalf("unknown credential: %d", st)
	}
	if st, _ = issue(t, srv, key, "", ch, 1); st != http.StatusUnauthorized {
		t.Fatalf("no credential: %d", st)
	}
	// The next window restores the quota.
	clk.add(time.Hour)
	if st, toks = issue(t, srv, key, cred, ch, 3); st != 200 || len(toks) != 3 {
		t.Fatalf("next window: %d, %d tokens", st, len(toks))
	}
	// The next epoch signs with a new key; the directory lists both, the
	// old key's requests are refused.
	clk.add(24 * time.Hour)
	d = directory(t, srv)
	pubs, _ = d.PublicKeys()
	if len(pubs) != 2 || pubs[0].ID == key.ID || pubs[1].ID != key.ID {
		t.Fatalf("after rotation: %d keys", len(pubs))
	}
	if st, _ = issue(t, srv, key, cred, ch, 1); st != http.StatusBadRequest {
		t.Fatalf("old key: %d", st)
	}
	if st, _ = issue(t, srv, pubs[0], cred, ch, 1); st != 200 {
		t.Fatalf("new key: %d", st)
	}
	// The key directory has each epoch's public key for veil serve.
	ents, _ := os.ReadDir(dir)
	spki := 0
	for _, e := range ents {
		if filepath.Ext(e.Name()) == ".spki" {
			spki++
		}
		if filepath.Ext(e.Name()) == ".pem" {
			if fi, _ := e.Info(); fi.Mode().Perm() != 0o600 {
				t.Errorf("%s mode %v", e.Name(), fi.Mode())
			}
		}
	}
	if spki != 2 {
		t.Fatalf("%d public key files, want 2", spki)
	}
}

func TestIssuerKeepsEpochKeyAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	_, _, srv1 := newIssuer(t, 3, dir)
	k1, _ := directory(t, srv1).PublicKeys()
	// A second process on the same directory (its NewKey would give
	// another key) loads the epoch's key instead.
	_, _, srv2 := newIssuer(t, 3, dir, 1)
	k2, _ := directory(t, srv2).PublicKeys()
	if len(k1) != 1 || len(k2) != 1 || k1[0].ID != k2[0].ID {
		t.Fatal("a restart changed the epoch's key")
	}
}

func TestMalformedRequests(t *testing.T) {
	_, _, srv := newIssuer(t, 3, "")
	for name, c := range map[string]struct {
		ct   string
		body []byte
		want int
	}{
		"content type": {"text/plain", make([]byte, privacypass.TokenRequestSize), http.StatusUnsupportedMediaType},
		"short":        {privacypass.MediaTypeTokenRequest, make([]byte, 10), http.StatusBadRequest},
		"empty":        {privacypass.MediaTypeTokenRequest, nil, http.StatusBadRequest},
	} {
		req, _ := http.NewRequest("POST", srv.URL+issuer.DefaultRequestPath, bytes.NewReader(c.body))
		req.Header.Set("Content-Type", c.ct)
		req.Header.Set("Authorization", "Bearer "+cred)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s: %d, want %d", name, resp.StatusCode, c.want)
		}
	}
}
