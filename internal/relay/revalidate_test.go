package relay

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/veil-telemetry/veil/ohttp"
)

// revalidateEnv is a relay in front of an httptest gateway whose key
// document and /gateway answer the test sets.
type revalidateEnv struct {
	srv       *httptest.Server
	mu        sync.Mutex
	now       time.Time
	doc       string // the gateway's current key document
	answer    func(w http.ResponseWriter)
	keysHits  atomic.Int32
	signedHit atomic.Int32
}

func newRevalidateEnv(t *testing.T) *revalidateEnv {
	t.Helper()
	e := &revalidateEnv{now: time.Unix(1_700_000_000, 0), doc: "keys-1"}
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		doc, answer := e.doc, e.answer
		e.mu.Unlock()
		switch r.URL.Path {
		case "/ohttp-keys":
			e.keysHits.Add(1)
			w.Header().Set("Content-Type", keysMediaType)
			w.Header().Set("Cache-Control", "public, max-age=3600")
			io.WriteString(w, doc)
		case signedKeysPath:
			e.signedHit.Add(1)
			w.Header().Set("Content-Type", signedKeysMediaType)
			w.Header().Set("Cache-Control", "public, max-age=3600")
			io.WriteString(w, "signed-"+doc)
		case "/gateway":
			io.Copy(io.Discard, r.Body)
			answer(w)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(gw.Close)
	rl, err := New(Config{GatewayURL: gw.URL + "/gateway", PerClientRate: rate.Inf, Now: e.clock})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(rl)
	t.Cleanup(e.srv.Close)
	return e
}

func (e *revalidateEnv) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *revalidateEnv) set(f func()) {
	e.mu.Lock()
	f()
	e.mu.Unlock()
}

func (e *revalidateEnv) get(t *testing.T, path string) string {
	t.Helper()
	resp, err := e.srv.Client().Get(e.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
	return string(b)
}

func (e *revalidateEnv) send(t *testing.T) int {
	t.Helper()
	resp, err := e.srv.Client().Post(e.srv.URL+"/gateway", requestMediaType, strings.NewReader("sealed"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func keyProblem(w http.ResponseWriter) {
	w.Header().Set("Content-Type", problemMediaType)
	w.WriteHeader(http.StatusBadRequest)
	io.WriteString(w, `{"type":"`+keyProblemType+`","title":"Key configuration not acceptable","status":400}`)
}

// TestKeyProblemRevalidatesKeys (issue 14 §4): when the gateway answers
// the key problem, the relay refetches its cached key documents before it
// answers, so the client's refetch gets the gateway's new keys instead of
// the stale list it sealed to, until the cached max-age (an hour here)
// runs out.
func TestKeyProblemRevalidatesKeys(t *testing.T) {
	if keyProblemType != ohttp.ProblemTypeKey {
		t.Fatalf("the relay's key problem type %q is not ohttp's %q", keyProblemType, ohttp.ProblemTypeKey)
	}
	e := newRevalidateEnv(t)
	e.set(func() { e.answer = keyProblem })
	if got := e.get(t, "/ohttp-keys"); got != "keys-1" {
		t.Fatalf("first document %q", got)
	}
	if got := e.get(t, signedKeysPath); got != "signed-keys-1" {
		t.Fatalf("first signed document %q", got)
	}
	// The key is retired at the gateway; the relay's copies are fresh
	// for an hour.
	e.set(func() { e.doc = "keys-2"; e.now = e.now.Add(time.Minute) })
	if got := e.get(t, "/ohttp-keys"); got != "keys-1" {
		t.Fatalf("cached document %q before any key problem", got)
	}
	if code := e.send(t); code != http.StatusBadRequest {
		t.Fatalf("key problem passed on as %d", code)
	}
	if got := e.get(t, "/ohttp-keys"); got != "keys-2" {
		t.Errorf("after the key problem the relay serves %q, want keys-2", got)
	}
	if got := e.get(t, signedKeysPath); got != "signed-keys-2" {
		t.Errorf("after the key problem the relay serves signed %q, want signed-keys-2", got)
	}
	if n := e.keysHits.Load(); n != 2 {
		t.Errorf("gateway keys fetched %d times, want 2", n)
	}
}

// TestKeyProblemRevalidationIsRateLimited: a client sealing to bogus keys
// makes the relay refetch at most once per keysRevalidateInterval, and
// answers that are not the key problem make it refetch not at all.
func TestKeyProblemRevalidationIsRateLimited(t *testing.T) {
	e := newRevalidateEnv(t)
	e.set(func() {
		e.answer = func(w http.ResponseWriter) {
			// Another problem with 400: not a reason to refetch.
			w.Header().Set("Content-Type", problemMediaType)
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"type":"about:blank","title":"Bad Request","status":400}`)
		}
	})
	e.get(t, "/ohttp-keys")
	for range 3 {
		e.send(t)
	}
	e.set(func() {
		e.answer = func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", responseMediaType)
			io.WriteString(w, "sealed answer")
		}
	})
	e.send(t)
	if n := e.keysHits.Load(); n != 1 {
		t.Fatalf("answers other than the key problem refetched the keys: %d fetches", n)
	}

	e.set(func() { e.answer = keyProblem })
	for range 20 {
		if code := e.send(t); code != http.StatusBadRequest {
			t.Fatalf("status %d", code)
		}
	}
	if n := e.keysHits.Load(); n != 2 {
		t.Fatalf("20 key problems at one instant: %d fetches, want 2", n)
	}
	e.set(func() { e.now = e.now.Add(keysRevalidateInterval - time.Millisecond) })
	e.send(t)
	if n := e.keysHits.Load(); n != 2 {
		t.Fatalf("key problem within the interval refetched: %d fetches", n)
	}
	e.set(func() { e.now = e.now.Add(time.Millisecond) })
	e.send(t)
	if n := e.keysHits.Load(); n != 3 {
		t.Fatalf("key problem after the interval: %d fetches, want 3", n)
	}
	if n := e.signedHit.Load(); n != 0 {
		t.Errorf("signed document never asked for, yet fetched %d times", n)
	}
	if keysRevalidateInterval < 5*time.Second || keysRevalidateInterval > time.Minute {
		t.Errorf("revalidation interval %v", keysRevalidateInterval)
	}
}
