package sdk_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/veil-telemetry/veil/ohttp"
	"github.com/veil-telemetry/veil/ohttp/signedkeys"
	"github.com/veil-telemetry/veil/sdk"
)

// otherPin returns a pin no fake gateway signs with.
func otherPin(t *testing.T) (string, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := signedkeys.PinOf(pub)
	if err != nil {
		t.Fatal(err)
	}
	return p.String(), priv
}

// substituteKeys is the key document of a relay that offers a key of its
// own, with the same key id as the gateway's: what a relay that wants to
// read the events serves.
func substituteKeys(t *testing.T) []byte {
	t.Helper()
	k, err := ohttp.GenerateKey(nil, 1, ohttp.KEMX25519, []ohttp.SymmetricSuite{ohttp.DefaultSuite})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := ohttp.MarshalKeyConfigs([]*ohttp.KeyConfig{&k.Config})
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestKeyPinAccepted: with the gateway's pin, the client fetches the signed
// document at /ohttp-keys-signed on the relay's origin, verifies it and
// delivers. The plain document is broken here, so using it would fail.
func TestKeyPinAccepted(t *testing.T) {
	g := newFakeGateway(t)
	g.setKeyDoc(nil)
	pin := g.pin()
	g.setSignedDoc(g.signedKeys()) // signed now, over the good keys
	g.setKeyDoc([]byte("not a key document"))
	errs := &errCollector{}
	c, col := newClient(t, g, sdk.Config{KeyPin: pin, OnError: errs.hook})
	record(t, c, 5)
	flush(t, c)
	if n := col.count(sdk.StatusAccepted); n != 5 {
		t.Fatalf("accepted = %d, want 5 (errors: %v)", n, errs.all())
	}
	if n := len(errs.all()); n != 0 {
		t.Errorf("errors: %v", errs.all())
	}
	if n := g.fetches(); n != 1 {
		t.Errorf("%d key fetches, want 1", n)
	}
}

// refusedKeys records events with cfg (KeyPin set) against g, whose key
// document the case has prepared, and checks that the one attempt failed
// with ErrKeysUnauthenticated matching cause and naming want, that every
// event was dropped, and that nothing reached the gateway.
func refusedKeys(t *testing.T, g *fakeGateway, cfg sdk.Config, cause error, want ...string) *sdk.DeliveryError {
	t.Helper()
	errs := &errCollector{}
	cfg.OnError = errs.hook
	cfg.MaxAttempts = 1
	c, col := newClient(t, g, cfg)
	record(t, c, 3)
	flush(t, c)
	got := errs.all()
	if len(got) != 1 {
		t.Fatalf("%d errors, want 1: %v", len(got), got)
	}
	de := got[0]
	checkClass(t, de, "ErrKeysUnauthenticated")
	if !errors.Is(de, cause) {
		t.Errorf("error %v does not match %v", de, cause)
	}
	if de.Op != sdk.OpFetchKeys || de.URL != g.srv.URL+signedkeys.DefaultPath && cfg.KeysURL == "" {
		t.Errorf("error = %+v, want a key fetch from %s", de, g.srv.URL+signedkeys.DefaultPath)
	}
	for _, w := range append(want, "not authenticated") {
		if !strings.Contains(de.Error(), w) {
			t.Errorf("Error() = %q, want it to name %q", de.Error(), w)
		}
	}
	if n := col.count(sdk.StatusDropped); n != 3 {
		t.Errorf("dropped = %d, want 3 (results %v)", n, col.all())
	}
	if reqs := g.seen(); len(reqs) != 0 {
		t.Errorf("%d requests reached the gateway; nothing may be sealed to unauthenticated keys", len(reqs))
	}
	return de
}

func TestKeyPinWrongPin(t *testing.T) {
	g := newFakeGateway(t)
	gatewayPin := g.pin()
	pin, _ := otherPin(t)
	refusedKeys(t, g, sdk.Config{KeyPin: pin}, signedkeys.ErrNotSigned,
		"no signature by the pinned key "+pin, "signed by "+gatewayPin)
}

// TestKeyPinTampered: the relay keeps the gateway's signature but serves
// keys of its own under it.
func TestKeyPinTampered(t *testing.T) {
	g := newFakeGateway(t)
	pin := g.pin()
	d, err := signedkeys.Parse(g.signedKeys())
	if err != nil {
		t.Fatal(err)
	}
	d.Keys = substituteKeys(t)
	forged, err := d.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	g.setSignedDoc(forged)
	refusedKeys(t, g, sdk.Config{KeyPin: pin}, signedkeys.ErrBadSignature, "signature by the pinned key "+pin+" does not verify")
}

// TestKeyPinRelaySigned: the relay serves keys of its own, signed with a
// signing key of its own.
func TestKeyPinRelaySigned(t *testing.T) {
	g := newFakeGateway(t)
	pin := g.pin()
	relayPin, relayKey := otherPin(t)
	forged, err := signedkeys.Sign(substituteKeys(t), relayKey)
	if err != nil {
		t.Fatal(err)
	}
	g.setSignedDoc(forged)
	refusedKeys(t, g, sdk.Config{KeyPin: pin}, signedkeys.ErrNotSigned, "signed by "+relayPin)
}

func TestKeyPinMissingSignature(t *testing.T) {
	t.Run("unsigned document at the signed path", func(t *testing.T) {
		g := newFakeGateway(t)
		pin := g.pin()
		hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.URL.Path == signedkeys.DefaultPath {
				r.URL.Path = "/ohttp-keys" // a relay stripping the signature
			}
			return g.inProcess().Do(r)
		})}
		refusedKeys(t, g, sdk.Config{KeyPin: pin, HTTPClient: hc}, signedkeys.ErrNotSigned, "unsigned "+ohttp.KeysMediaType)
	})
	t.Run("KeysURL naming the unsigned document", func(t *testing.T) {
		g := newFakeGateway(t)
		pin := g.pin()
		de := refusedKeys(t, g, sdk.Config{KeyPin: pin, KeysURL: g.srv.URL + "/ohttp-keys"}, signedkeys.ErrNotSigned, "check KeysURL")
		if de.URL != g.srv.URL+"/ohttp-keys" {
			t.Errorf("URL %s, want the configured KeysURL", de.URL)
		}
	})
	t.Run("malformed signed document", func(t *testing.T) {
		g := newFakeGateway(t)
		pin := g.pin()
		good := g.signedKeys()
		g.setSignedDoc(good[:len(good)-1])
		refusedKeys(t, g, sdk.Config{KeyPin: pin}, signedkeys.ErrMalformed, "malformed signed document")
	})
	t.Run("no signing key at the gateway", func(t *testing.T) {
		// A gateway that publishes no signed document: the key URL
		// answers 404, which names the signed path.
		g := newFakeGateway(t)
		pin, _ := otherPin(t)
		errs := &errCollector{}
		c, col := newClient(t, g, sdk.Config{KeyPin: pin, MaxAttempts: 1, OnError: errs.hook})
		record(t, c, 1)
		flush(t, c)
		got := errs.all()
		if len(got) != 1 || got[0].Status != http.StatusNotFound || got[0].URL != g.srv.URL+signedkeys.DefaultPath {
			t.Fatalf("errors %v, want one 404 from %s", got, signedkeys.DefaultPath)
		}
		checkClass(t, got[0], "ErrKeysRefused")
		if n := col.count(sdk.StatusDropped); n != 1 || len(g.seen()) != 0 {
			t.Errorf("dropped %d, %d requests at the gateway; want 1 and none", n, len(g.seen()))
		}
	})
}

