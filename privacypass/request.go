package privacypass

import "golang.org/x/crypto/cryptobyte"

// Media types of RFC 9578 §8.
const (
	MediaTypeTokenRequest    = "application/private-token-request"
	MediaTypeTokenResponse   = "application/private-token-response"
	MediaTypeIssuerDirectory = "application/private-token-issuer-directory"
)

// TokenRequestSize and TokenResponseSize are the encoded sizes for type
// 0x0002.
const (
	TokenRequestSize  = 2 + 1 + AuthenticatorSize
	TokenResponseSize = AuthenticatorSize
)

// TokenRequest is RFC 9578 §6.1:
//
//	struct {
//	    uint16_t token_type = 0x0002;
//	    uint8_t truncated_token_key_id;
//	    uint8_t blinded_msg[Nk];
//	} TokenRequest;
type TokenRequest struct {
	TokenType           uint16
	TruncatedTokenKeyID uint8
	BlindedMsg          [AuthenticatorSize]byte
}

// Marshal encodes r.
func (r *TokenRequest) Marshal() []byte {
	out := make([]byte, 0, TokenRequestSize)
	out = append(out, byte(r.TokenType>>8), byte(r.TokenType), r.TruncatedTokenKeyID)
	return append(out, r.BlindedMsg[:]...)
}

// ParseTokenRequest decodes one TokenRequest that fills data exactly.
func ParseTokenRequest(data []byte) (*TokenRequest, error) {
	s := cryptobyte.String(data)
	var r TokenRequest
	if !s.ReadUint16(&r.TokenType) {
		return nil, formatError("TokenRequest", "truncated")
	}
	if r.TokenType != TokenTypeBlindRSA {
		return nil, ErrUnsupported
	}
	if !s.ReadUint8(&r.TruncatedTokenKeyID) || !s.CopyBytes(r.BlindedMsg[:]) {
		return nil, formatError("TokenRequest", "truncated")
	}
	if !s.Empty() {
		return nil, formatError("TokenRequest", "trailing bytes")
	}
	return &r, nil
}

// TokenResponse is RFC 9578 §6.2: uint8_t blind_sig[Nk].
type TokenResponse struct {
	BlindSig [AuthenticatorSize]byte
}

// Marshal encodes r.
func (r *TokenResponse) Marshal() []byte {
	return append([]byte(nil), r.BlindSig[:]...)
}

// ParseTokenResponse decodes one TokenResponse that fills data exactly.
func ParseTokenResponse(data []byte) (*TokenResponse, error) {
	if len(data) != TokenResponseSize {
		return nil, formatError("TokenResponse", "length")
	}
	var r TokenResponse
	copy(r.BlindSig[:], data)
	return &r, nil
}

// BatchSize bounds how many TokenRequests one issuance request may carry.
// RFC 9578 issues one token per request; veil's issuer also takes a
// concatenation of up to MaxBatch fixed-size TokenRequests (and answers the
// concatenated TokenResponses in order), so a client fetches its window's
// T tokens in one round trip.
const MaxBatch = 1000

// ParseTokenRequests splits a concatenation of TokenRequests.
func ParseTokenRequests(data []byte) ([]*TokenRequest, error) {
	if len(data) == 0 || len(data)%TokenRequestSize != 0 {
		return nil, formatError("TokenRequest batch", "length")
	}
	n := len(data) / TokenRequestSize
	if n > MaxBatch {
		return nil, formatError("TokenRequest batch", "too many")
	}
	out := make([]*TokenRequest, 0, n)
	for i := 0; i < n; i++ {
		r, err := ParseTokenRequest(data[i*TokenRequestSize : (i+1)*TokenRequestSize])
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// ParseTokenResponses splits a concatenation of TokenResponses.
func ParseTokenResponses(data []byte) ([]*TokenResponse, error) {
	if len(data)%TokenResponseSize != 0 || len(data)/TokenResponseSize > MaxBatch {
		return nil, formatError("TokenResponse batch", "length")
	}
	out := make([]*TokenResponse, 0, len(data)/TokenResponseSize)
	for i := 0; i+TokenResponseSize <= len(data); i += TokenResponseSize {
		r, _ := ParseTokenResponse(data[i : i+TokenResponseSize])
		out = append(out, r)
	}
	return out, nil
}
