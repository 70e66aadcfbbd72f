package ohttp

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

var allKEMs = []KEMID{KEMX25519, KEMXWing, KEMX25519Kyber768, KEMP256}

var allSuites = []SymmetricSuite{
	{KDFHKDFSHA256, AEADAES128GCM}, {KDFHKDFSHA256, AEADAES256GCM}, {KDFHKDFSHA256, AEADChaCha20Poly1305},
	{KDFHKDFSHA384, AEADAES128GCM}, {KDFHKDFSHA384, AEADAES256GCM}, {KDFHKDFSHA384, AEADChaCha20Poly1305},
	{KDFHKDFSHA512, AEADAES128GCM}, {KDFHKDFSHA512, AEADAES256GCM}, {KDFHKDFSHA512, AEADChaCha20Poly1305},
}

// countingReader is a deterministic randomness source.
type countingReader struct{ n byte }

func (r *countingReader) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = r.n
		r.n++
	}
	return len(b), nil
}

func TestRoundTripAllSuites(t *testing.T) {
	msg := bytes.Repeat([]byte("bhttp"), 100)
	answer := []byte("response")
	for _, kem := range allKEMs {
		k, err := GenerateKey(&countingReader{}, 7, kem, allSuites)
		if err != nil {
			t.Fatalf("%v: %v", kem, err)
		}
		// Deterministic randomness gives a deterministic key.
		k2, err := GenerateKey(&countingReader{}, 7, kem, allSuites)
		if err != nil || !bytes.Equal(k.Secret(), k2.Secret()) {
			t.Fatalf("%v: GenerateKey is not deterministic", kem)
		}
		for _, s := range allSuites {
			t.Run(fmt.Sprintf("%v/%v", kem, s), func(t *testing.T) {
				encReq, cc, err := EncapsulateRequest(nil, &k.Config, s, msg)
				if err != nil {
					t.Fatal(err)
				}
				p, _ := lookupKEM(kem)
				if want := requestHeaderLen + p.nenc + len(msg) + aeadTagSize; len(encReq) != want {
					t.Errorf("request length %d, want %d", len(encReq), want)
				}
				req, err := ParseEncapsulatedRequest(encReq)
				if err != nil {
					t.Fatal(err)
				}
				got, sc, err := k.DecapsulateRequest(req)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, msg) {
					t.Fatal("request differs")
				}
				encRes, err := sc.EncapsulateResponse(nil, answer)
				if err != nil {
					t.Fatal(err)
				}
				ap, _ := lookupAEAD(s.AEAD)
				if want := ap.responseNonceSize() + len(answer) + aeadTagSize; len(encRes) != want {
					t.Errorf("response length %d, want %d", len(encRes), want)
				}
				res, err := cc.DecapsulateResponse(encRes)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(res, answer) {
					t.Fatal("response differs")
				}
				// Any flipped bit is the one opaque error.
				for _, i := range []int{0, len(encRes) / 2, len(encRes) - 1} {
					bad := bytes.Clone(encRes)
					bad[i] ^= 1
					if _, err := cc.DecapsulateResponse(bad); err != ErrDecrypt {
						t.Errorf("response byte %d flipped: %v", i, err)
					}
				}
				for _, i := range []int{requestHeaderLen, requestHeaderLen + p.nenc, len(encReq) - 1} {
					bad := bytes.Clone(encReq)
					bad[i] ^= 0x80
					r, err := ParseEncapsulatedRequest(bad)
					if err != nil {
						t.Fatal(err)
					}
					if _, _, err := k.DecapsulateRequest(r); err != ErrDecrypt {
						t.Errorf("request byte %d flipped: %v", i, err)
					}
				}
			})
		}
	}
}

