package gateway_test

import (
	"context"
	"errors"
	"github.com/veil-telemetry/veil/internal/keystate"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/internal/gateway"
	"github.com/veil-telemetry/veil/ohttp"
)

// ctxStore fails reads whose context is done, as a database driver does.
type ctxStore struct {
	mu        sync.Mutex
	keys      []gateway.Key
	fail      error
	reads     int
	cancelled int
}

func (s *ctxStore) LiveKeys(ctx context.Context) ([]gateway.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	if err := ctx.Err(); err != nil {
		s.cancelled++
		return nil, err
	}
	return s.keys, s.fail
}

func (s *ctxStore) readCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads
}

// TestRefreshOutlivesTriggeringClient checks that a periodic reread
// triggered by a client that hangs up still completes: the ring serves
// every client, not the one whose request noticed it was stale.
func TestRefreshOutlivesTriggeringClient(t *testing.T) {
	now := testNow
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	k1 := genKey(t, 1, ohttp.KEMX25519)
	store := &ctxStore{keys: []gateway.Key{{Private: k1, State: keystate.Current}}}
	g, err := gateway.New(gateway.Config{Keys: store, Inner: http.NotFoundHandler(), Now: clock, KeyRefresh: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	k2 := genKey(t, 2, ohttp.KEMX25519)
	store.mu.Lock()
	store.keys = []gateway.Key{{Private: k1, State: keystate.Active}, {Private: k2, State: keystate.Current}}
	store.mu.Unlock()
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()

	gone, cancel := context.WithCancel(t.Context())
	cancel()
	g.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/ohttp-keys", nil).WithContext(gone))
	store.mu.Lock()
	cancelled := store.cancelled
	store.mu.Unlock()
	if cancelled != 0 {
		t.Errorf("the reread died with the client that triggered it")
	}

	rec := httptest.NewRecorder()
	g.ServeHTTP(rec, httptest.NewRequest("GET", "/ohttp-keys", nil))
	cfgs, err := ohttp.ParseKeyConfigs(rec.Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(cfgs) != 2 {
		t.Errorf("%d keys published after the reread, want 2", len(cfgs))
	}
}

// TestRefreshBacksOffWhenStoreFails checks that a failing store is not
// read again on every request once the ring is stale.
func TestRefreshBacksOffWhenStoreFails(t *testing.T) {
	now := testNow
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	store := &ctxStore{keys: []gateway.Key{{Private: genKey(t, 1, ohttp.KEMX25519), State: keystate.Current}}}
	g, err := gateway.New(gateway.Config{Keys: store, Inner: http.NotFoundHandler(), Now: clock, KeyRefresh: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	store.mu.Lock()
	store.fail = errors.New("db down")
	store.mu.Unlock()
	advance(time.Minute)
	reads := store.readCount()
	for range 20 {
		rec := httptest.NewRecorder()
		g.ServeHTTP(rec, httptest.NewRequest("GET", "/ohttp-keys", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d: the old ring must keep serving", rec.Code)
		}
	}
	if got := store.readCount() - reads; got != 1 {
		t.Errorf("store read %d times by 20 requests, want 1", got)
	}
	advance(10 * time.Second)
	g.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/ohttp-keys", nil))
	if got := store.readCount() - reads; got != 2 {
		t.Errorf("store read %d times after the retry interval, want 2", got)
	}
}
