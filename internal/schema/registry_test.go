package schema

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

type fakeStore struct {
	mu    sync.Mutex
	docs  map[string][]byte
	calls atomic.Int64
	err   error
	gate  chan struct{}
}

func (f *fakeStore) GetSchema(_ context.Context, name string, version int) ([]byte, error) {
	f.calls.Add(1)
	if f.gate != nil {
		<-f.gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	doc, ok := f.docs[fmt.Sprintf("%s/%d", name, version)]
	if !ok {
		return nil, fmt.Errorf("store: %w", ErrNotFound)
	}
	return doc, nil
}

func (f *fakeStore) put(name string, version int, doc string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.docs[fmt.Sprintf("%s/%d", name, version)] = []byte(doc)
}

type nilDocStore struct{}

func (nilDocStore) GetSchema(context.Context, string, int) ([]byte, error) { return nil, nil }

func TestRegistry(t *testing.T) {
	ctx := context.Background()
	store := &fakeStore{docs: map[string][]byte{}}
	store.put("app.launch", 1, launchDoc)
	now := time.Unix(1e9, 0)
	reg, err := NewRegistry(RegistryConfig{Store: store, NegativeTTL: time.Minute, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}

	s, err := reg.Get(ctx, "app.launch", 1)
	if err != nil || s.Name != "app.launch" {
		t.Fatalf("Get = %v, %v", s, err)
	}
	if s2, _ := reg.Get(ctx, "app.launch", 1); s2 != s || store.calls.Load() != 1 {
		t.Errorf("second Get not cached (calls %d)", store.calls.Load())
	}

	// Unknown: ErrNotFound, cached for the TTL.
	for range 5 {
		if _, err := reg.Get(ctx, "app.launch", 2); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown: %v", err)
		}
	}
	if c := store.calls.Load(); c != 2 {
		t.Errorf("negative lookups not cached: %d store calls", c)
	}
	// Registered meanwhile: Put makes it visible before the TTL ends.
	store.put("app.launch", 2, stringsReplaceVersion(launchDoc, 2))
	s2, err := Compile([]byte(stringsReplaceVersion(launchDoc, 2)))
	if err != nil {
		t.Fatal(err)
	}
	reg.Put(s2)
	if got, err := reg.Get(ctx, "app.launch", 2); err != nil || got != s2 {
		t.Errorf("after Put: %v %v", got, err)
	}

	// Invalidate of a negative entry, then the store answers.
	if _, err := reg.Get(ctx, "app.launch", 3); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	store.put("app.launch", 3, stringsReplaceVersion(launchDoc, 3))
	if _, err := reg.Get(ctx, "app.launch", 3); !errors.Is(err, ErrNotFound) {
		t.Error("negative entry not kept")
	}
	reg.Invalidate("app.launch", 3)
	if _, err := reg.Get(ctx, "app.launch", 3); err != nil {
		t.Errorf("after Invalidate: %v", err)
	}

	// Negative TTL expiry.
	if _, err := reg.Get(ctx, "app.launch", 4); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	store.put("app.launch", 4, stringsReplaceVersion(launchDoc, 4))
	now = now.Add(2 * time.Minute)
	if _, err := reg.Get(ctx, "app.launch", 4); err != nil {
		t.Errorf("after TTL: %v", err)
	}

	// Malformed keys never reach the store.
	before := store.calls.Load()
	for _, n := range []string{"", "App.Launch", "a b", "x@example.com"} {
		if _, err := reg.Get(ctx, n, 1); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%q): %v", n, err)
		}
	}
	if _, err := reg.Get(ctx, "app.launch", 0); !errors.Is(err, ErrNotFound) {
		t.Error(err)
	}
	if store.calls.Load() != before {
		t.Error("malformed keys reached the store")
	}

	// A store outage is an error, not ErrNotFound, and is not cached.
	store.err = errors.New("connection refused")
	if _, err := reg.Get(ctx, "other", 1); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("outage: %v", err)
	}
	store.err = nil
	store.put("other", 1, stringsReplaceName(launchDoc, "other"))
	if _, err := reg.Get(ctx, "other", 1); err != nil {
		t.Errorf("after outage: %v", err)
	}

	// A store answering with another schema's document is refused.
	store.put("mislabeled", 1, launchDoc)
	if _, err := reg.Get(ctx, "mislabeled", 1); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("mislabeled: %v", err)
	}
}

func TestRegistryNilDocIsNotFound(t *testing.T) {
	reg, err := NewRegistry(RegistryConfig{Store: nilDocStore{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Get(context.Background(), "a", 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("nil doc: %v", err)
	}
}

func TestRegistryNegativeBound(t *testing.T) {
	store := &fakeStore{docs: map[string][]byte{}}
	reg, _ := NewRegistry(RegistryConfig{Store: store, MaxNegative: 10})
	for i := range 100 {
		_, _ = reg.Get(context.Background(), fmt.Sprintf("n%d", i), 1)
	}
	reg.mu.Lock()
	n := len(reg.negative)
	reg.mu.Unlock()
	if n > 10 {
		t.Errorf("negative cache grew to %d", n)
	}
}

func TestRegistryConcurrentMissesShareLookup(t *testing.T) {
	// synctest.Wait returns once all 20 callers are blocked (on the
	// gate, or on the one lookup in flight), so the gate opens only after
	// every caller has missed the cache.
	synctest.Test(t, func(t *testing.T) {
		store := &fakeStore{docs: map[string][]byte{}, gate: make(chan struct{})}
		store.put("app.launch", 1, launchDoc)
		reg, _ := NewRegistry(RegistryConfig{Store: store})
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				if _, err := reg.Get(context.Background(), "app.launch", 1); err != nil {
					t.Error(err)
				}
			})
		}
		synctest.Wait()
		close(store.gate)
		wg.Wait()
		if c := store.calls.Load(); c != 1 {
			t.Errorf("%d store lookups for one key", c)
		}
	})
}

func TestRegistryContextCancel(t *testing.T) {
	store := &fakeStore{docs: map[string][]byte{}, gate: make(chan struct{})}
	reg, _ := NewRegistry(RegistryConfig{Store: store})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan error, 1)
	go func() { _, err := reg.Get(ctx, "a", 1); done <- err }()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("got %v", err)
	}
	close(store.gate)
}

func TestNewRegistryRequiresStore(t *testing.T) {
	if _, err := NewRegistry(RegistryConfig{}); err == nil {
		t.Error("no error without a store")
	}
}

func stringsReplaceVersion(doc string, v int) string {
	return replaceOnce(doc, `"version": 1`, fmt.Sprintf(`"version": %d`, v))
}

func stringsReplaceName(doc, name string) string {
	return replaceOnce(doc, `"name": "app.launch"`, fmt.Sprintf(`"name": %q`, name))
}

func replaceOnce(s, old, new string) string {
	for i := 0; i+len(old) <= len(s); i++ {
		if s[i:i+len(old)] == old {
			return s[:i] + new + s[i+len(old):]
		}
	}
	panic("replaceOnce: " + old + " not found")
}
