package send

import (
	"bytes"
	"context"
	"github.com/veil-telemetry/veil/internal/keystate"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/veil-telemetry/veil/internal/gateway"
	"github.com/veil-telemetry/veil/ohttp"
)

// runTimed runs `veil send` with cfg and returns its outputs, its error
// and how long it took.
func runTimed(t *testing.T, stdin string, cfg Config) (stdout, stderr string, err error, took time.Duration) {
	t.Helper()
	var out, errb bytes.Buffer
	cfg.Stdin, cfg.Stdout, cfg.Stderr = strings.NewReader(stdin), &out, &errb
	start := time.Now()
	err = Run(context.Background(), cfg)
	return out.String(), errb.String(), err, time.Since(start)
}

// checkFatal checks that a run ended with exit status 1 and one line
// (printed by main from err, nothing else on stderr) holding every part of
// want.
func checkFatal(t *testing.T, stderr string, err error, want ...string) {
	t.Helper()
	if code := exitCode(t, err); code != 1 {
		t.Fatalf("exit %d (%v), want 1", code, err)
	}
	if stderr != "" {
		t.Errorf("the run wrote %q to stderr besides its error line", stderr)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("error %q spans several lines", msg)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not say %q", msg, w)
		}
	}
}

// closedAddr returns a loopback address that refuses connections: a port
// bound, then released.
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

// The budget the issue sets for a run against a relay that cannot be
// used, generous for a loaded 2-core machine.
const fatalWithin = 10 * time.Second

// TestNothingListening: with no relay running, the run ends after the
// first-contact budget with exit 1 and one line naming the refused
// connection and the URL.
func TestNothingListening(t *testing.T) {
	addr := closedAddr(t)
	for _, tc := range []struct {
		name  string
		input string
		cfg   func(*Config)
	}{
		{"one event", "", func(c *Config) { c.Schema, c.Version = "app.launch", 1 }},
		{"JSON lines", strings.Repeat(`{"schema":"app.launch","version":1,"fields":{"os":"ios"}}`+"\n", 250), func(*Config) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := flags("http://" + addr + "/gateway")
			tc.cfg(&cfg)
			out, stderr, err, took := runTimed(t, tc.input, cfg)
			checkFatal(t, stderr, err, "cannot connect to http://"+addr+"/ohttp-keys", "connection refused", "--relay")
			if took > fatalWithin || took < DefaultFirstContact {
				t.Errorf("ended after %v, want between the first-contact budget %v and %v", took, DefaultFirstContact, fatalWithin)
			}
			if n := strings.Count(out, `"status":"dropped","reason":"closed"}`); n != max(1, strings.Count(tc.input, "\n")) {
				t.Errorf("%d events reported closed:\n%s", n, out)
			}
		})
	}
}

// TestNothingListeningQueueDir: with --queue-dir the events are kept, and
// the one line says so.
func TestNothingListeningQueueDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "queue")
	cfg := flags("http://" + closedAddr(t) + "/gateway")
	cfg.QueueDir, cfg.FirstContact = dir, 100*time.Millisecond
	in := strings.Repeat(`{"schema":"app.launch","version":1}`+"\n", 3)
	out, stderr, err, _ := runTimed(t, in, cfg)
	checkFatal(t, stderr, err, "connection refused", "(3 events kept in --queue-dir for the next run)")
	if n := strings.Count(out, `"status":"queued"`); n != 3 {
		t.Errorf("%d events queued, want 3:\n%s", n, out)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*.batch")); len(files) != 1 {
		t.Errorf("queue files %v, want the batch", files)
	}
}

// TestKeys404: a relay whose key path answers 404 (here: --relay with a
// wrong path prefix) ends the run at once, naming the 404 and the URL.
func TestKeys404(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	cfg := flags(srv.URL + "/relay/gateway")
	cfg.Schema, cfg.Version = "app.launch", 1
	out, stderr, err, took := runTimed(t, "", cfg)
	checkFatal(t, stderr, err, srv.URL+"/ohttp-keys", "HTTP 404 Not Found", "check --relay")
	if took > fatalWithin {
		t.Errorf("ended after %v, want within %v", took, fatalWithin)
	}
	if want := `{"index":0,"status":"dropped","reason":"closed"}` + "\n"; out != want {
		t.Errorf("output %q, want %q", out, want)
	}
}

