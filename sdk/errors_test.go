package sdk_test

import (
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/veil-telemetry/veil/sdk"
)

// errCollector gathers OnError calls, and passes each on ch when set.
type errCollector struct {
	mu   sync.Mutex
	errs []*sdk.DeliveryError
	ch   chan *sdk.DeliveryError
}

func (c *errCollector) hook(err error) {
	de, ok := errors.AsType[*sdk.DeliveryError](err)
	if !ok {
		panic("OnError given " + err.Error() + ", not a *sdk.DeliveryError")
	}
	c.mu.Lock()
	c.errs = append(c.errs, de)
	c.mu.Unlock()
	if c.ch != nil {
		c.ch <- de
	}
}

func (c *errCollector) all() []*sdk.DeliveryError {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*sdk.DeliveryError(nil), c.errs...)
}

// next waits for the next error on c.ch.
func (c *errCollector) next(t *testing.T) *sdk.DeliveryError {
	t.Helper()
	select {
	case de := <-c.ch:
		return de
	case <-time.After(10 * time.Second):
		t.Fatal("OnError not called within 10 s")
		return nil
	}
}

var classes = map[string]error{
	"ErrUnreachable":         sdk.ErrUnreachable,
	"ErrKeysRefused":         sdk.ErrKeysRefused,
	"ErrRelayRefused":        sdk.ErrRelayRefused,
	"ErrTLS":                 sdk.ErrTLS,
	"ErrKeyConfig":           sdk.ErrKeyConfig,
	"ErrKeysUnauthenticated": sdk.ErrKeysUnauthenticated,
}

// checkClass fails unless err matches exactly the class named (none for "").
func checkClass(t *testing.T, err error, want string) {
	t.Helper()
	for name, class := range classes {
		if got := errors.Is(err, class); got != (name == want) {
			t.Errorf("errors.Is(%v, %s) = %v", err, name, got)
		}
	}
}

// keysDown serves the fake gateway in process, except that the key
// document answers status while it is set.
type keysDown struct {
	g      *fakeGateway
	mu     sync.Mutex
	status int
}

func (k *keysDown) set(status int) {
	k.mu.Lock()
	k.status = status
	k.mu.Unlock()
}

func (k *keysDown) client() *http.Client {
	inner := k.g.inProcess()
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		k.mu.Lock()
		status := k.status
		k.mu.Unlock()
		if status != 0 && r.URL.Path == "/ohttp-keys" {
			rec := httptest.NewRecorder()
			http.Error(rec, "not here", status)
			resp := rec.Result()
			resp.Request = r
			return resp, nil
		}
		return inner.Do(r)
	})}
}

