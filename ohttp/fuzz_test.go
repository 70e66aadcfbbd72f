package ohttp

import (
	"bytes"
	"errors"
	"testing"
)

// typedError reports whether err is one of the package's documented errors.
func typedError(err error) bool {
	var fe *FormatError
	var ue *UnsupportedError
	return errors.As(err, &fe) || errors.As(err, &ue) ||
		errors.Is(err, ErrDecrypt) || errors.Is(err, ErrKeyMismatch) || errors.Is(err, ErrSuiteNotOffered)
}

func FuzzParseKeyConfigs(f *testing.F) {
	v := loadVector(f)
	one := v.get(f, "key_configs")
	f.Add(one)
	f.Add(append(bytes.Clone(one), one...))
	f.Add(append([]byte{0, 5, 2, 0x99, 0x99, 0xaa, 0xbb}, one...))
	for _, kem := range allKEMs {
		k, err := GenerateKey(&countingReader{}, 4, kem, allSuites[:2])
		if err != nil {
			f.Fatal(err)
		}
		b, err := MarshalKeyConfigs([]*KeyConfig{&k.Config})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cfgs, skipped, err := parseKeyConfigs(b)
		if err != nil {
			if cfgs != nil || !typedError(err) {
				t.Fatalf("rejected with %T %v and %d configs", err, err, len(cfgs))
			}
			return
		}
		if len(cfgs) == 0 {
			return
		}
		again, err := MarshalKeyConfigs(cfgs)
		if err != nil {
			t.Fatalf("accepted configs do not marshal: %v", err)
		}
		if skipped == 0 && !bytes.Equal(again, b) {
			t.Fatalf("round trip: %x, want %x", again, b)
		}
		cfgs2, skipped2, err := parseKeyConfigs(again)
		if err != nil || skipped2 != 0 || len(cfgs2) != len(cfgs) {
			t.Fatalf("re-marshalled list: %d configs, %d skipped, %v", len(cfgs2), skipped2, err)
		}
		// Single configs round-trip too.
		for _, c := range cfgs {
			one, err := c.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			c2, err := ParseKeyConfig(one)
			if err != nil {
				t.Fatal(err)
			}
			two, _ := c2.MarshalBinary()
			if !bytes.Equal(one, two) {
				t.Fatal("single config round trip")
			}
		}
	})
}

func FuzzParseEncapsulatedRequest(f *testing.F) {
	v := loadVector(f)
	k := vectorKey(f, v)
	f.Add(v.get(f, "encapsulated_request"))
	for _, s := range k.Config.Suites {
		b, _, err := EncapsulateRequest(&countingReader{}, &k.Config, s, []byte("seed"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, kem := range allKEMs[1:] {
		other, err := GenerateKey(&countingReader{}, 1, kem, []SymmetricSuite{DefaultSuite})
		if err != nil {
			f.Fatal(err)
		}
		b, _, err := EncapsulateRequest(&countingReader{}, &other.Config, DefaultSuite, nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := ParseEncapsulatedRequest(b)
		if err != nil {
			if req != nil || !typedError(err) {
				t.Fatalf("rejected with %T %v", err, err)
			}
			return
		}
		again, err := req.MarshalBinary()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("round trip: %x, %v", again, err)
		}
		msg, sc, err := k.DecapsulateRequest(req)
		if err != nil {
			if !typedError(err) {
				t.Fatalf("decapsulate: %T %v", err, err)
			}
			return
		}
		// Only a genuine request decrypts; its context must answer.
		if _, err := sc.EncapsulateResponse(&countingReader{}, msg); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzDecapsulateResponse(f *testing.F) {
	v := loadVector(f)
	enc, secret := v.get(f, "enc"), v.get(f, "exported_secret")
	encRes := v.get(f, "encapsulated_response")
	f.Add(encRes)
	f.Add(encRes[:len(encRes)-1])
	f.Add(encRes[:16+16])
	// The gateway side of the same exchange, to re-encapsulate what the
	// client accepts.
	req, err := ParseEncapsulatedRequest(v.get(f, "encapsulated_request"))
	if err != nil {
		f.Fatal(err)
	}
	_, sc, err := vectorKey(f, v).DecapsulateRequest(req)
	if err != nil {
		f.Fatal(err)
	}
	for _, n := range []byte{0, 1, 200} {
		b, err := sc.EncapsulateResponse(&countingReader{n: n}, bytes.Repeat([]byte{n}, int(n)))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cc := newClientContext(DefaultSuite, enc, secret)
		msg, err := cc.DecapsulateResponse(b)
		if err != nil {
			if msg != nil || !typedError(err) {
				t.Fatalf("rejected with %T %v", err, err)
			}
			return
		}
		again, err := sc.EncapsulateResponse(bytes.NewReader(b[:16]), msg)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("round trip: %x, %v", again, err)
		}
	})
}
