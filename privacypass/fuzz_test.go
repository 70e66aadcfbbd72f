package privacypass

import (
	"bytes"
	"errors"
	"testing"
)

// Every decoder: no panic; accepted input re-encodes to itself; refused
// input is a typed error (STYLE rule 17). Seeds come from the vectors.

func fuzzSeeds(f *testing.F, pick func(v rfcVector) []byte) {
	_, _, vs := loadVectors(f)
	for _, v := range vs {
		in := pick(v)
		f.Add(in)
		f.Add(in[:len(in)/2])
	}
	f.Add([]byte{})
}

func typed(t *testing.T, err error) {
	if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) {
		t.Fatalf("untyped error %v", err)
	}
}

func FuzzTokenChallenge(f *testing.F) {
	fuzzSeeds(f, func(v rfcVector) []byte { return v.challenge })
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := ParseTokenChallenge(in)
		if err != nil {
			typed(t, err)
			return
		}
		out, err := c.Marshal()
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

func FuzzToken(f *testing.F) {
	fuzzSeeds(f, func(v rfcVector) []byte { return v.token })
	f.Fuzz(func(t *testing.T, in []byte) {
		tok, err := ParseToken(in)
		if err != nil {
			typed(t, err)
			return
		}
		if !bytes.Equal(tok.Marshal(), in) {
			t.Fatal("round trip")
		}
	})
}

func FuzzTokenRequest(f *testing.F) {
	fuzzSeeds(f, func(v rfcVector) []byte { return v.request })
	f.Fuzz(func(t *testing.T, in []byte) {
		rs, err := ParseTokenRequests(in)
		if err != nil {
			typed(t, err)
			return
		}
		var out []byte
		for _, r := range rs {
			out = append(out, r.Marshal()...)
		}
		if !bytes.Equal(out, in) {
			t.Fatal("round trip")
		}
	})
}

func FuzzTokenResponse(f *testing.F) {
	fuzzSeeds(f, func(v rfcVector) []byte { return v.response })
	f.Fuzz(func(t *testing.T, in []byte) {
		rs, err := ParseTokenResponses(in)
		if err != nil {
			typed(t, err)
			return
		}
		var out []byte
		for _, r := range rs {
			out = append(out, r.Marshal()...)
		}
		if !bytes.Equal(out, in) {
			t.Fatal("round trip")
		}
	})
}

func FuzzPublicKey(f *testing.F) {
	_, pkS, _ := loadVectors(f)
	f.Add(pkS)
	f.Add(pkS[:40])
	f.Fuzz(func(t *testing.T, in []byte) {
		pk, err := ParsePublicKey(in)
		if err != nil {
			typed(t, err)
			return
		}
		out, err := MarshalPublicKey(pk)
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

func FuzzDirectory(f *testing.F) {
	_, pkS, _ := loadVectors(f)
	pub, _ := NewPublicKey(pkS)
	d, _ := (&Directory{IssuerRequestURI: "/r", TokenKeys: []DirectoryKey{DirectoryKeyFor(pub, 1)}}).Marshal()
	f.Add(d)
	f.Add([]byte(`{"issuer-request-uri":"x","token-keys":[]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		d, err := ParseDirectory(in)
		if err != nil {
			typed(t, err)
			return
		}
		if _, err := d.PublicKeys(); err != nil {
			typed(t, err)
		}
	})
}

func FuzzAuthorization(f *testing.F) {
	_, pkS, vs := loadVectors(f)
	for _, v := range vs {
		f.Add(FormatAuthorization(v.token))
		f.Add(FormatChallenge(Challenge{TokenChallenge: v.challenge, TokenKey: pkS, MaxAge: 10}))
	}
	f.Add(`PrivateToken a=b, c="d"`)
	f.Fuzz(func(t *testing.T, in string) {
		if tok, err := ParseAuthorization(in); err != nil {
			typed(t, err)
		} else if _, err := ParseAuthorization(FormatAuthorization(tok)); err != nil {
			t.Fatalf("re-encoded Authorization: %v", err)
		}
		if c, err := ParseChallenge(in); err != nil {
			typed(t, err)
		} else if _, err := ParseChallenge(FormatChallenge(c)); err != nil {
			t.Fatalf("re-encoded challenge: %v", err)
		}
	})
}
