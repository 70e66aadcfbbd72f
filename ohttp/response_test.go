package ohttp

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"testing"
)

// TestExpandOneBlock checks the single-block HKDF-Expand of response.go
// against crypto/hkdf for every KDF and AEAD size.
func TestExpandOneBlock(t *testing.T) {
	prk := bytes.Repeat([]byte{7}, 64)
	for _, s := range allSuites {
		h, _ := kdfHash(s.KDF)
		p, _ := lookupAEAD(s.AEAD)
		mac := hmac.New(h, prk)
		for _, c := range []struct {
			label string
			n     int
		}{{responseKeyLabel, p.nk}, {responseNonceLabel, p.nn}} {
			got := expandOneBlock(mac, c.label, c.n)
			want, err := hkdf.Expand(h, prk, c.label, c.n)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%v %s: %x, want %x", s, c.label, got, want)
			}
		}
	}
}
