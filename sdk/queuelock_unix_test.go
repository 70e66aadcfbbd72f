//go:build unix

package sdk_test

import (
	"context"
	"errors"
	"testing"

	"github.com/veil-telemetry/veil/sdk"
)

// TestQueueDirExclusive: a second Client on a queue directory in use is
// refused, and may open it once the first has closed.
func TestQueueDirExclusive(t *testing.T) {
	dir := t.TempDir()
	g := newFakeGateway(t)
	c1, err := sdk.New(sdk.Config{RelayURL: g.relayURL(), QueueDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if c2, err := sdk.New(sdk.Config{RelayURL: g.relayURL(), QueueDir: dir}); !errors.Is(err, sdk.ErrQueueDirInUse) {
		if c2 != nil {
			c2.Close(context.Background())
		}
		t.Fatalf("second client on %s: %v, want ErrQueueDirInUse", dir, err)
	}
	if err := c1.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	c3, err := sdk.New(sdk.Config{RelayURL: g.relayURL(), QueueDir: dir})
	if err != nil {
		t.Fatalf("after the first closed: %v", err)
	}
	c3.Close(context.Background())
}
