package signedkeys_test

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/veil-telemetry/veil/ohttp/signedkeys"
)

// vectors reads testdata/vectors.txt: hex values, and pins as text.
type vectors map[string]string

func loadVectors(t testing.TB) vectors {
	t.Helper()
	f, err := os.Open("testdata/vectors.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v := vectors{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			t.Fatalf("bad vector line %q", line)
		}
		v[name] = val
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return v
}

func (v vectors) hex(t testing.TB, name string) []byte {
	t.Helper()
	s, ok := v[name]
	if !ok {
		t.Fatalf("vector %s missing", name)
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("vector %s: %v", name, err)
	}
	return b
}

func (v vectors) pin(t testing.TB, name string) signedkeys.Pin {
	t.Helper()
	p, err := signedkeys.ParsePin(v[name])
	if err != nil {
		t.Fatalf("vector %s: %v", name, err)
	}
	return p
}

func (v vectors) key(t testing.TB, name string) ed25519.PrivateKey {
	t.Helper()
	return ed25519.NewKeyFromSeed(v.hex(t, name))
}

// TestKnownAnswers signs the vectors' keys and compares byte for byte, and
// checks the signatures with crypto/ed25519 over the message the package
// documentation spells out, independently of the package's own code.
func TestKnownAnswers(t *testing.T) {
	v := loadVectors(t)
	keys := v.hex(t, "keys")
	k1, k2 := v.key(t, "seed1"), v.key(t, "seed2")
	for _, tc := range []struct {
		name    string
		signers []ed25519.PrivateKey
	}{{"signed_one", []ed25519.PrivateKey{k1}}, {"signed_two", []ed25519.PrivateKey{k1, k2}}} {
		got, err := signedkeys.Sign(keys, tc.signers...)
		if err != nil {
			t.Fatal(err)
		}
		if want := v.hex(t, tc.name); !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %x\nwant %x", tc.name, got, want)
		}
	}
	for name, k := range map[string]ed25519.PrivateKey{"pin1": k1, "pin2": k2} {
		p, err := signedkeys.PinOf(k.Public().(ed25519.PublicKey))
		if err != nil {
			t.Fatal(err)
		}
		if p.String() != v[name] {
			t.Errorf("%s: %s, want %s", name, p, v[name])
		}
	}

	// Decode signed_two by hand, following the layout in doc.go.
	b := v.hex(t, "signed_two")
	if len(b) < 5 || b[0] != 1 {
		t.Fatalf("version: % x", b[:min(len(b), 5)])
	}
	n := int(binary.BigEndian.Uint32(b[1:5]))
	if n != len(keys) || !bytes.Equal(b[5:5+n], keys) {
		t.Fatalf("key document: length %d, want %d", n, len(keys))
	}
	rest := b[5+n:]
	if rest[0] != 2 {
		t.Fatalf("signature count %d, want 2", rest[0])
	}
	rest = rest[1:]
	msg := append([]byte("veil signed ohttp-keys v1\x00"), keys...)
	for i, k := range []ed25519.PrivateKey{k1, k2} {
		if len(rest) < 2+2+32+2+64 {
			t.Fatalf("signature %d truncated", i)
		}
		scheme, pl := binary.BigEndian.Uint16(rest), binary.BigEndian.Uint16(rest[2:])
		pub := rest[4 : 4+pl]
		sl := binary.BigEndian.Uint16(rest[4+pl:])
		sig := rest[6+pl : 6+pl+sl]
		if scheme != 0x0807 || pl != 32 || sl != 64 || !bytes.Equal(pub, k.Public().(ed25519.PublicKey)) {
			t.Fatalf("signature %d: scheme %#04x, lengths %d/%d", i, scheme, pl, sl)
		}
		if !ed25519.Verify(pub, msg, sig) {
			t.Errorf("signature %d does not verify over the documented message", i)
		}
		rest = rest[6+pl+sl:]
	}
	if len(rest) != 0 {
		t.Errorf("%d trailing bytes", len(rest))
	}
}

