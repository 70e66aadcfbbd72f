package gateway_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/internal/gateway"
	"github.com/veil-telemetry/veil/internal/keystate"
	"github.com/veil-telemetry/veil/ohttp"
)

// TestKeyLifeInTheRing follows a rotated-out key through the schedule the
// store recorded, with the ring reread as the gateway does: published and
// decrypting while active, unpublished but decrypting while draining, and
// refused once retired — on the request path, before any reread.
func TestKeyLifeInTheRing(t *testing.T) {
	now := testNow
	e := newEnv(t, func(c *gateway.Config) {
		c.Now = func() time.Time { return now }
		c.KeyRefresh = time.Minute
		c.UnknownKeyRefresh = time.Hour // an unknown id does not reread here
		c.KeysMaxAge = keystate.Drain   // longer than the grace, so the drain bounds it
	})
	old := genKey(t, 4, ohttp.KEMX25519)
	life, err := keystate.Life{State: keystate.Current}.Rotate(testNow, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	e.store.set(
		gateway.Key{Private: e.key, State: gateway.StateCurrent},
		gateway.Key{Private: old, State: life.State, DrainAfter: life.DrainAfter, RetireAfter: life.RetireAfter},
	)
	if err := e.gw.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	published := func() (ids []uint8, cacheControl string) {
		t.Helper()
		resp, err := http.Get(e.srv.URL + "/ohttp-keys")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		cfgs, err := ohttp.ParseKeyConfigs(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cfgs {
			ids = append(ids, c.KeyID)
		}
		return ids, resp.Header.Get("Cache-Control")
	}
	decrypts := func() bool {
		t.Helper()
		enc, cc := seal(t, &old.Config, innerRequest(now, nil))
		resp := post(t, e.srv.URL+"/gateway", enc, nil)
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return false
		}
		return open(t, resp, cc).StatusCode == http.StatusCreated
	}

	// Active: both published; the document expires when the old key drains.
	if ids, cc := published(); len(ids) != 2 || ids[0] != 1 || ids[1] != 4 || cc != "public, max-age=600" {
		t.Errorf("active: published %v, %q", ids, cc)
	}
	if !decrypts() {
		t.Error("active key refused")
	}

	// Draining: unpublished once the ring is reread, still decrypting.
	now = testNow.Add(10*time.Minute + time.Second)
	if ids, cc := published(); len(ids) != 1 || ids[0] != 1 || !strings.HasPrefix(cc, "public, max-age=") {
		t.Errorf("draining: published %v, %q", ids, cc)
	}
	if !decrypts() {
		t.Error("draining key refused")
	}

	// Retired: refused at once, though the ring was read a minute ago.
	now = life.RetireAfter
	if decrypts() {
		t.Error("retired key decrypted")
	}
	if n := e.inner.count(); n != 2 {
		t.Errorf("inner reached %d times, want 2", n)
	}
}

// TestKeysMaxAgeWithinDrain: a document may not be cached longer than a
// key that left it keeps decrypting.
func TestKeysMaxAgeWithinDrain(t *testing.T) {
	_, err := gateway.New(gateway.Config{Keys: &memStore{}, Inner: http.NotFoundHandler(), KeysMaxAge: keystate.Drain + time.Second})
	if err == nil {
		t.Fatal("KeysMaxAge beyond the drain period accepted")
	}
	// The default is shorter than the drain, so that a retired key leaves
	// every cache within KeyRefresh + KeysMaxAge (issue 14 §4).
	if gateway.DefaultKeysMaxAge > keystate.Drain || gateway.DefaultKeysMaxAge+gateway.DefaultKeyRefresh > 10*time.Minute {
		t.Errorf("DefaultKeysMaxAge %v (refresh %v), drain %v: a retired key stays listed too long", gateway.DefaultKeysMaxAge, gateway.DefaultKeyRefresh, keystate.Drain)
	}
}