func TestKeyPinRequired(t *testing.T) {
	pin, _ := otherPin(t)
	for _, tc := range []struct {
		name string
		cfg  sdk.Config
		want error // nil: New succeeds
	}{
		{"no pin, remote relay", sdk.Config{RelayURL: "https://relay.example/gateway"}, sdk.ErrKeyPinRequired},
		{"no pin, remote keys", sdk.Config{RelayURL: "http://127.0.0.1:8082/gateway", KeysURL: "https://keys.example/ohttp-keys"}, sdk.ErrKeyPinRequired},
		{"no pin, name that only starts like localhost", sdk.Config{RelayURL: "https://localhost.example/gateway"}, sdk.ErrKeyPinRequired},
		{"no pin, name that only looks like an address", sdk.Config{RelayURL: "https://127.0.0.1.example/gateway"}, sdk.ErrKeyPinRequired},
		{"pin", sdk.Config{RelayURL: "https://relay.example/gateway", KeyPin: pin}, nil},
		{"explicit opt-out", sdk.Config{RelayURL: "https://relay.example/gateway", InsecureNoKeyPin: true}, nil},
		{"loopback 127.0.0.1", sdk.Config{RelayURL: "http://127.0.0.1:8082/gateway"}, nil},
		{"loopback 127.3.4.5", sdk.Config{RelayURL: "http://127.3.4.5:8082/gateway"}, nil},
		{"loopback ::1", sdk.Config{RelayURL: "http://[::1]:8082/gateway"}, nil},
		{"loopback localhost", sdk.Config{RelayURL: "http://LocalHost:8082/gateway"}, nil},
		{"bad pin", sdk.Config{RelayURL: "https://relay.example/gateway", KeyPin: pin + "\n"}, signedkeys.ErrInvalidPin},
		{"bad pin on loopback", sdk.Config{RelayURL: "http://127.0.0.1/gateway", KeyPin: "veil-pin-ed25519:"}, signedkeys.ErrInvalidPin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := sdk.New(tc.cfg)
			if err == nil {
				c.Close(context.Background())
			}
			if tc.want == nil {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("New: %v, want %v", err, tc.want)
			}
			if tc.want == signedkeys.ErrInvalidPin && !errors.Is(err, sdk.ErrInvalidKeyPin) {
				t.Errorf("New: %v, want it to match sdk.ErrInvalidKeyPin too", err)
			}
			if tc.want == sdk.ErrKeyPinRequired {
				for _, w := range []string{"veil admin keys pin", "Config.KeyPin", "Config.InsecureNoKeyPin"} {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not say %q", err, w)
					}
				}
			}
		})
	}
}