// TestKeys404KeepsQueueing: a key URL answering 404 is reported as
// ErrKeysRefused with the URL, on every attempt, while the events stay
// queued and on disk; when the keys come back they are delivered.
func TestKeys404KeepsQueueing(t *testing.T) {
	g := newFakeGateway(t)
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		down := &keysDown{g: g, status: http.StatusNotFound}
		errs := &errCollector{}
		c, col := newClient(t, g, sdk.Config{QueueDir: dir, MaxBatchEvents: 3, HTTPClient: down.client(), OnError: errs.hook})
		record(t, c, 3)
		synctest.Wait()
		got := errs.all()
		if len(got) != 1 {
			t.Fatalf("%d errors after the first attempt, want 1", len(got))
		}
		de := got[0]
		checkClass(t, de, "ErrKeysRefused")
		if de.Op != sdk.OpFetchKeys || de.Status != http.StatusNotFound || de.URL != g.srv.URL+"/ohttp-keys" || de.Attempt != 1 || de.RetryIn <= 0 {
			t.Errorf("error = %+v, want fetch keys, 404, the key URL, attempt 1, a backoff", de)
		}
		if want := "veil: GET " + g.srv.URL + "/ohttp-keys: HTTP 404 Not Found"; de.Error() != want {
			t.Errorf("Error() = %q, want %q", de.Error(), want)
		}
		if n := len(col.all()); n != 0 {
			t.Errorf("%d results while the keys are missing, want none (still queued)", n)
		}
		if st := c.Stats(); st.Queued != 3 {
			t.Errorf("Stats.Queued = %d, want 3", st.Queued)
		}
		if n := len(queueFiles(t, dir)); n != 1 {
			t.Errorf("%d queue files, want the batch on disk", n)
		}

		// It keeps trying, each time reporting the 404 with the next
		// attempt number.
		time.Sleep(de.RetryIn)
		synctest.Wait()
		got = errs.all()
		if len(got) != 2 || got[1].Attempt != 2 || !errors.Is(got[1], sdk.ErrKeysRefused) {
			t.Fatalf("errors after the first backoff: %v, want a second 404", got)
		}

		// The keys come back: the batch goes at the next attempt.
		down.set(0)
		time.Sleep(got[1].RetryIn)
		synctest.Wait()
		if n := col.count(sdk.StatusAccepted); n != 3 {
			t.Errorf("accepted = %d once the keys are back, want 3", n)
		}
		if n := len(errs.all()); n != 2 {
			t.Errorf("%d errors, want 2 (none once delivered)", n)
		}
		if n := len(queueFiles(t, dir)); n != 0 {
			t.Errorf("%d queue files after delivery", n)
		}
	})
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestRefusedConnectionKeepsQueueing: a refused connection is reported as
// ErrUnreachable, the events stay queued and on disk, and Close keeps them
// for the next Client, which delivers them.
func TestRefusedConnectionKeepsQueueing(t *testing.T) {
	dir := t.TempDir()
	relay := "http://" + closedAddr(t) + "/gateway"
	clk := sdk.NewFakeClock(clockStart)
	errs := &errCollector{ch: make(chan *sdk.DeliveryError, 16)}
	col := &collector{}
	cfg := sdk.Config{RelayURL: relay, QueueDir: dir, MaxBatchEvents: 2, OnError: errs.hook, OnResult: col.hook}
	sdk.SetClock(&cfg, clk)
	c, err := sdk.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	record(t, c, 2)
	de := errs.next(t)
	checkClass(t, de, "ErrUnreachable")
	if !errors.Is(de, syscall.ECONNREFUSED) {
		t.Errorf("error %v does not wrap ECONNREFUSED", de)
	}
	if de.Op != sdk.OpFetchKeys || de.Status != 0 || de.URL != strings.TrimSuffix(relay, "/gateway")+"/ohttp-keys" || de.RetryIn <= 0 {
		t.Errorf("error = %+v", de)
	}
	if !strings.Contains(de.Error(), "connection refused") || !strings.Contains(de.Error(), de.URL) {
		t.Errorf("Error() = %q, want the URL and the refused connection", de.Error())
	}
	if st := c.Stats(); st.Queued != 2 || st.Dropped != 0 {
		t.Errorf("Stats = %+v, want 2 queued", st)
	}
	if n := len(queueFiles(t, dir)); n != 1 {
		t.Errorf("%d queue files, want the batch on disk", n)
	}
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	c.Close(ended)
	if n := col.count(sdk.StatusQueued); n != 2 {
		t.Errorf("queued at Close = %d, want 2: %+v", n, col.all())
	}

	// The next Client runs on the same clock, a minute later.
	g := newFakeGateway(t)
	clk.Advance(time.Minute)
	cfg2 := sdk.Config{QueueDir: dir}
	sdk.SetClock(&cfg2, clk)
	c2, col2 := newClient(t, g, cfg2)
	flush(t, c2)
	if n := col2.count(sdk.StatusAccepted); n != 2 {
		t.Errorf("next Client: accepted = %d, want 2", n)
	}
}

