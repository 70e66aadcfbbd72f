package admin

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/veil-telemetry/veil/internal/keystate"
	"github.com/veil-telemetry/veil/internal/storage"
)

// readyCacheTTL is how long one readiness check answers every probe.
const readyCacheTTL = time.Second

// Readiness is veil serve's check behind /readyz on both listeners: ready
// when migrations ran (storage.Open applied them before this is
// reachable), the writer is connected and a current key exists. It runs at
// most once a second and answers every probe in between with its last
// result: /readyz is unauthenticated on the public listener, and each
// uncached check reads (and unseals) the whole key ring.
func Readiness(db *storage.DB, w *storage.Writer) func(context.Context) error {
	return cacheReady(func(ctx context.Context) error {
		if !w.Connected() {
			return errors.New("writer not connected to the database")
		}
		ctx, cancel := context.WithTimeout(ctx, readyCheckTimeout)
		defer cancel()
		keys, err := db.ListKeys(ctx)
		if err != nil {
			return errors.New("cannot read the key ring")
		}
		for _, k := range keys {
			if k.State == keystate.Current {
				return nil
			}
		}
		return errors.New("no current gateway key")
	}, readyCacheTTL, time.Now)
}

// cacheReady runs check at most once per ttl and answers every probe in
// between with its last result, so a flood of /readyz requests costs the
// database one query a second. Probes that arrive during a check wait for
// it rather than starting their own.
func cacheReady(check func(context.Context) error, ttl time.Duration, now func() time.Time) func(context.Context) error {
	var (
		mu   sync.Mutex
		at   time.Time
		last error
		done bool
	)
	return func(ctx context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		if t := now(); !done || t.Sub(at) >= ttl || t.Before(at) {
			last, at, done = check(ctx), t, true
		}
		return last
	}
}
