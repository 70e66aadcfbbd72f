package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/bhttp"
	"github.com/veil-telemetry/veil/internal/e2e/e2etest"
	"github.com/veil-telemetry/veil/ohttp"
	"github.com/veil-telemetry/veil/privacypass"
	"github.com/veil-telemetry/veil/sdk"
)

const (
	deviceA = "device-credential-aaaa-0001"
	deviceB = "device-credential-bbbb-0002"
	deviceC = "device-credential-cccc-0003" // the Go SDK's
)

// ppStack is serve + relay + issuer, serve holding the issuer's key.
type ppStack struct {
	*stack
	issuer string
}

func startPPStack(t *testing.T) *ppStack {
	t.Helper()
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	if err := os.WriteFile(creds, []byte(deviceA+"\n"+deviceB+"\n"+deviceC+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	keyDir := filepath.Join(dir, "keys")
	addr := e2etest.FreeAddr(t)
	iss := start(t, "issuer", nil, "issuer", "--listen", addr, "--credentials", creds, "--key-dir", keyDir, "--quota", "100")
	base := "http://" + addr
	e2etest.WaitOK(t, client, base+privacypass.WellKnownIssuerDirectory, iss, time.Minute)
	s := startStackWith(t, stackOptions{relayArgs: fastRelay, serveArgs: []string{"--token-issuer-key", keyDir}})
	return &ppStack{stack: s, issuer: base}
}

// challengeDoc fetches the gateway's challenge through the relay.
func (p *ppStack) challenge(t *testing.T) ([]byte, *privacypass.PublicKey) {
	t.Helper()
	r := call(t, "GET", p.relayAt+"/private-token-challenge", "", "", nil)
	if r.Status != 200 {
		t.Fatalf("challenge through the relay: %d %s", r.Status, r.Body)
	}
	var doc struct {
		Challenges []struct {
			Challenge string `json:"challenge"`
			TokenKey  string `json:"token-key"`
		} `json:"challenges"`
	}
	if err := json.Unmarshal(r.Body, &doc); err != nil || len(doc.Challenges) != 1 {
		t.Fatalf("challenge document: %v %s", err, r.Body)
	}
	ch, err1 := base64.RawURLEncoding.DecodeString(doc.Challenges[0].Challenge)
	spki, err2 := base64.RawURLEncoding.DecodeString(doc.Challenges[0].TokenKey)
	key, err3 := privacypass.NewPublicKey(spki)
	if err1 != nil || err2 != nil || err3 != nil {
		t.Fatalf("challenge entry: %v %v %v", err1, err2, err3)
	}
	return ch, key
}

// tokens asks the issuer for n tokens for challenge (one request) and
// returns the status and the finalized tokens.
func (p *ppStack) tokens(t *testing.T, cred string, key *privacypass.PublicKey, challenge []byte, n int) (int, []*privacypass.Token) {
	t.Helper()
	var body []byte
	var pend []*privacypass.PendingToken
	for range n {
		req, pt, err := privacypass.NewTokenRequest(nil, key, challenge)
		if err != nil {
			t.Fatal(err)
		}
		body = append(body, req.Marshal()...)
		pend = append(pend, pt)
	}
	hreq, _ := http.NewRequest("POST", p.issuer+"/token-request", bytes.NewReader(body))
	hreq.Header.Set("Content-Type", privacypass.MediaTypeTokenRequest)
	hreq.Header.Set("Authorization", "Bearer "+cred)
	resp, err := client.Do(hreq)
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
		tok, err := pend[i].Finalize(r)
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, tok)
	}
	return 200, toks
}

func auth(tok *privacypass.Token) string { return privacypass.FormatAuthorization(tok.Marshal()) }

