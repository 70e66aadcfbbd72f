package gateway_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/internal/bodyread/bodyreadtest"
	"github.com/veil-telemetry/veil/internal/gateway"
	"github.com/veil-telemetry/veil/internal/server"
	"github.com/veil-telemetry/veil/ohttp"
)

// serveH2C serves h on loopback with the public listener's settings,
// HTTP/1.1 and h2c, and returns its base URL.
func serveH2C(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := server.New(context.Background(), h, server.Config{UnencryptedHTTP2: true})
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return "http://" + ln.Addr().String()
}

func h2cClient(t *testing.T) *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &p}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

// TestSlowBodiesHoldNoSlots is the slow-body attack of issue 14: more slow
// senders than the gateway has slots (250 HTTP/1 connections and 150
// streams over one h2c connection, each trickling a byte every 100 ms),
// while a legitimate client, over HTTP/1 and h2c, sends sealed requests.
// Every legitimate request succeeds with normal latency: a body being read
// holds no slot. (Before the fix the senders held every slot and the
// legitimate requests were answered 503.)
func TestSlowBodiesHoldNoSlots(t *testing.T) {
	e := newEnv(t, nil) // MaxConcurrent 256, the default
	base := serveH2C(t, e.gw)
	const legit = 40
	type sealed struct {
		body []byte
		cc   *ohttp.ClientContext
	}
	reqs := make([]sealed, legit)
	for i := range reqs {
		reqs[i].body, reqs[i].cc = seal(t, &e.key.Config, innerRequest(testNow, []byte(`{"n":1}`)))
	}
	h1 := &http.Client{Transport: &http.Transport{}, Timeout: 20 * time.Second}
	t.Cleanup(h1.CloseIdleConnections)
	h2 := h2cClient(t)

	run := bodyreadtest.Attack{
		URL:         base + "/gateway",
		ContentType: ohttp.RequestMediaType,
		HTTP1:       250,
		H2CStreams:  150,
		MaxTime:     15 * time.Second,
	}.Start(t)
	res := bodyreadtest.Measure(legit, func(i int) (int, bool) {
		c := h1
		if i%2 == 1 {
			c = h2
		}
		req, _ := http.NewRequest(http.MethodPost, base+"/gateway", bytes.NewReader(reqs[i].body))
		req.Header.Set("Content-Type", ohttp.RequestMediaType)
		resp, err := c.Do(req)
		if err != nil {
			t.Logf("legitimate request %d: %v", i, err)
			return 0, false
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			return resp.StatusCode, false
		}
		if i%2 == 1 && resp.ProtoMajor != 2 {
			t.Errorf("legitimate request %d over %s, want HTTP/2", i, resp.Proto)
		}
		plain, err := reqs[i].cc.DecapsulateResponse(body)
		return resp.StatusCode, err == nil && len(plain) > 0
	})
	bytesSent := run.Bytes()
	run.Stop()
	t.Logf("during the attack (%d slow bytes sent, %d bodies restarted): %v", bytesSent, run.Restarts(), res)
	if res.OK != res.Total {
		t.Errorf("legitimate requests during the attack: %v; want all to succeed", res)
	}
	// Generous for a loaded 2-core machine under -race: a request held
	// behind slow bodies would wait up to the 30 s read timeout.
	if res.P99 > 5*time.Second {
		t.Errorf("legitimate p99 %v during the attack, want normal latency (well under 5 s)", res.P99)
	}
}

// TestReadingBudgetSheds checks the byte budget of bodies held at once: a
// body that would take the budget past MaxReadingBytes is answered 503
// with Retry-After (not buffered), and once the budget is free again the
// same request succeeds.
func TestReadingBudgetSheds(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.MaxReadingBytes = 6 << 10 })
	held, finished := make(chan struct{}), make(chan struct{})
	base := serveH2C(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength == 8<<10 {
			r.Body = &signalAfter{ReadCloser: r.Body, n: 5 << 10, reached: held}
			defer close(finished)
		}
		e.gw.ServeHTTP(w, r)
	}))
	// A slow body that has sent 5 KiB of its 8 and holds them.
	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodPost, base+"/gateway", pr)
	req.ContentLength = 8 << 10
	req.Header.Set("Content-Type", ohttp.RequestMediaType)
	done := make(chan *http.Response, 1)
	go func() {
		resp, _ := http.DefaultClient.Do(req) // fails: the body is cut short
		done <- resp
	}()
	if _, err := pw.Write(make([]byte, 5<<10)); err != nil {
		t.Fatal(err)
	}
	<-held

	enc, cc := seal(t, &e.key.Config, innerRequest(testNow, []byte(`{"pad":"`+string(bytes.Repeat([]byte("a"), 3000))+`"}`)))
	resp := post(t, base+"/gateway", enc, nil)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("over the reading budget: %d Retry-After %q, want 503 and 1", resp.StatusCode, resp.Header.Get("Retry-After"))
	}

	pw.CloseWithError(io.ErrUnexpectedEOF)
	if r := <-done; r != nil {
		r.Body.Close()
	}
	<-finished
	enc, cc = seal(t, &e.key.Config, innerRequest(testNow, []byte(`{"pad":"`+string(bytes.Repeat([]byte("a"), 3000))+`"}`)))
	if res := open(t, post(t, base+"/gateway", enc, nil), cc); res.StatusCode != http.StatusCreated {
		t.Errorf("budget free again: inner status %d", res.StatusCode)
	}
}

// signalAfter closes reached when it is asked to read again after n
// bytes: by then the reader above it has accounted for those bytes.
type signalAfter struct {
	io.ReadCloser
	n, read int
	reached chan struct{}
}

func (s *signalAfter) Read(p []byte) (int, error) {
	if s.read >= s.n && s.reached != nil {
		close(s.reached)
		s.reached = nil
	}
	k, err := s.ReadCloser.Read(p)
	s.read += k
	return k, err
}
