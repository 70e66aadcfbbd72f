package relay

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/veil-telemetry/veil/internal/testlog"
)

var (
	lbNet    = netip.MustParsePrefix("10.0.0.0/8")
	lbIsNext = func(a netip.Addr) bool { return lbNet.Contains(a) }
)

func TestForwardedClient(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values []string
		want   string // "" for none
	}{
		{"none", nil, ""},
		{"one", []string{"192.0.2.1"}, "192.0.2.1"},
		{"rightmost untrusted", []string{"203.0.113.9, 192.0.2.1, 10.0.0.2"}, "192.0.2.1"},
		{"spoofed entries on the left", []string{"198.51.100.66, 192.0.2.1"}, "192.0.2.1"},
		{"several lines", []string{"203.0.113.9", "192.0.2.1, 10.0.0.3", "10.0.0.2"}, "192.0.2.1"},
		{"all trusted", []string{"10.0.0.9, 10.0.0.2"}, "10.0.0.9"},
		{"with ports", []string{"192.0.2.1:4711, [2001:db8::1]:443"}, "2001:db8::1"},
		{"ipv6", []string{"2001:db8::7 ,\t10.0.0.2"}, "2001:db8::7"},
		{"mapped", []string{"::ffff:192.0.2.1"}, "192.0.2.1"},
		{"garbage", []string{"192.0.2.1, unknown"}, ""},
		{"garbage left of the client", []string{"evil, 192.0.2.1"}, "192.0.2.1"},
		{"empty entry", []string{"192.0.2.1,,10.0.0.2"}, ""},
		{"obfuscated name", []string{"_hidden, 10.0.0.2"}, ""},
		{"zone", []string{"fe80::1%eth0"}, ""},
		{"too many trusted hops", []string{strings.Repeat("10.0.0.1, ", maxForwardedHops) + "10.0.0.1"}, ""},
		{"many entries left of the client", []string{strings.Repeat("198.51.100.1, ", 1000) + "192.0.2.1"}, "192.0.2.1"},
	} {
		a, ok := forwardedClient(tc.values, lbIsNext)
		got := ""
		if ok {
			got = a.String()
		}
		if got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// FuzzForwardedClient: no header panics the walk, and what it returns is
// a valid address without zone.
func FuzzForwardedClient(f *testing.F) {
	for _, s := range []string{"192.0.2.1", "203.0.113.9, 192.0.2.1, 10.0.0.2", "[2001:db8::1]:443,10.1.1.1", ",,", "10.0.0.1, fe80::1%eth0"} {
		f.Add(s, "10.0.0.2")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		got, ok := forwardedClient([]string{a, b}, lbIsNext)
		if ok && (!got.IsValid() || got.Zone() != "" || got.Is4In6()) {
			t.Fatalf("returned %v", got)
		}
	})
}