func TestUnusableKeys(t *testing.T) {
	for _, tc := range []struct {
		name, ctype, body, want string
	}{
		{"an HTML page", "text/html", "<html></html>", `content type "text/html"`},
		{"not a key document", ohttp.KeysMediaType, "garbage", "unusable key document"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.ctype)
				io.WriteString(w, tc.body)
			}))
			t.Cleanup(srv.Close)
			cfg := flags(srv.URL + "/gateway")
			cfg.KeysURL, cfg.Schema, cfg.Version = srv.URL+"/keys", "app.launch", 1
			_, stderr, err, took := runTimed(t, "", cfg)
			checkFatal(t, stderr, err, srv.URL+"/keys", tc.want, "check --keys-url")
			if took > fatalWithin {
				t.Errorf("ended after %v", took)
			}
		})
	}
}

func TestUntrustedCertificate(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	srv.StartTLS()
	t.Cleanup(srv.Close)
	cfg := flags(srv.URL + "/gateway")
	cfg.Schema, cfg.Version = "app.launch", 1
	_, stderr, err, took := runTimed(t, "", cfg)
	checkFatal(t, stderr, err, "cannot verify the TLS certificate of "+srv.URL+"/ohttp-keys", "certificate")
	if took > fatalWithin {
		t.Errorf("ended after %v", took)
	}
}

// TestRelayPathRefused: keys are served, but the relay URL's path is
// wrong: refused again after the keys are refetched, the run ends.
func TestRelayPathRefused(t *testing.T) {
	srv := sendGateway(t)
	cfg := flags(srv.URL + "/gatewy")
	cfg.Schema, cfg.Version = "app.launch", 1
	_, stderr, err, took := runTimed(t, "", cfg)
	checkFatal(t, stderr, err, "the relay at "+srv.URL+"/gatewy answered HTTP 404 Not Found", "check the path of --relay")
	if took > fatalWithin {
		t.Errorf("ended after %v", took)
	}
}

// inProcessFlags is flags for a relay served by inProcessGateway: it
// stands for a remote relay but is reached without a network, so the
// checks on pins and plain HTTP, which would refuse its name, are opted
// out of.
func inProcessFlags(relay string) Config {
	cfg := flags(relay)
	cfg.InsecureNoKeyPin, cfg.InsecureHTTP = true, true
	return cfg
}

// inProcessGateway is the gateway of sendGateway served without a socket,
// so that a run can take place in a testing/synctest bubble; fail, when
// set, answers a request instead (with a response or an error).
func inProcessGateway(t *testing.T, fail func(r *http.Request) (*http.Response, error)) *http.Client {
	t.Helper()
	g := newGatewayHandler(t)
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if fail != nil {
			if resp, err := fail(r); resp != nil || err != nil {
				return resp, err
			}
		}
		rec := httptest.NewRecorder()
		g.ServeHTTP(rec, r)
		resp := rec.Result()
		resp.Request = r
		return resp, nil
	})}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// answer is a response to r with only a status.
func answer(r *http.Request, status int) *http.Response {
	rec := httptest.NewRecorder()
	rec.WriteHeader(status)
	resp := rec.Result()
	resp.Request = r
	return resp
}

// refused is the error a dial to a closed port gives.
func refused(r *http.Request) error {
	return &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}
}

// failFirst answers the first n requests that match with f, the rest
// normally.
func failFirst(n int, match func(*http.Request) bool, f func(*http.Request) (*http.Response, error)) func(*http.Request) (*http.Response, error) {
	var mu sync.Mutex
	return func(r *http.Request) (*http.Response, error) {
		mu.Lock()
		defer mu.Unlock()
		if n == 0 || !match(r) {
			return nil, nil
		}
		n--
		return f(r)
	}
}

func isPost(r *http.Request) bool   { return r.Method == http.MethodPost }
func anyRequest(*http.Request) bool { return true }

