package relay

import "sync"

// clientReads counts the request bodies being read per client address
// (clientKey), so one address cannot hold the byte budget of bodies being
// read by trickling many of them, even inside its rate limit. It is safe
// for concurrent use; an address reading nothing takes no memory.
type clientReads struct {
	max int
	mu  sync.Mutex
	n   map[string]int
}

func newClientReads(max int) *clientReads {
	return &clientReads{max: max, n: make(map[string]int)}
}

// tryStart counts one more read for key and reports whether it is within
// the bound; when it returns true the caller calls done(key) after.
func (c *clientReads) tryStart(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[key] >= c.max {
		return false
	}
	c.n[key]++
	return true
}

func (c *clientReads) done(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[key] <= 1 {
		delete(c.n, key)
		return
	}
	c.n[key]--
}
