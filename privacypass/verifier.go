package privacypass

import (
	"crypto/subtle"
)

// Reason says why a token was refused. It is for metrics only: every
// refusal is answered identically (RFC 9577 §2.2).
type Reason string

// The closed set of refusal reasons (metric label values).
const (
	ReasonMissing     Reason = "missing"      // no Authorization: PrivateToken
	ReasonMalformed   Reason = "malformed"    // header or Token does not decode
	ReasonWrongKey    Reason = "wrong_key"    // token_key_id of no configured key
	ReasonWrongWindow Reason = "wrong_window" // challenge_digest of no current challenge
	ReasonInvalid     Reason = "invalid"      // authenticator does not verify
	ReasonSpent       Reason = "spent"        // nonce already redeemed
	ReasonNoIssuer    Reason = "no_issuer"    // tokens required, no issuer key configured
)

// Reasons lists every Reason, for pre-creating metric series.
var Reasons = []Reason{ReasonMissing, ReasonMalformed, ReasonWrongKey, ReasonWrongWindow, ReasonInvalid, ReasonSpent, ReasonNoIssuer}

// Verifier checks tokens against a fixed set of issuer keys. It is
// immutable and safe for concurrent use; a key rotation builds a new one.
type Verifier struct {
	keys map[[KeyIDSize]byte]*PublicKey
}

// NewVerifier makes a verifier for keys (any number, typically one or two
// per issuer epoch).
func NewVerifier(keys ...*PublicKey) *Verifier {
	v := &Verifier{keys: make(map[[KeyIDSize]byte]*PublicKey, len(keys))}
	for _, k := range keys {
		v.keys[k.ID] = k
	}
	return v
}

// Len is the number of keys.
func (v *Verifier) Len() int {
	if v == nil {
		return 0
	}
	return len(v.keys)
}

// Keys returns the keys (in no particular order).
func (v *Verifier) Keys() []*PublicKey {
	if v == nil {
		return nil
	}
	out := make([]*PublicKey, 0, len(v.keys))
	for _, k := range v.keys {
		out = append(out, k)
	}
	return out
}

// Verify checks t's key, that its challenge_digest is one of digests (the
// challenges currently redeemable), and its authenticator (RFC 9578 §6.4).
// It does not check whether the nonce was spent: that is the caller's
// store. On failure it returns ErrInvalidToken and the reason.
func (v *Verifier) Verify(t *Token, digests ...[DigestSize]byte) (Reason, error) {
	if v == nil || t.TokenType != TokenTypeBlindRSA {
		return ReasonWrongKey, ErrInvalidToken
	}
	k, ok := v.keys[t.TokenKeyID]
	if !ok {
		return ReasonWrongKey, ErrInvalidToken
	}
	match := 0
	for i := range digests {
		match |= subtle.ConstantTimeCompare(t.ChallengeDigest[:], digests[i][:])
	}
	if match != 1 {
		return ReasonWrongWindow, ErrInvalidToken
	}
	if !verifySignature(k.Key, t.AuthenticatorInput(), t.Authenticator[:]) {
		return ReasonInvalid, ErrInvalidToken
	}
	return "", nil
}