// tokenBatch is an inner request of one app.tokened event with an
// Authorization field (none when authz is empty).
func tokenBatch(t testing.TB, id, authz string) e2etest.Inner {
	body, err := json.Marshal(map[string]any{"batch_id": id, "events": []map[string]any{
		{"schema": "app.tokened", "version": 1, "fields": map[string]any{"os": "ios", "cold_start_ms": 5}}}})
	if err != nil {
		t.Fatal(err)
	}
	in := e2etest.Inner{Content: body}
	if authz != "" {
		in.Header = []bhttp.Field{{Name: "authorization", Value: authz}}
	}
	return in
}

// post seals in, posts it through the relay and opens the answer, without
// failing the test (for worker goroutines).
func post(relay string, cfg *ohttp.KeyConfig, in []byte) (*bhttp.Response, error) {
	enc, cctx, err := ohttp.EncapsulateRequest(rand.Reader, cfg, ohttp.DefaultSuite, in)
	if err != nil {
		return nil, err
	}
	return postSealed(relay, enc, cctx)
}

func postSealed(relay string, enc []byte, cctx *ohttp.ClientContext) (*bhttp.Response, error) {
	resp, err := client.Post(relay+"/gateway", ohttp.RequestMediaType, bytes.NewReader(enc))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("outer status %d", resp.StatusCode)
	}
	plain, err := cctx.DecapsulateResponse(body)
	if err != nil {
		return nil, err
	}
	return bhttp.UnmarshalResponse(plain)
}

func wwwAuthenticate(r *bhttp.Response) string {
	for _, f := range r.Header {
		if f.Name == "www-authenticate" {
			return f.Value
		}
	}
	return ""
}

