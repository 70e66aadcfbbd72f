package ohttp

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hpke"
	"testing"
)

// TestCrossCheckStdHPKE runs both directions of OHTTP against Go's
// independent crypto/hpke, for the vector's X25519 key and an X-Wing key.
func TestCrossCheckStdHPKE(t *testing.T) {
	v := loadVector(t)
	xwing, err := GenerateKey(nil, 2, KEMXWing, allSuites)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []*PrivateKey{vectorKey(t, v), xwing} {
		t.Run(k.Config.KEM.String(), func(t *testing.T) { crossCheckStdHPKE(t, k) })
	}
}

func crossCheckStdHPKE(t *testing.T, k *PrivateKey) {
	kem, err := hpke.NewKEM(uint16(k.Config.KEM))
	if err != nil {
		t.Fatal(err)
	}
	stdSK, err := kem.NewPrivateKey(k.Secret())
	if err != nil {
		t.Fatal(err)
	}
	if pk := stdSK.PublicKey().Bytes(); !bytes.Equal(pk, k.Config.PublicKey) {
		t.Fatalf("crypto/hpke derives public key %x", pk)
	}
	msg := []byte("cross-check request")
	answer := []byte("cross-check response")

	for _, s := range k.Config.Suites {
		kdf, err := hpke.NewKDF(uint16(s.KDF))
		if err != nil {
			t.Fatal(err)
		}
		aead, err := hpke.NewAEAD(uint16(s.AEAD))
		if err != nil {
			t.Fatal(err)
		}
		info := requestInfo(k.Config.KeyID, k.Config.KEM, s)
		p, _ := lookupAEAD(s.AEAD)
		h, _ := kdfHash(s.KDF)

		// crypto/hpke client → ohttp gateway → crypto/hpke client.
		enc, sender, err := hpke.NewSender(stdSK.PublicKey(), kdf, aead, info)
		if err != nil {
			t.Fatal(err)
		}
		ct, err := sender.Seal(nil, msg)
		if err != nil {
			t.Fatal(err)
		}
		encReq := append(append(appendRequestHeader(nil, k.Config.KeyID, k.Config.KEM, s), enc...), ct...)
		req, err := ParseEncapsulatedRequest(encReq)
		if err != nil {
			t.Fatal(err)
		}
		got, sc, err := k.DecapsulateRequest(req)
		if err != nil {
			t.Fatalf("%v: %v", s, err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("%v: request differs", s)
		}
		encRes, err := sc.EncapsulateResponse(nil, answer)
		if err != nil {
			t.Fatal(err)
		}
		secret, err := sender.Export(responseExportLabel, p.responseNonceSize())
		if err != nil {
			t.Fatal(err)
		}
		n := p.responseNonceSize()
		prk, err := hkdf.Extract(h, secret, append(bytes.Clone(enc), encRes[:n]...))
		if err != nil {
			t.Fatal(err)
		}
		key, _ := hkdf.Expand(h, prk, "key", p.nk)
		nonce, _ := hkdf.Expand(h, prk, "nonce", p.nn)
		a, err := newAEAD(s.AEAD, key)
		if err != nil {
			t.Fatal(err)
		}
		res, err := a.Open(nil, nonce, encRes[n:], nil)
		if err != nil || !bytes.Equal(res, answer) {
			t.Fatalf("%v: response: %q, %v", s, res, err)
		}

		// ohttp client → crypto/hpke gateway.
		encReq, cc, err := EncapsulateRequest(nil, &k.Config, s, msg)
		if err != nil {
			t.Fatal(err)
		}
		req, err = ParseEncapsulatedRequest(encReq)
		if err != nil {
			t.Fatal(err)
		}
		recipient, err := hpke.NewRecipient(req.Enc, stdSK, kdf, aead, info)
		if err != nil {
			t.Fatal(err)
		}
		got, err = recipient.Open(nil, req.Ciphertext)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("%v: crypto/hpke Open: %q, %v", s, got, err)
		}
		stdSecret, err := recipient.Export(responseExportLabel, n)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(stdSecret, cc.rc.secret) {
			t.Fatalf("%v: exported secrets differ", s)
		}
	}
}