func TestVerify(t *testing.T) {
	v := loadVectors(t)
	keys := v.hex(t, "keys")
	p1, p2 := v.pin(t, "pin1"), v.pin(t, "pin2")
	one, two := v.hex(t, "signed_one"), v.hex(t, "signed_two")

	for _, tc := range []struct {
		name   string
		doc    []byte
		pin    signedkeys.Pin
		want   error // nil: verifies
		reason string
	}{
		{"one, pin1", one, p1, nil, ""},
		{"two, pin1", two, p1, nil, ""},
		{"two, pin2 (after a rotation)", two, p2, nil, ""},
		{"one, pin2", one, p2, signedkeys.ErrNotSigned, "signed by " + p1.String()},
		{"key document altered", flip(one, 5+10), p1, signedkeys.ErrBadSignature, "does not verify"},
		{"signature altered", flip(one, len(one)-1), p1, signedkeys.ErrBadSignature, "does not verify"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := signedkeys.Verify(tc.doc, tc.pin)
			if tc.want == nil {
				if err != nil || !bytes.Equal(got, keys) {
					t.Fatalf("Verify: %x, %v; want the key document", got, err)
				}
				return
			}
			if got != nil || !errors.Is(err, tc.want) || !errors.Is(err, signedkeys.ErrUnauthenticated) {
				t.Fatalf("Verify: %x, %v; want %v", got, err, tc.want)
			}
			var ve *signedkeys.VerifyError
			if !errors.As(err, &ve) || ve.Pin != tc.pin {
				t.Fatalf("error %T %v is not a *VerifyError for the pin", err, err)
			}
			if !strings.Contains(err.Error(), tc.pin.String()) || !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("error %q does not name the pin and %q", err, tc.reason)
			}
		})
	}

	// A signature of an unknown scheme by the pinned key's bytes does not
	// count.
	d, err := signedkeys.Parse(one)
	if err != nil {
		t.Fatal(err)
	}
	d.Signatures[0].Scheme = 0x0904
	b, err := d.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := signedkeys.Verify(b, p1); !errors.Is(err, signedkeys.ErrNotSigned) || !strings.Contains(err.Error(), "no Ed25519 signature") {
		t.Errorf("unknown scheme only: %v, want ErrNotSigned", err)
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}

func TestParseRefuses(t *testing.T) {
	v := loadVectors(t)
	one := v.hex(t, "signed_one")
	keysLen := len(v.hex(t, "keys"))
	set32 := func(b []byte, at int, n uint32) []byte {
		c := bytes.Clone(b)
		binary.BigEndian.PutUint32(c[at:], n)
		return c
	}
	set := func(b []byte, at int, x byte) []byte {
		c := bytes.Clone(b)
		c[at] = x
		return c
	}
	sigAt := 1 + 4 + keysLen + 1 // the first Key Signature
	for name, b := range map[string][]byte{
		"empty":                     nil,
		"version 2":                 set(one, 0, 2),
		"truncated length":          one[:3],
		"zero key document":         set32(one, 1, 0),
		"key document too long":     set32(one, 1, signedkeys.MaxKeyDocumentLength+1),
		"key document past the end": set32(one, 1, uint32(len(one))),
		"no signature count":        one[:5+keysLen],
		"zero signatures":           set(one, 5+keysLen, 0),
		"too many signatures":       set(one, 5+keysLen, signedkeys.MaxSignatures+1),
		"count beyond entries":      set(one, 5+keysLen, 2),
		"truncated signature":       one[:len(one)-1],
		"trailing byte":             append(bytes.Clone(one), 0),
		"zero public key length":    set(set(one, sigAt+2, 0), sigAt+3, 0),
		"Ed25519 key of 31 bytes":   set(one, sigAt+3, 31),
		"two signatures by one key": dupSignature(t, one),
		"longer than MaxLength":     make([]byte, signedkeys.MaxLength+1),
	} {
		t.Run(name, func(t *testing.T) {
			d, err := signedkeys.Parse(b)
			var fe *signedkeys.FormatError
			if d != nil || !errors.As(err, &fe) || !errors.Is(err, signedkeys.ErrMalformed) {
				t.Fatalf("Parse: %v, %v; want a *FormatError", d, err)
			}
		})
	}
}

