package ohttp

import (
	"fmt"
	"strings"
)

// The short names of the KEMs, as flags, configuration and the admin API
// spell them. This table is the only one: every command and service that
// names a KEM parses and prints it through ParseKEM and KEMID.Name.
var kemNames = []struct {
	name string
	id   KEMID
}{
	{"x25519", KEMX25519},
	{"xwing", KEMXWing},
	{"p256", KEMP256},
	{"x25519kyber768", KEMX25519Kyber768},
}

// kemAliases are further spellings ParseKEM accepts.
var kemAliases = map[string]KEMID{"x-wing": KEMXWing, "p-256": KEMP256}

// NameError reports an algorithm name this package does not know. It
// wraps ErrUnsupported.
type NameError struct {
	// Kind is "KEM" or "symmetric suite".
	Kind string
	// Name is the name as given.
	Name string
	// Known lists what is accepted.
	Known string
}

func (e *NameError) Error() string {
	return fmt.Sprintf("ohttp: unknown %s %q (known: %s)", e.Kind, e.Name, e.Known)
}

// Unwrap returns ErrUnsupported.
func (e *NameError) Unwrap() error { return ErrUnsupported }

// KEMNames lists the short names of the supported KEMs, X25519 (the
// default) first, then X-Wing (the post-quantum choice).
func KEMNames() []string {
	out := make([]string, len(kemNames))
	for i, k := range kemNames {
		out[i] = k.name
	}
	return out
}

// ParseKEM returns the KEM of a short name (see KEMNames; also "x-wing"
// and "p-256"), in any case.
func ParseKEM(name string) (KEMID, error) {
	lower := strings.ToLower(strings.TrimSpace(name))
	for _, k := range kemNames {
		if k.name == lower {
			return k.id, nil
		}
	}
	if id, ok := kemAliases[lower]; ok {
		return id, nil
	}
	return 0, &NameError{Kind: "KEM", Name: name, Known: strings.Join(KEMNames(), ", ")}
}

// Name returns the KEM's short name, which ParseKEM reads back, or "" for
// an unsupported KEM. String gives the RFC's long name.
func (id KEMID) Name() string {
	for _, k := range kemNames {
		if k.id == id {
			return k.name
		}
	}
	return ""
}

// ParseSymmetricSuite reads a suite as SymmetricSuite.String writes it,
// KDF/AEAD, in any case: "hkdf-sha256/aes-128-gcm".
func ParseSymmetricSuite(s string) (SymmetricSuite, error) {
	kdfName, aeadName, ok := strings.Cut(strings.TrimSpace(s), "/")
	var out SymmetricSuite
	kdfOK, aeadOK := false, false
	for _, k := range []KDFID{KDFHKDFSHA256, KDFHKDFSHA384, KDFHKDFSHA512} {
		if strings.EqualFold(kdfName, k.String()) {
			out.KDF, kdfOK = k, true
		}
	}
	for _, a := range []AEADID{AEADAES128GCM, AEADAES256GCM, AEADChaCha20Poly1305} {
		if strings.EqualFold(aeadName, a.String()) {
			out.AEAD, aeadOK = a, true
		}
	}
	if !ok || !kdfOK || !aeadOK {
		return SymmetricSuite{}, &NameError{Kind: "symmetric suite", Name: s,
			Known: "KDF/AEAD with KDF hkdf-sha256, hkdf-sha384 or hkdf-sha512 and AEAD aes-128-gcm, aes-256-gcm or chacha20-poly1305"}
	}
	return out, nil
}