func TestPrivacyPassTokens(t *testing.T) {
	p := startPPStack(t)
	p.registerSchema(t, "testdata/app.tokened.json")
	oc := newOHTTPClient(t, p.relayAt)
	cfg := oc.config(ohttp.KEMX25519)
	challenge, key := p.challenge(t)

	// Device A gets its quota (T = 100) in one request; more is 429.
	st, toksA := p.tokens(t, deviceA, key, challenge, 100)
	if st != 200 || len(toksA) != 100 {
		t.Fatalf("device A issuance: %d, %d tokens", st, len(toksA))
	}
	if st, _ := p.tokens(t, deviceA, key, challenge, 1); st != http.StatusTooManyRequests {
		t.Fatalf("past the quota: %d", st)
	}
	if st, _ := p.tokens(t, "not-a-device-credential", key, challenge, 1); st != http.StatusUnauthorized {
		t.Fatalf("unattested: %d", st)
	}

	// A valid token: accepted; its batch retried (new encapsulation, same
	// batch id, same token) is a duplicate, not refused.
	idX := e2etest.NewBatchID()
	res := e2etest.Results(t, oc.send(ohttp.KEMX25519, tokenBatch(t, idX, auth(toksA[0]))))
	if len(res) != 1 || res[0].Status != "accepted" {
		t.Fatalf("tokened batch: %+v", res)
	}
	res = e2etest.Results(t, oc.send(ohttp.KEMX25519, tokenBatch(t, idX, auth(toksA[0]))))
	if len(res) != 1 || res[0].Status != "duplicate" {
		t.Fatalf("retried batch: %+v", res)
	}
	// A replayed encapsulated request is stored once.
	sl := e2etest.Seal(t, cfg, tokenBatch(t, e2etest.NewBatchID(), auth(toksA[1])).Marshal(t))
	first := sl.Open(t, call(t, "POST", p.relayAt+"/gateway", "", ohttp.RequestMediaType, sl.Body))
	if first.StatusCode != 200 {
		t.Fatalf("replay original: %d %s", first.StatusCode, first.Content)
	}
	call(t, "POST", p.relayAt+"/gateway", "", ohttp.RequestMediaType, sl.Body)
	base := p.acceptedStat(t)
	if base != 2 {
		t.Fatalf("accepted %d after the batch, its retry and a replay; want 2", base)
	}

	// Every refusal: 401 inside the encapsulation with the same
	// WWW-Authenticate bytes, and nothing stored.
	other, err := privacypass.GenerateIssuerKey()
	if err != nil {
		t.Fatal(err)
	}
	req, pend, _ := privacypass.NewTokenRequest(nil, other.Public, challenge)
	resp, _ := other.Sign(req)
	wrongKey, err := pend.Finalize(resp)
	if err != nil {
		t.Fatal(err)
	}
	otherWindow, _ := privacypass.TokenChallenge{TokenType: 2, IssuerName: "veil", RedemptionContext: make([]byte, 32)}.Marshal()
	st, wrongWindow := p.tokens(t, deviceB, key, otherWindow, 1)
	if st != 200 {
		t.Fatalf("device B issuance: %d", st)
	}
	tampered := *toksA[2]
	tampered.Authenticator[17] ^= 1
	cases := map[string]string{
		"missing":      "",
		"malformed":    `PrivateToken token="AAAA"`,
		"wrong key":    auth(wrongKey),
		"wrong window": auth(wrongWindow[0]),
		"tampered":     auth(&tampered),
		"spent":        auth(toksA[0]),
		"other scheme": "Bearer " + deviceA,
	}
	var challengeHeader string
	for name, a := range cases {
		r := oc.send(ohttp.KEMX25519, tokenBatch(t, e2etest.NewBatchID(), a))
		h := wwwAuthenticate(r)
		if r.StatusCode != 401 || h == "" {
			t.Errorf("%s: inner %d %q: %s", name, r.StatusCode, h, r.Content)
			continue
		}
		if challengeHeader == "" {
			challengeHeader = h
		} else if h != challengeHeader {
			t.Errorf("%s: WWW-Authenticate differs between refusals", name)
		}
	}
	if c, err := privacypass.ParseChallenge(challengeHeader); err != nil || !bytes.Equal(c.TokenChallenge, challenge) || !bytes.Equal(c.TokenKey, key.SPKI) {
		t.Errorf("refusal challenge: %v", err)
	}
	if n := p.acceptedStat(t); n != base {
		t.Fatalf("refused batches stored: accepted %d, want %d", n, base)
	}

	// Device A, quota 100, sends 10,000 batches cycling over its tokens
	// (98 left unspent) while device B, under its quota, sends 20: A gets
	// at most its tokens accepted, B loses nothing.
	stB, toksB := p.tokens(t, deviceB, key, challenge, 20)
	if stB != 200 || len(toksB) != 20 {
		t.Fatalf("device B: %d, %d tokens", stB, len(toksB))
	}
	const flood = 10000
	var acceptedA, refusedA, otherA atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range 32 {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= flood {
					return
				}
				in := tokenBatch(t, e2etest.NewBatchID(), auth(toksA[i%100])).Request()
				b, _ := in.Marshal()
				r, err := post(p.relayAt, cfg, b)
				switch {
				case err != nil:
					otherA.Add(1)
				case r.StatusCode == 200 && bytes.Contains(r.Content, []byte(`"accepted"`)):
					acceptedA.Add(1)
				case r.StatusCode == 401:
					refusedA.Add(1)
				default:
					otherA.Add(1)
				}
			}
		})
	}
	// Device C is the Go SDK: 30 one-event batches, tokens fetched in one
	// request, a token per batch kept across its retries.
	var tallyC resultTally
	sdkC, err := sdk.New(sdk.Config{RelayURL: p.relayAt + "/gateway", MaxBatchEvents: 1, OnResult: tallyC.add,
		Tokens: &sdk.TokenConfig{IssuerURL: p.issuer + "/token-request", PerWindow: 30, Attest: func(r *http.Request) error {
			r.Header.Set("Authorization", "Bearer "+deviceC)
			return nil
		}}})
	if err != nil {
		t.Fatal(err)
	}
	wg.Go(func() {
		for i := range 30 {
			sdkC.Record(context.Background(), "app.tokened", 1, map[string]any{"os": "android", "cold_start_ms": i})
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		sdkC.Close(ctx)
	})
	lostB := 0
	wg.Go(func() {
		for _, tok := range toksB {
			id := e2etest.NewBatchID()
			in := tokenBatch(t, id, auth(tok)).Request()
			b, _ := in.Marshal()
			ok := false
			// A client retries a batch with its own token until it is
			// answered (503 under load is retried).
			for attempt := 0; attempt < 20 && !ok; attempt++ {
				r, err := post(p.relayAt, cfg, b)
				ok = err == nil && r.StatusCode == 200
				if !ok {
					time.Sleep(100 * time.Millisecond) // client backoff, not test synchronisation
				}
			}
			if !ok {
				lostB++
			}
		}
	})
	wg.Wait()
	t.Logf("flood: %d batches in %v: %d accepted, %d refused, %d other", flood, time.Since(start).Round(time.Millisecond), acceptedA.Load(), refusedA.Load(), otherA.Load())
	// Tokens 0 and 1 were spent above (2 was only tampered with): A's
	// flood can spend the other 98.
	if got := acceptedA.Load(); got > 100 || got != 98 {
		t.Errorf("device A: %d batches accepted, want 98 (its unspent tokens), never more than T = 100", got)
	}
	if lostB != 0 {
		t.Errorf("device B lost %d of 20 batches", lostB)
	}
	if n := tallyC.get(sdk.StatusAccepted); n != 30 {
		t.Errorf("device C (SDK): %d of 30 events accepted", n)
	}
	if n := p.acceptedStat(t); n != base+acceptedA.Load()+20+30 {
		t.Errorf("stored %d events, want %d", n, base+acceptedA.Load()+20+30)
	}

	// Metrics: verified, refused by reason, the spent-set size.
	r := call(t, "GET", p.admin+"/metrics", p.token, "", nil)
	for _, want := range []string{`veil_tokens_total{result="verified"}`, `veil_tokens_total{result="spent"}`,
		`veil_tokens_total{result="wrong_key"}`, `veil_tokens_total{result="missing"}`, "veil_tokens_spent_set_size"} {
		if !bytes.Contains(r.Body, []byte(want)) {
			t.Errorf("metrics lack %s", want)
		}
	}
	p.relay.Stop(t, 30*time.Second)
	p.serve.Stop(t, 2*time.Minute)
	logs := p.serve.Output() + p.relay.Output()
	for _, secret := range []string{deviceA, base64.RawURLEncoding.EncodeToString(toksA[5].Marshal())[:40]} {
		if bytes.Contains([]byte(logs), []byte(secret)) {
			t.Errorf("logs contain a credential or token")
		}
	}
}

// TestTokensWithoutIssuerKey: a schema requiring tokens registers while no
// issuer key is configured; serve warns at start and on registration, and
// every batch for it is answered 401 inside the encapsulation.
func TestTokensWithoutIssuerKey(t *testing.T) {
	s := startStack(t, nil)
	s.registerSchema(t, "testdata/app.tokened.json")
	oc := newOHTTPClient(t, s.relayAt)
	r := oc.send(ohttp.KEMX25519, tokenBatch(t, e2etest.NewBatchID(), `PrivateToken token="AAAA"`))
	if r.StatusCode != 401 || wwwAuthenticate(r) == "" {
		t.Fatalf("inner %d %q", r.StatusCode, wwwAuthenticate(r))
	}
	s.relay.Stop(t, 30*time.Second)
	s.serve.Stop(t, 2*time.Minute)
	out := s.serve.Output()
	if !strings.Contains(out, "no Privacy Pass issuer key configured") || !strings.Contains(out, "schema requires Privacy Pass tokens but no issuer key is configured") {
		t.Error("serve did not warn at start and on registration")
	}
}
