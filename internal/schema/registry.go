package schema

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrNotFound reports that no schema is registered under a name and
// version. Registry.Get returns it (possibly wrapped) for unknown schemas;
// a Store signals "not found" with an error matching it, or a nil document.
var ErrNotFound = errors.New("schema: not found")

// ErrDisabled reports that a schema version is registered but disabled by
// an operator (Registry.SetDisabled): its events are refused.
var ErrDisabled = errors.New("schema: disabled")

// Store is where registered schema documents live (storage's schemas table,
// through a small adapter). GetSchema returns the document as registered.
// For an unknown schema it returns an error for which errors.Is(err,
// ErrNotFound) holds, or a nil document with a nil error; any other error is
// treated as an outage and is not cached.
type Store interface {
	GetSchema(ctx context.Context, name string, version int) ([]byte, error)
}

// RegistryConfig configures a Registry. Only Store is required.
type RegistryConfig struct {
	Store Store
	// NegativeTTL is how long an unknown (name, version) is remembered, so
	// events for a schema nobody registered cannot hammer the database.
	// Default 30s.
	NegativeTTL time.Duration
	// MaxNegative bounds the remembered unknown keys. Default 10000.
	MaxNegative int
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// loadTimeout bounds one Store lookup.
const loadTimeout = 10 * time.Second

// Registry is a concurrency-safe cache of compiled schemas keyed by (name,
// version) in front of a Store. Versions are immutable, so a compiled
// schema never goes stale; when a new version is registered the admin plane
// calls Put (or Invalidate) so it is visible at once rather than after the
// negative TTL. Concurrent misses for one key share a single Store lookup.
type Registry struct {
	store       Store
	negativeTTL time.Duration
	maxNegative int
	now         func() time.Time

	mu       sync.Mutex
	schemas  map[key]*Schema
	negative map[key]time.Time // expiry
	disabled map[key]bool
	inflight map[key]*call
}

type key struct {
	name    string
	version int
}

type call struct {
	done chan struct{}
	s    *Schema
	err  error
}

// NewRegistry returns a Registry reading from cfg.Store.
func NewRegistry(cfg RegistryConfig) (*Registry, error) {
	if cfg.Store == nil {
		return nil, errors.New("schema: RegistryConfig.Store is required")
	}
	if cfg.NegativeTTL < 0 || cfg.MaxNegative < 0 {
		return nil, errors.New("schema: negative RegistryConfig limits")
	}
	r := &Registry{
		store:       cfg.Store,
		negativeTTL: cmp.Or(cfg.NegativeTTL, 30*time.Second),
		maxNegative: cmp.Or(cfg.MaxNegative, 10000),
		now:         cfg.Now,
		schemas:     map[key]*Schema{},
		negative:    map[key]time.Time{},
		inflight:    map[key]*call{},
	}
	if r.now == nil {
		r.now = time.Now
	}
	return r, nil
}

// Get returns the compiled schema for name and version, from the cache or
// the Store. An unknown schema yields an error matching ErrNotFound; a
// malformed name or version is unknown without a Store lookup.
func (r *Registry) Get(ctx context.Context, name string, version int) (*Schema, error) {
	if version < 1 || len(name) > MaxNameLength || !schemaNameRE.MatchString(name) {
		return nil, ErrNotFound
	}
	k := key{name, version}
	r.mu.Lock()
	if r.disabled[k] {
		r.mu.Unlock()
		return nil, ErrDisabled
	}
	if s, ok := r.schemas[k]; ok {
		r.mu.Unlock()
		return s, nil
	}
	if exp, ok := r.negative[k]; ok {
		if r.now().Before(exp) {
			r.mu.Unlock()
			return nil, ErrNotFound
		}
		delete(r.negative, k)
	}
	c, ok := r.inflight[k]
	if !ok {
		c = &call{done: make(chan struct{})}
		r.inflight[k] = c
		r.mu.Unlock()
		// The lookup runs apart from this caller so that a caller giving up
		// (ctx done) neither cancels it for the other waiters nor leaks.
		go r.load(k, c)
	} else {
		r.mu.Unlock()
	}
	select {
	case <-c.done:
		return c.s, c.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// load fetches and compiles one schema on behalf of every waiter, bounded by
// loadTimeout rather than any one caller's context.
func (r *Registry) load(k key, c *call) {
	ctx, cancel := context.WithTimeout(context.Background(), loadTimeout)
	defer cancel()
	doc, err := r.store.GetSchema(ctx, k.name, k.version)
	switch {
	case err == nil && doc == nil, errors.Is(err, ErrNotFound):
		c.err = ErrNotFound
	case err != nil:
		c.err = fmt.Errorf("schema: loading %s v%d: %w", k.name, k.version, err)
	default:
		s, cerr := Compile(doc)
		switch {
		case cerr != nil:
			c.err = fmt.Errorf("schema: stored %s v%d no longer compiles: %w", k.name, k.version, cerr)
		case s.Name != k.name || s.Version != k.version:
			c.err = fmt.Errorf("schema: store returned %s v%d for %s v%d", s.Name, s.Version, k.name, k.version)
		default:
			c.s = s
		}
	}
	r.mu.Lock()
	if r.inflight[k] == c {
		delete(r.inflight, k)
		switch {
		case c.s != nil:
			r.schemas[k] = c.s
		case errors.Is(c.err, ErrNotFound):
			r.rememberMissing(k)
		}
	}
	r.mu.Unlock()
	close(c.done)
}

// rememberMissing records k as unknown; r.mu is held.
func (r *Registry) rememberMissing(k key) {
	now := r.now()
	if len(r.negative) >= r.maxNegative {
		for nk, exp := range r.negative {
			if !now.Before(exp) {
				delete(r.negative, nk)
			}
		}
		if len(r.negative) >= r.maxNegative {
			// Still full of live entries: forget them all rather than grow.
			clear(r.negative)
		}
	}
	r.negative[k] = now.Add(r.negativeTTL)
}

// Put caches a freshly registered schema so ingest sees it at once.
func (r *Registry) Put(s *Schema) {
	k := key{s.Name, s.Version}
	r.mu.Lock()
	r.schemas[k] = s
	delete(r.negative, k)
	r.mu.Unlock()
}

// Invalidate forgets anything cached about name and version, found or not,
// so the next Get asks the Store.
func (r *Registry) Invalidate(name string, version int) {
	k := key{name, version}
	r.mu.Lock()
	delete(r.schemas, k)
	delete(r.negative, k)
	// A lookup in flight may have read the old state; let it finish for its
	// waiters but keep its answer out of the cache.
	delete(r.inflight, k)
	r.mu.Unlock()
}

// Version names a schema version.
type Version struct {
	Name    string
	Version int
}

// SetDisabled makes the disabled versions exactly those listed: Get answers
// ErrDisabled for them. The caller keeps it current (the admin plane on
// each change, a poll of the store for other replicas' changes).
func (r *Registry) SetDisabled(versions []Version) {
	m := make(map[key]bool, len(versions))
	for _, v := range versions {
		m[key{v.Name, v.Version}] = true
	}
	r.mu.Lock()
	r.disabled = m
	r.mu.Unlock()
}
