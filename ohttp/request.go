package ohttp

import (
	"encoding/binary"
	"io"
	"slices"
)

// requestInfoLabel starts the HPKE info of every request (RFC 9458 §4.3).
const requestInfoLabel = "message/bhttp request"

// requestHeaderLen is the size of the key_id, kem_id, kdf_id, aead_id header.
const requestHeaderLen = 1 + 2 + 2 + 2

// EncapsulatedRequest is a parsed message/ohttp-req body (RFC 9458 §4.1).
type EncapsulatedRequest struct {
	KeyID uint8
	KEM   KEMID
	KDF   KDFID
	AEAD  AEADID
	// Enc is the encapsulated KEM shared secret, Nenc bytes.
	Enc []byte
	// Ciphertext is the HPKE-protected Binary HTTP request.
	Ciphertext []byte
}

// Suite returns the request's symmetric suite.
func (r *EncapsulatedRequest) Suite() SymmetricSuite {
	return SymmetricSuite{KDF: r.KDF, AEAD: r.AEAD}
}

// MarshalBinary encodes r as an Encapsulated Request (RFC 9458 §4.1):
//
//	Request Header {
//	  Key Identifier (8),
//	  HPKE KEM ID (16),
//	  HPKE KDF ID (16),
//	  HPKE AEAD ID (16),
//	}
//
//	Encapsulated Request {
//	  Request Header (56),
//	  Encapsulated KEM Shared Secret (8 * Nenc),
//	  HPKE-Protected Request (..),
//	}
func (r *EncapsulatedRequest) MarshalBinary() ([]byte, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, requestHeaderLen+len(r.Enc)+len(r.Ciphertext))
	b = appendRequestHeader(b, r.KeyID, r.KEM, r.Suite())
	b = append(b, r.Enc...)
	return append(b, r.Ciphertext...), nil
}

// check validates the identifiers and lengths of r.
func (r *EncapsulatedRequest) check() error {
	p, err := checkKEM(r.KEM)
	if err != nil {
		return err
	}
	if err := r.Suite().check(); err != nil {
		return err
	}
	if len(r.Enc) != p.nenc {
		return formatError("encapsulated request", "encapsulated key has the wrong length")
	}
	if len(r.Ciphertext) < aeadTagSize {
		return formatError("encapsulated request", "ciphertext shorter than the AEAD tag")
	}
	return nil
}

// ParseEncapsulatedRequest decodes an Encapsulated Request (see
// EncapsulatedRequest.MarshalBinary). An unsupported KEM, KDF or AEAD yields
// an *UnsupportedError, checked before any cryptography; a bad layout yields
// a *FormatError. Enc and Ciphertext alias b; they are capped so that
// appending to them never writes into b.
func ParseEncapsulatedRequest(b []byte) (*EncapsulatedRequest, error) {
	if len(b) < requestHeaderLen {
		return nil, formatError("encapsulated request", "truncated header")
	}
	r := &EncapsulatedRequest{
		KeyID: b[0],
		KEM:   KEMID(binary.BigEndian.Uint16(b[1:])),
		KDF:   KDFID(binary.BigEndian.Uint16(b[3:])),
		AEAD:  AEADID(binary.BigEndian.Uint16(b[5:])),
	}
	p, err := checkKEM(r.KEM)
	if err != nil {
		return nil, err
	}
	if err := r.Suite().check(); err != nil {
		return nil, err
	}
	rest := b[requestHeaderLen:]
	if len(rest) < p.nenc {
		return nil, formatError("encapsulated request", "truncated encapsulated key")
	}
	r.Enc = rest[:p.nenc:p.nenc]
	r.Ciphertext = slices.Clip(rest[p.nenc:])
	if len(r.Ciphertext) < aeadTagSize {
		return nil, formatError("encapsulated request", "ciphertext shorter than the AEAD tag")
	}
	return r, nil
}

func appendRequestHeader(b []byte, keyID uint8, kem KEMID, s SymmetricSuite) []byte {
	b = append(b, keyID)
	b = binary.BigEndian.AppendUint16(b, uint16(kem))
	b = binary.BigEndian.AppendUint16(b, uint16(s.KDF))
	return binary.BigEndian.AppendUint16(b, uint16(s.AEAD))
}

// requestInfo returns a new HPKE info for a request (RFC 9458 §4.3):
// "message/bhttp request", a zero byte, then the request header.
func requestInfo(keyID uint8, kem KEMID, s SymmetricSuite) []byte {
	b := make([]byte, 0, len(requestInfoLabel)+1+requestHeaderLen)
	b = append(b, requestInfoLabel...)
	b = append(b, 0)
	return appendRequestHeader(b, keyID, kem, s)
}

// EncapsulateRequest encrypts the Binary HTTP request msg to cfg with suite
// (RFC 9458 §4.3), reading the ephemeral key seed from rand (nil means
// crypto/rand). It returns the message/ohttp-req body and the context that
// decrypts the gateway's response. The suite must be listed in cfg.
func EncapsulateRequest(rand io.Reader, cfg *KeyConfig, suite SymmetricSuite, msg []byte) ([]byte, *ClientContext, error) {
	if cfg == nil {
		return nil, nil, formatError("key config", "nil key config")
	}
	if err := cfg.validate(); err != nil {
		return nil, nil, err
	}
	if err := suite.check(); err != nil {
		return nil, nil, err
	}
	if !cfg.offers(suite) {
		return nil, nil, ErrSuiteNotOffered
	}
	hs, err := newHPKESuite(cfg.KEM, suite)
	if err != nil {
		return nil, nil, err
	}
	enc, ct, exp, err := hs.seal(rand, cfg.PublicKey, requestInfo(cfg.KeyID, cfg.KEM, suite), msg)
	if err != nil {
		return nil, nil, err
	}
	out := make([]byte, 0, requestHeaderLen+len(enc)+len(ct))
	out = appendRequestHeader(out, cfg.KeyID, cfg.KEM, suite)
	out = append(out, enc...)
	out = append(out, ct...)
	cc, err := newResponseContext(suite, enc, exp)
	if err != nil {
		return nil, nil, err
	}
	return out, &ClientContext{cc}, nil
}
