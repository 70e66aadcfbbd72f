package loadgen

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// ErrNotLoopback reports a target outside this machine.
var ErrNotLoopback = errors.New("loadgen: target is not a loopback address")

// CheckLoopback accepts only http(s) URLs whose host is a loopback IP
// literal (127.0.0.0/8, ::1) or "localhost". Names are not resolved: a
// name that resolves to loopback today may not tomorrow.
func CheckLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("loadgen: target %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("loadgen: target %q: scheme must be http or https", raw)
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.Unmap().IsLoopback() {
		return fmt.Errorf("%w: %q", ErrNotLoopback, raw)
	}
	return nil
}

// FreeLoopbackAddr returns a 127.0.0.1 address with a port that was free a
// moment ago.
func FreeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
