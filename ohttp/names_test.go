package ohttp

import (
	"errors"
	"testing"
)

func TestParseKEM(t *testing.T) {
	for name, want := range map[string]KEMID{
		"x25519": KEMX25519, "xwing": KEMXWing, "p256": KEMP256, "x25519kyber768": KEMX25519Kyber768,
		"X-Wing": KEMXWing, "p-256": KEMP256, " X25519 ": KEMX25519,
	} {
		if got, err := ParseKEM(name); err != nil || got != want {
			t.Errorf("ParseKEM(%q) = %v, %v; want %v", name, got, err, want)
		}
	}
	for _, name := range []string{"", "rsa", "x448", "0x0020"} {
		_, err := ParseKEM(name)
		var ne *NameError
		if !errors.As(err, &ne) || ne.Kind != "KEM" || !errors.Is(err, ErrUnsupported) {
			t.Errorf("ParseKEM(%q): %v", name, err)
		}
	}
	// Every supported KEM has a name that parses back to it, and only
	// supported KEMs have one.
	for _, id := range allKEMs {
		got, err := ParseKEM(id.Name())
		if id.Name() == "" || err != nil || got != id {
			t.Errorf("%v: name %q parses to %v, %v", id, id.Name(), got, err)
		}
	}
	if len(KEMNames()) != len(allKEMs) || KEMNames()[0] != "x25519" {
		t.Errorf("KEMNames %v", KEMNames())
	}
	if KEMID(0x99).Name() != "" {
		t.Error("an unsupported KEM has a name")
	}
}

func TestParseSymmetricSuite(t *testing.T) {
	for _, s := range allSuites {
		got, err := ParseSymmetricSuite(s.String())
		if err != nil || got != s {
			t.Errorf("%v does not round-trip: %v, %v", s, got, err)
		}
	}
	if got, err := ParseSymmetricSuite("hkdf-sha384/aes-256-gcm"); err != nil || got != (SymmetricSuite{KDFHKDFSHA384, AEADAES256GCM}) {
		t.Errorf("lower case: %v %v", got, err)
	}
	for _, s := range []string{"", "hkdf-sha256", "sha1/des", "hkdf-sha256/", "/aes-128-gcm", "hkdf-sha256/aes-128-gcm/x"} {
		if _, err := ParseSymmetricSuite(s); !errors.Is(err, ErrUnsupported) {
			t.Errorf("ParseSymmetricSuite(%q): %v", s, err)
		}
	}
}
