package signedkeys

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"slices"
)

// MediaType is the media type of a signed key document.
const MediaType = "application/vnd.veil.signed-ohttp-keys"

// Version is the only version of the encoding.
const Version = 1

// SchemeEd25519 is the Signature Scheme of an Ed25519 signature (the TLS
// SignatureScheme code point, RFC 8446 §4.2.3).
const SchemeEd25519 uint16 = 0x0807

// Limits of the encoding. Every length read is checked against them and
// against what remains before anything is allocated.
const (
	// MaxKeyDocumentLength bounds the signed application/ohttp-keys
	// document: a handful of configs, an X-Wing public key being 1216
	// bytes, fits many times over.
	MaxKeyDocumentLength = 64 << 10
	// MaxSignatures bounds the signatures of one document: the current
	// and next signing keys during a rotation, and room for a second
	// scheme beside Ed25519.
	MaxSignatures = 4
	// MaxPublicKeyLength and MaxSignatureLength bound a signature entry
	// of any scheme (ML-DSA-87's are 2592 and 4627 bytes).
	MaxPublicKeyLength = 4096
	MaxSignatureLength = 8192
	// MaxLength bounds a whole signed key document.
	MaxLength = 1 + 4 + MaxKeyDocumentLength + 1 +
		MaxSignatures*(2+2+MaxPublicKeyLength+2+MaxSignatureLength)
)

// signingContext prefixes every signed message (see the package
// documentation).
const signingContext = "veil signed ohttp-keys v1\x00"

// Signature is one Key Signature entry.
type Signature struct {
	// Scheme is SchemeEd25519, or a scheme this package does not know
	// (kept by Parse, skipped by Verify).
	Scheme    uint16
	PublicKey []byte
	Signature []byte
}

// Document is a parsed signed key document.
type Document struct {
	// Keys is the application/ohttp-keys document the signatures cover.
	Keys       []byte
	Signatures []Signature
}

// signedMessage is what each Ed25519 signature covers.
func signedMessage(keys []byte) []byte {
	m := make([]byte, 0, len(signingContext)+len(keys))
	m = append(m, signingContext...)
	return append(m, keys...)
}

// Sign returns the signed key document of keys, the exact
// application/ohttp-keys bytes to publish, with one Ed25519 signature per
// signer, in the order given. Ed25519 is deterministic, so every replica
// signing the same keys with the same signers publishes the same bytes.
func Sign(keys []byte, signers ...ed25519.PrivateKey) ([]byte, error) {
	d := &Document{Keys: keys}
	msg := signedMessage(keys)
	for _, k := range signers {
		if len(k) != ed25519.PrivateKeySize {
			return nil, errors.New("signedkeys: Ed25519 private key of the wrong length")
		}
		d.Signatures = append(d.Signatures, Signature{
			Scheme:    SchemeEd25519,
			PublicKey: k.Public().(ed25519.PublicKey),
			Signature: ed25519.Sign(k, msg),
		})
	}
	return d.MarshalBinary()
}

// validate checks what MarshalBinary needs and Parse guarantees.
func (d *Document) validate() error {
	switch {
	case len(d.Keys) == 0:
		return formatError("empty key document")
	case len(d.Keys) > MaxKeyDocumentLength:
		return formatError("key document too long")
	case len(d.Signatures) == 0:
		return formatError("no signature")
	case len(d.Signatures) > MaxSignatures:
		return formatError("too many signatures")
	}
	for i, s := range d.Signatures {
		switch {
		case len(s.PublicKey) == 0 || len(s.PublicKey) > MaxPublicKeyLength:
			return formatError("public key length out of range")
		case len(s.Signature) == 0 || len(s.Signature) > MaxSignatureLength:
			return formatError("signature length out of range")
		case s.Scheme == SchemeEd25519 && len(s.PublicKey) != ed25519.PublicKeySize:
			return formatError("Ed25519 public key is not 32 bytes")
		case s.Scheme == SchemeEd25519 && len(s.Signature) != ed25519.SignatureSize:
			return formatError("Ed25519 signature is not 64 bytes")
		}
		for _, o := range d.Signatures[:i] {
			if o.Scheme == s.Scheme && bytes.Equal(o.PublicKey, s.PublicKey) {
				return formatError("two signatures by one key")
			}
		}
	}
	return nil
}

// MarshalBinary encodes d (see the package documentation).
func (d *Document) MarshalBinary() ([]byte, error) {
	if err := d.validate(); err != nil {
		return nil, err
	}
	n := 1 + 4 + len(d.Keys) + 1
	for _, s := range d.Signatures {
		n += 2 + 2 + len(s.PublicKey) + 2 + len(s.Signature)
	}
	b := make([]byte, 0, n)
	b = append(b, Version)
	b = binary.BigEndian.AppendUint32(b, uint32(len(d.Keys)))
	b = append(b, d.Keys...)
	b = append(b, byte(len(d.Signatures)))
	for _, s := range d.Signatures {
		b = binary.BigEndian.AppendUint16(b, s.Scheme)
		b = binary.BigEndian.AppendUint16(b, uint16(len(s.PublicKey)))
		b = append(b, s.PublicKey...)
		b = binary.BigEndian.AppendUint16(b, uint16(len(s.Signature)))
		b = append(b, s.Signature...)
	}
	return b, nil
}

