package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/veil-telemetry/veil/internal/httpcache"
	"github.com/veil-telemetry/veil/internal/keystate"
	"github.com/veil-telemetry/veil/ohttp"
)

// Key is one key of the ring. State, DrainAfter and RetireAfter are its
// life as recorded (keystate.Life): the gateway publishes it while
// Life.At says published, and decrypts with it while Life.At says it
// decrypts.
type Key struct {
	Private *ohttp.PrivateKey
	State   keystate.State
	// DrainAfter is when an active key stops being published (zero: not
	// scheduled); the key list's max-age never reaches past it.
	DrainAfter time.Time
	// RetireAfter is when the key stops decrypting (zero: not scheduled;
	// a draining key without one is refused).
	RetireAfter time.Time
}

// life is the key's keystate.Life.
func (k Key) life() keystate.Life {
	return keystate.Life{State: k.State, DrainAfter: k.DrainAfter, RetireAfter: k.RetireAfter}
}

// KeyStore supplies the key ring: every key that may still decrypt. The
// gateway rereads it every Config.KeyRefresh and on an unknown key
// identifier. The PostgreSQL store lives in storage and is adapted by the
// admin plane (admin.Server.LiveKeys); tests use a slice.
type KeyStore interface {
	LiveKeys(ctx context.Context) ([]Key, error)
}

// ring is an immutable snapshot of the key ring. Lookup by key identifier
// is an array index on an atomically loaded pointer: no lock, no
// allocation on the request path.
type ring struct {
	keys   [256]*ringKey
	doc    []byte // application/ohttp-keys of the published keys
	etag   string
	loaded time.Time
	// nextChange is the earliest future RetireAfter of a published key,
	// zero if none: the key list must not be cached past it.
	nextChange time.Time
}

type ringKey struct {
	priv *ohttp.PrivateKey
	life keystate.Life
}

// usable reports whether k may decrypt at now.
func (k *ringKey) usable(now time.Time) bool { return k.life.At(now).Decrypts() }

// statePriority ranks states by use, for two keys under one identifier.
func statePriority(s keystate.State) int {
	switch s {
	case keystate.Current:
		return 3
	case keystate.Active:
		return 2
	case keystate.Draining:
		return 1
	}
	return 0
}

// MaxPublishedPerKEM is the most configurations of one KEM the keys
// document lists: the current key and the newest active one. The SDK
// refuses a document with more (the same limit, sdk's maxConfigsPerKEM),
// since extra configurations could tag clients; two rotations within one
// grace period must not lock every client out.
const MaxPublishedPerKEM = 2

// errNoKeys is returned by Refresh when the store holds no published key.
var errNoKeys = errors.New("gateway: key store has no current or active key")

func buildRing(keys []Key, now time.Time) (*ring, int, error) {
	r := &ring{loaded: now}
	dropped := 0
	for _, k := range keys {
		if _, err := keystate.Parse(string(k.State)); k.Private == nil || err != nil {
			dropped++
			continue
		}
		st := k.life().At(now)
		if !st.Decrypts() {
			continue // retired by its schedule since the store listed it
		}
		id := k.Private.Config.KeyID
		// Two keys under one identifier cannot both be reached; keep the
		// one in the most useful state.
		if old := r.keys[id]; old != nil {
			dropped++
			if statePriority(old.life.At(now)) >= statePriority(st) {
				continue
			}
		}
		r.keys[id] = &ringKey{priv: k.Private, life: k.life()}
	}
	var published []*ohttp.KeyConfig
	perKEM := map[ohttp.KEMID]int{}
	for _, st := range []keystate.State{keystate.Current, keystate.Active} {
		var keys []*ringKey
		for _, k := range r.keys {
			if k != nil && k.life.At(now) == st {
				keys = append(keys, k)
			}
		}
		// Newest first among active keys: the one rotated out last
		// drains last.
		slices.SortStableFunc(keys, func(a, b *ringKey) int { return b.life.DrainAfter.Compare(a.life.DrainAfter) })
		for _, k := range keys {
			// Clients refuse a document with more configurations of one
			// KEM than MaxPublishedPerKEM (a tagging defence), so an
			// older active key past it stays unpublished; it still
			// decrypts until it retires.
			if perKEM[k.priv.Config.KEM] >= MaxPublishedPerKEM {
				continue
			}
			perKEM[k.priv.Config.KEM]++
			published = append(published, &k.priv.Config)
			for _, t := range []time.Time{k.life.DrainAfter, k.life.RetireAfter} {
				if t.After(now) && (r.nextChange.IsZero() || t.Before(r.nextChange)) {
					r.nextChange = t
				}
			}
		}
	}
	if len(published) == 0 {
		return r, dropped, nil
	}
	doc, err := ohttp.MarshalKeyConfigs(published)
	if err != nil {
		return nil, dropped, fmt.Errorf("gateway: encoding key configurations: %w", err)
	}
	r.doc = doc
	r.etag = httpcache.ETag(doc)
	return r, dropped, nil
}

