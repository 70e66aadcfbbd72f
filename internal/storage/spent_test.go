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
// duplicate, not refused; within a group and across groups; the spent set
// is dedup material that retention deletes once no token of it could be
// presented again.
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
	now := time.Now()
	window := now.UTC().Truncate(24 * time.Hour)
	h1 := randBytes(32)
	tok := func(h []byte) []storage.Claim { return []storage.Claim{storage.TokenClaim(window, h, now)} }

	// One group: a spends t1; b (another batch) with t1 is refused; c has
	// its own token.
	a, b, c := batchOf(t, "tok-a", 2), batchOf(t, "tok-b", 3), batchOf(t, "tok-c", 1)
	a.Claims, b.Claims, c.Claims = tok(h1), tok(h1), tok(randBytes(32))
	check("group 1", submitAll(a, b, c), storage.StatusCommitted, storage.StatusTokenSpent, storage.StatusCommitted)

	// Later groups: d reuses t1 and is refused; a retried with its own
	// token is a duplicate.
	d := batchOf(t, "tok-d", 2)
	d.Claims = tok(h1)
	check("group 2", submitAll(d), storage.StatusTokenSpent)
	aRetry := batchOf(t, "tok-a", 2)
	aRetry.BatchKey, aRetry.Claims = a.BatchKey, tok(h1)
	check("retry", submitAll(aRetry), storage.StatusDuplicate)
	// d's batch key was released with it: d again, with a fresh token,
	// commits.
	dFresh := batchOf(t, "tok-d", 2)
	dFresh.BatchKey, dFresh.Claims = d.BatchKey, tok(randBytes(32))
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
	// Retention keeps them while they could be presented (their window
	// and the next), then deletes them.
	if err := db.RunRetention(ctx, now.Add(24*time.Hour), storage.RetentionConfig{}); err != nil {
		t.Fatal(err)
	}
	if n, _ := db.SpentTokens(ctx); n != 3 {
		t.Fatalf("tokens still redeemable dropped: %d left", n)
	}
	var held int
	if err := storagetest.Owner(t, db).QueryRow(ctx, `SELECT count(*) FROM dedup_claims WHERE kind = $1 AND expires_at > $2`,
		int16(storage.ClaimSpentToken), window.Add(72*time.Hour)).Scan(&held); err != nil || held != 0 {
		t.Fatalf("spent tokens kept past their redeemable time: %d (%v)", held, err)
	}
}
