package admin

import (
	"context"
	"errors"
	"fmt"
	"github.com/veil-telemetry/veil/internal/problem"
	"net/http"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/internal/keystate"
	"github.com/veil-telemetry/veil/internal/storage"
	"github.com/veil-telemetry/veil/ohttp"
)

// TestRotateDueRace has another replica rotate every KEM between
// RotateDue's listing of the ring and its own rotation: RotateDue must see
// the conflict, make no key of its own, and not fail.
func TestRotateDueRace(t *testing.T) {
	now := time.Now()
	var other func()
	h := newHarness(t, func(c *Config) {
		c.KeyRotate = time.Hour
		c.Now = func() time.Time {
			if other != nil {
				f := other
				other = nil
				f()
			}
			return now
		}
	})
	ctx := context.Background()
	before, err := h.db.ListKeys(ctx)
	if err != nil || len(before) != 2 {
		t.Fatalf("first keys: %d, %v", len(before), err)
	}
	// The other replica rotates right after RotateDue has listed the keys
	// (RotateDue reads the clock between the two).
	other = func() {
		for _, k := range before {
			if _, err := h.db.RotateKey(ctx, k.KEM, h.srv.keyGen(ohttp.KEMID(k.KEM)), time.Hour); err != nil {
				t.Errorf("other replica: %v", err)
			}
		}
	}
	now = now.Add(61 * time.Minute)
	next, err := h.srv.RotateDue(ctx)
	if err != nil {
		t.Fatalf("RotateDue after another replica rotated: %v", err)
	}
	if other != nil {
		t.Fatal("the other replica did not run")
	}
	if !next.After(now) {
		t.Errorf("next rotation %v is not after now %v", next, now)
	}
	keys, err := h.db.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	current := 0
	for _, k := range keys {
		if k.State == keystate.Current {
			current++
		}
	}
	if len(keys) != 4 || current != 2 {
		t.Fatalf("%d keys, %d current; want 4 and 2 (one rotation per KEM, not two)", len(keys), current)
	}
}

// TestStorageErrorK: storage's refusal of k below 2 is the caller's
// mistake (400), like admin's own refusal, never a 500.
func TestStorageErrorK(t *testing.T) {
	err := storageError(fmt.Errorf("%w: k = 1", storage.ErrKTooSmall))
	var e *problem.Error
	if !errors.As(err, &e) || e.Kind != problem.Invalid || e.Kind.HTTPStatus() != http.StatusBadRequest {
		t.Fatalf("storageError(ErrKTooSmall) = %v; want problem.Invalid (400)", err)
	}
	if !errors.Is(err, storage.ErrKTooSmall) {
		t.Errorf("mapped error does not wrap ErrKTooSmall")
	}
}
