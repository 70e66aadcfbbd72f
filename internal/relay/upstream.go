package relay

import (
	"net"
	"net/url"
	"slices"
	"strings"
)

// PlainUpstreams returns the upstream URLs the relay reaches over plain
// http:// on a host that is not loopback: each gateway, and where it
// fetches the plain and the signed key documents. Anyone on that path
// sees the encrypted requests with their sizes and timing and can answer
// in the gateway's name (clients with a key pin still refuse keys it did
// not sign); `veil relay` warns about each at start.
func (rl *Relay) PlainUpstreams() []string {
	var out []string
	var all []string
	for _, g := range rl.gateways.all {
		for _, s := range []string{g.post, g.keys, g.signedKeys} {
			if !slices.Contains(all, s) {
				all = append(all, s)
			}
		}
	}
	for _, s := range all {
		u, err := url.Parse(s)
		if err != nil || u.Scheme != "http" || loopbackHost(u.Hostname()) {
			continue
		}
		out = append(out, u.Redacted())
	}
	return out
}

// loopbackHost reports whether h names this machine: "localhost" or a
// loopback IP literal. Names are not resolved.
func loopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
