package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/bhttp"
	"github.com/veil-telemetry/veil/internal/e2e/e2etest"
	"github.com/veil-telemetry/veil/ohttp"
	"github.com/veil-telemetry/veil/ohttp/signedkeys"
	"github.com/veil-telemetry/veil/sdk"
)

// keyPin runs `veil admin keys pin` against s and returns what it printed,
// less the newline.
func (s *stack) keyPin(t *testing.T) string {
	t.Helper()
	out, err := exec.Command(e2etest.Binary(t), "admin", "--admin", s.admin,
		"--token-file", filepath.Join(s.dataDir, "admin-token"), "keys", "pin").Output()
	if err != nil {
		t.Fatalf("veil admin keys pin: %v", err)
	}
	return strings.TrimSuffix(string(out), "\n")
}

// Ways the substituting relay serves its keys to clients with a pin.
const (
	forgeOwnSignature  = "its own keys, signed with its own signing key"
	forgeCopySignature = "its own keys under the gateway's signature"
)

// substitutingRelay is a relay that hands clients a key of its own: it
// decapsulates each request with that key, keeps the plaintext, seals it
// again to the real gateway's key, forwards it through the real relay, and
// seals the answer back. Without a key pin a client cannot tell.
type substitutingRelay struct {
	srv        *httptest.Server
	real       string // the real relay's base URL
	key        *ohttp.PrivateKey
	doc        []byte // its application/ohttp-keys
	signer     ed25519.PrivateKey
	realCfg    *ohttp.KeyConfig
	realSigned []byte

	mu    sync.Mutex
	forge string
	posts int
	plain [][]byte // the Binary HTTP requests it read
	errs  []error
}

func newSubstitutingRelay(t *testing.T, real string) *substitutingRelay {
	t.Helper()
	m := &substitutingRelay{real: real}
	var err error
	if m.key, err = ohttp.GenerateKey(rand.Reader, 1, ohttp.KEMX25519, []ohttp.SymmetricSuite{ohttp.DefaultSuite}); err != nil {
		t.Fatal(err)
	}
	if m.doc, err = ohttp.MarshalKeyConfigs([]*ohttp.KeyConfig{&m.key.Config}); err != nil {
		t.Fatal(err)
	}
	if _, m.signer, err = ed25519.GenerateKey(rand.Reader); err != nil {
		t.Fatal(err)
	}
	for _, c := range e2etest.FetchKeys(t, client, real) {
		if c.KEM == ohttp.KEMX25519 {
			m.realCfg = c
		}
	}
	if m.realCfg == nil {
		t.Fatal("the real relay offers no X25519 key")
	}
	r := call(t, "GET", real+signedkeys.DefaultPath, "", "", nil)
	if r.Status != 200 || r.Header.Get("Content-Type") != signedkeys.MediaType {
		t.Fatalf("real signed keys: %d %q", r.Status, r.Header.Get("Content-Type"))
	}
	m.realSigned = r.Body
	m.srv = httptest.NewServer(http.HandlerFunc(m.serveHTTP))
	t.Cleanup(m.srv.Close)
	return m
}

func (m *substitutingRelay) setForge(f string) {
	m.mu.Lock()
	m.forge = f
	m.mu.Unlock()
}

func (m *substitutingRelay) seen() (posts int, plain [][]byte, errs []error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.posts, append([][]byte(nil), m.plain...), append([]error(nil), m.errs...)
}

func (m *substitutingRelay) fail(w http.ResponseWriter, err error) {
	m.mu.Lock()
	m.errs = append(m.errs, err)
	m.mu.Unlock()
	http.Error(w, "substituting relay: "+err.Error(), http.StatusBadGateway)
}

func (m *substitutingRelay) serveHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/ohttp-keys":
		w.Header().Set("Content-Type", ohttp.KeysMediaType)
		w.Write(m.doc)
	case r.Method == http.MethodGet && r.URL.Path == signedkeys.DefaultPath:
		m.mu.Lock()
		forge := m.forge
		m.mu.Unlock()
		var body []byte
		var err error
		switch forge {
		case forgeOwnSignature:
			body, err = signedkeys.Sign(m.doc, m.signer)
		case forgeCopySignature:
			var d *signedkeys.Document
			if d, err = signedkeys.Parse(m.realSigned); err == nil {
				d.Keys = m.doc
				body, err = d.MarshalBinary()
			}
		default:
			err = errors.New("no forgery chosen")
		}
		if err != nil {
			m.fail(w, err)
			return
		}
		w.Header().Set("Content-Type", signedkeys.MediaType)
		w.Write(body)
	case r.Method == http.MethodPost && r.URL.Path == "/gateway":
		m.forward(w, r)
	default:
		http.NotFound(w, r)
	}
}