// reader reads big-endian fields, checking each length against what
// remains.
type reader struct{ b []byte }

func (r *reader) u8(what string) (uint8, error) {
	if len(r.b) < 1 {
		return 0, formatError("truncated " + what)
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v, nil
}

func (r *reader) u16(what string) (uint16, error) {
	if len(r.b) < 2 {
		return 0, formatError("truncated " + what)
	}
	v := binary.BigEndian.Uint16(r.b)
	r.b = r.b[2:]
	return v, nil
}

func (r *reader) u32(what string) (uint32, error) {
	if len(r.b) < 4 {
		return 0, formatError("truncated " + what)
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v, nil
}

// bytes returns a copy of the next n bytes.
func (r *reader) bytes(n int, what string) ([]byte, error) {
	if n > len(r.b) {
		return nil, formatError("truncated " + what)
	}
	v := slices.Clone(r.b[:n])
	r.b = r.b[n:]
	return v, nil
}

// Parse decodes a signed key document. Every length is checked against
// its maximum and against the bytes that remain; trailing bytes, an empty
// key document, no signature, an Ed25519 entry of the wrong sizes and two
// signatures by one key are refused. It does not verify anything (see
// Verify). Errors are *FormatError. The result does not alias b.
func Parse(b []byte) (*Document, error) {
	if len(b) > MaxLength {
		return nil, formatError("longer than MaxLength")
	}
	r := &reader{b: b}
	v, err := r.u8("version")
	if err != nil {
		return nil, err
	}
	if v != Version {
		return nil, formatError("unknown version")
	}
	n, err := r.u32("key document length")
	if err != nil {
		return nil, err
	}
	if n == 0 || n > MaxKeyDocumentLength {
		return nil, formatError("key document length out of range")
	}
	d := &Document{}
	if d.Keys, err = r.bytes(int(n), "key document"); err != nil {
		return nil, err
	}
	count, err := r.u8("signature count")
	if err != nil {
		return nil, err
	}
	if count == 0 || count > MaxSignatures {
		return nil, formatError("signature count out of range")
	}
	d.Signatures = make([]Signature, 0, count)
	for range count {
		var s Signature
		if s.Scheme, err = r.u16("signature scheme"); err != nil {
			return nil, err
		}
		pl, err := r.u16("public key length")
		if err != nil {
			return nil, err
		}
		if pl == 0 || pl > MaxPublicKeyLength {
			return nil, formatError("public key length out of range")
		}
		if s.PublicKey, err = r.bytes(int(pl), "public key"); err != nil {
			return nil, err
		}
		sl, err := r.u16("signature length")
		if err != nil {
			return nil, err
		}
		if sl == 0 || sl > MaxSignatureLength {
			return nil, formatError("signature length out of range")
		}
		if s.Signature, err = r.bytes(int(sl), "signature"); err != nil {
			return nil, err
		}
		d.Signatures = append(d.Signatures, s)
	}
	if len(r.b) != 0 {
		return nil, formatError("trailing bytes")
	}
	if err := d.validate(); err != nil {
		return nil, err
	}
	return d, nil
}

// Signers returns the pins of the document's Ed25519 signatures, in order.
func (d *Document) Signers() []Pin {
	var out []Pin
	for _, s := range d.Signatures {
		if s.Scheme == SchemeEd25519 && len(s.PublicKey) == ed25519.PublicKeySize {
			out = append(out, Pin(s.PublicKey))
		}
	}
	return out
}

// Verify checks that the pinned key signed d.Keys. It returns a
// *VerifyError, wrapping ErrNotSigned when no signature is by the pinned
// key, or ErrBadSignature when that signature does not verify.
func (d *Document) Verify(pin Pin) error {
	for _, s := range d.Signatures {
		if s.Scheme != SchemeEd25519 || !bytes.Equal(s.PublicKey, pin[:]) {
			continue
		}
		if !ed25519.Verify(pin.PublicKey(), signedMessage(d.Keys), s.Signature) {
			return &VerifyError{Pin: pin, Signers: d.Signers(), Err: ErrBadSignature}
		}
		return nil
	}
	return &VerifyError{Pin: pin, Signers: d.Signers(), Err: ErrNotSigned}
}

// Verify parses a signed key document and checks that the pinned key
// signed it. It returns the application/ohttp-keys bytes the signature
// covers — the only bytes a client may use — or a *FormatError or
// *VerifyError.
func Verify(b []byte, pin Pin) ([]byte, error) {
	d, err := Parse(b)
	if err != nil {
		return nil, err
	}
	if err := d.Verify(pin); err != nil {
		return nil, err
	}
	return d.Keys, nil
}

// DefaultPath is where veil's gateway publishes its signed key document,
// and where `veil relay` serves it from its cache: beside the plain
// document at /ohttp-keys, on the same origin.
const DefaultPath = "/ohttp-keys-signed"