// TestUnverifiedCertificate: a certificate the client does not trust is
// ErrTLS; trusted, the same server works.
func TestUnverifiedCertificate(t *testing.T) {
	g := newFakeGateway(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(g.serveHTTP))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	srv.StartTLS()
	t.Cleanup(srv.Close)
	errs := &errCollector{ch: make(chan *sdk.DeliveryError, 16)}
	clk := sdk.NewFakeClock(clockStart)
	cfg := sdk.Config{RelayURL: srv.URL + "/gateway", MaxBatchEvents: 1, OnError: errs.hook}
	sdk.SetClock(&cfg, clk)
	c, _ := newClient(t, g, cfg)
	record(t, c, 1)
	de := errs.next(t)
	checkClass(t, de, "ErrTLS")
	if de.Op != sdk.OpFetchKeys || de.URL != srv.URL+"/ohttp-keys" || !strings.Contains(de.Error(), "certificate") {
		t.Errorf("error = %+v (%v)", de, de)
	}

	c2, col := newClient(t, g, sdk.Config{RelayURL: srv.URL + "/gateway", HTTPClient: srv.Client(), OnError: errs.hook})
	record(t, c2, 1)
	flush(t, c2)
	if n := col.count(sdk.StatusAccepted); n != 1 {
		t.Errorf("with the certificate trusted: accepted = %d", n)
	}
}

