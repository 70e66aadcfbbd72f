package privacypass

import (
	"crypto/sha256"

	"golang.org/x/crypto/cryptobyte"
)

// TokenTypeBlindRSA is the publicly verifiable token type of RFC 9578 §6
// (blind RSA, 2048-bit modulus, SHA-384, PSS, 48-byte salt).
const TokenTypeBlindRSA uint16 = 0x0002

// Sizes of RFC 9578 §6 with Nk = 256 (2048-bit keys).
const (
	NonceSize         = 32
	DigestSize        = 32 // SHA-256 of the TokenChallenge
	KeyIDSize         = 32 // SHA-256 of the issuer's SPKI
	AuthenticatorSize = 256
	// RedemptionContextSize is the only non-empty length RFC 9577 §2.1
	// allows for redemption_context.
	RedemptionContextSize = 32
	// MaxChallengeSize bounds a decoded TokenChallenge: issuer_name and
	// origin_info are capped well below their 2^16-1 wire limit, since a
	// veil challenge names one issuer and no origin list.
	MaxNameSize      = 255
	MaxOriginSize    = 1024
	MaxChallengeSize = 2 + 2 + MaxNameSize + 1 + RedemptionContextSize + 2 + MaxOriginSize
)

// TokenChallenge is RFC 9577 §2.1:
//
//	struct {
//	    uint16_t token_type;
//	    opaque issuer_name<1..2^16-1>;
//	    opaque redemption_context<0..32>;
//	    opaque origin_info<0..2^16-1>;
//	} TokenChallenge;
//
// redemption_context is either empty or exactly 32 bytes.
type TokenChallenge struct {
	TokenType         uint16
	IssuerName        string
	RedemptionContext []byte
	OriginInfo        string
}

// Marshal encodes c. It fails on a field outside the limits above.
func (c TokenChallenge) Marshal() ([]byte, error) {
	if len(c.IssuerName) == 0 || len(c.IssuerName) > MaxNameSize {
		return nil, formatError("TokenChallenge", "issuer_name length")
	}
	if n := len(c.RedemptionContext); n != 0 && n != RedemptionContextSize {
		return nil, formatError("TokenChallenge", "redemption_context length")
	}
	if len(c.OriginInfo) > MaxOriginSize {
		return nil, formatError("TokenChallenge", "origin_info length")
	}
	var b cryptobyte.Builder
	b.AddUint16(c.TokenType)
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(c.IssuerName)) })
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(c.RedemptionContext) })
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(c.OriginInfo)) })
	return b.Bytes()
}

// ParseTokenChallenge decodes one TokenChallenge that fills data exactly.
func ParseTokenChallenge(data []byte) (TokenChallenge, error) {
	if len(data) > MaxChallengeSize {
		return TokenChallenge{}, formatError("TokenChallenge", "too long")
	}
	s := cryptobyte.String(data)
	var c TokenChallenge
	var name, ctx, origin cryptobyte.String
	if !s.ReadUint16(&c.TokenType) ||
		!s.ReadUint16LengthPrefixed(&name) ||
		!s.ReadUint8LengthPrefixed(&ctx) ||
		!s.ReadUint16LengthPrefixed(&origin) {
		return TokenChallenge{}, formatError("TokenChallenge", "truncated")
	}
	if !s.Empty() {
		return TokenChallenge{}, formatError("TokenChallenge", "trailing bytes")
	}
	if len(name) == 0 || len(name) > MaxNameSize {
		return TokenChallenge{}, formatError("TokenChallenge", "issuer_name length")
	}
	if len(ctx) != 0 && len(ctx) != RedemptionContextSize {
		return TokenChallenge{}, formatError("TokenChallenge", "redemption_context length")
	}
	if len(origin) > MaxOriginSize {
		return TokenChallenge{}, formatError("TokenChallenge", "origin_info length")
	}
	c.IssuerName = string(name)
	if len(ctx) > 0 {
		c.RedemptionContext = append([]byte(nil), ctx...)
	}
	c.OriginInfo = string(origin)
	return c, nil
}

// ChallengeDigest is SHA-256 over an encoded TokenChallenge, the
// challenge_digest a Token carries (RFC 9578 §6.1).
func ChallengeDigest(encoded []byte) [DigestSize]byte {
	return sha256.Sum256(encoded)
}
