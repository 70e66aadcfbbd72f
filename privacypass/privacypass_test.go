package privacypass

import (
	"bytes"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestVerifierRefusals(t *testing.T) {
	skS, pkS, vs := loadVectors(t)
	ik := vectorIssuer(t, skS)
	pub, _ := NewPublicKey(pkS)
	v := vs[0]
	digest := ChallengeDigest(v.challenge)
	good, _ := ParseToken(v.token)

	other := *good
	other.TokenKeyID[0] ^= 1
	tampered := *good
	tampered.Nonce[3] ^= 0x80
	badSig := *good
	badSig.Authenticator[100] ^= 1

	cases := []struct {
		name   string
		ver    *Verifier
		tok    *Token
		digest [DigestSize]byte
		want   Reason
	}{
		{"ok", NewVerifier(pub), good, digest, ""},
		{"no keys", NewVerifier(), good, digest, ReasonWrongKey},
		{"other key id", NewVerifier(pub), &other, digest, ReasonWrongKey},
		{"other window", NewVerifier(pub), good, ChallengeDigest(vs[1].challenge), ReasonWrongWindow},
		{"tampered nonce", NewVerifier(pub), &tampered, digest, ReasonInvalid},
		{"tampered authenticator", NewVerifier(pub), &badSig, digest, ReasonInvalid},
	}
	for _, c := range cases {
		reason, err := c.ver.Verify(c.tok, c.digest)
		if reason != c.want || (c.want == "") != (err == nil) {
			t.Errorf("%s: reason %q err %v, want %q", c.name, reason, err, c.want)
		}
		if err != nil && !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: %v is not ErrInvalidToken", c.name, err)
		}
	}
	// A request for another key is refused by the issuer.
	req, _ := ParseTokenRequest(v.request)
	req.TruncatedTokenKeyID ^= 1
	if _, err := ik.Sign(req); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("sign with wrong truncated id: %v", err)
	}
}

func TestIssuanceRoundTrip(t *testing.T) {
	skS, _, _ := loadVectors(t)
	ik := vectorIssuer(t, skS)
	ch, err := TokenChallenge{TokenType: TokenTypeBlindRSA, IssuerName: "issuer.test", RedemptionContext: WindowContext([]byte("k"), time.Unix(3600, 0))}.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	req, pending, err := NewTokenRequest(nil, ik.Public, ch)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ik.Sign(req)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := pending.Finalize(resp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewVerifier(ik.Public).Verify(tok, ChallengeDigest(ch)); err != nil {
		t.Fatal(err)
	}
	// A response for another request does not finalize.
	resp.BlindSig[5] ^= 1
	if _, err := pending.Finalize(resp); err == nil {
		t.Fatal("tampered response finalized")
	}
}

func TestSPKIRefusesOtherEncodings(t *testing.T) {
	skS, pkS, _ := loadVectors(t)
	ik := vectorIssuer(t, skS)
	rsaEnc, err := x509.MarshalPKIXPublicKey(&ik.PrivateKey().PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string][]byte{
		"rsaEncryption": rsaEnc,
		"truncated":     pkS[:len(pkS)-1],
		"trailing":      append(append([]byte(nil), pkS...), 0),
		"empty":         nil,
	} {
		if _, err := ParsePublicKey(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	if KeyID(pkS) != ik.Public.ID {
		t.Fatal("key id")
	}
}

func TestChallengeLimits(t *testing.T) {
	bad := []TokenChallenge{
		{TokenType: 2},
		{TokenType: 2, IssuerName: "i", RedemptionContext: make([]byte, 31)},
		{TokenType: 2, IssuerName: strings.Repeat("i", MaxNameSize+1)},
	}
	for i, c := range bad {
		if _, err := c.Marshal(); !errors.Is(err, ErrMalformed) {
			t.Errorf("case %d: %v", i, err)
		}
	}
	for _, in := range [][]byte{{0, 2}, {0, 2, 0, 0, 0, 0, 0}, {0, 2, 0, 1, 'i', 1, 0, 0, 0}, {0, 2, 0, 1, 'i', 0, 0, 0, 9}} {
		if _, err := ParseTokenChallenge(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("%x: %v", in, err)
		}
	}
}

func TestHeaders(t *testing.T) {
	_, pkS, vs := loadVectors(t)
	auth := FormatAuthorization(vs[0].token)
	if len(auth) != 493 {
		t.Errorf("Authorization is %d bytes, want 493", len(auth))
	}
	got, err := ParseAuthorization(auth)
	if err != nil || !bytes.Equal(got, vs[0].token) {
		t.Fatalf("round trip: %v", err)
	}
	// Case-insensitive scheme, padding, spaces.
	if _, err := ParseAuthorization(`privatetoken   token = "` + strings.TrimPrefix(auth, `PrivateToken token="`)); err != nil {
		t.Fatalf("lenient form: %v", err)
	}
	for _, in := range []string{"", "Bearer abc", `PrivateToken`, `PrivateToken token="x`, `PrivateToken token="@@"`, `PrivateToken token=a, token=b`, `PrivateToken token="a" x`, strings.Repeat("A", MaxHeaderSize+1)} {
		if _, err := ParseAuthorization(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("%.40q: %v", in, err)
		}
	}
	c := Challenge{TokenChallenge: vs[0].challenge, TokenKey: pkS, MaxAge: 60}
	pc, err := ParseChallenge(FormatChallenge(c))
	if err != nil || !bytes.Equal(pc.TokenChallenge, c.TokenChallenge) || !bytes.Equal(pc.TokenKey, pkS) || pc.MaxAge != 60 {
		t.Fatalf("challenge round trip: %+v %v", pc, err)
	}
	c.MaxAge = -1
	if pc, _ := ParseChallenge(FormatChallenge(c)); pc.MaxAge != -1 {
		t.Fatal("absent max-age")
	}
}

func TestDirectory(t *testing.T) {
	_, pkS, _ := loadVectors(t)
	pub, _ := NewPublicKey(pkS)
	d := Directory{IssuerRequestURI: "/token-request", TokenKeys: []DirectoryKey{DirectoryKeyFor(pub, 1700000000), {TokenType: 5, TokenKey: "AA"}}}
	enc, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	pd, err := ParseDirectory(enc)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := pd.PublicKeys()
	if err != nil || len(keys) != 1 || keys[0].ID != pub.ID {
		t.Fatalf("keys: %v %v", keys, err)
	}
	for _, in := range []string{`{}`, `{"issuer-request-uri":"/r","token-keys":[{"token-type":2}]}`, `{"issuer-request-uri":"/r"} {}`, `[`} {
		if _, err := ParseDirectory([]byte(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", in, err)
		}
	}
}

func TestWindowContext(t *testing.T) {
	k := []byte("key")
	a := WindowContext(k, WindowStart(time.Unix(7200+5, 0), time.Hour))
	b := WindowContext(k, WindowStart(time.Unix(7200+3599, 0), time.Hour))
	c := WindowContext(k, WindowStart(time.Unix(7200+3600, 0), time.Hour))
	if !bytes.Equal(a, b) || bytes.Equal(a, c) || len(a) != RedemptionContextSize {
		t.Fatal("window contexts")
	}
}
