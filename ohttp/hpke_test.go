package ohttp

import (
	"bytes"
	"math"
	"testing"
	"time"

	"github.com/cloudflare/circl/hpke"
)

// TestKEMSizes checks the static table of suite.go against circl.
func TestKEMSizes(t *testing.T) {
	for _, id := range allKEMs {
		p, ok := lookupKEM(id)
		if !ok {
			t.Fatalf("%v not in table", id)
		}
		s := hpke.KEM(id).Scheme()
		if p.npk != s.PublicKeySize() || p.nenc != s.CiphertextSize() {
			t.Errorf("%v: table Npk=%d Nenc=%d, circl %d %d", id, p.npk, p.nenc, s.PublicKeySize(), s.CiphertextSize())
		}
	}
	for _, s := range allSuites {
		p, _ := lookupAEAD(s.AEAD)
		a := hpke.AEAD(s.AEAD)
		if uint(p.nk) != a.KeySize() || uint(p.nn) != a.NonceSize() || a.CipherLen(0) != aeadTagSize {
			t.Errorf("%v: table differs from circl", s.AEAD)
		}
		h, _ := kdfHash(s.KDF)
		if h().Size() != hpke.KDF(s.KDF).ExtractSize() {
			t.Errorf("%v: hash size differs from circl", s.KDF)
		}
	}
}

var benchKEMs = []struct {
	name string
	kem  KEMID
}{{"X25519", KEMX25519}, {"XWing", KEMXWing}}

const benchMessageSize = 2048

type benchFixture struct {
	key    *PrivateKey
	encReq []byte
	msg    []byte
}

func newBenchFixture(b *testing.B, kem KEMID) benchFixture {
	b.Helper()
	k, err := GenerateKey(&countingReader{}, 1, kem, []SymmetricSuite{DefaultSuite})
	if err != nil {
		b.Fatal(err)
	}
	msg := bytes.Repeat([]byte{0x5a}, benchMessageSize)
	encReq, _, err := EncapsulateRequest(&countingReader{n: 99}, &k.Config, DefaultSuite, msg)
	if err != nil {
		b.Fatal(err)
	}
	return benchFixture{k, encReq, msg}
}

// floorOp returns one bare circl receiver Setup+Open of f's request.
func floorOp(b *testing.B, f benchFixture, k KEMID) func() {
	sk, err := hpke.KEM(k).Scheme().UnmarshalBinaryPrivateKey(f.key.Secret())
	if err != nil {
		b.Fatal(err)
	}
	suite := hpke.NewSuite(hpke.KEM(k), hpke.KDF_HKDF_SHA256, hpke.AEAD_AES128GCM)
	info := requestInfo(1, k, DefaultSuite)
	p, _ := lookupKEM(k)
	enc := f.encReq[requestHeaderLen : requestHeaderLen+p.nenc]
	ct := f.encReq[requestHeaderLen+p.nenc:]
	return func() {
		r, err := suite.NewReceiver(sk, info)
		if err != nil {
			b.Fatal(err)
		}
		o, err := r.Setup(enc)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := o.Open(ct, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHPKEFloor is the bare circl cost the gateway cannot avoid:
// receiver setup (KEM decapsulation and key schedule) and one Open of a
// message of the benchmark size.
func BenchmarkHPKEFloor(b *testing.B) {
	for _, bk := range benchKEMs {
		b.Run(bk.name, func(b *testing.B) {
			f := newBenchFixture(b, bk.kem)
			op := floorOp(b, f, bk.kem)
			b.SetBytes(benchMessageSize)
			b.ReportAllocs()
			for b.Loop() {
				op()
			}
		})
	}
}

// BenchmarkGatewayOverhead alternates the floor with the gateway's whole
// OHTTP work (parse, decapsulate, encapsulate a response of the same size)
// in one loop, so machine load affects both alike. It reports the fastest
// single run of each (robust to preemption on a busy machine) and
// (gateway - floor) / floor from those as overhead/floor. The goal for
// X25519 is at most 0.4.
func BenchmarkGatewayOverhead(b *testing.B) {
	for _, bk := range benchKEMs {
		b.Run(bk.name, func(b *testing.B) {
			f := newBenchFixture(b, bk.kem)
			op := floorOp(b, f, bk.kem)
			rnd := &countingReader{}
			floor, gateway := time.Duration(math.MaxInt64), time.Duration(math.MaxInt64)
			for b.Loop() {
				t0 := time.Now()
				op()
				t1 := time.Now()
				req, err := ParseEncapsulatedRequest(f.encReq)
				if err != nil {
					b.Fatal(err)
				}
				msg, sc, err := f.key.DecapsulateRequest(req)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := sc.EncapsulateResponse(rnd, msg); err != nil {
					b.Fatal(err)
				}
				t2 := time.Now()
				floor = min(floor, t1.Sub(t0))
				gateway = min(gateway, t2.Sub(t1))
			}
			b.ReportMetric(float64(floor.Nanoseconds()), "min-floor-ns")
			b.ReportMetric(float64(gateway.Nanoseconds()), "min-gateway-ns")
			b.ReportMetric(float64(gateway-floor)/float64(floor), "overhead/floor")
		})
	}
}

// BenchmarkDecapsulateRequest is the gateway's request side: parse and
// decapsulate.
func BenchmarkDecapsulateRequest(b *testing.B) {
	for _, bk := range benchKEMs {
		b.Run(bk.name, func(b *testing.B) {
			f := newBenchFixture(b, bk.kem)
			b.SetBytes(benchMessageSize)
			b.ReportAllocs()
			for b.Loop() {
				req, err := ParseEncapsulatedRequest(f.encReq)
				if err != nil {
					b.Fatal(err)
				}
				if _, _, err := f.key.DecapsulateRequest(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncapsulateResponse is the gateway's response side for a
// response of the benchmark size.
func BenchmarkEncapsulateResponse(b *testing.B) {
	for _, bk := range benchKEMs {
		b.Run(bk.name, func(b *testing.B) {
			f := newBenchFixture(b, bk.kem)
			req, err := ParseEncapsulatedRequest(f.encReq)
			if err != nil {
				b.Fatal(err)
			}
			_, sc, err := f.key.DecapsulateRequest(req)
			if err != nil {
				b.Fatal(err)
			}
			rnd := &countingReader{}
			b.SetBytes(benchMessageSize)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := sc.EncapsulateResponse(rnd, f.msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
