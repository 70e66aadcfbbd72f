package storage_test

import (
	"sync"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/internal/storage"
	"github.com/veil-telemetry/veil/internal/storage/storagetest"
)

// TestSpentTokens: a token spends once; a second batch with it is refused
// and writes nothing; a retry of the applied batch with its own token is a
// duplicate, not refused; within a group and across groups (insert mode,
// then claim mode); the spent set drops by window day.
func TestSpentTokens(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	db := storagetest.New(t)
	w := storagetest.NewWriter(t, db, storage.WriterConfig{Linger: 200 * time.Millisecond, Workers: 1})
	defer w.Close(ctx)
	type res struct {
		s   storage.Status
		err error
	}
	submitAll := func(bs ...*storage.Batch) []res {
		out := make([]res, len(bs))
		var wg sync.WaitGroup
		for i, b := range bs {
			wg.Add(1)
			b.Done = func(s storage.Status, err error) { out[i] = res{s, err}; wg.Done() }
			if err := w.Submit(b); err != nil {
				t.Fatal(err)
			}
		}
		wg.Wait()
		return out
	}
	check := func(what string, got []res, want ...storage.Status) {
		t.Helper()
		for i := range got {
			if got[i].err != nil || got[i].s != want[i] {
				t.Errorf("%s request %d: %v %v; want %v", what, i, got[i].s, got[i].err, want[i])
			}
		}
	}
	window := time.Now().UTC().Truncate(24 * time.Hour)
	tok := func() *storage.TokenClaim { return &storage.TokenClaim{Window: window, Hash: randBytes(32)} }

	// One group: a spends t1; b (another batch) with t1 is refused; c has
	// its own token.
	t1 := tok()
	a, b, c := batchOf(t, "tok-a", 2), batchOf(t, "tok-b", 3), batchOf(t, "tok-c", 1)
	a.Token, b.Token, c.Token = t1, &storage.TokenClaim{Window: window, Hash: t1.Hash}, tok()
	check("group 1", submitAll(a, b, c), storage.StatusCommitted, storage.StatusTokenSpent, storage.StatusCommitted)

	// Later groups: d reuses t1 (insert mode finds the stored token, claim
	// mode refuses it); a retried with its own token is a duplicate.
	d := batchOf(t, "tok-d", 2)
	d.Token = &storage.TokenClaim{Window: window, Hash: t1.Hash}
	check("group 2", submitAll(d), storage.StatusTokenSpent)
	aRetry := batchOf(t, "tok-a", 2)
	aRetry.BatchKey, aRetry.Token = a.BatchKey, &storage.TokenClaim{Window: window, Hash: t1.Hash}
	check("retry", submitAll(aRetry), storage.StatusDuplicate)
	// d's batch key was released with it: d again, with a fresh token,
	// commits.
	dFresh := batchOf(t, "tok-d", 2)
	dFresh.BatchKey, dFresh.Token = d.BatchKey, tok()
	check("fresh", submitAll(dFresh), storage.StatusCommitted)

	for tag, want := range map[string]int{"tok-a": 2, "tok-b": 0, "tok-c": 1, "tok-d": 2} {
		if n := countTag(t, ctx, db, tag); n != want {
			t.Errorf("%s: %d events stored, want %d", tag, n, want)
		}
	}
	n, err := db.SpentTokens(ctx)
	if err != nil || n != 3 {
		t.Fatalf("spent set %d (%v), want 3", n, err)
	}
	if err := db.DropSpentBefore(ctx, window); err != nil {
		t.Fatal(err)
	}
	if n, _ := db.SpentTokens(ctx); n != 3 {
		t.Fatalf("today's tokens dropped: %d", n)
	}
	if err := db.DropSpentBefore(ctx, window.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n, _ := db.SpentTokens(ctx); n != 0 {
		t.Fatalf("spent set after its day: %d", n)
	}
}
