package relay

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"
)

// DefaultGatewayCooldown is how long a gateway that failed is skipped
// while another is healthy.
const DefaultGatewayCooldown = 10 * time.Second

// gateway is one replica of the gateway: where the relay posts to it and
// fetches its key documents, and its passive health.
type gateway struct {
	post, keys, signedKeys string
	// postURL and postHost are post parsed once, as
	// http.NewRequest would per request; postURL is never modified.
	postURL   *url.URL
	postHost  string
	challenge string // the Privacy Pass challenge document
	// downUntil is when a failed gateway may be tried again (unix
	// nanoseconds; 0: healthy).
	downUntil atomic.Int64
}

// gatewaySet spreads requests round robin over the gateways that have not
// failed recently. Health is passive: a gateway that could not be reached
// or did not answer in time is skipped for a cooldown, after which the
// next request to it is the probe. Every replica serves the same key ring
// (one PostgreSQL), so which one answers is invisible to clients.
type gatewaySet struct {
	all      []*gateway
	next     atomic.Uint64
	cooldown time.Duration
}

// order returns the gateways to try for one request: the healthy ones,
// starting at the next in round-robin order among them (so the load of a
// gateway that is down spreads evenly over the others); when none is
// healthy, every one in that order (a request is never refused for health
// alone).
func (s *gatewaySet) order(now time.Time) []*gateway {
	if len(s.all) == 1 {
		return s.all
	}
	healthy := make([]*gateway, 0, len(s.all))
	for _, g := range s.all {
		if g.healthy(now) {
			healthy = append(healthy, g)
		}
	}
	if len(healthy) == 0 {
		healthy = append(healthy, s.all...)
	}
	start := int(s.next.Add(1) % uint64(len(healthy)))
	out := make([]*gateway, 0, len(healthy))
	out = append(out, healthy[start:]...)
	return append(out, healthy[:start]...)
}

func (g *gateway) healthy(now time.Time) bool {
	d := g.downUntil.Load()
	return d == 0 || now.UnixNano() >= d
}

// failed marks g down for the cooldown, when there are others to use.
func (s *gatewaySet) failed(g *gateway, now time.Time) {
	if len(s.all) > 1 {
		g.downUntil.Store(now.Add(s.cooldown).UnixNano())
	}
}

// ok marks g healthy again after an answer.
func (s *gatewaySet) ok(g *gateway) {
	if g.downUntil.Load() != 0 {
		g.downUntil.Store(0)
	}
}

// notSent reports whether err means the request never left the relay (no
// connection could be made), so that another gateway may be tried without
// any risk of the first having acted on it.
func notSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// newGateways builds the set from the POST URLs; keysURL and signedURL,
// when set, are where every gateway's key documents are fetched,
// otherwise each gateway's own origin.
func newGateways(posts []string, keysURL, signedURL string, cooldown time.Duration) (*gatewaySet, error) {
	s := &gatewaySet{cooldown: cooldown}
	for _, p := range posts {
		u, err := parseUpstream(p)
		if err != nil {
			return nil, err
		}
		g := &gateway{
			post:       u.String(),
			keys:       keysURL,
			signedKeys: signedURL,
		}
		tmpl, err := http.NewRequest(http.MethodPost, g.post, nil)
		if err != nil {
			return nil, err
		}
		g.postURL, g.postHost = tmpl.URL, tmpl.Host
		if g.keys == "" {
			g.keys = (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/ohttp-keys"}).String()
		}
		if g.signedKeys == "" {
			g.signedKeys = (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: signedKeysPath}).String()
		}
		g.challenge = (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: tokenChallengePath}).String()
		s.all = append(s.all, g)
	}
	return s, nil
}