func TestKeyRoundTrip(t *testing.T) {
	for _, kem := range allKEMs {
		k, err := GenerateKey(nil, 3, kem, []SymmetricSuite{DefaultSuite})
		if err != nil {
			t.Fatal(err)
		}
		cfgBytes, err := k.Config.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := ParseKeyConfig(cfgBytes)
		if err != nil {
			t.Fatal(err)
		}
		k2, err := NewPrivateKey(*cfg, k.Secret())
		if err != nil {
			t.Fatalf("%v: %v", kem, err)
		}
		encReq, _, err := EncapsulateRequest(nil, cfg, DefaultSuite, []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		req, _ := ParseEncapsulatedRequest(encReq)
		if _, _, err := k2.DecapsulateRequest(req); err != nil {
			t.Fatalf("%v: %v", kem, err)
		}

		other, err := GenerateKey(nil, 3, kem, []SymmetricSuite{DefaultSuite})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := NewPrivateKey(*cfg, other.Secret()); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%v: mismatched secret: %v", kem, err)
		}
		if _, err := NewPrivateKey(*cfg, k.Secret()[1:]); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%v: short secret: %v", kem, err)
		}
		// A key for another key's request is refused before any crypto.
		if _, _, err := other.DecapsulateRequest(req); err != ErrDecrypt {
			t.Errorf("%v: other key: %v", kem, err)
		}
	}
}

func TestKeyRedaction(t *testing.T) {
	k, err := GenerateKey(&countingReader{n: 200}, 9, KEMX25519, []SymmetricSuite{DefaultSuite})
	if err != nil {
		t.Fatal(err)
	}
	secretHex := fmt.Sprintf("%x", k.Secret())
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("key", "key", k)
	for _, s := range []string{buf.String(), fmt.Sprintf("%v %+v %#v %s %x", k, k, k, k, k)} {
		if strings.Contains(s, secretHex) || !strings.Contains(s, "REDACTED") {
			t.Errorf("not redacted: %s", s)
		}
	}
}

