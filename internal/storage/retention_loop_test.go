package storage

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestRetentionLoop: a run at once, one per tick, failures logged and
// retried at the next tick, and an exit when the context ends.
func TestRetentionLoop(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	ticks := make(chan time.Time)
	runs := make(chan time.Time)
	fail := errors.New("database unavailable")
	results := make(chan error, 3)
	results <- nil
	results <- fail
	results <- nil
	// Read only after the loop has returned: no lock needed.
	var logs bytes.Buffer
	clock := time.Unix(1_700_000_000, 0)
	done := make(chan struct{})
	go func() {
		defer close(done)
		retentionLoop(ctx, ticks, func() time.Time { return clock }, func(_ context.Context, now time.Time) error {
			runs <- now
			return <-results
		}, slog.New(slog.NewTextHandler(&logs, nil)))
	}()
	if now := <-runs; !now.Equal(clock) {
		t.Errorf("first run at %v, want %v", now, clock)
	}
	ticks <- clock
	<-runs // fails
	ticks <- clock
	<-runs
	cancel()
	<-done
	if n := strings.Count(logs.String(), "retention run failed"); n != 1 {
		t.Errorf("%d failures logged, want 1:\n%s", n, logs.String())
	}
}
