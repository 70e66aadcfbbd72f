package bench

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/veil-telemetry/veil/bhttp"
	"github.com/veil-telemetry/veil/internal/loadgen"
	"github.com/veil-telemetry/veil/ohttp"
)

// The forwarding baseline (--mode forward): a standalone OHTTP gateway,
// built from veil's own ohttp and bhttp codecs, that decapsulates each
// request and forwards the inner request over HTTP to a target that does
// nothing, on loopback, then encapsulates the target's answer — what a
// forwarding gateway such as privacy-gateway-server-go does. It exists to
// compare veil's durable ingest (--mode durable) with the cost of merely
// forwarding, in one run; it is not a product feature and nothing in veil
// serve reaches it. Both servers run in this process, on 127.0.0.1.

// forwardMaxBytes bounds an encapsulated request and a target's answer.
const forwardMaxBytes = 1 << 20

// forwarder is the forwarding gateway.
type forwarder struct {
	key    *ohttp.PrivateKey
	keys   []byte // application/ohttp-keys
	target string // the no-op target's base URL
	client *http.Client
}

func (f *forwarder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/ohttp-keys":
		w.Header().Set("Content-Type", ohttp.KeysMediaType)
		_, _ = w.Write(f.keys)
		return
	case r.Method != http.MethodPost || r.URL.Path != "/gateway":
		http.NotFound(w, r)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, forwardMaxBytes))
	if err != nil {
		http.Error(w, "body", http.StatusBadRequest)
		return
	}
	encReq, err := ohttp.ParseEncapsulatedRequest(body)
	if err != nil {
		http.Error(w, "request", http.StatusBadRequest)
		return
	}
	plain, sctx, err := f.key.DecapsulateRequest(encReq)
	if err != nil {
		http.Error(w, "decrypt", http.StatusBadRequest)
		return
	}
	inner, err := bhttp.UnmarshalRequest(plain)
	if err != nil {
		http.Error(w, "bhttp", http.StatusBadRequest)
		return
	}
	out, err := inner.HTTPRequest(r.Context())
	if err != nil {
		http.Error(w, "bhttp", http.StatusBadRequest)
		return
	}
	// The inner request goes to the target, whatever authority it named.
	out.URL.Scheme, out.URL.Host, out.Host = "http", f.target, f.target
	out.RequestURI = ""
	resp, err := f.client.Do(out)
	if err != nil {
		http.Error(w, "target", http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	br, err := bhttp.ResponseFromHTTP(resp, forwardMaxBytes)
	if err != nil {
		http.Error(w, "target", http.StatusBadGateway)
		return
	}
	msg, err := br.Marshal()
	if err != nil {
		http.Error(w, "bhttp", http.StatusInternalServerError)
		return
	}
	encRes, err := sctx.EncapsulateResponse(rand.Reader, msg)
	if err != nil {
		http.Error(w, "encrypt", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", ohttp.ResponseMediaType)
	_, _ = w.Write(encRes)
}

// serveLoopback serves h on a free 127.0.0.1 port until the returned stop
// is called.
func serveLoopback(h http.Handler) (addr string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Println("bench: forward:", err)
		}
	}()
	return ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}, nil
}

// startForward starts the no-op target and the forwarding gateway in this
// process, with a fresh key of --suite's KEM.
func (s *setup) startForward(o Options) error {
	kem, err := suiteKEM(o.Suite)
	if err != nil {
		return err
	}
	key, err := ohttp.GenerateKey(rand.Reader, 1, kem, []ohttp.SymmetricSuite{ohttp.DefaultSuite})
	if err != nil {
		return err
	}
	cfg := key.Config
	keys, err := ohttp.MarshalKeyConfigs([]*ohttp.KeyConfig{&cfg})
	if err != nil {
		return err
	}
	targetAddr, stopTarget, err := serveLoopback(NoopInner)
	if err != nil {
		return err
	}
	s.cleanup = append(s.cleanup, stopTarget)
	f := &forwarder{key: key, keys: keys, target: targetAddr, client: loadgen.NewClient(o.Concurrency)}
	gwAddr, stopGW, err := serveLoopback(f)
	if err != nil {
		return err
	}
	s.cleanup = append(s.cleanup, stopGW, f.client.CloseIdleConnections)
	s.workload = &loadgen.OHTTP{URL: "http://" + gwAddr + "/gateway", Key: &cfg, Events: o.Events}
	s.notes = append(s.notes, "forward: the forwarding gateway and its no-op target run in this process (veil bench (self) holds their CPU)")
	return nil
}
