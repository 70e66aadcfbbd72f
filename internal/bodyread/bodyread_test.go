package bodyread_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/internal/bodyread"
)

type outcome struct {
	n, charged int64
	err        error
	afterRead  error // the request context's error some time after the read
}

// serve runs a server (HTTP/1.1, or h2c) whose handler reads the body with
// bodyread.Read and reports the outcome, then holds the request for hold.
func serve(t *testing.T, h2 bool, b *bodyread.Budget, p bodyread.Policy, hold time.Duration) (*httptest.Server, *http.Client, <-chan outcome) {
	t.Helper()
	out := make(chan outcome, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		var o outcome
		o.n, o.charged, o.err = bodyread.Read(w, r, &buf, 1<<20, b, p)
		if o.err == nil && int64(buf.Len()) != o.n {
			o.err = errors.New("buffer length differs from the count")
		}
		if hold > 0 {
			select {
			case <-r.Context().Done():
				o.afterRead = r.Context().Err()
			case <-time.After(hold):
			}
		}
		b.Release(o.charged)
		out <- o
	}))
	var protos http.Protocols
	if h2 {
		protos.SetUnencryptedHTTP2(true)
	} else {
		protos.SetHTTP1(true)
	}
	srv.Config.Protocols = &protos
	srv.Start()
	t.Cleanup(srv.Close)
	tr := &http.Transport{Protocols: &protos}
	t.Cleanup(tr.CloseIdleConnections)
	return srv, &http.Client{Transport: tr}, out
}

func protocols(t *testing.T, f func(t *testing.T, h2 bool)) {
	t.Run("http1", func(t *testing.T) { f(t, false) })
	t.Run("h2c", func(t *testing.T) { f(t, true) })
}

// trickle sends a body of declared bytes, step bytes per tick, until the
// server answers; it returns the response's status (0 on a transport
// error, as when the server cuts the body off).
func trickle(c *http.Client, url string, declared, step int, every time.Duration) int {
	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodPost, url, pr)
	req.ContentLength = int64(declared)
	done := make(chan int, 1)
	go func() {
		resp, err := c.Do(req)
		pr.CloseWithError(io.EOF)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for sent := 0; sent < declared; sent += step {
		if _, err := pw.Write(bytes.Repeat([]byte{'x'}, min(step, declared-sent))); err != nil {
			break
		}
		select {
		case <-tick.C:
			continue
		case status := <-done:
			pw.Close()
			return status
		}
	}
	pw.Close()
	return <-done
}

// TestSlowBodyCutOff: a body trickling slower than the minimum rate is cut
// off after the grace with ErrTooSlow, charging only the bytes received.
func TestSlowBodyCutOff(t *testing.T) {
	protocols(t, func(t *testing.T, h2 bool) {
		b := bodyread.NewBudget(1 << 20)
		srv, c, out := serve(t, h2, b, bodyread.Policy{Grace: 300 * time.Millisecond, MinRate: 1 << 20}, 0)
		start := time.Now()
		answered := make(chan int, 1)
		go func() { answered <- trickle(c, srv.URL, 10_000, 1, 20*time.Millisecond) }()
		o := <-out
		<-answered // the connection is not drained at the trickle's pace
		if !errors.Is(o.err, bodyread.ErrTooSlow) {
			t.Fatalf("slow body: %v, want ErrTooSlow", o.err)
		}
		if el := time.Since(start); el > 10*time.Second {
			t.Errorf("cut off after %v, want about the 300 ms grace", el)
		}
		if o.n >= 1000 || o.charged > bodyread.PresizeBytes+o.n {
			t.Errorf("read %d bytes, charged %d: want a few bytes and at most the presize more", o.n, o.charged)
		}
		if b.Used() != 0 {
			t.Errorf("budget holds %d bytes after release", b.Used())
		}
	})
}

// TestSteadyBodyPastGrace: a body arriving steadily above the minimum
// rate is read whole even though it takes longer than the grace, and the
// deadline is cleared after it: the request is not cancelled later.
func TestSteadyBodyPastGrace(t *testing.T) {
	protocols(t, func(t *testing.T, h2 bool) {
		b := bodyread.NewBudget(1 << 20)
		grace := 200 * time.Millisecond
		srv, c, out := serve(t, h2, b, bodyread.Policy{Grace: grace, MinRate: 100}, 4*grace)
		start := time.Now()
		answered := make(chan int, 1)
		go func() { answered <- trickle(c, srv.URL, 400, 10, 20*time.Millisecond) }() // 500 B/s, about 0.8 s
		o := <-out
		if status := <-answered; status != http.StatusOK {
			t.Errorf("steady body answered %d, want 200", status)
		}
		if o.err != nil || o.n != 400 {
			t.Fatalf("steady body: %d bytes, %v; want 400, nil", o.n, o.err)
		}
		if time.Since(start) < grace {
			t.Fatalf("the body arrived within the grace: the test proves nothing")
		}
		if o.charged < o.n {
			t.Errorf("charged %d for %d bytes read", o.charged, o.n)
		}
		if o.afterRead != nil {
			t.Errorf("request cancelled after its body was read: %v", o.afterRead)
		}
	})
}

// TestOverBudget: a body that would take the budget past its size fails
// with ErrOverBudget; its claimed length is not charged ahead when it does
// not fit.
func TestOverBudget(t *testing.T) {
	protocols(t, func(t *testing.T, h2 bool) {
		b := bodyread.NewBudget(8 << 10)
		if !b.TryAcquire(6 << 10) {
			t.Fatal("TryAcquire on a free budget failed")
		}
		srv, c, out := serve(t, h2, b, bodyread.Policy{}, 0)
		resp, err := c.Post(srv.URL, "application/octet-stream", strings.NewReader(strings.Repeat("x", 3<<10)))
		if err == nil {
			resp.Body.Close()
		}
		o := <-out
		if !errors.Is(o.err, bodyread.ErrOverBudget) {
			t.Errorf("3 KiB into 2 KiB free: %v, want ErrOverBudget", o.err)
		}
		if b.Used() != 6<<10 {
			t.Errorf("budget holds %d after release, want the 6 KiB taken before", b.Used())
		}
		b.Release(6 << 10)
		resp, err = c.Post(srv.URL, "application/octet-stream", strings.NewReader(strings.Repeat("x", 3<<10)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if o := <-out; o.err != nil || o.n != 3<<10 || o.charged != 3<<10 {
			t.Errorf("3 KiB into a free budget: %d bytes, charged %d, %v", o.n, o.charged, o.err)
		}
	})
}
