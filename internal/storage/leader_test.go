package storage_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/internal/storage"
	"github.com/veil-telemetry/veil/internal/storage/storagetest"
)

// replica runs RunAsLeader as one replica would, recording when its
// chores run.
type replica struct {
	name    string
	cancel  context.CancelFunc
	done    chan struct{}
	started chan struct{} // one value per start of the chores
	stopped chan struct{} // one value per stop
}

func startReplica(t *testing.T, db *storage.DB, name string, running *atomic.Int32, overlaps *atomic.Int32) *replica {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	r := &replica{name: name, cancel: cancel, done: make(chan struct{}),
		started: make(chan struct{}, 16), stopped: make(chan struct{}, 16)}
	cfg := storage.LeaderConfig{Name: "test-chores", Retry: 300 * time.Millisecond, Check: 50 * time.Millisecond, Keepalive: time.Second}
	go func() {
		defer close(r.done)
		db.RunAsLeader(ctx, cfg, func(ctx context.Context) {
			if running.Add(1) > 1 {
				overlaps.Add(1)
			}
			r.started <- struct{}{}
			<-ctx.Done()
			running.Add(-1)
			r.stopped <- struct{}{}
		})
	}()
	t.Cleanup(func() { cancel(); <-r.done })
	return r
}

func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// TestChoresRunOnOneReplica: of three replicas on one database, one runs
// the chores; when it stops, or its database session is killed, another
// takes over, and never two at once while the holder leaves cleanly.
func TestChoresRunOnOneReplica(t *testing.T) {
	db := storagetest.New(t)
	var running, overlaps atomic.Int32
	rs := []*replica{
		startReplica(t, db, "a", &running, &overlaps),
		startReplica(t, db, "b", &running, &overlaps),
		startReplica(t, db, "c", &running, &overlaps),
	}
	leader := func() *replica {
		t.Helper()
		cases := make(chan *replica, len(rs))
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for _, r := range rs {
			wg.Go(func() {
				select {
				case <-r.started:
					cases <- r
				case <-stop:
				}
			})
		}
		var got *replica
		select {
		case got = <-cases:
		case <-time.After(20 * time.Second):
			t.Fatal("no replica took the lead")
		}
		close(stop)
		wg.Wait()
		return got
	}

	first := leader()
	// The others keep trying (every Retry) while it leads; overlaps
	// counts any start while another runs, checked below.

	// A clean stop (shutdown): the lock goes with the session.
	first.cancel()
	waitFor(t, first.stopped, "the first leader to stop")
	rs = slicesDelete(rs, first)
	second := leader()
	if second == first {
		t.Fatal("a stopped replica leads")
	}
	if overlaps.Load() != 0 {
		t.Fatalf("chores overlapped %d times", overlaps.Load())
	}

	// The database ends the holder's session (as it does for a holder
	// whose keepalives stop): the holder stops its chores, another leads.
	ctx := t.Context()
	tag, err := db.Pool().Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`)
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("terminate the holder: %v (%d rows)", err, tag.RowsAffected())
	}
	waitFor(t, second.stopped, "the cut-off leader to stop its chores")
	rs = slicesDelete(rs, second)
	if third := leader(); third == second {
		t.Fatal("the cut-off replica leads again at once")
	}
}

func slicesDelete(rs []*replica, r *replica) []*replica {
	out := rs[:0:0]
	for _, x := range rs {
		if x != r {
			out = append(out, x)
		}
	}
	return out
}
