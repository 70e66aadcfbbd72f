package ohttp

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"os"
	"strings"
	"testing"
)

// rfcVector is RFC 9458 Appendix A, from testdata.
type rfcVector map[string][]byte

func loadVector(t testing.TB) rfcVector {
	t.Helper()
	f, err := os.Open("testdata/rfc9458-appendix-a.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v := rfcVector{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, h, ok := strings.Cut(line, " ")
		if !ok {
			t.Fatalf("bad vector line %q", line)
		}
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		v[name] = b
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return v
}

func (v rfcVector) get(t testing.TB, name string) []byte {
	t.Helper()
	b, ok := v[name]
	if !ok {
		t.Fatalf("vector has no %q", name)
	}
	return b
}

// vectorKey builds the gateway key of the vector from skR.
func vectorKey(t testing.TB, v rfcVector) *PrivateKey {
	t.Helper()
	cfg, err := ParseKeyConfig(v.get(t, "key_config"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := NewPrivateKey(*cfg, v.get(t, "skR"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newClientContext is the test hook that rebuilds a client context from
// values the RFC prints, since it does not give the seed of skE.
func newClientContext(suite SymmetricSuite, enc, secret []byte) *ClientContext {
	p, _ := lookupAEAD(suite.AEAD)
	return &ClientContext{responseContext{suite: suite, aead: p, enc: enc, secret: secret}}
}

func TestVectorKeyConfig(t *testing.T) {
	v := loadVector(t)
	cfg, err := ParseKeyConfig(v.get(t, "key_config"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.KeyID != 1 || cfg.KEM != KEMX25519 || !bytes.Equal(cfg.PublicKey, v.get(t, "pkR")) {
		t.Fatalf("parsed %+v", cfg)
	}
	want := []SymmetricSuite{{KDFHKDFSHA256, AEADAES128GCM}, {KDFHKDFSHA256, AEADChaCha20Poly1305}}
	if len(cfg.Suites) != 2 || cfg.Suites[0] != want[0] || cfg.Suites[1] != want[1] {
		t.Fatalf("suites %v, want %v", cfg.Suites, want)
	}
	got, err := cfg.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, v.get(t, "key_config")) {
		t.Errorf("MarshalBinary = %x", got)
	}

	list, err := ParseKeyConfigs(v.get(t, "key_configs"))
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Fatalf("got %d configs", len(list))
	}
	gotList, err := MarshalKeyConfigs(list)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gotList, v.get(t, "key_configs")) {
		t.Errorf("MarshalKeyConfigs = %x", gotList)
	}
}

func TestVectorGateway(t *testing.T) {
	v := loadVector(t)
	k := vectorKey(t, v)
	if !bytes.Equal(k.Config.PublicKey, v.get(t, "pkR")) {
		t.Fatal("public key differs from pkR")
	}
	if !bytes.Equal(k.Secret(), v.get(t, "skR")) {
		t.Fatal("Secret differs from skR")
	}
	if got := requestInfo(1, KEMX25519, DefaultSuite); !bytes.Equal(got, v.get(t, "info")) {
		t.Errorf("info = %x", got)
	}

	req, err := ParseEncapsulatedRequest(v.get(t, "encapsulated_request"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(req.Enc, v.get(t, "enc")) {
		t.Errorf("enc = %x", req.Enc)
	}
	again, err := req.MarshalBinary()
	if err != nil || !bytes.Equal(again, v.get(t, "encapsulated_request")) {
		t.Errorf("MarshalBinary = %x, %v", again, err)
	}

	msg, sc, err := k.DecapsulateRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(msg, v.get(t, "request")) {
		t.Errorf("request = %x", msg)
	}
	if !bytes.Equal(sc.rc.secret, v.get(t, "exported_secret")) {
		t.Errorf("exported secret = %x", sc.rc.secret)
	}
	a, nonce, err := sc.rc.aeadFor(v.get(t, "response_nonce"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(nonce, v.get(t, "aead_nonce")) {
		t.Errorf("aead_nonce = %x", nonce)
	}
	if a.NonceSize() != 12 || a.Overhead() != 16 {
		t.Errorf("AEAD sizes %d %d", a.NonceSize(), a.Overhead())
	}

	res, err := sc.EncapsulateResponse(bytes.NewReader(v.get(t, "response_nonce")), v.get(t, "response"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(res, v.get(t, "encapsulated_response")) {
		t.Errorf("encapsulated response = %x\nwant %x", res, v.get(t, "encapsulated_response"))
	}
}

func TestVectorClient(t *testing.T) {
	v := loadVector(t)
	cc := newClientContext(DefaultSuite, v.get(t, "enc"), v.get(t, "exported_secret"))
	msg, err := cc.DecapsulateResponse(v.get(t, "encapsulated_response"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(msg, v.get(t, "response")) {
		t.Errorf("response = %x", msg)
	}

	// The client's own request to the vector's key decrypts at the gateway,
	// and the gateway's answer decrypts at the client.
	cfg, err := ParseKeyConfig(v.get(t, "key_config"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range cfg.Suites {
		encReq, cc, err := EncapsulateRequest(nil, cfg, s, v.get(t, "request"))
		if err != nil {
			t.Fatal(err)
		}
		req, err := ParseEncapsulatedRequest(encReq)
		if err != nil {
			t.Fatal(err)
		}
		got, sc, err := vectorKey(t, v).DecapsulateRequest(req)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, v.get(t, "request")) {
			t.Fatalf("%v: request = %x", s, got)
		}
		encRes, err := sc.EncapsulateResponse(nil, v.get(t, "response"))
		if err != nil {
			t.Fatal(err)
		}
		res, err := cc.DecapsulateResponse(encRes)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(res, v.get(t, "response")) {
			t.Fatalf("%v: response = %x", s, res)
		}
	}
}
