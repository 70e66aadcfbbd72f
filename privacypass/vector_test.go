package privacypass

import (
	"bufio"
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"os"
	"strings"
	"testing"
)

// rfcVector is one RFC 9578 Appendix A.2 vector (type 0x0002, 2048-bit).
type rfcVector struct {
	challenge, nonce, blind, salt, request, response, token []byte
}

// loadVectors reads testdata/rfc9578-type2.txt: the shared skS and pkS,
// then five vectors separated by "// Test vector N" lines.
func loadVectors(t testing.TB) (skS, pkS []byte, vs []rfcVector) {
	t.Helper()
	f, err := os.Open("testdata/rfc9578-type2.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	vals := map[string]*strings.Builder{}
	var order []map[string]*strings.Builder
	cur := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
			continue
		case strings.HasPrefix(line, "// Test vector"):
			order = append(order, vals)
			vals = map[string]*strings.Builder{}
			cur = ""
			continue
		}
		if name, rest, ok := strings.Cut(line, ":"); ok {
			cur = name
			vals[cur] = &strings.Builder{}
			line = strings.TrimSpace(rest)
		}
		if cur == "" {
			t.Fatalf("value line before a name: %q", line)
		}
		vals[cur].WriteString(line)
	}
	order = append(order, vals)
	dec := func(m map[string]*strings.Builder, k string) []byte {
		b, ok := m[k]
		if !ok {
			t.Fatalf("vector lacks %s", k)
		}
		out, err := hex.DecodeString(b.String())
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		return out
	}
	skS, pkS = dec(order[0], "skS"), dec(order[0], "pkS")
	for _, m := range order[1:] {
		vs = append(vs, rfcVector{
			challenge: dec(m, "token_challenge"), nonce: dec(m, "nonce"),
			blind: dec(m, "blind"), salt: dec(m, "salt"),
			request: dec(m, "token_request"), response: dec(m, "token_response"),
			token: dec(m, "token"),
		})
	}
	return skS, pkS, vs
}

func vectorIssuer(t testing.TB, skS []byte) *IssuerKey {
	t.Helper()
	blk, _ := pem.Decode(skS)
	if blk == nil {
		t.Fatal("skS is not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	ik, err := NewIssuerKey(k.(*rsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	return ik
}

func TestRFC9578Type2Vectors(t *testing.T) {
	skS, pkS, vs := loadVectors(t)
	if len(vs) != 5 {
		t.Fatalf("%d vectors, want 5", len(vs))
	}
	ik := vectorIssuer(t, skS)
	if !bytes.Equal(ik.Public.SPKI, pkS) {
		t.Fatalf("SPKI\n got %x\nwant %x", ik.Public.SPKI, pkS)
	}
	pub, err := NewPublicKey(pkS)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vs {
		c, err := ParseTokenChallenge(v.challenge)
		if err != nil {
			t.Fatalf("vector %d: challenge: %v", i+1, err)
		}
		if enc, err := c.Marshal(); err != nil || !bytes.Equal(enc, v.challenge) {
			t.Fatalf("vector %d: challenge does not round-trip: %v", i+1, err)
		}
		rnd := bytes.NewReader(bytes.Join([][]byte{v.nonce, v.salt, v.blind}, nil))
		req, pending, err := NewTokenRequest(rnd, pub, v.challenge)
		if err != nil {
			t.Fatalf("vector %d: request: %v", i+1, err)
		}
		if got := req.Marshal(); !bytes.Equal(got, v.request) {
			t.Fatalf("vector %d: TokenRequest\n got %x\nwant %x", i+1, got, v.request)
		}
		pr, err := ParseTokenRequest(v.request)
		if err != nil || !bytes.Equal(pr.Marshal(), v.request) {
			t.Fatalf("vector %d: TokenRequest does not round-trip: %v", i+1, err)
		}
		resp, err := ik.Sign(pr)
		if err != nil {
			t.Fatalf("vector %d: sign: %v", i+1, err)
		}
		if got := resp.Marshal(); !bytes.Equal(got, v.response) {
			t.Fatalf("vector %d: TokenResponse\n got %x\nwant %x", i+1, got, v.response)
		}
		presp, err := ParseTokenResponse(v.response)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := pending.Finalize(presp)
		if err != nil {
			t.Fatalf("vector %d: finalize: %v", i+1, err)
		}
		if got := tok.Marshal(); !bytes.Equal(got, v.token) {
			t.Fatalf("vector %d: Token\n got %x\nwant %x", i+1, got, v.token)
		}
		pt, err := ParseToken(v.token)
		if err != nil || !bytes.Equal(pt.Marshal(), v.token) {
			t.Fatalf("vector %d: Token does not round-trip: %v", i+1, err)
		}
		ver := NewVerifier(pub)
		if reason, err := ver.Verify(pt, ChallengeDigest(v.challenge)); err != nil {
			t.Fatalf("vector %d: verify: %s %v", i+1, reason, err)
		}
	}
}