func TestUnusableKeyDocument(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ctype string
		doc   []byte
		want  string
	}{
		{"garbage", "application/ohttp-keys", []byte("not a key config"), "unusable key document"},
		{"an HTML page", "text/html", []byte("<html></html>"), `content type "text/html"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newFakeGateway(t)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/ohttp-keys" {
					w.Header().Set("Content-Type", tc.ctype)
					w.Write(tc.doc)
					return
				}
				g.serveHTTP(w, r)
			}))
			t.Cleanup(srv.Close)
			errs := &errCollector{ch: make(chan *sdk.DeliveryError, 16)}
			c, _ := newClient(t, g, sdk.Config{RelayURL: srv.URL + "/gateway", MaxAttempts: 1, MaxBatchEvents: 1, OnError: errs.hook})
			record(t, c, 1)
			de := errs.next(t)
			checkClass(t, de, "ErrKeyConfig")
			if de.Op != sdk.OpFetchKeys || de.Status != 0 || de.RetryIn != 0 || !strings.Contains(de.Error(), tc.want) {
				t.Errorf("error = %+v (%v), want %s and no retry (MaxAttempts 1)", de, de, tc.want)
			}
		})
	}
}

// TestRelayRefused: a relay answering 404 to the POST is ErrRelayRefused;
// the keys are refetched and the batch resent at once, then with backoff.
// The RFC 9458 key problem is not ErrRelayRefused.
func TestRelayRefused(t *testing.T) {
	g := newFakeGateway(t)
	g.setScript(func(r *gwRequest) gwAnswer {
		if r.N < 2 {
			return gwAnswer{OuterStatus: http.StatusNotFound}
		}
		return gwAnswer{}
	})
	errs := &errCollector{}
	clk := sdk.NewFakeClock(clockStart)
	cfg := sdk.Config{FlushInterval: time.Hour, OnError: errs.hook}
	sdk.SetClock(&cfg, clk)
	c, col := newClient(t, g, cfg)
	record(t, c, 1)
	done := make(chan error, 1)
	go func() { done <- c.Flush(context.Background()) }()
	clk.Advance(waitArmed(t, clk, func(d time.Duration) bool { return d != time.Hour }))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := errs.all()
	if len(got) != 2 {
		t.Fatalf("%d errors, want 2", len(got))
	}
	for i, de := range got {
		checkClass(t, de, "ErrRelayRefused")
		if de.Op != sdk.OpSend || de.Status != http.StatusNotFound || de.URL != g.relayURL() || de.Attempt != i+1 {
			t.Errorf("error %d = %+v", i, de)
		}
	}
	if got[0].RetryIn != 0 || got[1].RetryIn <= 0 {
		t.Errorf("RetryIn = %v, %v; want at once, then a backoff", got[0].RetryIn, got[1].RetryIn)
	}
	if n := col.count(sdk.StatusAccepted); n != 1 {
		t.Errorf("accepted = %d", n)
	}

	// A rotated key: the gateway's key problem, retried at once.
	g.setScript(nil)
	g.rotate(9)
	record(t, c, 1)
	flush(t, c)
	got = errs.all()
	if len(got) != 3 {
		t.Fatalf("%d errors, want 3", len(got))
	}
	checkClass(t, got[2], "")
	if got[2].Status != http.StatusUnprocessableEntity || got[2].RetryIn != 0 {
		t.Errorf("key problem reported as %+v", got[2])
	}
}

// TestRetryableErrors: 503 and 429, from the relay or the gateway inside
// its answer, belong to no class and carry the backoff that follows.
func TestRetryableErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer gwAnswer
		status int
		inner  bool
		min    time.Duration
	}{
		{"outer 503", gwAnswer{OuterStatus: 503, OuterHeader: http.Header{"Retry-After": {"7"}}}, 503, false, 7 * time.Second},
		{"outer 429", gwAnswer{OuterStatus: 429}, 429, false, 0},
		{"inner 503", problemWith(503, "about:blank"), 503, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newFakeGateway(t)
			g.setScript(func(r *gwRequest) gwAnswer {
				if r.N == 0 {
					return tc.answer
				}
				return gwAnswer{}
			})
			errs := &errCollector{}
			clk := sdk.NewFakeClock(clockStart)
			cfg := sdk.Config{FlushInterval: time.Hour, OnError: errs.hook}
			sdk.SetClock(&cfg, clk)
			c, _ := newClient(t, g, cfg)
			record(t, c, 1)
			done := make(chan error, 1)
			go func() { done <- c.Flush(context.Background()) }()
			clk.Advance(waitArmed(t, clk, func(d time.Duration) bool { return d != time.Hour }))
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			got := errs.all()
			if len(got) != 1 {
				t.Fatalf("%d errors, want 1", len(got))
			}
			de := got[0]
			checkClass(t, de, "")
			if de.Op != sdk.OpSend || de.Status != tc.status || de.RetryIn <= tc.min || de.Attempt != 1 {
				t.Errorf("error = %+v", de)
			}
			if tc.inner != strings.Contains(de.Error(), "answered by the gateway") {
				t.Errorf("Error() = %q: says the gateway answered = %v, want %v", de.Error(), !tc.inner, tc.inner)
			}
		})
	}
}

func TestTransportClasses(t *testing.T) {
	dial := func(err error) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: err}}
	}
	for _, tc := range []struct {
		err  error
		want error
	}{
		{dial(syscall.ECONNREFUSED), sdk.ErrUnreachable},
		{dial(syscall.EHOSTUNREACH), sdk.ErrUnreachable},
		{dial(syscall.ENETUNREACH), sdk.ErrUnreachable},
		{&net.DNSError{Err: "no such host", Name: "relay.invalid", IsNotFound: true}, sdk.ErrUnreachable},
		{&net.DNSError{Err: "server misbehaving", Name: "relay.example", IsTemporary: true}, nil},
		{dial(syscall.ECONNRESET), nil},
		{os.ErrDeadlineExceeded, nil},
		{context.DeadlineExceeded, nil},
	} {
		if got := sdk.TransportClass(tc.err); got != tc.want {
			t.Errorf("class of %v = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// TestReasonCodesDocumented checks that every Reason constant of the SDK is
// listed in docs/reason-codes.md.
func TestReasonCodesDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/reason-codes.md")
	if err != nil {
		t.Fatal(err)
	}
	f, err := parser.ParseFile(token.NewFileSet(), "result.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	ast.Inspect(f, func(node ast.Node) bool {
		vs, ok := node.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || !strings.HasPrefix(vs.Names[0].Name, "Reason") || len(vs.Values) != 1 {
			return true
		}
		lit, ok := vs.Values[0].(*ast.BasicLit)
		if !ok {
			return true
		}
		code, err := strconv.Unquote(lit.Value)
		if err != nil {
			t.Fatal(err)
		}
		n++
		if !strings.Contains(string(doc), "| `"+code+"` |") {
			t.Errorf("sdk.%s (%q) has no row in docs/reason-codes.md", vs.Names[0].Name, code)
		}
		return true
	})
	if n < 9 {
		t.Errorf("found %d Reason constants in result.go, want at least 9", n)
	}
}
