package send

import (
	"context"
	"crypto/ed25519"
	"github.com/veil-telemetry/veil/internal/keystate"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/veil-telemetry/veil/internal/gateway"
	"github.com/veil-telemetry/veil/ohttp"
	"github.com/veil-telemetry/veil/ohttp/signedkeys"
)

// keySigner signs key documents with one Ed25519 key (gateway.KeysSigner).
type keySigner ed25519.PrivateKey

func (k keySigner) SignKeys(_ context.Context, keys []byte) ([]byte, error) {
	return signedkeys.Sign(keys, ed25519.PrivateKey(k))
}

func newSigner(t *testing.T) (keySigner, string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := signedkeys.PinOf(pub)
	if err != nil {
		t.Fatal(err)
	}
	return keySigner(priv), p.String()
}

// signingGateway is the real gateway in front of innerAPI, signing its
// keys; posts counts the encapsulated requests that reach it.
func signingGateway(t *testing.T, s gateway.KeysSigner) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	k, err := ohttp.GenerateKey(nil, 1, ohttp.KEMX25519, []ohttp.SymmetricSuite{ohttp.DefaultSuite})
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(gateway.Config{Keys: staticKeys{{Private: k, State: keystate.Current}}, Inner: innerAPI, Signer: s})
	if err != nil {
		t.Fatal(err)
	}
	var posts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			posts.Add(1)
		}
		g.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &posts
}

func TestSendWithKeyPin(t *testing.T) {
	signer, pin := newSigner(t)
	srv, posts := signingGateway(t, signer)
	cfg := flags(srv.URL + "/gateway")
	cfg.KeyPin = pin
	cfg.Schema, cfg.Version, cfg.Fields = "app.launch", 1, `{"os":"ios"}`
	out, stderr, code := runSend(t, "", cfg)
	if code != 0 || out != `{"index":0,"status":"accepted"}`+"\n" || stderr != "" {
		t.Errorf("exit %d, output %q, stderr %q", code, out, stderr)
	}
	if posts.Load() != 1 {
		t.Errorf("%d requests reached the gateway, want 1", posts.Load())
	}
}

// TestSendRefusesUnauthenticatedKeys: keys the pinned key did not sign end
// the run at once, with exit 1 and one line naming the signature failure,
// and nothing is sent.
func TestSendRefusesUnauthenticatedKeys(t *testing.T) {
	_, pin := newSigner(t)
	relaySigner, relayPin := newSigner(t)
	for _, tc := range []struct {
		name   string
		signer gateway.KeysSigner
		want   string
	}{
		{"signed by another key", relaySigner, "no signature by the pinned key " + pin + " (signed by " + relayPin + ")"},
		{"document altered after signing", alteringSigner{relaySigner, pin}, "signature by the pinned key " + pin + " does not verify"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, posts := signingGateway(t, tc.signer)
			cfg := flags(srv.URL + "/gateway")
			cfg.KeyPin = pin
			in := strings.Repeat(`{"schema":"app.launch","version":1,"fields":{"os":"ios"}}`+"\n", 3)
			out, stderr, err, took := runTimed(t, in, cfg)
			checkFatal(t, stderr, err, "refusing the gateway's keys from "+srv.URL+signedkeys.DefaultPath,
				tc.want, "nothing was sent", "--key-pin")
			if took > fatalWithin {
				t.Errorf("ended after %v", took)
			}
			if n := posts.Load(); n != 0 {
				t.Errorf("%d encapsulated requests reached the gateway; want none", n)
			}
			if n := strings.Count(out, `"status":"dropped"`); n != 3 {
				t.Errorf("%d events dropped, want 3:\n%s", n, out)
			}
		})
	}
}

// alteringSigner is a relay's forgery: keys signed with a key of its own,
// the signature entry relabelled with the pinned public key, so that the
// entry names the pin but does not verify.
type alteringSigner struct {
	k   keySigner
	pin string
}

func (a alteringSigner) SignKeys(ctx context.Context, keys []byte) ([]byte, error) {
	b, err := a.k.SignKeys(ctx, keys)
	if err != nil {
		return nil, err
	}
	d, err := signedkeys.Parse(b)
	if err != nil {
		return nil, err
	}
	p, err := signedkeys.ParsePin(a.pin)
	if err != nil {
		return nil, err
	}
	d.Signatures[0].PublicKey = p[:]
	return d.MarshalBinary()
}

func TestSendKeyPinFlags(t *testing.T) {
	_, pin := newSigner(t)
	for _, tc := range []struct {
		name string
		cfg  func(*Config)
		want []string
	}{
		{"no pin, remote relay", func(c *Config) { c.Relay = "https://relay.example/gateway" },
			[]string{"--key-pin is required", `"veil admin keys pin"`, "--insecure-no-key-pin"}},
		{"plain http relay", func(c *Config) { c.Relay, c.KeyPin = "http://relay.example/gateway", pin },
			[]string{"https://", "--insecure-http"}},
		{"pin with a newline", func(c *Config) { c.Relay, c.KeyPin = "https://relay.example/gateway", pin+"\n" },
			[]string{"--key-pin: invalid key pin", `copy it whole from "veil admin keys pin"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := flags("")
			cfg.Schema, cfg.Version = "app.launch", 1
			tc.cfg(&cfg)
			_, _, err, _ := runTimed(t, "", cfg)
			if code := exitCode(t, err); code != 2 {
				t.Fatalf("exit %d (%v), want 2", code, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}