func TestErrors(t *testing.T) {
	v := loadVector(t)
	k := vectorKey(t, v)
	cfg := &k.Config
	encReq := v.get(t, "encapsulated_request")
	withHeader := func(keyID byte, kem, kdf, aead uint16) []byte {
		b := bytes.Clone(encReq)
		b[0] = keyID
		b[1], b[2] = byte(kem>>8), byte(kem)
		b[3], b[4] = byte(kdf>>8), byte(kdf)
		b[5], b[6] = byte(aead>>8), byte(aead)
		return b
	}

	t.Run("parse request", func(t *testing.T) {
		cases := []struct {
			name  string
			in    []byte
			check func(error) bool
		}{
			{"empty", nil, isFormat},
			{"short header", encReq[:6], isFormat},
			{"short enc", encReq[:7+31], isFormat},
			{"short ciphertext", encReq[:7+32+15], isFormat},
			{"unknown KEM", withHeader(1, 0x0099, 1, 1), isUnsupported("KEM")},
			{"unknown KDF", withHeader(1, 0x20, 4, 1), isUnsupported("KDF")},
			{"unknown AEAD", withHeader(1, 0x20, 1, 0xffff), isUnsupported("AEAD")},
		}
		for _, c := range cases {
			if _, err := ParseEncapsulatedRequest(c.in); !c.check(err) {
				t.Errorf("%s: %v", c.name, err)
			}
		}
	})

	t.Run("decapsulate request", func(t *testing.T) {
		cases := []struct {
			name string
			in   []byte
			want error
		}{
			{"other key id", withHeader(2, 0x20, 1, 1), ErrKeyMismatch},
			{"other KEM", withHeader(1, 0x10, 1, 1), ErrKeyMismatch},
			{"suite not offered", withHeader(1, 0x20, 2, 1), ErrSuiteNotOffered},
			{"offered suite, wrong key schedule", withHeader(1, 0x20, 1, 3), ErrDecrypt},
		}
		for _, c := range cases {
			req, err := ParseEncapsulatedRequest(c.in)
			if err != nil && c.want != ErrKeyMismatch {
				t.Fatalf("%s: %v", c.name, err)
			}
			if err != nil {
				// A P-256 header changes Nenc: build the request by hand.
				req = &EncapsulatedRequest{KeyID: 1, KEM: KEMP256, KDF: 1, AEAD: 1, Enc: make([]byte, 65), Ciphertext: make([]byte, 16)}
			}
			if _, _, err := k.DecapsulateRequest(req); err != c.want {
				t.Errorf("%s: %v, want %v", c.name, err, c.want)
			}
		}
		if _, _, err := k.DecapsulateRequest(nil); !isFormat(err) {
			t.Errorf("nil: %v", err)
		}
		bad := &EncapsulatedRequest{KeyID: 1, KEM: KEMX25519, KDF: 1, AEAD: 1, Enc: make([]byte, 31), Ciphertext: make([]byte, 16)}
		if _, _, err := k.DecapsulateRequest(bad); !isFormat(err) {
			t.Errorf("short enc: %v", err)
		}
		if _, err := bad.MarshalBinary(); !isFormat(err) {
			t.Errorf("marshal short enc: %v", err)
		}
	})

	t.Run("encapsulate request", func(t *testing.T) {
		if _, _, err := EncapsulateRequest(nil, cfg, SymmetricSuite{KDFHKDFSHA512, AEADAES256GCM}, nil); err != ErrSuiteNotOffered {
			t.Errorf("not offered: %v", err)
		}
		if _, _, err := EncapsulateRequest(nil, cfg, SymmetricSuite{9, 1}, nil); !isUnsupported("KDF")(err) {
			t.Errorf("unknown KDF: %v", err)
		}
		if _, _, err := EncapsulateRequest(nil, &KeyConfig{KEM: 0x99, Suites: cfg.Suites}, DefaultSuite, nil); !isUnsupported("KEM")(err) {
			t.Errorf("unknown KEM: %v", err)
		}
		if _, _, err := EncapsulateRequest(nil, &KeyConfig{KEM: KEMX25519, PublicKey: cfg.PublicKey}, DefaultSuite, nil); !isFormat(err) {
			t.Errorf("no suites: %v", err)
		}
		if _, _, err := EncapsulateRequest(nil, nil, DefaultSuite, nil); !isFormat(err) {
			t.Errorf("nil config: %v", err)
		}
		p256 := &KeyConfig{KEM: KEMP256, PublicKey: make([]byte, 65), Suites: cfg.Suites}
		if _, _, err := EncapsulateRequest(nil, p256, DefaultSuite, nil); !isFormat(err) {
			t.Errorf("invalid point: %v", err)
		}
	})

	t.Run("keys", func(t *testing.T) {
		if _, err := GenerateKey(nil, 1, 0x99, []SymmetricSuite{DefaultSuite}); !isUnsupported("KEM")(err) {
			t.Errorf("unknown KEM: %v", err)
		}
		if _, err := GenerateKey(nil, 1, KEMX25519, nil); !isFormat(err) {
			t.Errorf("no suites: %v", err)
		}
		if _, err := GenerateKey(nil, 1, KEMX25519, []SymmetricSuite{{1, 7}}); !isUnsupported("AEAD")(err) {
			t.Errorf("unknown AEAD: %v", err)
		}
	})

	t.Run("response", func(t *testing.T) {
		cc := newClientContext(DefaultSuite, v.get(t, "enc"), v.get(t, "exported_secret"))
		encRes := v.get(t, "encapsulated_response")
		if _, err := cc.DecapsulateResponse(encRes[:16+15]); !isFormat(err) {
			t.Errorf("short: %v", err)
		}
		if _, err := cc.DecapsulateResponse(encRes[:16+16]); err != ErrDecrypt {
			t.Errorf("truncated: %v", err)
		}
		wrong := newClientContext(DefaultSuite, v.get(t, "pkR"), v.get(t, "exported_secret"))
		if _, err := wrong.DecapsulateResponse(encRes); err != ErrDecrypt {
			t.Errorf("other enc: %v", err)
		}
	})
}

