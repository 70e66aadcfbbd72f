package sdk_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/bhttp"
	"github.com/veil-telemetry/veil/internal/issuer"
	"github.com/veil-telemetry/veil/internal/redeem"
	"github.com/veil-telemetry/veil/privacypass"
	"github.com/veil-telemetry/veil/sdk"
)

// tokenWorld is a fake gateway that requires a token per batch (checked
// with the real redeem package), an in-process issuer, and a counter of
// issuance requests.
type tokenWorld struct {
	g        *fakeGateway
	r        *redeem.Redeemer
	relay    *httptest.Server
	iss      *httptest.Server
	issues   atomic.Int32
	mu       sync.Mutex
	spent    map[string]bool
	auths    []string // the Authorization of every request, in order
	override func(n int) *gwAnswer
	// now is the redeemer's clock (Unix seconds); staleDoc, when set, is
	// served as the challenge document (a cache that has not caught up).
	now      atomic.Int64
	staleDoc []byte
}

var (
	sdkKeyOnce sync.Once
	sdkKey     *privacypass.IssuerKey
)

func newTokenWorld(t *testing.T) *tokenWorld {
	t.Helper()
	sdkKeyOnce.Do(func() {
		var err error
		if sdkKey, err = privacypass.GenerateIssuerKey(); err != nil {
			panic(err)
		}
	})
	w := &tokenWorld{g: newFakeGateway(t), spent: map[string]bool{}}
	w.now.Store(time.Now().Unix())
	var err error
	w.r, err = redeem.New(redeem.Config{Secret: bytes.Repeat([]byte{1}, 32), Window: time.Hour,
		Now: func() time.Time { return time.Unix(w.now.Load(), 0) }})
	if err != nil {
		t.Fatal(err)
	}
	w.r.SetKeys([]*privacypass.PublicKey{sdkKey.Public})
	att, _ := issuer.ParseStaticAttester([]byte("sdk-test-credential-01\n"))
	is, err := issuer.New(issuer.Config{Attester: att, Quota: 1000, NewKey: func() (*privacypass.IssuerKey, error) { return sdkKey, nil }})
	if err != nil {
		t.Fatal(err)
	}
	ih := is.Handler()
	w.iss = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			w.issues.Add(1)
		}
		ih.ServeHTTP(rw, r)
	}))
	t.Cleanup(w.iss.Close)
	w.relay = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/private-token-challenge" {
			w.mu.Lock()
			stale := w.staleDoc
			w.mu.Unlock()
			if stale != nil {
				rw.Header().Set("Content-Type", redeem.MediaTypeChallenge)
				rw.Write(stale)
				return
			}
			w.r.ServeHTTP(rw, r)
			return
		}
		w.g.serveHTTP(rw, r)
	}))
	t.Cleanup(w.relay.Close)
	w.g.setScript(func(r *gwRequest) gwAnswer {
		auth := ""
		for _, f := range r.Request.Header {
			if f.Name == "authorization" {
				auth = f.Value
			}
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		w.auths = append(w.auths, auth)
		if w.override != nil {
			if a := w.override(r.N); a != nil {
				return *a
			}
		}
		c := w.r.Check(auth)
		refuse := gwAnswer{Status: 401, Header: []bhttp.Field{{Name: "www-authenticate", Value: c.Challenge}}, Body: []byte("{}")}
		if !c.Verified {
			return refuse
		}
		if w.spent[string(c.Hash)] && !r.Duplicate {
			return refuse
		}
		w.spent[string(c.Hash)] = true
		return gwAnswer{}
	})
	return w
}

func (w *tokenWorld) client(t *testing.T, perWindow int, clk ...*sdk.FakeClock) (*sdk.Client, *collector) {
	t.Helper()
	cfg := sdk.Config{RelayURL: w.relay.URL + "/gateway", MaxBatchEvents: 1, FlushInterval: time.Hour,
		Tokens: &sdk.TokenConfig{IssuerURL: w.iss.URL + issuer.DefaultRequestPath, PerWindow: perWindow,
			Attest: func(r *http.Request) error {
				r.Header.Set("Authorization", "Bearer sdk-test-credential-01")
				return nil
			}}}
	if len(clk) > 0 {
		sdk.SetClock(&cfg, clk[0])
	}
	return newClient(t, w.g, cfg)
}

