package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/veil-telemetry/veil/internal/httpcache"
)

// keysCache holds the gateway's last key configuration document, plain
// or signed. Serving every client the same bytes is what makes the relay
// useful for key consistency (RFC 9458 §7, RFC 9540 §4): the gateway
// cannot hand a targeted key to one client without handing it to everyone
// behind the relay. The signed document is opaque to the relay: it holds
// no key that could check or make a signature, and clients verify it.
type keysCache struct {
	urlOf     func(*gateway) string // where a gateway publishes the document
	shared    bool                  // urlOf is one URL for every gateway (--keys-url)
	mediaType string                // the media type it must have
	maxBytes  int                   // its largest accepted size

	fetch    sync.Mutex // one upstream fetch at a time
	failedAt time.Time  // when the last fetch failed; guarded by fetch

	mu  sync.Mutex
	doc *keysDoc
}

type keysDoc struct {
	body    []byte
	etag    string
	fetched time.Time
	expires time.Time
	// noStore and private pass the gateway's directives on to clients
	// (RFC 9111 §5.2.2.5, §5.2.2.7): a relay that answered "public" would
	// let every cache on the way keep what the gateway said not to.
	// privateTTL is the max-age a private answer carries from fetched.
	noStore, private bool
	privateTTL       time.Duration
}

// keysRetryInterval is the least time between upstream fetches after one
// failed. Without it every request waiting for the keys would, one after
// the other, wait out its own fetch from an unreachable gateway.
const keysRetryInterval = 5 * time.Second

// errKeysUpstream is any failure to get a usable document from the gateway.
var errKeysUpstream = errors.New("relay: gateway key configurations unavailable")

func (c *keysCache) get() *keysDoc {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.doc
}

func (c *keysCache) set(d *keysDoc) {
	c.mu.Lock()
	c.doc = d
	c.mu.Unlock()
}

// currentKeys returns the document to serve, fetching it when the cached
// one has expired. A stale document no older than KeysMaxTTL stands in
// while another request fetches and while the gateway is unreachable, so
// only a relay with nothing usable makes a request wait.
func (rl *Relay) currentKeys(ctx context.Context, c *keysCache) (*keysDoc, error) {
	now := rl.cfg.Now()
	doc := c.get()
	if doc != nil && now.Before(doc.expires) {
		return doc, nil
	}
	stale := doc != nil && now.Sub(doc.fetched) <= rl.cfg.KeysMaxTTL
	if stale {
		if !c.fetch.TryLock() {
			return doc, nil
		}
	} else {
		c.fetch.Lock()
	}
	defer c.fetch.Unlock()
	// Another request may have refreshed it while this one waited.
	if d := c.get(); d != nil && now.Before(d.expires) {
		return d, nil
	}
	if f := c.failedAt; !f.IsZero() && now.Sub(f) < keysRetryInterval {
		if stale {
			return doc, nil
		}
		return nil, errKeysUpstream
	}
	// The fetch serves every client behind the relay, so one client
	// hanging up must not abort it.
	d, err := rl.fetchKeys(context.WithoutCancel(ctx), c)
	if err == nil {
		c.failedAt = time.Time{}
		c.set(d)
		return d, nil
	}
	rl.logUpstream(ctx, "fetching the gateway's keys failed", err)
	c.failedAt = now
	if stale {
		return doc, nil
	}
	return nil, err
}

func (rl *Relay) serveKeys(w *countingWriter, r *http.Request, c *keysCache) {
	now := rl.cfg.Now()
	doc, err := rl.currentKeys(r.Context(), c)
	if err != nil {
		rl.upstreamError(w, r, err)
		return
	}

	var cc string
	switch {
	case doc.noStore:
		cc = "no-store"
	case doc.private:
		cc = "private, max-age=" + httpcache.MaxAgeSeconds(doc.fetched.Add(doc.privateTTL).Sub(now))
	default:
		cc = httpcache.Public(doc.expires.Sub(now))
	}
	httpcache.Serve(w, r, doc.body, c.mediaType, doc.etag, cc)
}

// fetchKeys fetches the document from a healthy gateway, trying the
// others when one fails: every replica serves the same key ring. A
// gateway that cannot be reached or times out is marked down.
func (rl *Relay) fetchKeys(ctx context.Context, c *keysCache) (*keysDoc, error) {
	var err error
	tried := make([]string, 0, 1)
	for _, gw := range rl.gateways.order(rl.cfg.Now()) {
		u := c.urlOf(gw)
		if slices.Contains(tried, u) {
			continue // one --keys-url for every gateway
		}
		if len(tried) > 0 {
			rl.logUpstream(ctx, "fetching a gateway's keys failed; trying the next", err)
		}
		tried = append(tried, u)
		var d *keysDoc
		d, err = rl.fetchKeysFrom(ctx, c, u)
		switch {
		case c.shared: // not the gateway's health
		case err == nil:
			rl.gateways.ok(gw)
		case !errors.Is(err, errKeysUpstream):
			rl.gateways.failed(gw, rl.cfg.Now())
		}
		if err == nil {
			return d, nil
		}
	}
	return nil, err
}