func TestInsecureHTTP(t *testing.T) {
	pin, _ := otherPin(t)
	for _, tc := range []struct {
		name string
		cfg  sdk.Config
		ok   bool
	}{
		{"http relay", sdk.Config{RelayURL: "http://relay.example/gateway", KeyPin: pin}, false},
		{"http keys", sdk.Config{RelayURL: "https://relay.example/gateway", KeysURL: "http://relay.example/k", KeyPin: pin}, false},
		{"http relay, opted in", sdk.Config{RelayURL: "http://relay.example/gateway", KeyPin: pin, InsecureHTTP: true}, true},
		{"http relay, opted in, no pin", sdk.Config{RelayURL: "http://relay.example/gateway", InsecureHTTP: true}, false},
		{"http loopback", sdk.Config{RelayURL: "http://127.0.0.1:1/gateway"}, true},
		{"https", sdk.Config{RelayURL: "https://relay.example/gateway", KeyPin: pin}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := sdk.New(tc.cfg)
			if err == nil {
				c.Close(context.Background())
			}
			if tc.ok != (err == nil) {
				t.Fatalf("New: %v, want success %v", err, tc.ok)
			}
			if !tc.ok && tc.cfg.InsecureHTTP == false {
				if !errors.Is(err, sdk.ErrInsecureURL) || !strings.Contains(err.Error(), "Config.InsecureHTTP") {
					t.Errorf("New: %v, want ErrInsecureURL naming Config.InsecureHTTP", err)
				}
			}
		})
	}
}

// TestTaggingDefence: a key document with more than two configurations of
// one KEM could give each group of clients a key of its own; it is refused
// whole, signed or not, and nothing is sent.
func TestTaggingDefence(t *testing.T) {
	for _, n := range []int{2, 3} {
		for _, signed := range []bool{false, true} {
			g := newFakeGateway(t) // key 1
			for i := 2; i <= n; i++ {
				g.addKey(uint8(i), ohttp.KEMX25519)
			}
			g.addKey(9, ohttp.KEMXWing) // another KEM does not count
			cfg := sdk.Config{MaxAttempts: 1}
			if signed {
				cfg.KeyPin = g.pin()
			}
			errs := &errCollector{}
			cfg.OnError = errs.hook
			c, col := newClient(t, g, cfg)
			record(t, c, 2)
			flush(t, c)
			if n == 2 {
				if got := col.count(sdk.StatusAccepted); got != 2 {
					t.Errorf("two X25519 configs (signed %v): accepted %d, want 2; errors %v", signed, got, errs.all())
				}
				continue
			}
			got := errs.all()
			if len(got) != 1 {
				t.Fatalf("three X25519 configs (signed %v): errors %v, want 1", signed, got)
			}
			checkClass(t, got[0], "ErrKeyConfig")
			if !strings.Contains(got[0].Error(), "more than 2 configurations for KEM") {
				t.Errorf("Error() = %q", got[0].Error())
			}
			if len(g.seen()) != 0 {
				t.Errorf("%d requests sent", len(g.seen()))
			}
		}
	}
}
