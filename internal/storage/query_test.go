package storage_test

import (
	"errors"
	"math"
	"os"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/internal/loghist"
	"github.com/veil-telemetry/veil/internal/storage"
	"github.com/veil-telemetry/veil/internal/storage/storagetest"
)

func statMode(path string) (os.FileMode, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return fi.Mode().Perm(), nil
}

func TestAggregatesKAnonymity(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	db := storagetest.New(t)
	w := storagetest.NewWriter(t, db, storage.WriterConfig{})
	defer w.Close(ctx)
	hour := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	rec := func(os, ver string, ms *float64) storage.Record {
		r := storage.Record{Bucket: hour, Schema: "app.launch", Version: 1,
			Dimensions: map[string]any{"os": os, "app_version": ver}, Measures: map[string]float64{}}
		if ms != nil {
			r.Measures["ms"] = *ms
		}
		return r
	}
	f := func(v float64) *float64 { return &v }
	b := &storage.Batch{BatchKey: randKey(), Records: []storage.Record{
		// ios: 5 events over two versions, one without the measure.
		rec("ios", "1.0", f(10)), rec("ios", "1.0", f(20)), rec("ios", "1.1", f(30)), rec("ios", "1.1", f(40)), rec("ios", "1.1", nil),
		// android: 2 events; windows: 1 event. Both below k=3.
		rec("android", "1.0", f(100)), rec("android", "1.0", f(200)),
		rec("windows", "1.0", f(7)),
	}}
	if s, err := w.Write(ctx, b); err != nil || s != storage.StatusCommitted {
		t.Fatal(s, err)
	}
	mixAll(t, ctx, db)
	res, err := db.Aggregates(ctx, storage.AggregateQuery{Schema: "app.launch", Version: 1, GroupBy: []string{"os"},
		From: hour.Add(-time.Hour), To: hour.Add(time.Hour), K: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Groups) != 1 || res.SuppressedGroups != 2 || res.K != 3 {
		t.Fatalf("groups %+v, suppressed %d; want only ios, 2 suppressed", res.Groups, res.SuppressedGroups)
	}
	g := res.Groups[0]
	m := g.Measures["ms"]
	if g.Group["os"] != "ios" || g.Count != 5 || !g.Bucket.Equal(hour) || m.Count != 4 || m.Sum != 100 || m.Min != 10 || m.Max != 40 || math.Abs(m.Mean-25) > 1e-9 {
		t.Fatalf("ios group = %+v", g)
	}
	// Percentiles of 10, 20, 30, 40 (ranks ⌈q·n⌉): 20, 40, 40, within the
	// histogram's relative error.
	if p := m.Percentiles; p == nil || !near(p.P50, 20) || !near(p.P90, 40) || !near(p.P99, 40) {
		t.Errorf("ios percentiles = %+v, want about 20, 40, 40", m.Percentiles)
	}
	// Grouped by version too, every group is below k=3 except none.
	res, err = db.Aggregates(ctx, storage.AggregateQuery{Schema: "app.launch", Version: 1, GroupBy: []string{"os", "app_version"},
		From: hour, To: hour.Add(time.Hour), K: 3, Bucket: "day"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Groups) != 1 || res.SuppressedGroups != 3 || res.Groups[0].Group["app_version"] != "1.1" || !res.Groups[0].Bucket.Equal(hour.Truncate(24*time.Hour)) {
		t.Fatalf("by os+version: %+v suppressed %d", res.Groups, res.SuppressedGroups)
	}
	// No group by: one group per bucket with all 8 events.
	res, err = db.Aggregates(ctx, storage.AggregateQuery{Schema: "app.launch", Version: 1, From: hour, To: hour.Add(time.Hour), K: 3})
	if err != nil || len(res.Groups) != 1 || res.Groups[0].Count != 8 || res.SuppressedGroups != 0 {
		t.Fatalf("no group by: %+v, %v", res, err)
	}
	// k below 2 withholds nothing, so it is refused, not raised: unset,
	// zero, one and negative alike.
	for _, k := range []int{1, 0, -1} {
		res, err = db.Aggregates(ctx, storage.AggregateQuery{Schema: "app.launch", Version: 1, GroupBy: []string{"os"},
			From: hour.Add(-time.Hour), To: hour.Add(time.Hour), K: k})
		if !errors.Is(err, storage.ErrKTooSmall) || len(res.Groups) != 0 {
			t.Fatalf("k=%d: %d groups, %v; want ErrKTooSmall", k, len(res.Groups), err)
		}
	}
	// Nothing in range: no groups, none suppressed.
	res, err = db.Aggregates(ctx, storage.AggregateQuery{Schema: "app.launch", Version: 1, From: hour.Add(time.Hour), To: hour.Add(2 * time.Hour), K: 3})
	if err != nil || len(res.Groups) != 0 || res.SuppressedGroups != 0 {
		t.Fatalf("empty range: %+v, %v", res, err)
	}
}

// TestRollupMeasuresMerge commits the same dimension set in separate
// transactions with different measure sets, so the stored statistics are
// merged by the upsert (veil_merge_measures), not only in memory.
func TestRollupMeasuresMerge(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	db := storagetest.New(t)
	w := storagetest.NewWriter(t, db, storage.WriterConfig{})
	defer w.Close(ctx)
	hour := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	dims := map[string]any{"os": "ios"}
	for _, ms := range []map[string]float64{
		{"a": 1.5, "b": -2},
		{"a": 0.125}, // exact binary fractions: the mixer sums in shuffled order
		{"b": 7, "c": 1e300},
		{"a": 0.25, "c": -1e-300},
		{},
		{"a": 4, "b": 1, "c": 2, `q"\\,{}`: 3}, // not the stored names: general merge
		{"a": 4, "b": 1, "c": 2, `q"\\,{}`: 5}, // the stored names: element-wise merge
	} {
		b := &storage.Batch{BatchKey: randKey(), Records: []storage.Record{{Bucket: hour, Schema: "m", Version: 1, Dimensions: dims, Measures: ms}}}
		if s, err := w.Write(ctx, b); err != nil || s != storage.StatusCommitted {
			t.Fatal(s, err)
		}
	}
	mixAll(t, ctx, db)
	res, err := db.Aggregates(ctx, storage.AggregateQuery{Schema: "m", Version: 1, GroupBy: []string{"os"}, From: hour, To: hour.Add(time.Hour), K: 2})
	if err != nil || len(res.Groups) != 1 {
		t.Fatalf("aggregates %+v, %v", res, err)
	}
	g := res.Groups[0]
	want := map[string]storage.MeasureStats{
		"a":       {Count: 5, Sum: 1.5 + 0.125 + 0.25 + 4 + 4, Min: 0.125, Max: 4},
		"b":       {Count: 4, Sum: 7, Min: -2, Max: 7},
		"c":       {Count: 4, Sum: 1e300 + -1e-300 + 2 + 2, Min: -1e-300, Max: 1e300},
		`q"\\,{}`: {Count: 2, Sum: 8, Min: 3, Max: 5},
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

func TestStats(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	db := storagetest.New(t)
	w := storagetest.NewWriter(t, db, storage.WriterConfig{})
	defer w.Close(ctx)
	hour := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	for range 2 {
		b := &storage.Batch{BatchKey: randKey(), Outcomes: []storage.OutcomeCount{
			{Bucket: hour, Schema: "app.launch", Version: 1, Outcome: "accepted", Count: 3},
			{Bucket: hour.Add(time.Minute), Schema: "app.launch", Version: 1, Outcome: "rejected", Reason: "identifier_email", Count: 1},
		}}
		if _, err := w.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	mixAll(t, ctx, db)
	rows, err := db.Stats(ctx, hour, hour.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := []storage.StatRow{
		{Schema: "app.launch", Version: 1, Outcome: "accepted", Count: 6},
		{Schema: "app.launch", Version: 1, Outcome: "rejected", Reason: "identifier_email", Count: 2},
	}
	if len(rows) != len(want) || rows[0] != want[0] || rows[1] != want[1] {
		t.Fatalf("Stats = %+v; want %+v", rows, want)
	}
}

func TestRetention(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	db := storagetest.New(t)
	now := time.Now().UTC()
	old := now.AddDate(0, 0, -40).Truncate(time.Hour)
	recent := now.AddDate(0, 0, -2).Truncate(time.Hour)
	clock := now.AddDate(0, 0, -40)
	w := storagetest.NewWriter(t, db, storage.WriterConfig{Now: func() time.Time { return clock }})
	defer w.Close(ctx)
	for _, bucket := range []time.Time{old, recent} {
		b := batchOf(t, "ret-"+bucket.Format(time.DateOnly), 3)
		for i := range b.Records {
			b.Records[i].Bucket = bucket
		}
		b.EncHash = randKey()
		if _, err := w.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	mixAll(t, ctx, db)
	// Event partitions of an earlier version, left to retention.
	for _, day := range []time.Time{old, recent} {
		if _, err := storagetest.Owner(t, db).Exec(ctx, "SELECT veil_ensure_event_partition($1::date)", day.Format(time.DateOnly)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.RunRetention(ctx, now, storage.RetentionConfig{RawDays: 30, RollupDays: 35, DaysAhead: 3}); err != nil {
		t.Fatal(err)
	}
	days, err := db.EventPartitions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, d := range days {
		have[d.Format(time.DateOnly)] = true
	}
	if have[old.Format(time.DateOnly)] {
		t.Errorf("partition of %s (40 days old) not dropped", old.Format(time.DateOnly))
	}
	if !have[recent.Format(time.DateOnly)] {
		t.Errorf("partition of %s (2 days old) dropped", recent.Format(time.DateOnly))
	}
	if len(days) != 1 {
		t.Errorf("event partitions %v: none is created any more", days)
	}
	if n := countTag(t, ctx, db, "ret-"+recent.Format(time.DateOnly)); n != 3 {
		t.Errorf("recent rows: %d, want 3", n)
	}
	var rollupsOld, keys int
	if err := db.Pool().QueryRow(ctx, "SELECT count(*) FROM rollups WHERE hour = $1", old).Scan(&rollupsOld); err != nil || rollupsOld != 0 {
		t.Errorf("old rollups kept: %d %v", rollupsOld, err)
	}
	// The writer's clock was 40 days back: every dedup key has expired.
	if err := db.Pool().QueryRow(ctx, "SELECT count(*) FROM dedup_claims").Scan(&keys); err != nil || keys != 0 {
		t.Errorf("expired dedup keys kept: %d %v", keys, err)
	}
}

func near(got, want float64) bool { return math.Abs(got-want) <= loghist.RelativeError*math.Abs(want) }

// TestAggregatesLeaveOutUnverified: the unverified stream (untokened
// batches of a schema whose tokens are optional) is left out of aggregate
// answers unless the query includes it.
func TestAggregatesLeaveOutUnverified(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	db := storagetest.New(t)
	w := storagetest.NewWriter(t, db, storage.WriterConfig{})
	defer w.Close(ctx)
	hour := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	var recs []storage.Record
	for i := range 7 {
		dims := map[string]any{"os": "ios"}
		if i >= 4 {
			dims[storage.UnverifiedDimension] = true
		}
		recs = append(recs, storage.Record{Bucket: hour, Schema: "app.launch", Version: 1,
			Dimensions: dims, Measures: map[string]float64{"ms": float64(i)}})
	}
	if s, err := w.Write(ctx, &storage.Batch{BatchKey: randKey(), Records: recs}); err != nil || s != storage.StatusCommitted {
		t.Fatal(s, err)
	}
	mixAll(t, ctx, db)
	for _, c := range []struct {
		include bool
		want    int64
	}{{false, 4}, {true, 7}} {
		res, err := db.Aggregates(ctx, storage.AggregateQuery{Schema: "app.launch", Version: 1, GroupBy: []string{"os"},
			From: hour, To: hour.Add(time.Hour), K: 2, IncludeUnverified: c.include})
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, g := range res.Groups {
			n += g.Count
		}
		if n != c.want {
			t.Errorf("include unverified %v: %d events, want %d", c.include, n, c.want)
		}
	}
}
