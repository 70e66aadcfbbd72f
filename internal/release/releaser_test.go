package release

import (
	"context"
	"encoding/json"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/veil-telemetry/veil/internal/dp"
	"github.com/veil-telemetry/veil/internal/storage"
	"github.com/veil-telemetry/veil/internal/storage/storagetest"
)

// event is one event of the fake source.
type event struct {
	bucket time.Time
	dims   map[string]any
	ms     map[string]int64
}

// fakeSource keeps events in memory and groups them like the rollups,
// with unit-bin histograms when hist is set. Settled and MixEpoch follow
// the same rules as RollupSource on the injected clock.
type fakeSource struct {
	mu     sync.Mutex
	events []event
	hist   bool
	reads  int
	// anyBucket serves every bucket the same events (benchmarks).
	anyBucket bool
}

func (f *fakeSource) add(e ...event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, e...)
}

func (f *fakeSource) Histograms() bool { return f.hist }

func (f *fakeSource) Settled(_, end, now time.Time) bool {
	return RollupSource{}.Settled(time.Time{}, end, now)
}

func (f *fakeSource) MixEpoch(now time.Time) int64 { return RollupSource{}.MixEpoch(now) }

func (f *fakeSource) Cells(_ context.Context, _ string, _ int, bucket time.Time, dims []string) ([]Cell, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	type agg struct {
		cell   Cell
		values map[string][]int64
	}
	byKey := map[Key]*agg{}
	var order []Key
	for _, e := range f.events {
		if !f.anyBucket && !e.bucket.Equal(bucket) {
			continue
		}
		vals := make([]any, len(dims))
		for i, d := range dims {
			vals[i] = e.dims[d]
		}
		k := KeyOf(vals)
		a := byKey[k]
		if a == nil {
			a = &agg{cell: Cell{Values: vals, Measures: map[string]MeasureCell{}}, values: map[string][]int64{}}
			byKey[k] = a
			order = append(order, k)
		}
		a.cell.Count++
		for name, v := range e.ms {
			m := a.cell.Measures[name]
			m.Count++
			m.Sum += float64(v)
			a.cell.Measures[name] = m
			a.values[name] = append(a.values[name], v)
		}
	}
	var out []Cell
	for _, k := range order {
		a := byKey[k]
		if f.hist {
			for name, vs := range a.values {
				m := a.cell.Measures[name]
				m.Hist = syntheticHist(vs)
				a.cell.Measures[name] = m
			}
		}
		out = append(out, a.cell)
	}
	return out, nil
}

// clock is an injected clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// rig is a releaser over a fresh database, a fake source and a clock.
type rig struct {
	db    *storage.DB
	src   *fakeSource
	clock *clock
	rel   *Releaser
	reg   Registered
}

// hour0 is the first bucket of the tests, the schema's registration.
var hour0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func newRig(t *testing.T, noise Noise, xveil string, hist bool) *rig {
	t.Helper()
	r := &rig{db: storagetest.New(t), src: &fakeSource{hist: hist}, clock: &clock{t: hour0.Add(5 * time.Minute)}}
	r.reopen(t, noise)
	p, err := NewPlan(readmeSchema(t, xveil), hist)
	if err != nil {
		t.Fatal(err)
	}
	r.reg = Registered{Plan: p, Since: hour0}
	return r
}