// TestRetryLineAndSummary: 503s are retried; stderr says so once when it
// starts, and sums up at the end. In a synctest bubble the backoff takes
// no real time.
func TestRetryLineAndSummary(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hc := inProcessGateway(t, failFirst(3, isPost, func(r *http.Request) (*http.Response, error) {
			return answer(r, http.StatusServiceUnavailable), nil
		}))
		cfg := inProcessFlags("http://relay.test/gateway")
		cfg.HTTPClient = hc
		in := strings.Repeat(`{"schema":"app.launch","version":1,"fields":{"os":"ios"}}`+"\n", 3)
		out, stderr, err, _ := runTimed(t, in, cfg)
		if err != nil {
			t.Fatalf("run failed: %v; stderr %s", err, stderr)
		}
		if n := strings.Count(out, `"status":"accepted"`); n != 3 {
			t.Errorf("%d accepted, want 3:\n%s", n, out)
		}
		want := "send: POST http://relay.test/gateway: HTTP 503 Service Unavailable; retrying with backoff (up to 8 attempts per batch, until --timeout 5m0s)\n" +
			"send: 3 events: 3 accepted; 3 failed attempts (HTTP 503: 3); last: POST http://relay.test/gateway: HTTP 503 Service Unavailable\n"
		if stderr != want {
			t.Errorf("stderr:\n%s\nwant:\n%s", stderr, want)
		}
	})
}

// TestRefusedPastBudget: refused connections before any answer end the run
// when the budget has passed, not before and not much after.
func TestRefusedPastBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hc := inProcessGateway(t, func(r *http.Request) (*http.Response, error) { return nil, refused(r) })
		cfg := inProcessFlags("http://relay.test/gateway")
		cfg.HTTPClient, cfg.Schema, cfg.Version = hc, "app.launch", 1
		_, stderr, err, took := runTimed(t, "", cfg)
		checkFatal(t, stderr, err, "cannot connect to http://relay.test/ohttp-keys", "connection refused")
		if took != DefaultFirstContact {
			t.Errorf("ended after %v, want the budget, %v", took, DefaultFirstContact)
		}
	})
}

// TestRelayStartingUp: connections refused at first, for less than the
// budget, then the relay answers: the run succeeds.
func TestRelayStartingUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hc := inProcessGateway(t, failFirst(2, anyRequest, func(r *http.Request) (*http.Response, error) { return nil, refused(r) }))
		cfg := inProcessFlags("http://relay.test/gateway")
		cfg.HTTPClient, cfg.Schema, cfg.Version, cfg.FirstContact = hc, "app.launch", 1, time.Hour
		out, stderr, err, _ := runTimed(t, "", cfg)
		if err != nil {
			t.Fatalf("run failed: %v", err)
		}
		if out != `{"index":0,"status":"accepted"}`+"\n" {
			t.Errorf("output %q", out)
		}
		// No retry line while waiting for first contact, but the
		// summary counts the refused attempts.
		if !strings.HasPrefix(stderr, "send: 1 event: 1 accepted; 2 failed attempts (connection refused: 2); last: GET http://relay.test/ohttp-keys: ") {
			t.Errorf("stderr %q", stderr)
		}
	})
}

// TestRefusedAfterContact: once the relay has answered, refused
// connections are trouble that may pass (a relay restarting): retried, not
// fatal, whatever the budget.
func TestRefusedAfterContact(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hc := inProcessGateway(t, failFirst(3, isPost, func(r *http.Request) (*http.Response, error) { return nil, refused(r) }))
		cfg := inProcessFlags("http://relay.test/gateway")
		cfg.HTTPClient, cfg.Schema, cfg.Version, cfg.FirstContact = hc, "app.launch", 1, time.Nanosecond
		out, stderr, err, _ := runTimed(t, "", cfg)
		if err != nil {
			t.Fatalf("run failed: %v", err)
		}
		if out != `{"index":0,"status":"accepted"}`+"\n" {
			t.Errorf("output %q", out)
		}
		if lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n"); len(lines) != 2 ||
			!strings.Contains(lines[0], "connection refused; retrying with backoff") ||
			!strings.HasPrefix(lines[1], "send: 1 event: 1 accepted; 3 failed attempts (connection refused: 3)") {
			t.Errorf("stderr %q, want the retry line and the summary", stderr)
		}
	})
}

// newGatewayHandler is sendGateway's handler, without a server.
func newGatewayHandler(t *testing.T) http.Handler {
	t.Helper()
	k, err := ohttp.GenerateKey(nil, 1, ohttp.KEMX25519, []ohttp.SymmetricSuite{ohttp.DefaultSuite})
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(gateway.Config{Keys: staticKeys{{Private: k, State: keystate.Current}}, Inner: innerAPI})
	if err != nil {
		t.Fatal(err)
	}
	return g
}
