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
		gateway.Key{Private: e.key, State: keystate.Current},
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

// TestPublishedPerKEMCapped: two rotations within one grace period leave
// two active keys beside the current one; the document lists the current
// key and the newest active one only (clients refuse more than
// MaxPublishedPerKEM configurations of a KEM), while the older active key
// still decrypts.
func TestPublishedPerKEMCapped(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.KeyRefresh = time.Hour })
	older, newer := genKey(t, 2, ohttp.KEMX25519), genKey(t, 3, ohttp.KEMX25519)
	lifeOlder, err := keystate.Life{State: keystate.Current}.Rotate(testNow.Add(-2*time.Minute), 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	lifeNewer, err := keystate.Life{State: keystate.Current}.Rotate(testNow.Add(-time.Minute), 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	e.store.set(
		gateway.Key{Private: older, State: lifeOlder.State, DrainAfter: lifeOlder.DrainAfter, RetireAfter: lifeOlder.RetireAfter},
		gateway.Key{Private: e.key, State: keystate.Current},
		gateway.Key{Private: newer, State: lifeNewer.State, DrainAfter: lifeNewer.DrainAfter, RetireAfter: lifeNewer.RetireAfter},
	)
	if err := e.gw.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(e.srv.URL + "/ohttp-keys")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	cfgs, err := ohttp.ParseKeyConfigs(b)
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint8
	for _, c := range cfgs {
		ids = append(ids, c.KeyID)
	}
	if len(ids) != 2 || gateway.MaxPublishedPerKEM != 2 || ids[0] != 1 || ids[1] != 3 {
		t.Fatalf("published %v, want [1 3]: the current key and the newest active one", ids)
	}
	enc, cc := seal(t, &older.Config, innerRequest(testNow, nil))
	r := post(t, e.srv.URL+"/gateway", enc, nil)
	if r.StatusCode != http.StatusOK || open(t, r, cc).StatusCode != http.StatusCreated {
		t.Error("the unpublished older active key no longer decrypts")
	}
}