func (rl *Relay) fetchKeysFrom(ctx context.Context, c *keysCache, url string) (*keysDoc, error) {
	ctx, cancel := context.WithTimeout(ctx, rl.cfg.UpstreamTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header = http.Header{"Accept": {c.mediaType}, "User-Agent": nil}
	resp, err := rl.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: status %d", errKeysUpstream, resp.StatusCode)
	}
	if !hasMediaType(resp.Header.Get("Content-Type"), c.mediaType) {
		return nil, fmt.Errorf("%w: wrong media type", errKeysUpstream)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, int64(c.maxBytes)+1)); err != nil {
		return nil, err
	}
	if buf.Len() > c.maxBytes || buf.Len() == 0 {
		return nil, fmt.Errorf("%w: bad size", errKeysUpstream)
	}
	now := rl.cfg.Now()
	cc := parseCacheControl(resp.Header)
	body := buf.Bytes()
	d := &keysDoc{
		body: body,
		// Our own strong validator: the bytes are what clients compare.
		etag:    httpcache.ETag(body),
		fetched: now,
		expires: now.Add(rl.keysTTL(resp.Header)),
		noStore: cc.noStore,
		private: cc.private,
	}
	if cc.private && cc.maxAge >= 0 {
		d.privateTTL = rl.capTTL(cc.maxAge - cc.age)
	}
	return d, nil
}

// cacheControl holds the directives of a response's Cache-Control that
// the relay acts on (RFC 9111 §5.2.2); -1 means absent.
type cacheControl struct {
	noStore, noCache, private bool
	maxAge, sMaxAge           int64
	age                       int64 // the Age header, 0 when absent
}

func parseCacheControl(h http.Header) cacheControl {
	cc := cacheControl{maxAge: -1, sMaxAge: -1}
	for _, v := range h.Values("Cache-Control") {
		for d := range strings.SplitSeq(v, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
			name = strings.ToLower(name)
			val = strings.Trim(val, `"`)
			switch name {
			case "no-store":
				cc.noStore = true
			case "no-cache":
				cc.noCache = true
			case "private":
				cc.private = true
			case "max-age":
				if n, err := strconv.ParseInt(val, 10, 64); err == nil && n >= 0 {
					cc.maxAge = n
				}
			case "s-maxage":
				if n, err := strconv.ParseInt(val, 10, 64); err == nil && n >= 0 {
					cc.sMaxAge = n
				}
			}
		}
	}
	if age, err := strconv.ParseInt(h.Get("Age"), 10, 64); err == nil && age > 0 {
		cc.age = age
	}
	return cc
}

// keysTTL reads how long the gateway lets shared caches keep its keys
// (RFC 9111 §5.2.2): s-maxage over max-age, less the Age already spent;
// no-store, no-cache and private mean not at all; none means KeysTTL.
func (rl *Relay) keysTTL(h http.Header) time.Duration {
	cc := parseCacheControl(h)
	if cc.noStore || cc.noCache || cc.private {
		return 0
	}
	maxAge := cc.maxAge
	if cc.sMaxAge >= 0 {
		maxAge = cc.sMaxAge
	}
	if maxAge < 0 {
		return rl.cfg.KeysTTL
	}
	return rl.capTTL(maxAge - cc.age)
}

// capTTL is seconds as a duration, at least 0 and at most KeysMaxTTL.
func (rl *Relay) capTTL(seconds int64) time.Duration {
	if seconds <= 0 {
		return 0
	}
	if seconds > int64(rl.cfg.KeysMaxTTL/time.Second) {
		return rl.cfg.KeysMaxTTL
	}
	return time.Duration(seconds) * time.Second
}

// isKeyProblem reports whether a gateway answer is the RFC 9458 key
// problem: a problem document whose type is keyProblemType.
func isKeyProblem(contentType string, body []byte) bool {
	if !hasMediaType(contentType, problemMediaType) || len(body) > maxProblemBytes {
		return false
	}
	var p struct {
		Type string `json:"type"`
	}
	return json.Unmarshal(body, &p) == nil && p.Type == keyProblemType
}

// revalidateKeys refetches the cached key documents (those a client has
// asked for) at once, at most once per keysRevalidateInterval. The
// gateway answered the key problem, so a document the relay holds may
// list a key that was retired since it was fetched: without this, clients
// would refetch the same stale document until its max-age ran out. While
// the gateway is unreachable the stale document keeps being served.
func (rl *Relay) revalidateKeys(ctx context.Context) {
	now := rl.cfg.Now()
	last := rl.revalidated.Load()
	if last != 0 && now.UnixNano()-last < int64(keysRevalidateInterval) {
		return
	}
	if !rl.revalidated.CompareAndSwap(last, now.UnixNano()) {
		return // another request is revalidating
	}
	for _, c := range []*keysCache{&rl.keys, &rl.signedKeys} {
		if c.expire(now) {
			rl.currentKeys(ctx, c)
		}
	}
}

// expire marks the cached document, if any, as expired at now so that
// the next currentKeys refetches it, and reports whether there was one.
func (c *keysCache) expire(now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.doc == nil {
		return false
	}
	d := *c.doc
	d.expires = now
	c.doc = &d
	return true
}
