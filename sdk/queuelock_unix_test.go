//go:build unix

package veil_test

import (
	"context"
	"errors"
	"testing"

	veil "github.com/veil-telemetry/veil/sdk"
)

// TestQueueDirExclusive: a second Client on a queue directory in use is
// refused, and may open it once the first has closed.
func TestQueueDirExclusive(t *testing.T) {
	dir := t.TempDir()
	g := newFakeGateway(t)
	c1, err := veil.New(veil.Config{RelayURL: g.relayURL(), QueueDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if c2, err := veil.New(veil.Config{RelayURL: g.relayURL(), QueueDir: dir}); !errors.Is(err, veil.ErrQueueDirInUse) {
		if c2 != nil {
			c2.Close(context.Background())
		}
		t.Fatalf("second client on %s: %v, want ErrQueueDirInUse", dir, err)
	}
	if err := c1.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	c3, err := veil.New(veil.Config{RelayURL: g.relayURL(), QueueDir: dir})
	if err != nil {
		t.Fatalf("after the first closed: %v", err)
	}
	c3.Close(context.Background())
}
