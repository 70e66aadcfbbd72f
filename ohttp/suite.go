package ohttp

import (
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
)

// Media types of RFC 9458 §9.
const (
	RequestMediaType  = "message/ohttp-req"
	ResponseMediaType = "message/ohttp-res"
	KeysMediaType     = "application/ohttp-keys"
)

// KEMID is an HPKE KEM identifier (RFC 9180 §7.1).
type KEMID uint16

// KEMs this package supports.
const (
	// KEMP256 is DHKEM(P-256, HKDF-SHA256).
	KEMP256 KEMID = 0x0010
	// KEMX25519 is DHKEM(X25519, HKDF-SHA256), the default.
	KEMX25519 KEMID = 0x0020
	// KEMX25519Kyber768 is X25519Kyber768Draft00, a pre-standard hybrid
	// kept for interoperability; prefer KEMXWing.
	KEMX25519Kyber768 KEMID = 0x0030
	// KEMXWing is X-Wing (ML-KEM-768 combined with X25519), the
	// post-quantum choice.
	KEMXWing KEMID = 0x647a
)

// KDFID is an HPKE KDF identifier (RFC 9180 §7.2).
type KDFID uint16

// KDFs this package supports.
const (
	KDFHKDFSHA256 KDFID = 0x0001
	KDFHKDFSHA384 KDFID = 0x0002
	KDFHKDFSHA512 KDFID = 0x0003
)

// AEADID is an HPKE AEAD identifier (RFC 9180 §7.3).
type AEADID uint16

// AEADs this package supports. The export-only AEAD (0xffff) cannot carry
// a request and is not supported.
const (
	AEADAES128GCM        AEADID = 0x0001
	AEADAES256GCM        AEADID = 0x0002
	AEADChaCha20Poly1305 AEADID = 0x0003
)

// SymmetricSuite is one (KDF, AEAD) pair of a key configuration.
type SymmetricSuite struct {
	KDF  KDFID
	AEAD AEADID
}

// DefaultSuite is HKDF-SHA256 with AES-128-GCM, the suite of RFC 9458
// Appendix A.
var DefaultSuite = SymmetricSuite{KDF: KDFHKDFSHA256, AEAD: AEADAES128GCM}

// kemParams are the sizes RFC 9180 §7.1 (and the hybrid KEM drafts) fix for
// a KEM. A test checks them against circl.
type kemParams struct {
	name string
	npk  int // public key
	nenc int // encapsulated key
}

func lookupKEM(id KEMID) (kemParams, bool) {
	switch id {
	case KEMP256:
		return kemParams{"DHKEM(P-256, HKDF-SHA256)", 65, 65}, true
	case KEMX25519:
		return kemParams{"DHKEM(X25519, HKDF-SHA256)", 32, 32}, true
	case KEMX25519Kyber768:
		return kemParams{"X25519Kyber768Draft00", 1216, 1120}, true
	case KEMXWing:
		return kemParams{"X-Wing", 1216, 1120}, true
	}
	return kemParams{}, false
}

func kdfHash(id KDFID) (func() hash.Hash, bool) {
	switch id {
	case KDFHKDFSHA256:
		return sha256.New, true
	case KDFHKDFSHA384:
		return sha512.New384, true
	case KDFHKDFSHA512:
		return sha512.New, true
	}
	return nil, false
}

// aeadParams are Nk and Nn of RFC 9180 §7.3; every supported AEAD has a
// 16-byte tag.
type aeadParams struct {
	nk, nn int
}

const aeadTagSize = 16

func lookupAEAD(id AEADID) (aeadParams, bool) {
	switch id {
	case AEADAES128GCM:
		return aeadParams{16, 12}, true
	case AEADAES256GCM, AEADChaCha20Poly1305:
		return aeadParams{32, 12}, true
	}
	return aeadParams{}, false
}

// responseNonceSize is max(Nn, Nk) (RFC 9458 §4.4).
func (p aeadParams) responseNonceSize() int { return max(p.nn, p.nk) }

func checkKEM(id KEMID) (kemParams, error) {
	p, ok := lookupKEM(id)
	if !ok {
		return kemParams{}, &UnsupportedError{Kind: "KEM", ID: uint16(id)}
	}
	return p, nil
}

// check reports whether both identifiers are supported.
func (s SymmetricSuite) check() error {
	if _, ok := kdfHash(s.KDF); !ok {
		return &UnsupportedError{Kind: "KDF", ID: uint16(s.KDF)}
	}
	if _, ok := lookupAEAD(s.AEAD); !ok {
		return &UnsupportedError{Kind: "AEAD", ID: uint16(s.AEAD)}
	}
	return nil
}

func (id KEMID) String() string {
	if p, ok := lookupKEM(id); ok {
		return p.name
	}
	return fmt.Sprintf("KEM(0x%04x)", uint16(id))
}

func (id KDFID) String() string {
	switch id {
	case KDFHKDFSHA256:
		return "HKDF-SHA256"
	case KDFHKDFSHA384:
		return "HKDF-SHA384"
	case KDFHKDFSHA512:
		return "HKDF-SHA512"
	}
	return fmt.Sprintf("KDF(0x%04x)", uint16(id))
}

func (id AEADID) String() string {
	switch id {
	case AEADAES128GCM:
		return "AES-128-GCM"
	case AEADAES256GCM:
		return "AES-256-GCM"
	case AEADChaCha20Poly1305:
		return "ChaCha20-Poly1305"
	}
	return fmt.Sprintf("AEAD(0x%04x)", uint16(id))
}

func (s SymmetricSuite) String() string {
	return s.KDF.String() + "/" + s.AEAD.String()
}
