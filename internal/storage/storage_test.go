package storage_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/veil-telemetry/veil/internal/storage"
	"github.com/veil-telemetry/veil/internal/storage/storagetest"
)

// TestMain runs the writer child of TestKillDuringStream when the test
// binary was re-executed as that child, and the tests otherwise.
func TestMain(m *testing.M) {
	if url := os.Getenv(childEnv); url != "" {
		os.Exit(writerChild(url))
	}
	storagetest.Main(m)
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// randKey is a random 16-byte key, the size of a decoded batch_id.
func randKey() []byte { return randBytes(16) }

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

var testHour = time.Now().UTC().Truncate(time.Hour)

// batchOf makes n records tagged with tag, so tests can find them.
func batchOf(t testing.TB, tag string, n int) *storage.Batch {
	t.Helper()
	return newBatch(tag, n)
}

// newBatch is batchOf for the writer child, which has no testing.TB.
func newBatch(tag string, n int) *storage.Batch {
	b := &storage.Batch{BatchKey: randKey()}
	for i := range n {
		b.Records = append(b.Records, storage.Record{
			Bucket: testHour, Schema: "app.launch", Version: 1,
			Dimensions: map[string]any{"tag": tag, "os": []string{"ios", "android"}[i%2]},
			Measures:   map[string]float64{"ms": float64(i)},
		})
	}
	b.Outcomes = []storage.OutcomeCount{{Bucket: testHour, Schema: "app.launch", Version: 1, Outcome: "accepted", Count: int64(n)}}
	return b
}

// countTag mixes every staged request of db (a forced mix, by a writer of
// its own) and counts tag's events in the rollups.
func countTag(t testing.TB, ctx context.Context, db *storage.DB, tag string) int {
	t.Helper()
	mixAll(t, ctx, db)
	return countTagOn(t, ctx, db.Pool(), tag)
}

// mixAll folds every staged request of db into the rollups.
func mixAll(t testing.TB, ctx context.Context, db *storage.DB) {
	t.Helper()
	w, err := storage.NewWriter(db, storage.WriterConfig{NoMixer: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(ctx)
	res, err := w.Mix(ctx, true)
	if err != nil || !res.Leader {
		t.Fatalf("mix: %+v %v", res, err)
	}
}

func countTagOn(t testing.TB, ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, tag string) int {
	t.Helper()
	var n int
	if err := q.QueryRow(ctx, "SELECT coalesce(sum(count), 0)::int FROM rollups WHERE dims->>'tag' = $1", tag).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestMigrateEmptyAndRerun(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	url := storagetest.EmptyURL(t)
	latest, err := storage.SchemaVersion()
	if err != nil || latest < 1 {
		t.Fatalf("SchemaVersion = %d, %v", latest, err)
	}
	from, to, err := storage.Migrate(ctx, url, nil)
	if err != nil || from != 0 || to != latest {
		t.Fatalf("first Migrate = %d, %d, %v; want 0, %d, nil", from, to, err, latest)
	}
	from, to, err = storage.Migrate(ctx, url, nil)
	if err != nil || from != latest || to != latest {
		t.Fatalf("second Migrate = %d, %d, %v; want a no-op at %d", from, to, err, latest)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, table := range []string{"events", "rollups", "ingest_outcomes", "staging", "dedup_claims", "schemas", "key_ring"} {
		var ok bool
		if err := conn.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", table).Scan(&ok); err != nil || !ok {
			t.Errorf("table %s missing (%v)", table, err)
		}
	}
	// The writer role neither writes nor reads the events of earlier
	// versions; it stages and mixes.
	roles := storage.RolesFor(conn.Config().Database)
	var canInsert, canSelect, canStage bool
	err = conn.QueryRow(ctx, `SELECT has_table_privilege($1, 'events', 'INSERT'),
		has_table_privilege($1, 'events', 'SELECT'), has_table_privilege($1, 'staging', 'INSERT')`, roles.Writer).Scan(&canInsert, &canSelect, &canStage)
	if err != nil || canInsert || canSelect || !canStage {
		t.Errorf("%s on events: insert %v, select %v; on staging: insert %v; err %v", roles.Writer, canInsert, canSelect, canStage, err)
	}
	var readerWrites bool
	err = conn.QueryRow(ctx, `SELECT has_table_privilege($1, 'rollups', 'INSERT')
		OR has_table_privilege($1, 'key_ring', 'SELECT')`, roles.Reader).Scan(&readerWrites)
	if err != nil || readerWrites {
		t.Errorf("%s may write rollups or read the key ring (%v)", roles.Reader, err)
	}
	// The roles migration 001 shared across the cluster's databases hold
	// nothing here any more.
	var shared bool
	err = conn.QueryRow(ctx, `SELECT coalesce(bool_or(has_table_privilege(r, t, 'INSERT') OR has_table_privilege(r, t, 'SELECT')), false)
		FROM unnest(ARRAY['veil_writer', 'veil_reader']) AS r, unnest(ARRAY['events', 'rollups', 'ingest_outcomes', 'batch_keys', 'enc_hashes', 'schemas']) AS t
		WHERE EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r)`).Scan(&shared)
	if err != nil || shared {
		t.Errorf("the cluster-wide veil_writer/veil_reader keep privileges on this database (%v)", err)
	}
}

// TestNegativeConfigRefused: a negative size or duration is an error, not
// silently the default (the zero value is).
func TestNegativeConfigRefused(t *testing.T) {
	for _, cfg := range []storage.WriterConfig{
		{QueueSize: -1}, {MaxGroupRows: -1}, {Workers: -1},
		{DedupHorizon: -time.Hour}, {EncHashTTL: -time.Minute}, {CommitTimeout: -time.Second},
		{MixK: -1}, {MixInterval: -time.Second}, {MixInterval: time.Millisecond},
	} {
		if w, err := storage.NewWriter(nil, cfg); err == nil || w != nil {
			t.Errorf("NewWriter(%+v) accepted", cfg)
		}
	}
	ctx := context.Background()
	for _, cfg := range []storage.Config{
		{URL: "postgres://127.0.0.1:1/none", MaxConns: -1},
		{URL: "postgres://127.0.0.1:1/none", ConnectTimeout: -time.Second},
	} {
		if _, err := storage.Open(ctx, cfg, nil); err == nil || !strings.Contains(err.Error(), "negative") {
			t.Errorf("Open(%+v): %v", cfg, err)
		}
	}
	db := storagetest.New(t)
	for _, cfg := range []storage.RetentionConfig{{RawDays: -1}, {RollupDays: -1}, {DaysAhead: -1}} {
		if err := db.RunRetention(ctx, time.Now(), cfg); err == nil {
			t.Errorf("RunRetention(%+v) accepted", cfg)
		}
	}
}

func TestNewerDatabaseRefused(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	url := storagetest.URL(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "UPDATE veil_schema_version SET version = version + 1"); err != nil {
		t.Fatal(err)
	}
	_, _, err = storage.Migrate(ctx, url, nil)
	if !errors.Is(err, storage.ErrSchemaTooNew) || !strings.Contains(err.Error(), "newer veil") {
		t.Fatalf("Migrate on a newer database: %v; want ErrSchemaTooNew", err)
	}
	_, err = storage.Open(ctx, storage.Config{URL: url}, nil)
	if !errors.Is(err, storage.ErrSchemaTooNew) {
		t.Fatalf("Open on a newer database: %v; want ErrSchemaTooNew", err)
	}
}

func TestCommitBeforeAcknowledge(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	db := storagetest.New(t)
	probe, err := pgx.Connect(ctx, storagetest.Owner(t, db).Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close(ctx)
	w := storagetest.NewWriter(t, db, storage.WriterConfig{})
	defer w.Close(ctx)

	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	var probeMu sync.Mutex
	acked := 0
	for i := range n {
		tag := fmt.Sprintf("cba-%d", i)
		b := batchOf(t, tag, 7)
		wg.Add(1)
		b.Done = func(s storage.Status, err error) {
			defer wg.Done()
			if err != nil || s != storage.StatusCommitted {
				errs <- fmt.Errorf("%s: %v %v", tag, s, err)
				return
			}
			// Another connection must already see the request's staging
			// row (one per request).
			probeMu.Lock()
			defer probeMu.Unlock()
			acked++
			var got int
			if err := probe.QueryRow(ctx, "SELECT count(*) FROM staging").Scan(&got); err != nil || got < acked {
				errs <- fmt.Errorf("%s acknowledged with %d staging rows visible for %d acknowledged (%v)", tag, got, acked, err)
			}
		}
		if err := w.Submit(b); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	mixAll(t, ctx, db)
	var count, sum int64
	var mn, mx float64
	if err := db.Pool().QueryRow(ctx, `SELECT sum(count) FROM rollups`).Scan(&count); err != nil || count != n*7 {
		t.Errorf("rollup count = %d (%v), want %d", count, err, n*7)
	}
	if err := db.Pool().QueryRow(ctx, `SELECT sum(measure_stats[1])::bigint, min(measure_stats[3]), max(measure_stats[4]) FROM rollups WHERE measure_names = '{ms}'`).Scan(&sum, &mn, &mx); err != nil || sum != n*7 || mn != 0 || mx != 6 {
		t.Errorf("rollup measures n=%d min=%v max=%v (%v)", sum, mn, mx, err)
	}
	var outcomes int64
	if err := db.Pool().QueryRow(ctx, `SELECT sum(count) FROM ingest_outcomes WHERE outcome = 'accepted'`).Scan(&outcomes); err != nil || outcomes != n*7 {
		t.Errorf("outcomes = %d (%v), want %d", outcomes, err, n*7)
	}
}

func TestDuplicates(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	db := storagetest.New(t)
	// A long linger so that the Submits below land in one group.
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

	// Within one group: same batch key, and same enc hash with another key.
	a := batchOf(t, "dup-a", 3)
	a.EncHash = randKey()
	aAgain := batchOf(t, "dup-a", 3)
	aAgain.BatchKey = a.BatchKey
	aReplay := batchOf(t, "dup-a", 3)
	aReplay.EncHash = a.EncHash
	b := batchOf(t, "dup-b", 2)
	got := submitAll(a, aAgain, aReplay, b)
	want := []storage.Status{storage.StatusCommitted, storage.StatusDuplicate, storage.StatusDuplicate, storage.StatusCommitted}
	for i := range got {
		if got[i].err != nil || got[i].s != want[i] {
			t.Errorf("group 1 request %d: %v %v; want %v", i, got[i].s, got[i].err, want[i])
		}
	}
	// Across groups: a's key again; an old enc hash with a new key; and a
	// new request.
	c := batchOf(t, "dup-c", 4)
	c.BatchKey = a.BatchKey
	d := batchOf(t, "dup-d", 4)
	d.EncHash = a.EncHash
	e := batchOf(t, "dup-e", 1)
	got = submitAll(c, d, e)
	want = []storage.Status{storage.StatusDuplicate, storage.StatusDuplicate, storage.StatusCommitted}
	for i := range got {
		if got[i].err != nil || got[i].s != want[i] {
			t.Errorf("group 2 request %d: %v %v; want %v", i, got[i].s, got[i].err, want[i])
		}
	}
	for tag, n := range map[string]int{"dup-a": 3, "dup-b": 2, "dup-c": 0, "dup-d": 0, "dup-e": 1} {
		if got := countTag(t, ctx, db, tag); got != n {
			t.Errorf("%s: %d rows, want %d", tag, got, n)
		}
	}
	// d's fresh batch key must not have been kept: nothing of a duplicate
	// is written. Claims held: a's key and enc hash, b's and e's keys.
	var claims int
	if err := db.Pool().QueryRow(ctx, "SELECT count(*) FROM dedup_claims").Scan(&claims); err != nil || claims != 4 {
		t.Errorf("%d dedup claims stored (%v), want 4", claims, err)
	}
	var outcomes int64
	if err := db.Pool().QueryRow(ctx, "SELECT sum(count) FROM ingest_outcomes").Scan(&outcomes); err != nil || outcomes != 6 {
		t.Errorf("outcome count %d (%v), want 6 (duplicates add none)", outcomes, err)
	}
}

func TestOverloaded(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	db := storagetest.New(t)
	w := storagetest.NewWriter(t, db, storage.WriterConfig{QueueSize: 2, Workers: 1, Linger: time.Second, MaxGroupRows: 1 << 30})
	defer w.Close(ctx)
	var overloaded bool
	var wg sync.WaitGroup
	for i := 0; i < 100 && !overloaded; i++ {
		b := batchOf(t, "ovl", 1)
		wg.Add(1)
		b.Done = func(storage.Status, error) { wg.Done() }
		start := time.Now()
		err := w.Submit(b)
		if d := time.Since(start); d > 50*time.Millisecond {
			t.Errorf("Submit took %v; must not block", d)
		}
		if errors.Is(err, storage.ErrOverloaded) {
			overloaded = true
			wg.Done()
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if !overloaded {
		t.Fatal("a full queue never answered ErrOverloaded")
	}
	wg.Wait()
}

func TestCloseDrains(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	db := storagetest.New(t)
	w := storagetest.NewWriter(t, db, storage.WriterConfig{})
	var mu sync.Mutex
	done := 0
	for range 20 {
		b := batchOf(t, "drain", 5)
		b.Done = func(s storage.Status, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				done++
			}
		}
		if err := w.Submit(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if done != 20 || countTag(t, ctx, db, "drain") != 100 {
		t.Errorf("after Close: %d completed, %d rows", done, countTag(t, ctx, db, "drain"))
	}
	if err := w.Submit(batchOf(t, "drain", 1)); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("Submit after Close: %v", err)
	}
}

// TestConcurrentDuplicates races the same idempotency keys through two
// workers (and two writers, like two replicas): each key is applied once.
func TestConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	db := storagetest.New(t)
	w1 := storagetest.NewWriter(t, db, storage.WriterConfig{Workers: 2, Linger: -1})
	defer w1.Close(ctx)
	w2 := storagetest.NewWriter(t, db, storage.WriterConfig{Workers: 2, Linger: -1})
	defer w2.Close(ctx)
	const keys, copies = 20, 6
	var mu sync.Mutex
	committed := map[int]int{}
	var wg sync.WaitGroup
	for c := range copies {
		for k := range keys {
			b := batchOf(t, fmt.Sprintf("race-%d", k), 2)
			b.BatchKey = []byte(fmt.Sprintf("race-key-%d", k))
			wg.Add(1)
			b.Done = func(s storage.Status, err error) {
				defer wg.Done()
				if err != nil {
					t.Errorf("key %d: %v", k, err)
					return
				}
				if s == storage.StatusCommitted {
					mu.Lock()
					committed[k]++
					mu.Unlock()
				}
			}
			w := w1
			if c%2 == 1 {
				w = w2
			}
			if err := w.Submit(b); err != nil {
				t.Fatal(err)
			}
		}
	}
	wg.Wait()
	for k := range keys {
		if committed[k] != 1 {
			t.Errorf("key %d committed %d times", k, committed[k])
		}
		if n := countTag(t, ctx, db, fmt.Sprintf("race-%d", k)); n != 2 {
			t.Errorf("key %d: %d rows, want 2", k, n)
		}
	}
}

// TestWriterEventValues checks that values reach the rollup cells exactly:
// the hour, the schema, the version, and dimensions and measures with
// escapes, non-ASCII text and extreme numbers.
func TestWriterEventValues(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	db := storagetest.New(t)
	w := storagetest.NewWriter(t, db, storage.WriterConfig{})
	defer w.Close(context.Background())
	bucket := time.Date(2026, 3, 4, 5, 0, 0, 0, time.UTC)
	tag := "q\"\\\n\tü✓"
	b := &storage.Batch{BatchKey: randKey(), Records: []storage.Record{{
		Bucket: bucket, Schema: "app.ünïcode", Version: 123456,
		Dimensions: map[string]any{"tag": tag, "flag": true, "n": int64(-42), "empty": ""},
		Measures:   map[string]float64{"a": 1.5e300, "b": -0.000123, "z": 0},
	}}}
	if s, err := w.Write(ctx, b); err != nil || s != storage.StatusCommitted {
		t.Fatal(s, err)
	}
	mixAll(t, ctx, db)
	cells, err := db.RollupCells(ctx, "app.ünïcode", 123456, bucket, bucket.Add(time.Hour))
	if err != nil || len(cells) != 1 {
		t.Fatalf("cells %+v, %v", cells, err)
	}
	c := cells[0]
	if !c.Hour.Equal(bucket) || c.Count != 1 {
		t.Errorf("cell hour %v count %d", c.Hour, c.Count)
	}
	if want := map[string]any{"tag": tag, "flag": true, "n": float64(-42), "empty": ""}; fmt.Sprint(c.Dims) != fmt.Sprint(want) {
		t.Errorf("dims = %v, want %v", c.Dims, want)
	}
	for name, v := range map[string]float64{"a": 1.5e300, "b": -0.000123, "z": 0} {
		m := c.Measures[name]
		if m.Count != 1 || m.Sum != v || m.Min != v || m.Max != v || m.Hist == nil || m.Hist.Count() != 1 {
			t.Errorf("measure %s = %+v, want %v", name, m, v)
		}
	}
}

// TestWriterRollupMixedMeasuresInOneGroup checks the in-memory
// pre-aggregation when rows of one rollup carry different measure sets in
// the same request.
func TestWriterRollupMixedMeasuresInOneGroup(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	db := storagetest.New(t)
	w := storagetest.NewWriter(t, db, storage.WriterConfig{})
	defer w.Close(context.Background())
	hour := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	b := &storage.Batch{BatchKey: randKey()}
	// Values sum exactly in any order: the writer shuffles a group's rows
	// before it aggregates them.
	for _, ms := range []map[string]float64{
		{"b": 7, "c": 1e300},
		{"a": 1.5, "b": -2},
		{"a": 0.25},
		{},
		{"a": 0.5, "c": -1e-300},
		{"a": 4, "b": 1, "c": 2},
		{"a": 4, "b": 1, "c": 2},
	} {
		b.Records = append(b.Records, storage.Record{Bucket: hour, Schema: "m", Version: 1, Dimensions: map[string]any{"os": "ios"}, Measures: ms})
	}
	if s, err := w.Write(ctx, b); err != nil || s != storage.StatusCommitted {
		t.Fatal(s, err)
	}
	mixAll(t, ctx, db)
	res, err := db.Aggregates(ctx, storage.AggregateQuery{Schema: "m", Version: 1, GroupBy: []string{"os"}, From: hour, To: hour.Add(time.Hour), K: 2})
	if err != nil || len(res.Groups) != 1 {
		t.Fatalf("aggregates %+v, %v", res, err)
	}
	g := res.Groups[0]
	want := map[string]storage.MeasureStats{
		"a": {Count: 5, Sum: 1.5 + 0.25 + 0.5 + 4 + 4, Min: 0.25, Max: 4},
		"b": {Count: 4, Sum: 7, Min: -2, Max: 7},
		"c": {Count: 4, Sum: 1e300 + -1e-300 + 2 + 2, Min: -1e-300, Max: 1e300},
	}
	if g.Count != 7 || len(g.Measures) != len(want) {
		t.Fatalf("group %+v", g)
	}
	for k, w := range want {
		m := g.Measures[k]
		m.Mean, m.Percentiles = 0, nil
		if m != w {
			t.Errorf("measure %s = %+v, want %+v", k, m, w)
		}
	}
}

// TestDedupClaimsExpiry follows dedup claims through expiry: an expired
// claim that retention has not removed yet is taken over, a live one makes
// its request a duplicate, a duplicate's other claims are released, and
// every stored expiry is a whole hour.
func TestDedupClaimsExpiry(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	db := storagetest.New(t)
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	advance := func(d time.Duration) { clock.Add(int64(d)) }
	w := storagetest.NewWriter(t, db, storage.WriterConfig{Workers: 1, Now: now, DedupHorizon: time.Hour, EncHashTTL: time.Minute, NoMixer: true})
	defer w.Close(ctx)
	write := func(b *storage.Batch) storage.Status {
		t.Helper()
		s, err := w.Write(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a := batchOf(t, "mode-a", 2)
	a.EncHash = randKey()
	if s := write(a); s != storage.StatusCommitted {
		t.Fatalf("a: %v", s)
	}
	// Both of a's claims have expired (rounded up to the hour, so at most
	// two hours on) but are still stored: they are taken over.
	advance(3 * time.Hour)
	b := batchOf(t, "mode-b", 3)
	b.BatchKey, b.EncHash = a.BatchKey, a.EncHash
	if s := write(b); s != storage.StatusCommitted {
		t.Fatalf("b (expired claims): %v", s)
	}
	c := batchOf(t, "mode-c", 1)
	c.BatchKey = a.BatchKey
	if s := write(c); s != storage.StatusDuplicate {
		t.Fatalf("c (duplicate): %v", s)
	}
	if s := write(batchOf(t, "mode-d", 1)); s != storage.StatusCommitted {
		t.Fatal("d")
	}
	e := batchOf(t, "mode-e", 1)
	e.BatchKey, e.EncHash = a.BatchKey, randKey()
	if s := write(e); s != storage.StatusDuplicate {
		t.Fatalf("e (duplicate): %v", s)
	}
	if st := w.Stats(); st.Groups != 5 || st.Duplicates != 2 {
		t.Errorf("stats %+v", st)
	}
	for tag, n := range map[string]int{"mode-a": 2, "mode-b": 3, "mode-c": 0, "mode-d": 1, "mode-e": 0} {
		if got := countTag(t, ctx, db, tag); got != n {
			t.Errorf("%s: %d events, want %d", tag, got, n)
		}
	}
	// a's two claims (taken over by b) and d's: e's enc hash was released
	// with it. No claim holds a raw key, and every expiry is an hour.
	var claims, fine, raw int
	err := db.Pool().QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE expires_at <> date_trunc('hour', expires_at)),
		count(*) FILTER (WHERE position($1::bytea IN hash) > 0 OR position($2::bytea IN hash) > 0)
		FROM dedup_claims`, a.BatchKey, a.EncHash).Scan(&claims, &fine, &raw)
	if err != nil || claims != 3 || fine != 0 || raw != 0 {
		t.Errorf("dedup claims: %d stored, %d with a time finer than the hour, %d holding a raw key (%v); want 3, 0, 0", claims, fine, raw, err)
	}
}

// TestSubmitInvalidRecord: a record the writer cannot store fails Submit
// at once (the records are encoded there), and the writer goes on.
func TestSubmitInvalidRecord(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	db := storagetest.New(t)
	w := storagetest.NewWriter(t, db, storage.WriterConfig{})
	defer w.Close(ctx)
	for name, mutate := range map[string]func(*storage.Batch){
		"NaN measure":      func(b *storage.Batch) { b.Records[1].Measures["ms"] = math.NaN() },
		"infinite measure": func(b *storage.Batch) { b.Records[0].Measures["x"] = math.Inf(-1) },
		"float dimension":  func(b *storage.Batch) { b.Records[1].Dimensions["f"] = 1.5 },
		"nil dimension":    func(b *storage.Batch) { b.Records[0].Dimensions["f"] = nil },
		"long batch key":   func(b *storage.Batch) { b.BatchKey = make([]byte, 65) },
		"NUL in dimension": func(b *storage.Batch) { b.Records[0].Dimensions["tag"] = "a\x00b" },
		"NUL in measure":   func(b *storage.Batch) { b.Records[0].Measures["m\x00"] = 1 },
		"bad claim":        func(b *storage.Batch) { b.Claims = []storage.Claim{{Kind: 1, Value: []byte("x"), TTL: time.Hour}} },
	} {
		b := batchOf(t, "invalid", 2)
		mutate(b)
		b.Done = func(storage.Status, error) { t.Errorf("%s: Done called", name) }
		if err := w.Submit(b); !errors.Is(err, storage.ErrInvalidRecord) {
			t.Errorf("%s: Submit = %v, want ErrInvalidRecord", name, err)
		}
	}
	if err := w.Submit(nil); !errors.Is(err, storage.ErrInvalidRecord) {
		t.Errorf("nil batch: Submit = %v", err)
	}
	ok := batchOf(t, "valid", 3)
	if s, err := w.Write(ctx, ok); err != nil || s != storage.StatusCommitted {
		t.Fatalf("valid batch after invalid ones: %v %v", s, err)
	}
	if n := countTag(t, ctx, db, "invalid"); n != 0 {
		t.Errorf("%d rows of invalid batches stored", n)
	}
	if n := countTag(t, ctx, db, "valid"); n != 3 {
		t.Errorf("valid batch: %d rows, want 3", n)
	}
}

// TestLingerBoundsGroupWait: a steady trickle of requests, each arriving
// within the linger of the one before, must not hold a group open until
// it is full: the linger counts from the group's first request.
func TestLingerBoundsGroupWait(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	db := storagetest.New(t)
	const linger = 60 * time.Millisecond
	w := storagetest.NewWriter(t, db, storage.WriterConfig{Linger: linger, Workers: 1, MaxGroupRows: 100000})
	defer w.Close(ctx)
	first := make(chan time.Duration, 1)
	start := time.Now()
	b := batchOf(t, "linger", 1)
	b.Done = func(storage.Status, error) { first <- time.Since(start) }
	if err := w.Submit(b); err != nil {
		t.Fatal(err)
	}
	// One request every 10 ms for 1.5 s: each within the linger of the last.
	var wg sync.WaitGroup
	for range 150 {
		time.Sleep(10 * time.Millisecond)
		b := batchOf(t, "linger", 1)
		wg.Add(1)
		b.Done = func(storage.Status, error) { wg.Done() }
		if err := w.Submit(b); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case d := <-first:
		if d > 750*time.Millisecond {
			t.Errorf("first request committed after %v with a %v linger", d, linger)
		}
	default:
		t.Errorf("first request not committed after %v of trickle with a %v linger", time.Since(start), linger)
	}
	wg.Wait()
}

// TestSmallGroupsWaitForInFlight: while one transaction is in flight, the
// other worker gathers small requests into one group and commits it when
// that transaction ends, instead of committing each as it comes.
func TestSmallGroupsWaitForInFlight(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	db := storagetest.New(t)
	w := storagetest.NewWriter(t, db, storage.WriterConfig{Workers: 2})
	defer w.Close(ctx)
	// Hold the staging table so the first transaction blocks in its
	// final batch, in flight.
	lock, err := storagetest.Owner(t, db).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback(ctx)
	if _, err := lock.Exec(ctx, "LOCK TABLE staging IN EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	submit := func(b *storage.Batch) {
		wg.Add(1)
		b.Done = func(s storage.Status, err error) {
			if err != nil || s != storage.StatusCommitted {
				t.Errorf("%v %v", s, err)
			}
			wg.Done()
		}
		if err := w.Submit(b); err != nil {
			t.Fatal(err)
		}
	}
	submit(batchOf(t, "inflight-first", 3))
	// Wait until the first transaction waits on the lock.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		var waiting int
		if err := db.Pool().QueryRow(ctx, "SELECT count(*) FROM pg_locks WHERE relation = 'staging'::regclass AND NOT granted").Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first transaction never reached the staging table")
		}
	}
	for range 5 {
		submit(batchOf(t, "inflight-small", 1))
		time.Sleep(20 * time.Millisecond)
	}
	if err := lock.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if st := w.Stats(); st.Groups != 2 {
		t.Errorf("%d transactions, want 2: the first, then one for the five small requests gathered meanwhile", st.Groups)
	}
	if n := countTag(t, ctx, db, "inflight-small"); n != 5 {
		t.Errorf("%d small rows stored, want 5", n)
	}
}
