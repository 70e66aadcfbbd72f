package gateway_test

import (
	"bytes"
	"encoding/binary"
	"github.com/veil-telemetry/veil/internal/keystate"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/cloudflare/circl/hpke"

	"github.com/veil-telemetry/veil/bhttp"
	"github.com/veil-telemetry/veil/internal/gateway"
	"github.com/veil-telemetry/veil/ohttp"
)

// discardWriter is a minimal http.ResponseWriter, so the benchmark measures
// the gateway rather than a recorder.
type discardWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.status = code }
func (w *discardWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

// benchInner is a realistic inner request: a small batch of events.
func benchInner() *bhttp.Request {
	return &bhttp.Request{
		Method: "POST", Scheme: "https", Authority: "collector.example", Path: "/v1/events",
		Header: []bhttp.Field{
			{Name: "content-type", Value: "application/json"},
			{Name: "date", Value: testNow.Format(http.TimeFormat)},
		},
		Content: []byte(`{"batch_id":"3q2-7wAAAAAAAAAAAAAAAA","events":[{"schema":"app.launch","version":1,"fields":{"os":"ios","cold_start_ms":420}}]}`),
	}
}

// BenchmarkGateway measures, per KEM, the gateway's whole ServeHTTP
// (read, parse, key lookup, decapsulate, Binary HTTP decode, Date check,
// dispatch to a no-op handler, Binary HTTP encode, encapsulate, write)
// next to the floor: bare circl HPKE receiver Setup+Open of the same
// message. The gateway sub-benchmark reports its overhead above the floor
// as a multiple of the floor ("overhead/floor"; the goal for X25519 is at
// most 0.4).
func BenchmarkGateway(b *testing.B) {
	for _, kc := range []struct {
		name string
		kem  ohttp.KEMID
		ckem hpke.KEM
	}{
		{"X25519", ohttp.KEMX25519, hpke.KEM_X25519_HKDF_SHA256},
		{"X-Wing", ohttp.KEMXWing, hpke.KEM_XWING},
	} {
		msg, err := benchInner().Marshal()
		if err != nil {
			b.Fatal(err)
		}
		b.Run(kc.name+"/floor", func(b *testing.B) {
			floor := newFloor(b, kc.ckem, msg)
			b.ReportAllocs()
			for b.Loop() {
				floor()
			}
		})
		b.Run(kc.name+"/gateway", func(b *testing.B) {
			gw := newGatewayOp(b, kc.kem, msg)
			b.ReportAllocs()
			for b.Loop() {
				gw()
			}
		})
		// On a shared machine two separate runs see different load; this
		// one alternates floor and gateway operations and times each, so
		// the ratio compares like with like. ns/op is their sum.
		b.Run(kc.name+"/ratio", func(b *testing.B) {
			floor := newFloor(b, kc.ckem, msg)
			gw := newGatewayOp(b, kc.kem, msg)
			var tf, tg time.Duration
			for b.Loop() {
				t0 := time.Now()
				floor()
				t1 := time.Now()
				gw()
				tg += time.Since(t1)
				tf += t1.Sub(t0)
			}
			n := float64(b.N)
			b.ReportMetric(float64(tf.Nanoseconds())/n, "floor-ns/op")
			b.ReportMetric(float64(tg.Nanoseconds())/n, "gateway-ns/op")
			b.ReportMetric(float64(tg-tf)/float64(tf), "overhead/floor")
		})
	}
}

// newFloor returns one bare circl HPKE receiver Setup+Open of msg.
func newFloor(b *testing.B, kemID hpke.KEM, msg []byte) func() {
	suite := hpke.NewSuite(kemID, hpke.KDF_HKDF_SHA256, hpke.AEAD_AES128GCM)
	pk, sk, err := kemID.Scheme().GenerateKeyPair()
	if err != nil {
		b.Fatal(err)
	}
	// RFC 9458 §4.3 info: "message/bhttp request", 0, then the header.
	info := append([]byte("message/bhttp request\x00"), 1)
	info = binary.BigEndian.AppendUint16(info, uint16(kemID))
	info = binary.BigEndian.AppendUint16(info, uint16(hpke.KDF_HKDF_SHA256))
	info = binary.BigEndian.AppendUint16(info, uint16(hpke.AEAD_AES128GCM))
	sender, err := suite.NewSender(pk, info)
	if err != nil {
		b.Fatal(err)
	}
	enc, sealer, err := sender.Setup(nil)
	if err != nil {
		b.Fatal(err)
	}
	ct, err := sealer.Seal(msg, nil)
	if err != nil {
		b.Fatal(err)
	}
	return func() {
		r, err := suite.NewReceiver(sk, info)
		if err != nil {
			b.Fatal(err)
		}
		opener, err := r.Setup(enc)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := opener.Open(ct, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// newGatewayOp returns one full Gateway.ServeHTTP of msg, encapsulated.
func newGatewayOp(b *testing.B, kem ohttp.KEMID, msg []byte) func() {
	key, err := ohttp.GenerateKey(nil, 1, kem, []ohttp.SymmetricSuite{ohttp.DefaultSuite})
	if err != nil {
		b.Fatal(err)
	}
	g, err := gateway.New(gateway.Config{
		Keys:  &memStore{keys: []gateway.Key{{Private: key, State: keystate.Current}}},
		Inner: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}),
		Now:   func() time.Time { return testNow },
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := g.Refresh(b.Context()); err != nil {
		b.Fatal(err)
	}
	encReq, _, err := ohttp.EncapsulateRequest(nil, &key.Config, ohttp.DefaultSuite, msg)
	if err != nil {
		b.Fatal(err)
	}
	req, err := http.NewRequest("POST", "http://gateway.example/gateway", nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Content-Type", ohttp.RequestMediaType)
	req.ContentLength = int64(len(encReq))
	body := bytes.NewReader(encReq)
	rc := io.NopCloser(body)
	w := &discardWriter{h: make(http.Header)}
	return func() {
		body.Reset(encReq)
		req.Body = rc
		clear(w.h)
		w.status = 0
		g.ServeHTTP(w, req)
		if w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
	}
}

// BenchmarkGatewayShed measures what a request refused under overload
// costs the gateway: every slot is held (MaxConcurrent 1, its one request
// blocked in the inner handler), so each ServeHTTP answers 503 with
// Retry-After before reading the body. Compare its ns/op with
// BenchmarkGateway's floor: shedding must cost almost nothing.
func BenchmarkGatewayShed(b *testing.B) {
	key, err := ohttp.GenerateKey(nil, 1, ohttp.KEMX25519, []ohttp.SymmetricSuite{ohttp.DefaultSuite})
	if err != nil {
		b.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	g, err := gateway.New(gateway.Config{
		Keys: &memStore{keys: []gateway.Key{{Private: key, State: keystate.Current}}},
		Inner: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
			close(entered)
			<-release
		}),
		Now:           func() time.Time { return testNow },
		MaxConcurrent: 1,
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := g.Refresh(b.Context()); err != nil {
		b.Fatal(err)
	}
	msg, err := benchInner().Marshal()
	if err != nil {
		b.Fatal(err)
	}
	encReq, _, err := ohttp.EncapsulateRequest(nil, &key.Config, ohttp.DefaultSuite, msg)
	if err != nil {
		b.Fatal(err)
	}
	newReq := func() *http.Request {
		req, err := http.NewRequest("POST", "http://gateway.example/gateway", bytes.NewReader(encReq))
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Content-Type", ohttp.RequestMediaType)
		return req
	}
	held := make(chan struct{})
	go func() {
		defer close(held)
		g.ServeHTTP(&discardWriter{h: make(http.Header)}, newReq())
	}()
	<-entered
	defer func() { close(release); <-held }()
	req := newReq()
	w := &discardWriter{h: make(http.Header)}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		w.status = 0
		g.ServeHTTP(w, req)
		if w.status != http.StatusServiceUnavailable {
			b.Fatalf("status %d, want 503", w.status)
		}
	}
}
