package privacypass

import (
	"testing"
)

// Figures for docs/performance.md: the gateway's added work per request
// (parse the header, parse the token, verify), the issuer's sign, the
// client's blind and finalize.

func BenchmarkGatewayCheck(b *testing.B) {
	_, pkS, vs := loadVectors(b)
	pub, _ := NewPublicKey(pkS)
	ver := NewVerifier(pub)
	auth := FormatAuthorization(vs[0].token)
	digest := ChallengeDigest(vs[0].challenge)
	b.ReportAllocs()
	reportCPU(b, func() {
		raw, err := ParseAuthorization(auth)
		if err != nil {
			b.Fatal(err)
		}
		tok, err := ParseToken(raw)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ver.Verify(tok, digest); err != nil {
			b.Fatal(err)
		}
	})
}

func BenchmarkIssuerSign(b *testing.B) {
	skS, _, vs := loadVectors(b)
	ik := vectorIssuer(b, skS)
	req, _ := ParseTokenRequest(vs[0].request)
	reportCPU(b, func() {
		if _, err := ik.Sign(req); err != nil {
			b.Fatal(err)
		}
	})
}

func BenchmarkClientBlindFinalize(b *testing.B) {
	skS, _, vs := loadVectors(b)
	ik := vectorIssuer(b, skS)
	resp, _ := ParseTokenResponse(vs[0].response)
	reportCPU(b, func() {
		_, p, err := NewTokenRequest(nil, ik.Public, vs[0].challenge)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = p.Finalize(resp) // fails (another blind): the same work
	})
}