func TestTokensOnePerBatchOneFetch(t *testing.T) {
	w := newTokenWorld(t)
	c, col := w.client(t, 10)
	record(t, c, 5)
	flush(t, c)
	if n := col.count(sdk.StatusAccepted); n != 5 {
		t.Fatalf("accepted %d of 5", n)
	}
	if n := w.issues.Load(); n != 1 {
		t.Fatalf("%d issuance requests, want 1 for the window", n)
	}
	seen := map[string]bool{}
	for _, a := range w.auths {
		if !strings.HasPrefix(a, "PrivateToken token=") || seen[a] {
			t.Fatalf("a batch without its own token: %.30q", a)
		}
		seen[a] = true
	}
}

func TestTokenKeptAcrossRetries(t *testing.T) {
	w := newTokenWorld(t)
	w.override = func(n int) *gwAnswer {
		if n == 0 {
			return &gwAnswer{Status: 503, Header: []bhttp.Field{{Name: "retry-after", Value: "0"}}}
		}
		return nil
	}
	c, col := w.client(t, 10)
	record(t, c, 1)
	flush(t, c)
	if col.count(sdk.StatusAccepted) != 1 || len(w.auths) != 2 || w.auths[0] != w.auths[1] {
		t.Fatalf("accepted %d; requests %d; same token: %v", col.count(sdk.StatusAccepted), len(w.auths), len(w.auths) == 2 && w.auths[0] == w.auths[1])
	}
}

func TestTokenRefetchOnceOn401(t *testing.T) {
	w := newTokenWorld(t)
	// The first answer is a 401 (as if the window had turned): the SDK
	// fetches tokens for the challenge it names and retries at once.
	w.override = func(n int) *gwAnswer {
		if n == 0 {
			c := w.r.Check("")
			return &gwAnswer{Status: 401, Header: []bhttp.Field{{Name: "www-authenticate", Value: c.Challenge}}, Body: []byte("{}")}
		}
		return nil
	}
	c, col := w.client(t, 3)
	record(t, c, 1)
	flush(t, c)
	if col.count(sdk.StatusAccepted) != 1 || w.issues.Load() != 2 || len(w.auths) != 2 || w.auths[0] == w.auths[1] {
		t.Fatalf("accepted %d, issuances %d, requests %d", col.count(sdk.StatusAccepted), w.issues.Load(), len(w.auths))
	}
	// Always 401: refetched once, then the batch is given up, not
	// retried forever.
	w.mu.Lock()
	w.override = func(int) *gwAnswer {
		c := w.r.Check("")
		return &gwAnswer{Status: 401, Header: []bhttp.Field{{Name: "www-authenticate", Value: c.Challenge}}, Body: []byte("{}")}
	}
	before := len(w.auths)
	w.mu.Unlock()
	record(t, c, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.Flush(ctx)
	w.mu.Lock()
	n := len(w.auths) - before
	w.mu.Unlock()
	if n != 2 || col.count(sdk.StatusDropped) != 1 {
		t.Fatalf("%d requests for a refused batch (want 2), dropped %d", n, col.count(sdk.StatusDropped))
	}
}

// TestTokensNewWindow: when the window turns the SDK fetches tokens for the
// new challenge, but not while a cache still serves the old one.
func TestTokensNewWindow(t *testing.T) {
	w := newTokenWorld(t)
	start := time.Unix(w.now.Load(), 0).Truncate(time.Hour).Add(30 * time.Minute)
	w.now.Store(start.Unix())
	clk := sdk.NewFakeClock(start)
	c, col := w.client(t, 5, clk)
	record(t, c, 2)
	flush(t, c)
	if w.issues.Load() != 1 {
		t.Fatalf("%d issuances in the first window", w.issues.Load())
	}
	// The window turns, but the challenge document served is still the
	// old one: the SDK keeps its tokens (they stay redeemable one more
	// window).
	rec := httptest.NewRecorder()
	w.r.ServeHTTP(rec, httptest.NewRequest("GET", "/private-token-challenge", nil))
	w.mu.Lock()
	w.staleDoc = rec.Body.Bytes()
	w.mu.Unlock()
	clk.Advance(time.Hour)
	w.now.Store(start.Add(time.Hour).Unix())
	record(t, c, 1)
	flush(t, c)
	if w.issues.Load() != 1 {
		t.Fatalf("%d issuances while the old challenge is served, want 1", w.issues.Load())
	}
	// The cache catches up a minute later: new tokens for the new window.
	w.mu.Lock()
	w.staleDoc = nil
	w.mu.Unlock()
	clk.Advance(2 * time.Minute)
	record(t, c, 1)
	flush(t, c)
	if w.issues.Load() != 2 || col.count(sdk.StatusAccepted) != 4 {
		t.Fatalf("%d issuances, %d accepted; want 2 and 4", w.issues.Load(), col.count(sdk.StatusAccepted))
	}
}
