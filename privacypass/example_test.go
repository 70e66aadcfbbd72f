package privacypass_test

import (
	"fmt"

	"github.com/veil-telemetry/veil/privacypass"
)

// A client gets a token for a challenge from an issuer and redeems it; the
// origin checks it against the issuer's public key alone.
func Example() {
	issuer, err := privacypass.GenerateIssuerKey() // the issuer's, per epoch
	if err != nil {
		panic(err)
	}
	challenge, _ := privacypass.TokenChallenge{
		TokenType:  privacypass.TokenTypeBlindRSA,
		IssuerName: "issuer.example",
	}.Marshal()

	// Client: blind a request for the issuer's public key.
	req, pending, _ := privacypass.NewTokenRequest(nil, issuer.Public, challenge)
	// Issuer: sign it blindly (it never sees the token).
	resp, _ := issuer.Sign(req)
	// Client: unblind, and redeem in an Authorization field.
	token, _ := pending.Finalize(resp)
	authorization := privacypass.FormatAuthorization(token.Marshal())

	// Origin: parse and verify with the public key.
	raw, _ := privacypass.ParseAuthorization(authorization)
	parsed, _ := privacypass.ParseToken(raw)
	_, err = privacypass.NewVerifier(issuer.Public).Verify(parsed, privacypass.ChallengeDigest(challenge))
	fmt.Println("verified:", err == nil)
	// Output: verified: true
}