// Refresh rereads the key ring from the store. On error the previous ring
// stays in use. serve calls it at start to fail fast.
func (g *Gateway) Refresh(ctx context.Context) error {
	g.refreshMu.Lock()
	defer g.refreshMu.Unlock()
	return g.refreshLocked(ctx)
}

// Key store reads on the request path.
const (
	// keyStoreTimeout bounds one read of the key store.
	keyStoreTimeout = 10 * time.Second
	// refreshRetryInterval is the least time between periodic rereads
	// after one failed (KeyRefresh if shorter), so that a store outage
	// does not put a store read on request after request.
	refreshRetryInterval = 5 * time.Second
)

// refreshLocked rereads the ring. The read is the gateway's, not the
// request's that happened to trigger it: it does not end when that client
// hangs up (which would leave the ring stale for every other client), but
// it is bounded by keyStoreTimeout.
func (g *Gateway) refreshLocked(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), keyStoreTimeout)
	defer cancel()
	keys, err := g.cfg.Keys.LiveKeys(ctx)
	if err != nil {
		g.retryAt.Store(g.cfg.Now().Add(min(g.cfg.KeyRefresh, refreshRetryInterval)).UnixNano())
		g.log.LogAttrs(ctx, slog.LevelError, "gateway key refresh failed", slog.String("error", err.Error()))
		return fmt.Errorf("gateway: reading keys: %w", err)
	}
	r, dropped, err := buildRing(keys, g.cfg.Now())
	if err != nil {
		g.retryAt.Store(g.cfg.Now().Add(min(g.cfg.KeyRefresh, refreshRetryInterval)).UnixNano())
		return err
	}
	if dropped > 0 {
		g.log.LogAttrs(ctx, slog.LevelWarn, "gateway key ring skipped keys", slog.Int("count", dropped))
	}
	g.ring.Store(r)
	g.retryAt.Store(0)
	if r.doc == nil {
		return errNoKeys
	}
	return nil
}

// currentRing returns the ring, rereading it when it is older than
// KeyRefresh. One request rereads; the others go on with the old ring. Only
// before the first successful read does a request wait.
//
// After a failed read the store is not asked again before retryAt, whether
// or not a ring was ever loaded.
func (g *Gateway) currentRing(ctx context.Context) *ring {
	r := g.ring.Load()
	now := g.cfg.Now()
	if now.UnixNano() < g.retryAt.Load() {
		return r
	}
	if r == nil {
		g.refreshMu.Lock()
		if r = g.ring.Load(); r == nil && g.cfg.Now().UnixNano() >= g.retryAt.Load() {
			g.refreshLocked(ctx)
			r = g.ring.Load()
		}
		g.refreshMu.Unlock()
		return r
	}
	if now.Sub(r.loaded) >= g.cfg.KeyRefresh && g.refreshMu.TryLock() {
		if r2 := g.ring.Load(); r2 == r {
			g.refreshLocked(ctx)
		}
		g.refreshMu.Unlock()
		r = g.ring.Load()
	}
	return r
}

// lookupKey finds the key for id, rereading the ring once per
// UnknownKeyRefresh if it is not there: another replica may have rotated.
func (g *Gateway) lookupKey(ctx context.Context, r *ring, id uint8, now time.Time) *ringKey {
	if r != nil {
		if k := r.keys[id]; k != nil && k.usable(now) {
			return k
		}
	}
	last := g.lastForced.Load()
	if now.UnixNano()-last < int64(g.cfg.UnknownKeyRefresh) || !g.lastForced.CompareAndSwap(last, now.UnixNano()) {
		return nil
	}
	if !g.refreshMu.TryLock() {
		return nil
	}
	g.refreshLocked(ctx)
	g.refreshMu.Unlock()
	if r = g.ring.Load(); r != nil {
		if k := r.keys[id]; k != nil && k.usable(now) {
			return k
		}
	}
	return nil
}