// proxiedRelay is a relay with a burst of 1 per client, trusting the
// proxies in trusted, with a gateway that records the headers it gets.
func proxiedRelay(t *testing.T, trusted []netip.Prefix, proxyProtocol bool) (*Relay, *fakeGateway, *httptest.Server) {
	t.Helper()
	gw := &fakeGateway{}
	gwSrv := httptest.NewServer(gw)
	t.Cleanup(gwSrv.Close)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rl, err := New(Config{
		GatewayURL:     gwSrv.URL + "/gateway",
		PerClientRate:  rate.Every(time.Hour),
		PerClientBurst: 1,
		TrustedProxies: trusted,
		ProxyProtocol:  proxyProtocol,
		Now:            func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	return rl, gw, gwSrv
}

// post sends a request as from peer with X-Forwarded-For xff (if set).
func postAs(rl *Relay, peer string, xff ...string) int {
	r := httptest.NewRequest("POST", "/gateway", strings.NewReader("sealed"))
	r.Header.Set("Content-Type", requestMediaType)
	r.RemoteAddr = peer
	for _, v := range xff {
		r.Header.Add("X-Forwarded-For", v)
	}
	w := httptest.NewRecorder()
	rl.ServeHTTP(w, r)
	return w.Code
}

// TestTrustedProxyForwardedFor: behind a trusted load balancer each
// client has its own limit, taken from X-Forwarded-For; a client cannot
// escape its limit by writing its own entries; nothing of the header
// reaches the gateway.
func TestTrustedProxyForwardedFor(t *testing.T) {
	rl, gw, _ := proxiedRelay(t, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, false)
	const lb = "10.0.0.2:5000"
	for _, c := range []string{"192.0.2.1", "192.0.2.2", "2001:db8::1"} {
		if st := postAs(rl, lb, c); st != http.StatusOK {
			t.Errorf("client %s behind the load balancer: %d, want 200 (its own limit)", c, st)
		}
	}
	if st := postAs(rl, lb, "192.0.2.1"); st != http.StatusTooManyRequests {
		t.Errorf("client 192.0.2.1 again: %d, want 429", st)
	}
	// Spoofing: an entry written by the client sits left of the one the
	// load balancer appended, which still decides.
	if st := postAs(rl, lb, "198.51.100.77, 192.0.2.1"); st != http.StatusTooManyRequests {
		t.Errorf("a spoofed entry escaped the limit: %d", st)
	}
	// Without X-Forwarded-For, the load balancer's own address is keyed.
	if st := postAs(rl, lb); st != http.StatusOK {
		t.Errorf("the load balancer itself: %d", st)
	}
	gw.mu.Lock()
	defer gw.mu.Unlock()
	for _, h := range gw.headers {
		if h.Get("X-Forwarded-For") != "" || h.Get("Forwarded") != "" {
			t.Errorf("a client address reached the gateway: %v", h)
		}
	}
}

// TestUntrustedForwardedForIgnored: X-Forwarded-For from a peer that is
// not a trusted proxy is ignored: the peer's address is keyed, so writing
// a new address per request does not escape the limit.
func TestUntrustedForwardedForIgnored(t *testing.T) {
	for name, trusted := range map[string][]netip.Prefix{
		"no trusted proxies":   nil,
		"another proxy subnet": {netip.MustParsePrefix("10.0.0.0/8")},
	} {
		rl, _, _ := proxiedRelay(t, trusted, false)
		if st := postAs(rl, "192.0.2.50:1000", "198.51.100.1"); st != http.StatusOK {
			t.Fatalf("%s: first request %d", name, st)
		}
		if st := postAs(rl, "192.0.2.50:1001", "198.51.100.2"); st != http.StatusTooManyRequests {
			t.Errorf("%s: a spoofed X-Forwarded-For escaped the limit: %d", name, st)
		}
	}
}

// TestProxyProtocolListener: with ProxyProtocol, a trusted proxy's PROXY
// header names the client for the limits; an untrusted peer's header is
// not read (its request is bad HTTP); the address is never logged.
func TestProxyProtocolListener(t *testing.T) {
	if _, err := New(Config{GatewayURL: "http://gw.invalid/gateway", ProxyProtocol: true}); err == nil {
		t.Error("ProxyProtocol without TrustedProxies was accepted")
	}
	for _, tc := range []struct {
		name    string
		trusted netip.Prefix
	}{
		{"trusted", netip.MustParsePrefix("127.0.0.0/8")},
		{"untrusted", netip.MustParsePrefix("10.0.0.0/8")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs testlog.Buffer
			rl, _, _ := proxiedRelay(t, []netip.Prefix{tc.trusted}, true)
			rl.log = slog.New(slog.NewJSONHandler(&logs, nil))
			inner, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{Handler: rl, ReadHeaderTimeout: 5 * time.Second}
			go srv.Serve(rl.Listener(inner))
			defer srv.Close()
			send := func(client string) int {
				c, err := net.Dial("tcp", inner.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				fmt.Fprintf(c, "PROXY TCP4 %s 198.51.100.1 51000 443\r\nPOST /gateway HTTP/1.1\r\nHost: relay\r\nContent-Type: %s\r\nContent-Length: 6\r\nConnection: close\r\n\r\nsealed", client, requestMediaType)
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					return 0
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp.StatusCode
			}
			got := []int{send("192.0.2.1"), send("192.0.2.2"), send("192.0.2.1")}
			want := []int{200, 200, 429}
			if tc.name == "untrusted" {
				want = []int{400, 400, 400}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("statuses %v, want %v", got, want)
			}
			if tc.name == "trusted" {
				// A trusted peer's connection without a header is closed,
				// and the reason logged without the peer's address.
				c, err := net.Dial("tcp", inner.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				c.SetDeadline(time.Now().Add(10 * time.Second))
				fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: relay\r\n\r\n")
				if _, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
					t.Error("a trusted peer's connection without a PROXY header was served")
				}
				c.Close()
				if l := logs.String(); !strings.Contains(l, "PROXY protocol header refused") || strings.Contains(l, "127.0.0.1") {
					t.Errorf("refusal log:\n%s", l)
				}
			}
			if strings.Contains(logs.String(), "192.0.2.") {
				t.Errorf("a client address was logged:\n%s", logs.String())
			}
		})
	}
}