// forward reads the request, re-seals it to the real gateway and passes
// the answer back sealed to the client.
func (m *substitutingRelay) forward(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	m.posts++
	m.mu.Unlock()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		m.fail(w, err)
		return
	}
	er, err := ohttp.ParseEncapsulatedRequest(body)
	if err != nil {
		m.fail(w, err)
		return
	}
	msg, sctx, err := m.key.DecapsulateRequest(er)
	if err != nil {
		m.fail(w, err)
		return
	}
	m.mu.Lock()
	m.plain = append(m.plain, msg)
	m.mu.Unlock()
	enc, cctx, err := ohttp.EncapsulateRequest(rand.Reader, m.realCfg, ohttp.DefaultSuite, msg)
	if err != nil {
		m.fail(w, err)
		return
	}
	resp, err := client.Post(m.real+"/gateway", ohttp.RequestMediaType, bytes.NewReader(enc))
	if err != nil {
		m.fail(w, err)
		return
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	if err != nil {
		m.fail(w, err)
		return
	}
	if resp.StatusCode != http.StatusOK {
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		w.Write(rb)
		return
	}
	inner, err := cctx.DecapsulateResponse(rb)
	if err != nil {
		m.fail(w, err)
		return
	}
	out, err := sctx.EncapsulateResponse(rand.Reader, inner)
	if err != nil {
		m.fail(w, err)
		return
	}
	w.Header().Set("Content-Type", ohttp.ResponseMediaType)
	w.Write(out)
}

