package ohttp

import (
	"bytes"
	"sync"
	"testing"
)

// TestConcurrentDecapsulate shares one key between goroutines; run with
// -race it catches writes into the per-key info prefixes.
func TestConcurrentDecapsulate(t *testing.T) {
	k, err := GenerateKey(nil, 5, KEMX25519, allSuites)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			s := allSuites[g%len(allSuites)]
			msg := bytes.Repeat([]byte{byte(g)}, 100+g)
			for range 20 {
				encReq, cc, err := EncapsulateRequest(nil, &k.Config, s, msg)
				if err != nil {
					t.Error(err)
					return
				}
				req, err := ParseEncapsulatedRequest(encReq)
				if err != nil {
					t.Error(err)
					return
				}
				got, sc, err := k.DecapsulateRequest(req)
				if err != nil || !bytes.Equal(got, msg) {
					t.Errorf("decapsulate: %v", err)
					return
				}
				encRes, err := sc.EncapsulateResponse(nil, got)
				if err != nil {
					t.Error(err)
					return
				}
				if res, err := cc.DecapsulateResponse(encRes); err != nil || !bytes.Equal(res, msg) {
					t.Errorf("response: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, ks := range k.suites {
		if want := requestInfo(k.Config.KeyID, k.Config.KEM, ks.sym); !bytes.Equal(ks.info, want) {
			t.Fatalf("info prefix for %v changed", ks.sym)
		}
	}
}