// reopen replaces the releaser, as a restart would.
func (r *rig) reopen(t *testing.T, noise Noise) {
	t.Helper()
	rel, err := New(Config{DB: r.db, Source: r.src, Noise: noise, Now: r.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	r.rel = rel
}

func (r *rig) answer(t *testing.T, groupBy []string, from, to time.Time, bucket string) *Answer {
	t.Helper()
	a, err := r.rel.Answer(context.Background(), r.reg, Query{GroupBy: groupBy, From: from, To: to, Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// poolNoise runs a noise pool for the test's duration.
func poolNoise(t *testing.T, seed uint64) Noise {
	t.Helper()
	pool := dp.NewPool(chacha(seed), 64)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); pool.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return pool.Laplace
}

// reviewEvents are the security review's events: ten {os: ios, ms: 100}
// and one {os: android, app_version: 9.9, ms: 777}.
func reviewEvents(bucket time.Time) []event {
	var out []event
	for range 10 {
		out = append(out, event{bucket: bucket, dims: map[string]any{"os": "ios"}, ms: map[string]int64{"cold_start_ms": 100}})
	}
	return append(out, event{bucket: bucket, dims: map[string]any{"os": "android", "app_version": "9.9"}, ms: map[string]int64{"cold_start_ms": 777}})
}

func group(a *Answer, vals map[string]any) *Group {
	for i := range a.Groups {
		if mustEqual(a.Groups[i].Values, vals) {
			return &a.Groups[i]
		}
	}
	return nil
}

func mustEqual(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestReviewAttack replays the review: the ungrouped answer minus the
// grouped ones must not give the android event's count, value or
// dimension, in the open bucket (provisional) or the closed one (final),
// over shifted ranges and day buckets, before and after a restart.
func TestReviewAttack(t *testing.T) {
	r := newRig(t, counter(), "", false)
	r.src.add(reviewEvents(hour0)...)
	check := func(stage string) {
		t.Helper()
		for _, unit := range []string{"hour", "day"} {
			for _, rng := range [][2]time.Time{
				{hour0, hour0.Add(time.Hour)},
				{hour0.Add(-3 * time.Hour), hour0.Add(2 * time.Hour)},
				{hour0.Add(-24 * time.Hour), hour0.Add(24 * time.Hour)},
			} {
				total := r.answer(t, nil, rng[0], rng[1], unit)
				byOS := r.answer(t, []string{"os"}, rng[0], rng[1], unit)
				byVersion := r.answer(t, []string{"app_version"}, rng[0], rng[1], unit)
				tg, ios := group(total, map[string]any{}), group(byOS, map[string]any{"os": "ios"})
				android := group(byOS, map[string]any{"os": "android"})
				if tg == nil || ios == nil || android == nil {
					t.Fatalf("%s %s: missing groups: %s %s", stage, unit, mustJSON(t, total), mustJSON(t, byOS))
				}
				m := "cold_start_ms"
				if tg.Count-ios.Count == 1 || tg.Measures[m].Sum-ios.Measures[m].Sum == 777 {
					t.Errorf("%s %s: ungrouped minus ios recovers the android event: %d, %v", stage, unit, tg.Count-ios.Count, tg.Measures[m].Sum-ios.Measures[m].Sum)
				}
				if android.Count == 1 || android.Measures[m].Sum == 777 || tg.Count == 11 || ios.Count == 10 {
					t.Errorf("%s %s: an exact value was released: total %d ios %d android %d", stage, unit, tg.Count, ios.Count, android.Count)
				}
				if g := group(byVersion, map[string]any{"app_version": "9.9"}); g != nil {
					t.Errorf("%s %s: the one-event version was released: %+v", stage, unit, g)
				}
			}
		}
	}
	check("provisional")
	// A restart between queries draws nothing new: same answers.
	before := mustJSON(t, r.answer(t, []string{"os"}, hour0, hour0.Add(time.Hour), "hour"))
	r.reopen(t, counter())
	if after := mustJSON(t, r.answer(t, []string{"os"}, hour0, hour0.Add(time.Hour), "hour")); after != before {
		t.Fatalf("restart changed the answer:\n%s\n%s", before, after)
	}
	// The bucket closes and settles: the final release.
	r.clock.set(hour0.Add(time.Hour + DefaultGrace))
	check("final")
	a := r.answer(t, []string{"os"}, hour0, hour0.Add(time.Hour), "hour")
	if a.Groups[0].Provisional {
		t.Fatal("settled bucket still provisional")
	}
	checkLedger(t, r)
}

// checkLedger: no bucket's releases spent more than its budget, at most
// MaxProvisional provisional releases each, and the ledger agrees with
// the releases it charged.
func checkLedger(t *testing.T, r *rig) {
	t.Helper()
	rows, err := r.db.Pool().Query(context.Background(), `SELECT l.bucket, l.budget, l.spent, l.releases,
			(SELECT array_agg(epsilon ORDER BY seq) FROM releases x WHERE x.schema_name = l.schema_name
				AND x.schema_version = l.schema_version AND x.bucket = l.bucket),
			(SELECT count(*) FILTER (WHERE NOT final) FROM releases x WHERE x.schema_name = l.schema_name
				AND x.schema_version = l.schema_version AND x.bucket = l.bucket)
		FROM release_ledger l`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
		var (
			b             time.Time
			budget, spent string
			releases      int16
			epsilons      []string
			provisional   int64
		)
		if err := rows.Scan(&b, &budget, &spent, &releases, &epsilons, &provisional); err != nil {
			t.Fatal(err)
		}
		total, _ := new(big.Rat).SetString(budget)
		sp, _ := new(big.Rat).SetString(spent)
		sum := new(big.Rat)
		for _, e := range epsilons {
			x, _ := new(big.Rat).SetString(e)
			sum.Add(sum, x)
		}
		if sp.Cmp(total) > 0 || sum.Cmp(sp) != 0 || int(releases) != len(epsilons) || provisional > MaxProvisional {
			t.Errorf("bucket %s: budget %s spent %s releases %d charged %v provisional %d", b, budget, spent, releases, epsilons, provisional)
		}
	}
	if n == 0 {
		t.Fatal("no ledger rows")
	}
}

// TestProvisionalThenFinal walks an hour minute by minute with a query
// each minute: a provisional release per mix epoch, three at most, then
// the final one with the rest of the budget, at least half; repeated and
// shifted queries see the same persisted cells; a day answer is the sum
// of its hours.
func TestProvisionalThenFinal(t *testing.T) {
	r := newRig(t, poolNoise(t, 9), "", true)
	q := func() *Answer { return r.answer(t, []string{"os"}, hour0, hour0.Add(time.Hour), "hour") }
	var answers []string
	for minute := 5; minute < 12; minute++ {
		r.clock.set(hour0.Add(time.Duration(minute) * time.Minute))
		r.src.add(reviewEvents(hour0)...)
		a := mustJSON(t, q())
		if b := mustJSON(t, q()); a != b {
			t.Fatalf("minute %d: the same query twice differs", minute)
		}
		answers = append(answers, a)
	}
	// Three epochs drew three releases; the later ones reuse the third.
	if answers[0] == answers[1] || answers[1] == answers[2] || answers[2] != answers[3] || answers[3] != answers[6] {
		t.Errorf("provisional releases: want 3 distinct then the third repeated")
	}
	var n int
	if err := r.db.Pool().QueryRow(context.Background(), `SELECT count(*) FROM releases WHERE NOT final`).Scan(&n); err != nil || n != MaxProvisional {
		t.Fatalf("%d provisional releases (%v)", n, err)
	}
	// The next hour opens; hour0 is settling (grace), so still provisional.
	r.clock.set(hour0.Add(time.Hour + time.Minute))
	if a := q(); !a.Groups[0].Provisional {
		t.Fatal("a bucket within its grace period got its final release")
	}
	r.clock.set(hour0.Add(time.Hour + DefaultGrace))
	if err := r.rel.RunOnce(context.Background(), func(context.Context) ([]Registered, error) {
		return []Registered{r.reg}, nil
	}); err != nil {
		t.Fatal(err)
	}
	var eps string
	if err := r.db.Pool().QueryRow(context.Background(), `SELECT epsilon FROM releases WHERE final`).Scan(&eps); err != nil || eps != "1/2" {
		t.Fatalf("final ε %q (%v), want the remaining 1/2", eps, err)
	}
	final := q()
	if final.Groups[0].Provisional {
		t.Fatal("not final")
	}
	// A shifted range that overlaps hour0 shows hour0's cells unchanged.
	shifted := r.answer(t, []string{"os"}, hour0.Add(-30*time.Minute), hour0.Add(90*time.Minute), "hour")
	for _, g := range final.Groups {
		s := group(shifted, g.Values)
		if s == nil || mustJSON(t, s) != mustJSON(t, g) {
			t.Errorf("shifted range redrew %v", g.Values)
		}
	}
	// Day = post-processing of the hours: hour0 final plus hour1
	// provisional (drawn by the shifted query).
	day := r.answer(t, []string{"os"}, hour0.Truncate(24*time.Hour), hour0.Truncate(24*time.Hour).Add(24*time.Hour), "day")
	if len(day.Groups) != 2 || !day.Groups[0].Provisional {
		t.Fatalf("day %s", mustJSON(t, day))
	}
	raw := map[string]int64{}
	rows, _ := r.db.Pool().Query(context.Background(), `SELECT c.cell, sum(c.count) FROM release_cells c
		JOIN (SELECT bucket, max(seq) AS seq FROM releases GROUP BY bucket) l USING (bucket, seq)
		WHERE c.grouping = 'os' AND c.bucket >= $1 GROUP BY c.cell`, hour0)
	for rows.Next() {
		var k string
		var v int64
		rows.Scan(&k, &v)
		raw[k] = v
	}
	rows.Close()
	for _, g := range day.Groups {
		want := max(raw[string(KeyOf([]any{g.Values["os"]}))], 0)
		if g.Count != want {
			t.Errorf("day %v: %d, want the clamped sum of its hours' released counts %d", g.Values, g.Count, want)
		}
	}
	checkLedger(t, r)
}

// TestLedgerRefusesOverdraw: a bucket whose budget is spent gets no
// release, and nothing is stored.
func TestLedgerRefusesOverdraw(t *testing.T) {
	r := newRig(t, zero, "", false)
	if _, err := r.db.Pool().Exec(context.Background(), `INSERT INTO release_ledger (schema_name, schema_version, bucket, budget, spent)
		VALUES ('app.launch', 1, $1, '1', '9/10')`, hour0); err != nil {
		t.Fatal(err)
	}
	_, err := r.rel.Answer(context.Background(), r.reg, Query{From: hour0, To: hour0.Add(time.Hour), Bucket: "hour"})
	if err == nil {
		t.Fatal("a release past the budget was drawn")
	}
	var n int
	r.db.Pool().QueryRow(context.Background(), `SELECT count(*) FROM releases`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d releases stored", n)
	}
	var spent string
	r.db.Pool().QueryRow(context.Background(), `SELECT spent FROM release_ledger`).Scan(&spent)
	if spent != "9/10" {
		t.Fatalf("spent %s after a refused charge", spent)
	}
}

func TestNotInPlanAndRetention(t *testing.T) {
	r := newRig(t, zero, `, "release": {"plan": [["os"]]}`, false)
	_, err := r.rel.Answer(context.Background(), r.reg, Query{GroupBy: nil, From: hour0, To: hour0.Add(time.Hour)})
	if !errorsIs(err, ErrNotInPlan) || !strings.Contains(err.Error(), "[os]") {
		t.Fatalf("total outside the plan: %v", err)
	}
	// Buckets before registration are never released; the default range
	// of a day before it is empty.
	a := r.answer(t, []string{"os"}, hour0.Add(-24*time.Hour), hour0, "hour")
	if len(a.Groups) != 0 {
		t.Fatalf("released before registration: %s", mustJSON(t, a))
	}
	r.answer(t, []string{"os"}, hour0, hour0.Add(time.Hour), "hour")
	// Past retention (30 days), RunOnce prunes the release and its ledger.
	r.clock.set(hour0.Add(31 * 24 * time.Hour))
	r.rel.cfg.MaxPerRun = 1
	if err := r.rel.RunOnce(context.Background(), func(context.Context) ([]Registered, error) {
		return []Registered{r.reg}, nil
	}); err != nil {
		t.Fatal(err)
	}
	var n int
	r.db.Pool().QueryRow(context.Background(), `SELECT count(*) FROM release_ledger WHERE bucket = $1`, hour0).Scan(&n)
	if n != 0 {
		t.Fatal("expired ledger row kept")
	}
}

// TestExport: the CSV holds the newest release of each bucket, noisy
// values as stored.
func TestExport(t *testing.T) {
	r := newRig(t, counter(), "", false)
	r.src.add(reviewEvents(hour0)...)
	r.answer(t, []string{"os"}, hour0, hour0.Add(time.Hour), "hour")
	var b strings.Builder
	if err := r.rel.Export(context.Background(), r.reg.Plan, &b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if lines[0] != "bucket,release,epsilon,grouping,app_version,os,count,cold_start_ms.sum,cold_start_ms.histogram" {
		t.Fatalf("header %q", lines[0])
	}
	// total, android, ios; the one-event app version was not selected.
	if len(lines) != 4 || !strings.HasPrefix(lines[1], "2026-03-02T10:00:00Z,provisional,1/6,,,,") || !strings.Contains(b.String(), ",os,,android,") {
		t.Fatalf("csv:\n%s", b.String())
	}
	for _, l := range lines[1:] {
		if strings.Contains(l, ",11,") || strings.Contains(l, ",777,") {
			t.Errorf("exact value in %q", l)
		}
	}
}

// TestConcurrentAnswers: queries racing on one bucket draw one release,
// and all see it; the metrics count it.
func TestConcurrentAnswers(t *testing.T) {
	r := newRig(t, poolNoise(t, 3), "", false)
	reg := prometheus.NewRegistry()
	rel, err := New(Config{DB: r.db, Source: r.src, Noise: poolNoise(t, 4), Now: r.clock.now, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	r.rel = rel
	r.src.add(reviewEvents(hour0)...)
	var wg sync.WaitGroup
	answers := make([]string, 8)
	for i := range answers {
		wg.Go(func() {
			a, err := r.rel.Answer(context.Background(), r.reg, Query{GroupBy: []string{"os"}, From: hour0, To: hour0.Add(time.Hour), Bucket: "hour"})
			if err != nil {
				t.Error(err)
				return
			}
			answers[i] = mustJSON(t, a)
		})
	}
	wg.Wait()
	for _, a := range answers[1:] {
		if a != answers[0] {
			t.Fatalf("racing queries saw different releases:\n%s\n%s", answers[0], a)
		}
	}
	var n int
	r.db.Pool().QueryRow(context.Background(), `SELECT count(*) FROM releases`).Scan(&n)
	if n != 1 {
		t.Fatalf("%d releases drawn", n)
	}
	checkLedger(t, r)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, mf := range mfs {
		found[mf.GetName()] = true
	}
	if !found["veil_releases_total"] || !found["veil_release_budget_left_epsilon"] {
		t.Errorf("metrics %v", found)
	}
}

// TestEmptyBucketReleased: a bucket without events is released like any
// other (every public cell, with noise), so whether data arrived is not
// shown by which cells exist.
func TestEmptyBucketReleased(t *testing.T) {
	r := newRig(t, counter(), "", false)
	a := r.answer(t, []string{"os"}, hour0, hour0.Add(time.Hour), "hour")
	if len(a.Groups) != 2 || group(a, map[string]any{"os": "ios"}) == nil || group(a, map[string]any{"os": "android"}) == nil {
		t.Fatalf("empty bucket: %s", mustJSON(t, a))
	}
	if tot := r.answer(t, nil, hour0, hour0.Add(time.Hour), "hour"); len(tot.Groups) != 1 || tot.Groups[0].Count == 0 {
		t.Fatalf("empty bucket's total: %s", mustJSON(t, tot))
	}
}
