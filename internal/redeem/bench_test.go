package redeem

import (
	"bytes"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/privacypass"
)

// BenchmarkCheck is the gateway's added work per request with a token:
// parse the Authorization value and the Token, check key, window and
// authenticator, hash the nonce (what veil serve runs before dispatch).
// BenchmarkCheckMissing is the same call without a token, for the ratio.
func BenchmarkCheck(b *testing.B) {
	key, err := privacypass.GenerateIssuerKey()
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2030, 1, 2, 10, 0, 0, 0, time.UTC)
	r, _ := New(Config{Secret: bytes.Repeat([]byte{3}, 32), Now: func() time.Time { return now }})
	r.SetKeys([]*privacypass.PublicKey{key.Public})
	ch := r.window(now).challenge
	req, p, _ := privacypass.NewTokenRequest(nil, key.Public, ch)
	resp, _ := key.Sign(req)
	tok, _ := p.Finalize(resp)
	authz := privacypass.FormatAuthorization(tok.Marshal())
	b.Run("token", func(b *testing.B) {
		b.ReportAllocs()
		reportCPU(b, func() {
			if c := r.Check(authz); !c.Verified {
				b.Fatal(c.Reason)
			}
		})
	})
	b.Run("missing", func(b *testing.B) {
		b.ReportAllocs()
		reportCPU(b, func() { r.Check("") })
	})
}
