package storage_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/veil-telemetry/veil/internal/storage"
	"github.com/veil-telemetry/veil/internal/storage/storagetest"
)

// TestLinkage is issue 15's linkage test, on a real PostgreSQL of its own
// (so it can read the server's files): 30 single-event requests, each with
// a distinct dimension value, acknowledged one at a time.
//
// While they are staged, neither the WAL nor the data files hold a planted
// value in clear, and the interval's key file exists. After the mix: the
// key file is gone; no transaction id (xmin) is shared between a row of
// dedup material and a row of content (rollups, outcome counts, staging);
// the 30 requests' content rows carry at most 3 distinct xmin values; no
// dedup timestamp is finer than the hour; and the server log, after
// duplicates and a concurrent claim, holds no value, key or hash.
func TestLinkage(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	dir := localDir(t)
	srv, err := storage.StartLocal(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop(context.Background())
	keyDir := t.TempDir()
	db, err := storage.Open(ctx, storage.Config{URL: srv.URL(), MasterKey: randBytes(32), StageKeyDir: keyDir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	w, err := storage.NewWriter(db, storage.WriterConfig{NoMixer: true, MixK: 10, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(ctx)

	planted := "plnt" + hex.EncodeToString(randBytes(6))
	hour := now().UTC().Truncate(time.Hour)
	var keys [][]byte
	for i := range 30 {
		b := &storage.Batch{BatchKey: randBytes(16), EncHash: randBytes(32), Records: []storage.Record{{
			Bucket: hour, Schema: "link", Version: 1,
			Dimensions: map[string]any{"v": fmt.Sprintf("%s-%02d", planted, i)},
			Measures:   map[string]float64{"ms": float64(1000 + i)},
		}}, Outcomes: []storage.OutcomeCount{{Bucket: hour, Schema: "link", Version: 1, Outcome: "accepted", Count: 1}}}
		keys = append(keys, b.BatchKey, b.EncHash)
		if s, err := w.Write(ctx, b); err != nil || s != storage.StatusCommitted {
			t.Fatalf("request %d: %v %v", i, s, err)
		}
	}
	// Duplicates (one of them concurrent with its original's claim in
	// another writer) must not make the server log a key.
	w2, err := storage.NewWriter(db, storage.WriterConfig{NoMixer: true, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close(ctx)
	for i := range 3 {
		b := &storage.Batch{BatchKey: keys[2*i]}
		for _, wr := range []*storage.Writer{w, w2} {
			if s, err := wr.Write(ctx, b); err != nil || s != storage.StatusDuplicate {
				t.Fatalf("duplicate %d: %v %v", i, s, err)
			}
		}
	}
	// A poisoned request fails alone, at once, and never reaches the
	// server.
	poison := &storage.Batch{BatchKey: randBytes(16), Records: []storage.Record{{Bucket: hour, Schema: "link", Version: 1,
		Dimensions: map[string]any{"v": planted + "\x00"}}}}
	if _, err := w.Write(ctx, poison); err == nil {
		t.Fatal("a NUL dimension was accepted")
	}

	// Staged: the files below SQL hold no planted value in clear.
	owner, err := pgx.Connect(ctx, srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close(ctx)
	if _, err := owner.Exec(ctx, "CHECKPOINT"); err != nil {
		t.Fatal(err)
	}
	pgdata := srv.DataPath()
	if n := grepTree(t, filepath.Join(pgdata, "pg_wal"), []byte(planted)); n != 0 {
		t.Errorf("WAL holds the planted value in %d files while it is staged", n)
	}
	if n := grepTree(t, filepath.Join(pgdata, "base"), []byte(planted)); n != 0 {
		t.Errorf("data files hold the planted value in %d files while it is staged", n)
	}
	// One key per writer for this interval.
	before, _ := filepath.Glob(filepath.Join(keyDir, "*.key"))
	if len(before) == 0 || len(before) > 2 {
		t.Fatalf("key files while staged: %v", before)
	}

	// The interval ends; the mixer takes it (30 ≥ k).
	clock.Add(int64(storage.DefaultMixInterval))
	res, err := w.Mix(ctx, false)
	if err != nil || res.Requests != 30 || res.Outcomes < 30 {
		t.Fatalf("mix: %+v %v", res, err)
	}
	for _, f := range before {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("key file %s of the mixed interval still exists (%v)", f, err)
		}
	}
	// Positive control of the file scan: once mixed, the value is in the
	// rollups, in clear, so in the WAL.
	if n := grepTree(t, filepath.Join(pgdata, "pg_wal"), []byte(planted)); n == 0 {
		t.Error("the WAL does not hold the mixed value: the file scan is blind")
	}

	// xmin: dedup material and content never share a transaction.
	xmins := func(q string) map[string]bool {
		rows, err := owner.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		xs, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]bool{}
		for _, x := range xs {
			m[x] = true
		}
		return m
	}
	dedup := xmins("SELECT xmin::text FROM dedup_claims")
	content := xmins("SELECT xmin::text FROM rollups UNION ALL SELECT xmin::text FROM ingest_outcomes UNION ALL SELECT xmin::text FROM staging")
	if len(dedup) == 0 || len(content) == 0 {
		t.Fatalf("no rows: dedup %v content %v", dedup, content)
	}
	for x := range dedup {
		if content[x] {
			t.Errorf("xmin %s is shared by dedup material and content", x)
		}
	}
	mine := xmins("SELECT xmin::text FROM rollups WHERE dims->>'v' LIKE '" + planted + "%'")
	if len(mine) > 3 {
		t.Errorf("the 30 requests' content rows carry %d distinct xmin values, want at most 3", len(mine))
	}
	var cells, events int64
	if err := owner.QueryRow(ctx, "SELECT count(*), sum(count)::bigint FROM rollups WHERE dims->>'v' LIKE $1", planted+"%").Scan(&cells, &events); err != nil || cells != 30 || events != 30 {
		t.Errorf("rollups: %d cells, %d events (%v), want 30, 30", cells, events, err)
	}
	var fine int64
	if err := owner.QueryRow(ctx, "SELECT count(*) FROM dedup_claims WHERE expires_at <> date_trunc('hour', expires_at)").Scan(&fine); err != nil || fine != 0 {
		t.Errorf("%d dedup timestamps finer than the hour (%v)", fine, err)
	}
	var track string
	if err := owner.QueryRow(ctx, "SHOW track_commit_timestamp").Scan(&track); err != nil || track != "off" {
		t.Errorf("track_commit_timestamp %q (%v)", track, err)
	}

	// The server log holds no value, key or claim hash.
	logText, err := os.ReadFile(filepath.Join(pgdata, "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := owner.Query(ctx, "SELECT encode(hash, 'hex') FROM dedup_claims")
	if err != nil {
		t.Fatal(err)
	}
	hashes, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	needles := append([]string{planted}, hashes...)
	for _, k := range keys {
		needles = append(needles, hex.EncodeToString(k))
	}
	low := strings.ToLower(string(logText))
	for _, n := range needles {
		if strings.Contains(low, n) {
			t.Errorf("server log holds %q", n)
		}
	}
	if strings.Contains(string(logText), "DETAIL") {
		t.Errorf("server log has DETAIL lines:\n%s", logText)
	}
}

// grepTree counts the regular files under root that contain needle.
func grepTree(t *testing.T, root string, needle []byte) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, needle) {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestMixWaitsForK: fewer than k staged requests are carried (sealed again
// under the current interval's key) while their outcome counts are folded
// at once; k of them are mixed together; at a bucket's end fewer than k
// are mixed.
func TestMixWaitsForK(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	db := storagetest.New(t)
	var clock atomic.Int64
	start := time.Now().UTC().Truncate(time.Hour).Add(10 * time.Minute)
	clock.Store(start.UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	w := storagetest.NewWriter(t, db, storage.WriterConfig{NoMixer: true, MixK: 5, Now: now})
	defer w.Close(ctx)
	hour := start.Truncate(time.Hour)
	write := func(n int) {
		t.Helper()
		for range n {
			b := batchOf(t, "k", 1)
			for i := range b.Records {
				b.Records[i].Bucket = hour
			}
			b.Outcomes[0].Bucket = hour
			if s, err := w.Write(ctx, b); err != nil || s != storage.StatusCommitted {
				t.Fatal(s, err)
			}
		}
	}
	mix := func() storage.MixResult {
		t.Helper()
		clock.Add(int64(storage.DefaultMixInterval))
		res, err := w.Mix(ctx, false)
		if err != nil || !res.Leader {
			t.Fatalf("mix: %+v %v", res, err)
		}
		return res
	}
	stored := func() int {
		return countTagOn(t, ctx, db.Pool(), "k")
	}
	accepted := func() int64 {
		rows, err := db.Stats(ctx, hour, hour.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, r := range rows {
			n += r.Count
		}
		return n
	}
	write(3)
	if res := mix(); res.Carried != 3 || res.Requests != 0 || stored() != 0 || accepted() != 3 {
		t.Fatalf("3 < k: %+v, %d stored, %d outcomes; want 3 carried, none stored, 3 outcomes", res, stored(), accepted())
	}
	if st := w.Stats(); st.PendingRequests != 3 || st.MixLag <= 0 {
		t.Errorf("pending %d, lag %v", st.PendingRequests, st.MixLag)
	}
	write(2)
	if res := mix(); res.Requests != 5 || res.Carried != 0 || stored() != 5 || accepted() != 5 {
		t.Fatalf("k reached: %+v, %d stored, %d outcomes", res, stored(), accepted())
	}
	write(1)
	clock.Store(hour.Add(time.Hour).UnixNano()) // the bucket closes
	if res := mix(); res.Requests != 1 || stored() != 6 {
		t.Fatalf("bucket closed: %+v, %d stored", res, stored())
	}
	if st := w.Stats(); st.Mixes != 2 || st.MixedRequests != 6 || st.LastMixRequests != 1 || st.PendingRequests != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestOneMixer: the mixer lock is held by the first writer that mixes, on
// its own connection, so a second writer (another replica) does not mix
// until the first closes.
func TestOneMixer(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	db := storagetest.New(t)
	w1 := storagetest.NewWriter(t, db, storage.WriterConfig{NoMixer: true})
	w2 := storagetest.NewWriter(t, db, storage.WriterConfig{NoMixer: true})
	defer w2.Close(ctx)
	if res, err := w1.Mix(ctx, false); err != nil || !res.Leader {
		t.Fatalf("first mixer: %+v %v", res, err)
	}
	if res, err := w2.Mix(ctx, false); err != nil || res.Leader {
		t.Fatalf("second mixer while the first holds the lock: %+v %v", res, err)
	}
	if err := w1.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if res, err := w2.Mix(ctx, false); err != nil || !res.Leader {
		t.Fatalf("second mixer after the first closed: %+v %v", res, err)
	}
}
