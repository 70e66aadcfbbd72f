package privacypass

import "golang.org/x/crypto/cryptobyte"

// TokenSize is the encoded size of a type 0x0002 Token.
const TokenSize = 2 + NonceSize + DigestSize + KeyIDSize + AuthenticatorSize

// Token is RFC 9577 §2.2 with Nk = 256 (token type 0x0002):
//
//	struct {
//	    uint16_t token_type = 0x0002;
//	    uint8_t nonce[32];
//	    uint8_t challenge_digest[32];
//	    uint8_t token_key_id[32];
//	    uint8_t authenticator[Nk];
//	} Token;
type Token struct {
	TokenType       uint16
	Nonce           [NonceSize]byte
	ChallengeDigest [DigestSize]byte
	TokenKeyID      [KeyIDSize]byte
	Authenticator   [AuthenticatorSize]byte
}

// Marshal encodes t.
func (t *Token) Marshal() []byte {
	out := make([]byte, 0, TokenSize)
	out = append(out, byte(t.TokenType>>8), byte(t.TokenType))
	out = append(out, t.Nonce[:]...)
	out = append(out, t.ChallengeDigest[:]...)
	out = append(out, t.TokenKeyID[:]...)
	return append(out, t.Authenticator[:]...)
}

// AuthenticatorInput is what the authenticator signs (RFC 9578 §6.3):
// token_type || nonce || challenge_digest || token_key_id.
func (t *Token) AuthenticatorInput() []byte {
	m := t.Marshal()
	return m[: TokenSize-AuthenticatorSize : TokenSize-AuthenticatorSize]
}

// ParseToken decodes one type 0x0002 Token that fills data exactly. A
// different token type is ErrUnsupported (its length is unknown here).
func ParseToken(data []byte) (*Token, error) {
	s := cryptobyte.String(data)
	var t Token
	if !s.ReadUint16(&t.TokenType) {
		return nil, formatError("Token", "truncated")
	}
	if t.TokenType != TokenTypeBlindRSA {
		return nil, ErrUnsupported
	}
	if !s.CopyBytes(t.Nonce[:]) || !s.CopyBytes(t.ChallengeDigest[:]) ||
		!s.CopyBytes(t.TokenKeyID[:]) || !s.CopyBytes(t.Authenticator[:]) {
		return nil, formatError("Token", "truncated")
	}
	if !s.Empty() {
		return nil, formatError("Token", "trailing bytes")
	}
	return &t, nil
}
