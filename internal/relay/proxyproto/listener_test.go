package proxyproto

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// serveEcho serves HTTP on l, answering each request with its
// RemoteAddr, until the test ends.
func serveEcho(t *testing.T, l net.Listener) {
	t.Helper()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.RemoteAddr)
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
}

// exchange connects, writes prefix and a GET, and returns the answer's
// body, or the error when there is none.
func exchange(t *testing.T, addr string, prefix []byte) (string, error) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(append(prefix, "GET / HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n"...)); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", errors.New(resp.Status)
	}
	return string(b), err
}

func listen(t *testing.T, trusted bool, timeout time.Duration) (*Listener, chan error) {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := make(chan error, 8)
	l := &Listener{
		Listener: inner,
		Trusted:  func(a netip.Addr) bool { return trusted && a == netip.MustParseAddr("127.0.0.1") },
		Timeout:  timeout,
		OnError:  func(err error) { refused <- err },
	}
	serveEcho(t, l)
	return l, refused
}

// TestListenerTrusted: from a trusted peer, the header's source becomes
// the connection's RemoteAddr (version 1 and 2); a LOCAL header keeps
// the peer's; a connection without a header is closed and reported.
func TestListenerTrusted(t *testing.T) {
	l, refused := listen(t, true, 2*time.Second)
	addr := l.Addr().String()
	for name, tc := range map[string]struct {
		prefix []byte
		want   string
	}{
		"v1":       {[]byte("PROXY TCP4 192.0.2.10 198.51.100.1 51000 443\r\n"), "192.0.2.10:51000"},
		"v1 tcp6":  {[]byte("PROXY TCP6 2001:db8::10 2001:db8::1 51000 443\r\n"), "[2001:db8::10]:51000"},
		"v2":       {encodeV2(Header{Source: src4, Dest: dst4}, []byte{0x04, 0x00, 0x00}), "192.0.2.10:51000"},
		"v2 local": {encodeV2(Header{Local: true}, nil), "127.0.0.1:"},
	} {
		got, err := exchange(t, addr, tc.prefix)
		if err != nil || (got != tc.want && !(tc.want == "127.0.0.1:" && len(got) > len(tc.want) && got[:len(tc.want)] == tc.want)) {
			t.Errorf("%s: RemoteAddr %q (%v), want %q", name, got, err, tc.want)
		}
	}
	if got, err := exchange(t, addr, nil); err == nil {
		t.Errorf("a trusted peer without a header was served as %q", got)
	}
	select {
	case err := <-refused:
		if !errors.Is(err, ErrNoHeader) {
			t.Errorf("reported %v, want ErrNoHeader", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("the refused header was not reported")
	}
}

// TestListenerUntrusted: an untrusted peer's header is not read: its
// RemoteAddr stays its own, and the header is just bad HTTP.
func TestListenerUntrusted(t *testing.T) {
	l, refused := listen(t, false, 2*time.Second)
	got, err := exchange(t, l.Addr().String(), nil)
	if err != nil || got[:len("127.0.0.1:")] != "127.0.0.1:" {
		t.Fatalf("plain request: %q %v", got, err)
	}
	if got, err := exchange(t, l.Addr().String(), []byte("PROXY TCP4 192.0.2.10 198.51.100.1 51000 443\r\n")); err == nil {
		t.Errorf("an untrusted peer's PROXY header was honoured: %q", got)
	}
	select {
	case err := <-refused:
		t.Errorf("an untrusted peer's connection went through the header reader: %v", err)
	default:
	}
}

// TestListenerSlowHeader: a trusted peer that sends no header in time is
// cut off, and Accept is not held up meanwhile.
func TestListenerSlowHeader(t *testing.T) {
	l, refused := listen(t, true, 200*time.Millisecond)
	slow, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	slow.Write([]byte("PROXY TCP4 192.0.2.10")) // and nothing more
	var wg sync.WaitGroup
	wg.Go(func() {
		if got, err := exchange(t, l.Addr().String(), []byte("PROXY TCP4 192.0.2.11 198.51.100.1 51000 443\r\n")); err != nil || got != "192.0.2.11:51000" {
			t.Errorf("a second connection behind a slow one: %q %v", got, err)
		}
	})
	wg.Wait()
	select {
	case err := <-refused:
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("reported %v, want a timeout", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("the slow header was not cut off")
	}
}
