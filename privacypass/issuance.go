package privacypass

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"io"
)

// PublicKey is an issuer's token key: the RSA key, its encoded SPKI (what
// directories and challenges carry) and token_key_id.
type PublicKey struct {
	Key  *rsa.PublicKey
	SPKI []byte
	ID   [KeyIDSize]byte
}

// NewPublicKey parses an encoded SPKI (ParsePublicKey) and computes its id.
func NewPublicKey(spki []byte) (*PublicKey, error) {
	pk, err := ParsePublicKey(spki)
	if err != nil {
		return nil, err
	}
	return &PublicKey{Key: pk, SPKI: append([]byte(nil), spki...), ID: KeyID(spki)}, nil
}

// TruncatedID is truncated_token_key_id, the least significant byte of
// token_key_id (RFC 9578 §6.1).
func (k *PublicKey) TruncatedID() uint8 { return k.ID[KeyIDSize-1] }

// PendingToken is a client's state between its TokenRequest and the
// issuer's TokenResponse. It holds the unblinding factor: keep it in
// memory only.
type PendingToken struct {
	key   *PublicKey
	token Token // everything but the authenticator
	state blindState
}

// NewTokenRequest starts issuance for one token redeemable against the
// encoded challenge (RFC 9578 §6.1). It reads the nonce, then the PSS
// salt, then the blind from rnd (nil means crypto/rand).
func NewTokenRequest(rnd io.Reader, key *PublicKey, challenge []byte) (*TokenRequest, *PendingToken, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	p := &PendingToken{key: key}
	p.token.TokenType = TokenTypeBlindRSA
	if _, err := io.ReadFull(rnd, p.token.Nonce[:]); err != nil {
		return nil, nil, err
	}
	p.token.ChallengeDigest = ChallengeDigest(challenge)
	p.token.TokenKeyID = key.ID
	blinded, st, err := blind(rnd, key.Key, p.token.AuthenticatorInput())
	if err != nil {
		return nil, nil, err
	}
	p.state = st
	req := &TokenRequest{TokenType: TokenTypeBlindRSA, TruncatedTokenKeyID: key.TruncatedID()}
	copy(req.BlindedMsg[:], blinded)
	return req, p, nil
}

// Finalize unblinds the issuer's response into a Token, checking the
// signature (RFC 9578 §6.3).
func (p *PendingToken) Finalize(resp *TokenResponse) (*Token, error) {
	sig, err := finalize(p.key.Key, p.state, resp.BlindSig[:])
	if err != nil {
		return nil, err
	}
	t := p.token
	copy(t.Authenticator[:], sig)
	return &t, nil
}

// IssuerKey is an issuer's private token key with its public half.
type IssuerKey struct {
	sk     *rsa.PrivateKey
	Public *PublicKey
}

// NewIssuerKey wraps a 2048-bit RSA private key.
func NewIssuerKey(sk *rsa.PrivateKey) (*IssuerKey, error) {
	spki, err := MarshalPublicKey(&sk.PublicKey)
	if err != nil {
		return nil, err
	}
	pub, err := NewPublicKey(spki)
	if err != nil {
		return nil, err
	}
	return &IssuerKey{sk: sk, Public: pub}, nil
}

// GenerateIssuerKey makes a fresh 2048-bit key (crypto/rand; this takes
// tens to hundreds of milliseconds).
func GenerateIssuerKey() (*IssuerKey, error) {
	sk, err := rsa.GenerateKey(rand.Reader, ModulusBits)
	if err != nil {
		return nil, err
	}
	return NewIssuerKey(sk)
}

// PrivateKey returns the RSA key (for persisting it).
//
// Warning: this is the issuer's signing key.
func (k *IssuerKey) PrivateKey() *rsa.PrivateKey { return k.sk }

// Sign answers one TokenRequest (RFC 9578 §6.2). A request for another
// type or key is ErrInvalidToken.
func (k *IssuerKey) Sign(req *TokenRequest) (*TokenResponse, error) {
	if req.TokenType != TokenTypeBlindRSA ||
		subtle.ConstantTimeByteEq(req.TruncatedTokenKeyID, k.Public.TruncatedID()) != 1 {
		return nil, ErrInvalidToken
	}
	sig, err := blindSign(k.sk, req.BlindedMsg[:])
	if err != nil {
		return nil, ErrInvalidToken
	}
	var resp TokenResponse
	copy(resp.BlindSig[:], sig)
	return &resp, nil
}