func dupSignature(t *testing.T, one []byte) []byte {
	t.Helper()
	d, err := signedkeys.Parse(one)
	if err != nil {
		t.Fatal(err)
	}
	// Append a copy by hand: MarshalBinary refuses it too.
	d.Signatures = append(d.Signatures, d.Signatures[0])
	if _, err := d.MarshalBinary(); !errors.Is(err, signedkeys.ErrMalformed) {
		t.Fatalf("MarshalBinary of a duplicate signature: %v", err)
	}
	keysLen := len(d.Keys)
	b := bytes.Clone(one)
	b[5+keysLen] = 2
	return append(b, one[5+keysLen+1:]...)
}

func TestParseDoesNotAlias(t *testing.T) {
	v := loadVectors(t)
	b := v.hex(t, "signed_one")
	d, err := signedkeys.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	keys := bytes.Clone(d.Keys)
	clear(b)
	if !bytes.Equal(d.Keys, keys) || d.Signatures[0].Scheme != signedkeys.SchemeEd25519 {
		t.Error("the parsed document changed with its input")
	}
}

func TestParsePin(t *testing.T) {
	v := loadVectors(t)
	good := v["pin1"]
	p, err := signedkeys.ParsePin(good)
	if err != nil || p.String() != good {
		t.Fatalf("ParsePin(%q) = %s, %v", good, p, err)
	}
	body := strings.TrimPrefix(good, signedkeys.PinPrefix)
	for name, s := range map[string]string{
		"empty":              "",
		"no prefix":          body,
		"other prefix":       "veil-pin-ed448:" + body,
		"upper-case prefix":  strings.ToUpper(signedkeys.PinPrefix) + body,
		"trailing newline":   good + "\n",
		"leading space":      " " + good,
		"padding":            good + "=",
		"one short":          good[:len(good)-1],
		"one long":           good + "A",
		"standard alphabet":  signedkeys.PinPrefix + strings.NewReplacer("_", "/", "-", "+").Replace(body),
		"non-canonical tail": signedkeys.PinPrefix + body[:len(body)-1] + "h", // 'g' with a stray low bit
		"hex":                signedkeys.PinPrefix + hex.EncodeToString(p[:]),
	} {
		t.Run(name, func(t *testing.T) {
			if name == "standard alphabet" && !strings.ContainsAny(body, "_-") {
				t.Fatalf("pin1 has no _ or -: the case tests nothing")
			}
			if _, err := signedkeys.ParsePin(s); !errors.Is(err, signedkeys.ErrInvalidPin) {
				t.Errorf("ParsePin(%q): %v, want ErrInvalidPin", s, err)
			}
		})
	}
	if _, err := signedkeys.PinOf(make([]byte, 31)); !errors.Is(err, signedkeys.ErrInvalidPin) {
		t.Errorf("PinOf of 31 bytes: %v", err)
	}
}

func TestSignRefuses(t *testing.T) {
	k := ed25519.NewKeyFromSeed(make([]byte, 32))
	for name, tc := range map[string]struct {
		keys    []byte
		signers []ed25519.PrivateKey
	}{
		"no signer":             {[]byte{1}, nil},
		"empty keys":            {nil, []ed25519.PrivateKey{k}},
		"keys too long":         {make([]byte, signedkeys.MaxKeyDocumentLength+1), []ed25519.PrivateKey{k}},
		"one signer twice":      {[]byte{1}, []ed25519.PrivateKey{k, k}},
		"short private key":     {[]byte{1}, []ed25519.PrivateKey{k[:32]}},
		"more than the maximum": {[]byte{1}, []ed25519.PrivateKey{k, key(1), key(2), key(3), key(4)}},
	} {
		if b, err := signedkeys.Sign(tc.keys, tc.signers...); err == nil {
			t.Errorf("%s: Sign = %x, want an error", name, b)
		}
	}
}

func key(i byte) ed25519.PrivateKey {
	seed := make([]byte, 32)
	seed[0] = i
	return ed25519.NewKeyFromSeed(seed)
}
