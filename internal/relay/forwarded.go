package relay

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/veil-telemetry/veil/internal/relay/proxyproto"
)

// maxForwardedHops bounds the X-Forwarded-For entries examined, from the
// right: more trusted proxies than this in a row is a misconfiguration.
const maxForwardedHops = 16

// trusted reports whether a is one of the configured proxies.
func (rl *Relay) trusted(a netip.Addr) bool {
	for _, p := range rl.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientOf names the client of r for the per-address limits (see
// clientKey). Behind trusted proxies it is the rightmost address of
// X-Forwarded-For that is not a trusted proxy — the one the nearest
// trusted proxy saw connect, which a client cannot forge by writing its
// own entries to the left. From any other peer the header is ignored.
// Neither address ever leaves this process: it is not forwarded, logged
// or kept beyond the limiter's buckets.
func (rl *Relay) clientOf(r *http.Request) string {
	if len(rl.cfg.TrustedProxies) == 0 {
		return clientKey(r.RemoteAddr)
	}
	peer, ok := remoteAddr(r.RemoteAddr)
	if !ok || !rl.trusted(peer) {
		return clientKey(r.RemoteAddr)
	}
	if a, ok := forwardedClient(r.Header.Values("X-Forwarded-For"), rl.trusted); ok {
		return addrKey(a)
	}
	return addrKey(peer)
}

func remoteAddr(s string) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap().WithZone(""), true
}

// forwardedClient walks the X-Forwarded-For entries (the header's lines
// in order, each a comma-separated list; proxies append on the right)
// from the right and returns the first address that is not trusted, or
// the leftmost one when all are. An entry that is not an address (or an
// address with a port) makes it give up: whatever is left of it was not
// written by a trusted proxy. It looks at no more than maxForwardedHops
// entries and runs in time linear in the header's size.
func forwardedClient(values []string, trusted func(netip.Addr) bool) (netip.Addr, bool) {
	var last netip.Addr
	hops := 0
	for i := len(values) - 1; i >= 0; i-- {
		v := values[i]
		for {
			entry := v
			comma := strings.LastIndexByte(v, ',')
			if comma >= 0 {
				entry, v = v[comma+1:], v[:comma]
			}
			if hops++; hops > maxForwardedHops {
				return netip.Addr{}, false
			}
			a, ok := forwardedAddr(strings.Trim(entry, " \t"))
			if !ok {
				return netip.Addr{}, false
			}
			if !trusted(a) {
				return a, true
			}
			last = a
			if comma < 0 {
				break
			}
		}
	}
	return last, last.IsValid()
}

// forwardedAddr parses one X-Forwarded-For entry: an IP address, or an
// address and port as some proxies write it ("192.0.2.1:4711",
// "[2001:db8::1]:4711").
func forwardedAddr(s string) (netip.Addr, bool) {
	if len(s) == 0 || len(s) > len("[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535") {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	if a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// Listener wraps the relay's listener for the PROXY protocol when
// Config.ProxyProtocol is set: a connection from a trusted proxy must
// begin with a PROXY header (version 1 or 2), whose source address
// becomes the connection's, hence the client's for the per-address
// limits. Other peers' connections are served as they are. Without
// ProxyProtocol, ln is returned unchanged. A refused header is logged
// with its reason only, never an address.
func (rl *Relay) Listener(ln net.Listener) net.Listener {
	if !rl.cfg.ProxyProtocol {
		return ln
	}
	return &proxyproto.Listener{
		Listener: ln,
		Trusted:  rl.trusted,
		OnError: func(err error) {
			rl.log.LogAttrs(context.Background(), slog.LevelWarn, "PROXY protocol header refused; connection closed",
				slog.String("reason", proxyReason(err)))
		},
	}
}

// proxyReason describes a header failure without quoting an I/O error,
// whose text names the peer's address.
func proxyReason(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, proxyproto.ErrNoHeader), errors.Is(err, proxyproto.ErrMalformed), errors.Is(err, proxyproto.ErrUnsupported):
		return err.Error() // built by proxyproto from fixed strings
	case errors.As(err, &ne) && ne.Timeout():
		return "no header within the timeout"
	}
	return "connection failed before the header"
}
