package proxyproto

import (
	"bufio"
	"net"
	"net/netip"
	"sync"
	"time"
)

// DefaultTimeout bounds how long a trusted peer may take to send its
// header.
const DefaultTimeout = 5 * time.Second

// Listener wraps a listener whose connections from trusted peers (load
// balancers) begin with a PROXY header: their RemoteAddr is the client's
// address from the header. Connections from other peers are passed on
// untouched and must not carry one (the specification forbids guessing
// whether a header is there, §2): a client cannot name its own address.
type Listener struct {
	net.Listener
	// Trusted reports whether a peer sends PROXY headers.
	Trusted func(netip.Addr) bool
	// Timeout bounds the wait for a header (default 5 s).
	Timeout time.Duration
	// OnError, if set, is told why a trusted peer's header was refused;
	// the connection is then closed. The error holds no address or byte
	// of the input.
	OnError func(error)
}

// Accept returns the next connection. A trusted peer's header is read
// by the connection's first RemoteAddr or Read call, in the goroutine
// that serves it, so a slow peer never holds up Accept.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	peer, ok := addrOf(c.RemoteAddr())
	if !ok || !l.Trusted(peer) {
		return c, nil
	}
	return &Conn{Conn: c, timeout: l.Timeout, onError: l.OnError}, nil
}

func addrOf(a net.Addr) (netip.Addr, bool) {
	if tcp, ok := a.(*net.TCPAddr); ok {
		ap := tcp.AddrPort()
		return ap.Addr().Unmap(), ap.IsValid()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}

// Conn is a connection from a trusted peer that begins with a PROXY
// header.
//
// Warning: its first RemoteAddr or Read call blocks until the header has
// arrived (at most the listener's Timeout). net/http calls RemoteAddr
// first thing in the connection's own goroutine, which is where it
// should happen.
type Conn struct {
	net.Conn
	timeout time.Duration
	onError func(error)

	once   sync.Once
	r      *bufio.Reader
	remote net.Addr
	err    error
}

// bufferSize is the reader's buffer: a version 1 header fits, and bytes
// after the header stay in it for the first reads.
const bufferSize = 512

func (c *Conn) readHeader() {
	c.remote = c.Conn.RemoteAddr()
	timeout := c.timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	c.Conn.SetReadDeadline(time.Now().Add(timeout))
	c.r = bufio.NewReaderSize(c.Conn, bufferSize)
	h, err := Read(c.r)
	if err == nil {
		err = c.Conn.SetReadDeadline(time.Time{})
	}
	if err != nil {
		c.err = err
		if c.onError != nil {
			c.onError(err)
		}
		c.Conn.Close()
		return
	}
	if !h.Local {
		c.remote = net.TCPAddrFromAddrPort(netip.AddrPortFrom(h.Source.Addr().Unmap(), h.Source.Port()))
	}
}

// RemoteAddr is the client's address from the header (the peer's own for
// a LOCAL header or an unusable one).
func (c *Conn) RemoteAddr() net.Addr {
	c.once.Do(c.readHeader)
	return c.remote
}

// Read reads the bytes after the header.
func (c *Conn) Read(p []byte) (int, error) {
	c.once.Do(c.readHeader)
	if c.err != nil {
		return 0, c.err
	}
	return c.r.Read(p)
}