// content is the ingest request body inside a Binary HTTP request,
// gunzipped when the SDK compressed it.
func content(t *testing.T, msg []byte) string {
	t.Helper()
	req, err := bhttp.UnmarshalRequest(msg)
	if err != nil {
		t.Fatal(err)
	}
	b := req.Content
	for _, f := range req.Header {
		if f.Name == "content-encoding" && f.Value == "gzip" {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if b, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
	}
	return string(b)
}

// sdkSend records n app.launch events with cold_start_ms = marker through
// cfg's relay and returns the results and the failed attempts.
func sdkSend(t *testing.T, cfg sdk.Config, n, marker int) (*resultTally, []*sdk.DeliveryError) {
	t.Helper()
	var (
		tally resultTally
		mu    sync.Mutex
		errs  []*sdk.DeliveryError
	)
	cfg.OnResult = tally.add
	cfg.OnError = func(err error) {
		if de, ok := errors.AsType[*sdk.DeliveryError](err); ok {
			mu.Lock()
			errs = append(errs, de)
			mu.Unlock()
		}
	}
	cfg.MaxAttempts = 1
	c, err := sdk.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for range n {
		if err := c.Record(ctx, "app.launch", 1, map[string]any{"os": "ios", "cold_start_ms": marker}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	return &tally, errs
}

// sendBinary runs `veil send` with args and one event, returning its exit
// status and standard error.
func sendBinary(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e2etest.Binary(t), append([]string{"send",
		"--schema", "app.launch", "--schema-version", "1", "--fields", `{"os":"android","cold_start_ms":778}`}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		return ee.ExitCode(), stderr.String()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, stderr.String()
}

// TestSubstitutingRelay: a relay that serves keys of its own reads every
// event of a client without a key pin (the attack, shown working), while a
// client with the collector's pin — the Go SDK and `veil send` — refuses
// its keys before sealing anything: nothing reaches the relay's POST
// route, nothing is stored, and the error names the signature failure.
func TestSubstitutingRelay(t *testing.T) {
	s := startStackWith(t, stackOptions{relayArgs: fastRelay})
	s.registerSchema(t, "testdata/app.launch.json")
	pin := s.keyPin(t)
	if _, err := signedkeys.ParsePin(pin); err != nil {
		t.Fatalf("veil admin keys pin printed %q: %v", pin, err)
	}
	if !strings.Contains(s.serve.Output(), `"key_pin":"`+pin+`"`) {
		t.Errorf("veil serve did not log the key pin %s at start", pin)
	}

	// Through the real relay, the pin verifies: the SDK and veil send
	// deliver.
	tally, errs := sdkSend(t, sdk.Config{RelayURL: s.relayAt + "/gateway", KeyPin: pin}, 2, 111)
	if tally.get(sdk.StatusAccepted) != 2 || len(errs) != 0 {
		t.Fatalf("SDK with the pin through veil relay: %d accepted, errors %v", tally.get(sdk.StatusAccepted), errs)
	}
	if code, stderr := sendBinary(t, "--relay", s.relayAt+"/gateway", "--key-pin", pin); code != 0 {
		t.Fatalf("veil send --key-pin through veil relay: exit %d: %s", code, stderr)
	}
	stored := s.acceptedStat(t)
	if stored != 3 {
		t.Fatalf("stats: %d accepted, want 3", stored)
	}

	m := newSubstitutingRelay(t, s.relayAt)

	// The attack: a client without a pin (allowed, the relay being on
	// loopback) gets the relay's key; the relay reads the event and the
	// collector stores it, none the wiser.
	tally, errs = sdkSend(t, sdk.Config{RelayURL: m.srv.URL + "/gateway"}, 2, 777)
	posts, plain, merrs := m.seen()
	if tally.get(sdk.StatusAccepted) != 2 || len(errs) != 0 || len(merrs) != 0 {
		t.Fatalf("without a pin: %d accepted, errors %v, relay errors %v", tally.get(sdk.StatusAccepted), errs, merrs)
	}
	if posts != 1 || len(plain) != 1 || !strings.Contains(content(t, plain[0]), `"cold_start_ms":777`) {
		t.Fatalf("the substituting relay did not read the events (%d requests)", posts)
	}
	if got := s.acceptedStat(t); got != stored+2 {
		t.Fatalf("stats: %d accepted, want %d", got, stored+2)
	}
	stored += 2

	for _, tc := range []struct {
		forge string
		want  []string // in the SDK's error and veil send's line
		cause error
	}{
		{forgeOwnSignature, []string{"no signature by the pinned key " + pin, "signed by veil-pin-ed25519:"}, signedkeys.ErrNotSigned},
		{forgeCopySignature, []string{"the signature by the pinned key " + pin + " does not verify"}, signedkeys.ErrBadSignature},
	} {
		t.Run(tc.forge, func(t *testing.T) {
			m.setForge(tc.forge)
			before, _, _ := m.seen()

			tally, errs := sdkSend(t, sdk.Config{RelayURL: m.srv.URL + "/gateway", KeyPin: pin}, 2, 888)
			if tally.get(sdk.StatusDropped) != 2 || tally.get(sdk.StatusAccepted) != 0 {
				t.Errorf("SDK with the pin: %d dropped, %d accepted; want 2 dropped", tally.get(sdk.StatusDropped), tally.get(sdk.StatusAccepted))
			}
			if len(errs) != 1 || !errors.Is(errs[0], sdk.ErrKeysUnauthenticated) || !errors.Is(errs[0], tc.cause) {
				t.Fatalf("SDK errors %v, want one ErrKeysUnauthenticated (%v)", errs, tc.cause)
			}
			for _, w := range tc.want {
				if !strings.Contains(errs[0].Error(), w) {
					t.Errorf("SDK error %q does not say %q", errs[0], w)
				}
			}

			code, stderr := sendBinary(t, "--relay", m.srv.URL+"/gateway", "--key-pin", pin)
			if code != 1 {
				t.Errorf("veil send: exit %d, want 1; stderr %s", code, stderr)
			}
			if lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n"); len(lines) != 1 {
				t.Errorf("veil send wrote %d lines to stderr, want 1:\n%s", len(lines), stderr)
			}
			for _, w := range append(tc.want, "refusing the gateway's keys from "+m.srv.URL+signedkeys.DefaultPath, "nothing was sent") {
				if !strings.Contains(stderr, w) {
					t.Errorf("veil send stderr %q does not say %q", stderr, w)
				}
			}

			if after, _, _ := m.seen(); after != before {
				t.Errorf("%d encapsulated requests reached the substituting relay; want none", after-before)
			}
			if got := s.acceptedStat(t); got != stored {
				t.Errorf("stats: %d accepted, want %d (nothing stored)", got, stored)
			}
		})
	}
}
