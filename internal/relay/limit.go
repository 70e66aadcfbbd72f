package relay

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiterSet holds one token bucket per client address in a bounded map.
// It keeps two generations: lookups hit the current one, fall back to the
// previous one (promoting the bucket), and when the current generation is
// full it becomes the previous one and the old previous one is dropped. So
// at most max buckets are held, and the clients dropped are those not seen
// for the longest, in O(1) per request and without a background sweeper.
// A dropped client starts over with a full bucket, which costs an attacker
// nothing they could not get from a second address anyway.
type limiterSet struct {
	limit rate.Limit
	burst int
	half  int

	mu       sync.Mutex
	cur, old map[string]*rate.Limiter
}

func newLimiterSet(limit rate.Limit, burst, max int) *limiterSet {
	return &limiterSet{
		limit: limit,
		burst: burst,
		half:  max / 2,
		cur:   make(map[string]*rate.Limiter),
	}
}

// allow takes a token for key, or reports how long until one is due.
func (s *limiterSet) allow(key string, now time.Time) (time.Duration, bool) {
	if s.limit == rate.Inf {
		return 0, true
	}
	s.mu.Lock()
	l, ok := s.cur[key]
	if !ok {
		l, ok = s.old[key]
		if ok {
			delete(s.old, key)
		} else {
			l = rate.NewLimiter(s.limit, s.burst)
		}
		if len(s.cur) >= s.half {
			s.old, s.cur = s.cur, make(map[string]*rate.Limiter, s.half)
		}
		s.cur[key] = l
	}
	s.mu.Unlock()

	r := l.ReserveN(now, 1)
	if !r.OK() {
		return time.Second, false
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d, false
	}
	return 0, true
}

// size reports how many buckets are held, for tests.
func (s *limiterSet) size() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.cur) + len(s.old)
}

// clientKey names a client for rate limiting: its IPv4 address, or the /64
// an IPv6 client usually controls whole. The key never leaves this process.
func clientKey(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	return addrKey(a)
}

// addrKey is clientKey of an address.
func addrKey(a netip.Addr) string {
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
