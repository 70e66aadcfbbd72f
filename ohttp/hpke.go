package ohttp

// This is the only file that talks to circl (STYLE rule 8). Callers validate
// every identifier with lookupKEM, kdfHash and lookupAEAD before they get
// here; the functions below re-check with circl's own IsValid so that no
// identifier can reach a circl call that panics.

import (
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"io"

	"github.com/cloudflare/circl/hpke"
	"github.com/cloudflare/circl/kem"
)

// hpkeSuite is a validated circl suite.
type hpkeSuite struct {
	s hpke.Suite
}

func newHPKESuite(k KEMID, s SymmetricSuite) (hpkeSuite, error) {
	if _, err := checkKEM(k); err != nil {
		return hpkeSuite{}, err
	}
	if err := s.check(); err != nil {
		return hpkeSuite{}, err
	}
	kemID, kdfID, aeadID := hpke.KEM(k), hpke.KDF(s.KDF), hpke.AEAD(s.AEAD)
	if !kemID.IsValid() || !kdfID.IsValid() || !aeadID.IsValid() {
		return hpkeSuite{}, ErrUnsupported
	}
	return hpkeSuite{hpke.NewSuite(kemID, kdfID, aeadID)}, nil
}

func kemScheme(k KEMID) (kem.Scheme, error) {
	if _, err := checkKEM(k); err != nil {
		return nil, err
	}
	id := hpke.KEM(k)
	if !id.IsValid() {
		return nil, ErrUnsupported
	}
	return id.Scheme(), nil
}

// kemPrivateKey is a receiver key parsed once, when the PrivateKey is built.
type kemPrivateKey struct {
	sk kem.PrivateKey
}

// generateKEMKey derives a key pair from a seed read from rnd (RFC 9180
// §7.1.3 DeriveKeyPair), so a deterministic reader gives a deterministic key.
func generateKEMKey(rnd io.Reader, k KEMID) (secret, public []byte, err error) {
	scheme, err := kemScheme(k)
	if err != nil {
		return nil, nil, err
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	seed := make([]byte, scheme.SeedSize())
	if _, err := io.ReadFull(rnd, seed); err != nil {
		return nil, nil, err
	}
	pk, sk := scheme.DeriveKeyPair(seed)
	clear(seed)
	if secret, err = sk.MarshalBinary(); err != nil {
		return nil, nil, err
	}
	if public, err = pk.MarshalBinary(); err != nil {
		return nil, nil, err
	}
	return secret, public, nil
}

// parseKEMPrivateKey parses a serialized private key and returns it with its
// serialized public key.
func parseKEMPrivateKey(k KEMID, secret []byte) (kemPrivateKey, []byte, error) {
	scheme, err := kemScheme(k)
	if err != nil {
		return kemPrivateKey{}, nil, err
	}
	if len(secret) != scheme.PrivateKeySize() {
		return kemPrivateKey{}, nil, ErrInvalidKey
	}
	sk, err := scheme.UnmarshalBinaryPrivateKey(secret)
	if err != nil {
		return kemPrivateKey{}, nil, ErrInvalidKey
	}
	public, err := sk.Public().MarshalBinary()
	if err != nil {
		return kemPrivateKey{}, nil, ErrInvalidKey
	}
	return kemPrivateKey{sk}, public, nil
}

// checkKEMPublicKey reports whether b is a valid public key of KEM k.
func checkKEMPublicKey(k KEMID, b []byte) error {
	scheme, err := kemScheme(k)
	if err != nil {
		return err
	}
	if len(b) != scheme.PublicKeySize() {
		return formatError("key config", "public key has the wrong length")
	}
	if _, err := scheme.UnmarshalBinaryPublicKey(b); err != nil {
		return formatError("key config", "invalid public key")
	}
	return nil
}

// exporter is an established HPKE context, kept for its secret export
// interface (RFC 9180 §5.3).
type exporter struct {
	c hpke.Context
}

func (e exporter) export(label []byte, n int) []byte {
	return e.c.Export(label, uint(n))
}

// seal sets up a base-mode sender context to pk (RFC 9180 §5.1.1) and
// encrypts pt with empty associated data.
func (s hpkeSuite) seal(rnd io.Reader, pk, info, pt []byte) (enc, ct []byte, _ exporter, _ error) {
	kemID, _, _ := s.s.Params()
	pub, err := kemID.Scheme().UnmarshalBinaryPublicKey(pk)
	if err != nil {
		return nil, nil, exporter{}, formatError("key config", "invalid public key")
	}
	sender, err := s.s.NewSender(pub, info)
	if err != nil {
		return nil, nil, exporter{}, fmt.Errorf("ohttp: encapsulation failed: %w", err)
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	// Setup fails on a randomness read error or a public key that gives
	// an invalid shared secret (a low-order X25519 point).
	enc, sealer, err := sender.Setup(rnd)
	if err != nil {
		return nil, nil, exporter{}, fmt.Errorf("ohttp: encapsulation failed: %w", err)
	}
	ct, err = sealer.Seal(pt, nil)
	if err != nil {
		return nil, nil, exporter{}, fmt.Errorf("ohttp: encapsulation failed: %w", err)
	}
	return enc, ct, exporter{sealer}, nil
}

// open sets up a base-mode receiver context from enc (RFC 9180 §5.1.1) and
// decrypts ct with empty associated data. Every failure is ErrDecrypt.
func (s hpkeSuite) open(sk kemPrivateKey, info, enc, ct []byte) ([]byte, exporter, error) {
	receiver, err := s.s.NewReceiver(sk.sk, info)
	if err != nil {
		return nil, exporter{}, ErrDecrypt
	}
	opener, err := receiver.Setup(enc)
	if err != nil {
		return nil, exporter{}, ErrDecrypt
	}
	pt, err := opener.Open(ct, nil)
	if err != nil {
		return nil, exporter{}, ErrDecrypt
	}
	return pt, exporter{opener}, nil
}

// newAEAD returns the AEAD id keyed with key. It goes through circl because
// the standard library exports no ChaCha20-Poly1305.
func newAEAD(id AEADID, key []byte) (cipher.AEAD, error) {
	if _, ok := lookupAEAD(id); !ok {
		return nil, &UnsupportedError{Kind: "AEAD", ID: uint16(id)}
	}
	a := hpke.AEAD(id)
	if !a.IsValid() {
		return nil, ErrUnsupported
	}
	return a.New(key)
}
