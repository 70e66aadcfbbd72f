package ingest

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/veil-telemetry/veil/internal/schema"
	"github.com/veil-telemetry/veil/internal/storage"
	"github.com/veil-telemetry/veil/internal/storage/storagetest"
	"github.com/veil-telemetry/veil/internal/testlog"

	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

func TestMain(m *testing.M) { storagetest.Main(m) }

// TestPipelineStoresNothingRejected is the Done-when test of the ingest
// pipeline: a batch mixing valid, invalid and identifying events goes
// through the real writer into PostgreSQL; the stored rows hold dimensions
// and measures only, at the coarse receive time, and no table anywhere
// holds a rejected value, an unregistered schema name, an undeclared field
// name or the batch_id.
func TestPipelineStoresNothingRejected(t *testing.T) {
	db := storagetest.New(t)
	// The tables are read as their owner: the service's login may not
	// read events, and information_schema lists only what a login may use.
	owner := storagetest.Owner(t, db)
	var logs testlog.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w := storagetest.NewWriter(t, db, storage.WriterConfig{Logger: logger})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		w.Close(ctx)
	})
	now := time.Now().UTC()
	s, err := New(Config{
		Registry: testRegistry(t), Writer: w, Logger: logger,
		Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}

	// Every rejected value carries a marker no accepted value has.
	secrets := []string{
		"zqx.roe.4711@example.org",             // email
		"+44 20 7946 4711",                     // phone
		"DE89 3704 0044 0532 0130 00",          // IBAN
		"6f1c2a4e-9b3d-4c7a-8e21-5d0f3b9a4711", // device id
		"198.51.100.47",                        // IPv4
		"zqx-unknown-field-4711",               // an undeclared field's name
		"zqx.schema.4711",                      // an unregistered schema's name
		"987654321",                            // an out-of-range measure
		"zqx-bad-version",                      // a value failing a pattern
		"zqx-type-4711",                        // a string for a boolean
	}
	idSample := identifierSample(t, schema.KindDeviceID)
	events := []*veilv1.Event{
		launch(t, map[string]any{"os": "ios", "app_version": "12.4", "locale": "de-DE", "warm": true, "cold_start_ms": 420, "screens": 3}),
		launch(t, map[string]any{"os": "android", "note": "contact zqx.roe.4711@example.org"}),
		launch(t, map[string]any{"os": "android", "note": "+44 20 7946 4711"}),
		launch(t, map[string]any{"os": "ios", "note": "DE89 3704 0044 0532 0130 00"}),
		launch(t, map[string]any{"os": "ios", "note": idSample}),
		launch(t, map[string]any{"os": "ios", "note": "from 198.51.100.47"}),
		launch(t, map[string]any{"os": "ios", "zqx-unknown-field-4711": 1}),
		event(t, "zqx.schema.4711", 1, map[string]any{"os": "ios"}),
		launch(t, map[string]any{"os": "ios", "cold_start_ms": 987654321}),
		launch(t, map[string]any{"os": "ios", "app_version": "zqx-bad-version"}),
		launch(t, map[string]any{"os": "ios", "warm": "zqx-type-4711"}),
		event(t, "app.crash", 2, map[string]any{"kind": "native", "count": 7}),
		launch(t, map[string]any{"os": "android", "cold_start_ms": 1200}),
	}
	secrets = append(secrets, idSample)
	req := &veilv1.SubmitEventsRequest{BatchId: testBatchID, Events: events}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var hash [32]byte
	copy(hash[:], "zqx-enc-hash-0123456789abcdef!!")
	resp, err := s.SubmitEvents(WithEncHash(ctx, hash), req)
	if err != nil {
		t.Fatal(err)
	}
	checkResults(t, resp, []want{
		{StatusAccepted, "", ""},
		{StatusRejected, schema.ReasonIdentifierEmail, "note"},
		{StatusRejected, schema.ReasonIdentifierPhone, "note"},
		{StatusRejected, schema.ReasonIdentifierIBAN, "note"},
		{StatusRejected, schema.ReasonIdentifierDeviceID, "note"},
		{StatusRejected, schema.ReasonIdentifierIPv4, "note"},
		{StatusRejected, schema.ReasonFieldUnknown, ""},
		{StatusRejected, schema.ReasonSchemaUnknown, ""},
		{StatusRejected, schema.ReasonFieldOutOfRange, "cold_start_ms"},
		{StatusRejected, schema.ReasonFieldOutOfRange, "app_version"},
		{StatusRejected, schema.ReasonFieldType, "warm"},
		{StatusAccepted, "", ""},
		{StatusAccepted, "", ""},
	})

	// The stored rows: dimensions and measures only, at the coarse time.
	hour := now.Truncate(time.Hour)
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	// Once mixed, the stored form is rollup cells (one event each here):
	// their measures' sums are the values.
	storagetest.Mix(t, db)
	rows, err := owner.Query(ctx, `SELECT hour, schema_name, schema_version, dims::text, count, measure_names, measure_stats FROM rollups`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var bucket time.Time
		var name, dims string
		var version int
		var count int64
		var names []string
		var stats []float64
		if err := rows.Scan(&bucket, &name, &version, &dims, &count, &names, &stats); err != nil {
			t.Fatal(err)
		}
		ms := map[string]float64{}
		for i, n := range names {
			ms[n] = stats[4*i+1]
		}
		mj, _ := json.Marshal(ms)
		got = append(got, fmt.Sprintf("%s %s v%d %s %s", bucket.UTC().Format(time.RFC3339), name, version, canonJSON(t, dims), canonJSON(t, string(mj))))
		if count != 1 {
			t.Errorf("cell %s counts %d events", dims, count)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	wantRows := []string{
		fmt.Sprintf("%s app.crash v2 {\"kind\":\"native\"} {\"count\":7}", day.Format(time.RFC3339)),
		fmt.Sprintf("%s app.launch v1 {\"app_version\":\"12.4\",\"locale\":\"de-DE\",\"os\":\"ios\",\"warm\":true} {\"cold_start_ms\":420,\"screens\":3}", hour.Format(time.RFC3339)),
		fmt.Sprintf("%s app.launch v1 {\"os\":\"android\"} {\"cold_start_ms\":1200}", hour.Format(time.RFC3339)),
	}
	slices.Sort(wantRows)
	if !slices.Equal(got, wantRows) {
		t.Errorf("rollup cells:\n got %q\nwant %q", got, wantRows)
	}

	// A retry of the batch adds nothing and is answered duplicate.
	resp, err = s.SubmitEvents(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if r := resp.Results[0]; r.Status != StatusDuplicate {
		t.Errorf("retry answered %v", r)
	}
	storagetest.Mix(t, db)
	var n int
	if err := owner.QueryRow(ctx, `SELECT sum(count) FROM rollups`).Scan(&n); err != nil || n != 3 {
		t.Errorf("%d events after the retry (%v), want 3", n, err)
	}

	// Scan every table, as text, for every rejected value and the batch id.
	tables := allTables(t, ctx, owner)
	if !slices.Contains(tables, "rollups") || !slices.Contains(tables, "dedup_claims") {
		t.Fatalf("tables %v", tables)
	}
	t.Logf("scanning tables %v", tables)
	keyHex := hex.EncodeToString(testBatchKey)
	// The scan sees stored values: an accepted one is there.
	if text := tableText(t, ctx, owner, "rollups"); !strings.Contains(text, "de-DE") {
		t.Errorf("rollups as text lack an accepted value: %s", text)
	}
	for _, tbl := range tables {
		text := tableText(t, ctx, owner, tbl)
		for _, v := range secrets {
			if strings.Contains(strings.ToLower(text), strings.ToLower(v)) {
				t.Errorf("table %s holds rejected value %q", tbl, v)
			}
		}
		if strings.Contains(text, "zqx") || strings.Contains(text, "4711") {
			t.Errorf("table %s holds a marker of a rejected value", tbl)
		}
		if strings.Contains(text, testBatchID) {
			t.Errorf("table %s holds the batch_id", tbl)
		}
		// The decoded key is stored nowhere: dedup_claims holds a keyed
		// hash of it (DESIGN.md invariant 3).
		if strings.Contains(text, keyHex) {
			t.Errorf("table %s holds the batch key", tbl)
		}
	}
	if text := tableText(t, ctx, owner, "dedup_claims"); text == "" {
		t.Errorf("dedup_claims holds no claim")
	}

	// Outcome counts: reasons and registered names only.
	out := tableText(t, ctx, owner, "ingest_outcomes")
	for _, reason := range []string{schema.ReasonIdentifierEmail, schema.ReasonSchemaUnknown, schema.ReasonFieldUnknown} {
		if !strings.Contains(out, reason) {
			t.Errorf("ingest_outcomes lacks %s: %s", reason, out)
		}
	}

	// Nor in any log line or error.
	for _, v := range append(secrets, testBatchID, keyHex) {
		if strings.Contains(logs.String(), v) {
			t.Errorf("logs hold %q", v)
		}
	}
}

func canonJSON(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// allTables lists every table of the database's schemas (partitions and
// partitioned parents included), the migrations' own table too.
func allTables(t *testing.T, ctx context.Context, q querier) []string {
	t.Helper()
	rows, err := q.Query(ctx, `SELECT quote_ident(table_schema) || '.' || quote_ident(table_name)
		FROM information_schema.tables
		WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE'`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range names {
		names[i] = strings.TrimPrefix(n, "public.")
	}
	return names
}

func tableText(t *testing.T, ctx context.Context, q querier, table string) string {
	t.Helper()
	rows, err := q.Query(ctx, `SELECT t::text FROM `+table+` t`)
	if err != nil {
		t.Fatalf("%s: %v", table, err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("%s: %v", table, err)
	}
	return strings.Join(lines, "\n")
}
