package privacypass

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// ModulusBits is the RSA modulus size of token type 0x0002 (RFC 9578 §6).
const ModulusBits = 8 * AuthenticatorSize

// MaxSPKISize bounds an encoded issuer public key (342 bytes for 2048 bits).
const MaxSPKISize = 512

var (
	oidRSASSAPSS = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	oidMGF1      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}
	oidSHA384    = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
)

// pssAlgorithm is the AlgorithmIdentifier RFC 9578 §6.5 requires:
//
//	AlgorithmIdentifier ::= SEQUENCE {
//	    algorithm   id-RSASSA-PSS,
//	    parameters  RSASSA-PSS-params ::= SEQUENCE {
//	        hashAlgorithm      [0] sha384 (parameters absent),
//	        maskGenAlgorithm   [1] mgf1SHA384,
//	        saltLength         [2] 48 } }
//
// (crypto/x509 writes rsaEncryption instead, so it cannot produce this.)
var pssAlgorithm = func() []byte {
	sha384 := func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidSHA384) })
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oidRSASSAPSS)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), sha384)
			b.AddASN1(cbasn1.Tag(1).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier(oidMGF1)
					sha384(b)
				})
			})
			b.AddASN1(cbasn1.Tag(2).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
				b.AddASN1Int64(48)
			})
		})
	})
	return b.BytesOrPanic()
}()

// MarshalPublicKey encodes pk as the RSASSA-PSS SubjectPublicKeyInfo of
// RFC 9578 §6.5. Only 2048-bit keys are token type 0x0002 keys.
func MarshalPublicKey(pk *rsa.PublicKey) ([]byte, error) {
	if pk == nil || pk.N == nil || pk.N.BitLen() != ModulusBits {
		return nil, formatError("public key", "modulus size")
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(pssAlgorithm)
		b.AddASN1BitString(x509.MarshalPKCS1PublicKey(pk))
	})
	return b.Bytes()
}

// ParsePublicKey decodes an RSASSA-PSS SubjectPublicKeyInfo in exactly the
// RFC 9578 §6.5 encoding (any other algorithm or parameters is refused) with
// a 2048-bit modulus.
func ParsePublicKey(spki []byte) (*rsa.PublicKey, error) {
	if len(spki) > MaxSPKISize {
		return nil, formatError("public key", "too long")
	}
	s := cryptobyte.String(spki)
	var body, alg cryptobyte.String
	var bits asn1.BitString
	if !s.ReadASN1(&body, cbasn1.SEQUENCE) || !s.Empty() {
		return nil, formatError("public key", "not one SEQUENCE")
	}
	if !body.ReadASN1Element(&alg, cbasn1.SEQUENCE) || !bytes.Equal(alg, pssAlgorithm) {
		return nil, formatError("public key", "algorithm is not RSASSA-PSS with SHA-384 and salt 48")
	}
	if !body.ReadASN1BitString(&bits) || !body.Empty() || bits.BitLength%8 != 0 {
		return nil, formatError("public key", "subjectPublicKey")
	}
	pk, err := x509.ParsePKCS1PublicKey(bits.Bytes)
	if err != nil {
		return nil, formatError("public key", "RSAPublicKey")
	}
	if pk.N.BitLen() != ModulusBits {
		return nil, formatError("public key", "modulus size")
	}
	return pk, nil
}

// KeyID is token_key_id: SHA-256 over the encoded SPKI (RFC 9578 §6.5).
func KeyID(spki []byte) [KeyIDSize]byte {
	return sha256.Sum256(spki)
}
