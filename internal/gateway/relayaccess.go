package gateway

import (
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/veil-telemetry/veil/internal/problem"
)

// RelayAccess restricts who may post encapsulated requests: only the
// collector's relays, so that no client can skip the relay and show the
// gateway its address (DESIGN.md, privacy invariant 5). Its zero value
// restricts nothing.
//
// Only the encapsulated POSTs are restricted. The key configurations,
// plain and signed, stay open to anyone: they are public by design, the
// relay fetches them from here, and a client that fetches them directly
// shows the gateway no more than that it is a client (its requests still
// come through the relay, unlinkable to the fetch). Refusing key fetches
// would protect nothing against the gateway's operator, who chooses the
// keys anyway, and would break monitoring and `veil send` against a test
// collector. Health and readiness stay open for probes.
type RelayAccess struct {
	// Allow lists the networks relays connect from. The address checked
	// is the TCP peer's: a load balancer in front of the listener must
	// preserve it (or be the one allowed network, trusting whatever is
	// behind it).
	Allow []netip.Prefix
	// ClientCert admits a peer that presented a TLS client certificate
	// the listener verified: its tls.Config has ClientCAs set with
	// ClientAuth tls.VerifyClientCertIfGiven (tlsconfig.RequestClientCert),
	// so clients without one may still fetch keys.
	ClientCert bool
}

// Restricted reports whether a is in force.
func (a RelayAccess) Restricted() bool { return len(a.Allow) > 0 || a.ClientCert }

// admits reports whether r's peer may post encapsulated requests: its
// address is in Allow, or it presented a verified client certificate.
func (a RelayAccess) admits(r *http.Request) bool {
	if !a.Restricted() {
		return true
	}
	if a.ClientCert && r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		return true
	}
	if len(a.Allow) == 0 {
		return false
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	addr = addr.Unmap().WithZone("")
	for _, p := range a.Allow {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// ReasonNotRelay is the reason code of the refusal of a peer that is not
// a configured relay.
const ReasonNotRelay = "not_a_relay"

// refusal is the 403 problem of a peer that is not a configured relay,
// saying which proofs the gateway accepts. It names neither the peer nor
// its address.
func (a RelayAccess) refusal() *problem.Error {
	var how []string
	if len(a.Allow) > 0 {
		how = append(how, "connect from an allowed relay network")
	}
	if a.ClientCert {
		how = append(how, "present a relay client certificate")
	}
	return &problem.Error{
		Kind:    problem.Forbidden,
		Reason:  ReasonNotRelay,
		Message: "encapsulated requests are accepted only from this collector's relays (" + strings.Join(how, " or ") + "): send through the relay",
	}
}