func TestKeyConfigs(t *testing.T) {
	v := loadVector(t)
	one := v.get(t, "key_configs")
	unknown := []byte{0x00, 0x05, 0x02, 0x99, 0x99, 0xaa, 0xbb} // KEM 0x9999, skipped
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

	cases := []struct {
		name    string
		in      []byte
		n       int
		wantErr bool
	}{
		{"vector", one, 1, false},
		{"twice", join(one, one), 2, false},
		{"unknown KEM skipped", join(unknown, one), 1, false},
		{"only unknown", unknown, 0, false},
		{"empty", nil, 0, true},
		{"odd trailing byte", join(one, []byte{0}), 0, true},
		{"length past end", join(one, []byte{0, 0x2e}, one[2:]), 0, true},
		{"length short", join([]byte{0, 0x2c}, one[2:len(one)-1]), 0, true},
		{"tiny config", join([]byte{0, 1, 1}, one), 0, true},
		{"bad entry refuses all", join(one, []byte{0, 0x2d}, one[2:2+35], []byte{0, 0x0c}, one[len(one)-8:]), 0, true},
		{"suites not multiple of 4", join([]byte{0, 0x2c}, one[2:2+35], []byte{0, 6}, one[len(one)-6:len(one)-2]), 0, true},
		{"no suites", join([]byte{0, 0x25}, one[2:2+35], []byte{0, 0}), 0, true},
	}
	for _, c := range cases {
		got, err := ParseKeyConfigs(c.in)
		if c.wantErr {
			if !isFormat(err) {
				t.Errorf("%s: %v, want *FormatError", c.name, err)
			}
			continue
		}
		if err != nil || len(got) != c.n {
			t.Errorf("%s: %d configs, %v", c.name, len(got), err)
		}
	}

	// Unknown symmetric identifiers are data: kept, re-encoded, never chosen.
	cfg, err := ParseKeyConfig(join(v.get(t, "key_config")[:35], []byte{0, 8, 0, 1, 0, 1, 0, 9, 0, 9}))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := EncapsulateRequest(nil, cfg, SymmetricSuite{9, 9}, nil); !isUnsupported("KDF")(err) {
		t.Errorf("unknown listed suite: %v", err)
	}
	if _, err := ParseKeyConfig(v.get(t, "key_config")[:40]); !isFormat(err) {
		t.Errorf("truncated single config: %v", err)
	}
	if _, err := ParseKeyConfig(append(bytes.Clone(v.get(t, "key_config")), 0)); !isFormat(err) {
		t.Errorf("trailing byte: %v", err)
	}
	if _, err := MarshalKeyConfigs(nil); !isFormat(err) {
		t.Errorf("marshal empty: %v", err)
	}
	if _, err := MarshalKeyConfigs([]*KeyConfig{nil}); !isFormat(err) {
		t.Errorf("marshal nil: %v", err)
	}
	if _, err := (&KeyConfig{KEM: KEMX25519, PublicKey: make([]byte, 32), Suites: make([]SymmetricSuite, MaxSuites+1)}).MarshalBinary(); !isFormat(err) {
		t.Errorf("marshal too many suites: %v", err)
	}
}

func isFormat(err error) bool {
	var fe *FormatError
	return errors.As(err, &fe) && errors.Is(err, ErrMalformed)
}

func isUnsupported(kind string) func(error) bool {
	return func(err error) bool {
		var ue *UnsupportedError
		return errors.As(err, &ue) && ue.Kind == kind && errors.Is(err, ErrUnsupported)
	}
}

func TestStrings(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{KEMX25519.String(), "DHKEM(X25519, HKDF-SHA256)"},
		{KEMID(0x99).String(), "KEM(0x0099)"},
		{DefaultSuite.String(), "HKDF-SHA256/AES-128-GCM"},
		{SymmetricSuite{KDFHKDFSHA384, AEADChaCha20Poly1305}.String(), "HKDF-SHA384/ChaCha20-Poly1305"},
		{SymmetricSuite{KDFHKDFSHA512, AEADAES256GCM}.String(), "HKDF-SHA512/AES-256-GCM"},
		{SymmetricSuite{5, 5}.String(), "KDF(0x0005)/AEAD(0x0005)"},
		{(&UnsupportedError{Kind: "KEM", ID: 0x99}).Error(), "ohttp: unsupported KEM 0x0099"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

// TestZeroValues checks that zero values fail with errors, not panics.
func TestZeroValues(t *testing.T) {
	v := loadVector(t)
	req, err := ParseEncapsulatedRequest(v.get(t, "encapsulated_request"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := new(PrivateKey).DecapsulateRequest(req); err != ErrKeyMismatch {
		t.Errorf("zero key: %v", err)
	}
	if _, err := new(ServerContext).EncapsulateResponse(nil, nil); !errors.Is(err, ErrUnsupported) {
		t.Errorf("zero server context: %v", err)
	}
	if _, err := new(ClientContext).DecapsulateResponse(make([]byte, 64)); !errors.Is(err, ErrUnsupported) {
		t.Errorf("zero client context: %v", err)
	}
	// An all-zero X25519 public key parses (any 32 bytes do) but gives an
	// invalid shared secret: an error, not a panic.
	cfg := &KeyConfig{KEM: KEMX25519, PublicKey: make([]byte, 32), Suites: []SymmetricSuite{DefaultSuite}}
	if _, _, err := EncapsulateRequest(nil, cfg, DefaultSuite, nil); err == nil {
		t.Error("low-order public key accepted")
	}
}
