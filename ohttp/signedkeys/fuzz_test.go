package signedkeys_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/veil-telemetry/veil/ohttp/signedkeys"
)

// FuzzParse: no panic; a rejected input yields a *FormatError; an accepted
// one re-encodes to the same bytes (one encoding per document), and
// verifying it against the known pins gives a typed answer.
func FuzzParse(f *testing.F) {
	v := loadVectors(f)
	one, two := v.hex(f, "signed_one"), v.hex(f, "signed_two")
	f.Add(one)
	f.Add(two)
	f.Add(one[:len(one)-1])
	f.Add(append(bytes.Clone(two), 0))
	f.Add([]byte{1, 0, 0, 0, 1, 0, 1, 0x09, 0x04, 0, 1, 0xaa, 0, 1, 0xbb})
	p1, p2 := v.pin(f, "pin1"), v.pin(f, "pin2")
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := signedkeys.Parse(b)
		if err != nil {
			var fe *signedkeys.FormatError
			if d != nil || !errors.As(err, &fe) {
				t.Fatalf("rejected with %T %v and a document %v", err, err, d)
			}
			return
		}
		again, err := d.MarshalBinary()
		if err != nil {
			t.Fatalf("accepted document does not marshal: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("round trip: %x, want %x", again, b)
		}
		for _, p := range []signedkeys.Pin{p1, p2} {
			keys, err := signedkeys.Verify(b, p)
			switch {
			case err == nil:
				if !bytes.Equal(keys, d.Keys) {
					t.Fatalf("Verify returned %x, not the signed key document", keys)
				}
			case !errors.Is(err, signedkeys.ErrNotSigned) && !errors.Is(err, signedkeys.ErrBadSignature):
				t.Fatalf("Verify: untyped %T %v", err, err)
			}
		}
	})
}

// FuzzParsePin: no panic; an accepted pin prints as its input.
func FuzzParsePin(f *testing.F) {
	v := loadVectors(f)
	f.Add(v["pin1"])
	f.Add(v["pin2"])
	f.Add(signedkeys.PinPrefix)
	f.Add(v["pin1"] + "=")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := signedkeys.ParsePin(s)
		if err != nil {
			if !errors.Is(err, signedkeys.ErrInvalidPin) {
				t.Fatalf("untyped error %T %v", err, err)
			}
			return
		}
		if p.String() != s {
			t.Fatalf("ParsePin(%q) prints as %q", s, p)
		}
	})
}
