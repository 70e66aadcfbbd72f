package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// AggregateQuery selects rollups of one schema version.
type AggregateQuery struct {
	Schema  string
	Version int
	// GroupBy names the dimensions to group by; the others are summed
	// over. Empty: one group per bucket.
	GroupBy []string
	// From and To bound the rollup hours, [From, To).
	From, To time.Time
	// Bucket is "hour" (default) or "day" (UTC days).
	Bucket string
	// K is the k-anonymity threshold: groups counting fewer than K events
	// are withheld. K below MinK is refused with ErrKTooSmall.
	K int
}

// MinK is the smallest k-anonymity threshold Aggregates accepts: k = 1
// would withhold nothing.
const MinK = 2

// ErrKTooSmall reports an aggregate query whose k-anonymity threshold is
// below MinK (including an unset K).
var ErrKTooSmall = errors.New("storage: k-anonymity threshold below 2")

// MeasureStats summarizes one measure over a group. Count is the number of
// events that carried the measure, so Mean = Sum / Count is right for
// optional measures.
type MeasureStats struct {
	Count         int64
	Sum, Min, Max float64
	Mean          float64
}

// AggregateGroup is one group of an aggregate.
type AggregateGroup struct {
	Bucket time.Time
	// Group holds the GroupBy dimensions' values (string, bool, or float64
	// for integers), absent when the events lacked the dimension.
	Group    map[string]any
	Count    int64
	Measures map[string]MeasureStats
}

// AggregateResult is an aggregate with its suppressed groups removed.
type AggregateResult struct {
	Groups []AggregateGroup
	// SuppressedGroups counts the groups withheld for counting fewer than
	// K events.
	SuppressedGroups int
	K                int
}

// StatRow is a count of ingest outcomes over a time range.
type StatRow struct {
	Schema  string
	Version int
	Outcome string
	Reason  string
	Count   int64
}

// aggregateGroups is the grouping both aggregate queries share. $1 schema,
// $2 version, $3 from, $4 to, $5 bucket unit, $6 group-by names, $7 k.
// The threshold is applied here, in SQL, so a withheld group's values and
// counts never leave the database.
const aggregateGroups = `WITH groups AS (
	SELECT date_trunc($5, r.hour, 'UTC') AS b,
		(SELECT coalesce(jsonb_object_agg(e.key, e.value), '{}'::jsonb)
			FROM jsonb_each(r.dims) AS e WHERE e.key = ANY($6::text[])) AS g,
		sum(r.count)::bigint AS n
	FROM rollups r
	WHERE r.schema_name = $1 AND r.schema_version = $2 AND r.hour >= $3 AND r.hour < $4
	GROUP BY 1, 2
)`

// Aggregates returns the rollups of q's schema version grouped by bucket
// and q.GroupBy, withholding groups of fewer than q.K events (k-anonymity,
// DESIGN.md invariant 4) and counting them in SuppressedGroups.
func (db *DB) Aggregates(ctx context.Context, q AggregateQuery) (AggregateResult, error) {
	if q.K < MinK {
		return AggregateResult{}, fmt.Errorf("%w: k = %d", ErrKTooSmall, q.K)
	}
	unit := q.Bucket
	switch unit {
	case "":
		unit = "hour"
	case "hour", "day":
	default:
		return AggregateResult{}, fmt.Errorf("storage: bucket %q is not hour or day", q.Bucket)
	}
	groupBy := q.GroupBy
	if groupBy == nil {
		groupBy = []string{}
	}
	res := AggregateResult{K: q.K}
	args := []any{q.Schema, int32(q.Version), q.From, q.To, unit, groupBy, int64(q.K)}
	err := db.readTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, aggregateGroups+`
			SELECT b, g, n FROM groups WHERE n >= $7
			UNION ALL
			SELECT NULL, NULL, count(*) FROM groups WHERE n < $7
			ORDER BY 1 NULLS LAST, 2`, args...)
		if err != nil {
			return err
		}
		index := make(map[string]int) // bucket+group → Groups index
		var (
			b *time.Time
			g []byte
			n int64
		)
		_, err = pgx.ForEachRow(rows, []any{&b, &g, &n}, func() error {
			if b == nil {
				res.SuppressedGroups = int(n)
				return nil
			}
			grp := AggregateGroup{Bucket: b.UTC(), Count: n, Measures: map[string]MeasureStats{}}
			if err := jsonUnmarshal(g, &grp.Group); err != nil {
				return err
			}
			index[b.UTC().String()+"\x00"+string(g)] = len(res.Groups)
			res.Groups = append(res.Groups, grp)
			return nil
		})
		if err != nil {
			return err
		}
		rows, err = tx.Query(ctx, aggregateGroups+`, m AS (
			SELECT date_trunc($5, r.hour, 'UTC') AS b,
				(SELECT coalesce(jsonb_object_agg(e.key, e.value), '{}'::jsonb)
					FROM jsonb_each(r.dims) AS e WHERE e.key = ANY($6::text[])) AS g,
				e.measure, sum(r.measure_stats[4 * e.i - 3])::bigint AS n, sum(r.measure_stats[4 * e.i - 2]) AS s,
				min(r.measure_stats[4 * e.i - 1]) AS lo, max(r.measure_stats[4 * e.i]) AS hi
			FROM rollups r CROSS JOIN LATERAL unnest(r.measure_names) WITH ORDINALITY AS e(measure, i)
			WHERE r.schema_name = $1 AND r.schema_version = $2 AND r.hour >= $3 AND r.hour < $4
			GROUP BY 1, 2, 3
		)
		SELECT m.b, m.g, m.measure, m.n, m.s, m.lo, m.hi
		FROM m JOIN groups USING (b, g) WHERE groups.n >= $7`, args...)
		if err != nil {
			return err
		}
		var (
			mb            time.Time
			name          string
			mn            int64
			sum, min, max float64
		)
		_, err = pgx.ForEachRow(rows, []any{&mb, &g, &name, &mn, &sum, &min, &max}, func() error {
			i, ok := index[mb.UTC().String()+"\x00"+string(g)]
			if !ok {
				return errors.New("storage: measure row without its group")
			}
			st := MeasureStats{Count: mn, Sum: sum, Min: min, Max: max}
			if mn > 0 {
				st.Mean = sum / float64(mn)
			}
			res.Groups[i].Measures[name] = st
			return nil
		})
		return err
	})
	if err != nil {
		return AggregateResult{}, fmt.Errorf("storage: aggregates: %w", err)
	}
	return res, nil
}

// Stats returns ingest outcome counts per schema version, outcome and
// reason over the hours in [from, to).
func (db *DB) Stats(ctx context.Context, from, to time.Time) ([]StatRow, error) {
	var out []StatRow
	err := db.readTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT schema_name, schema_version, outcome, reason, sum(count)::bigint
			FROM ingest_outcomes WHERE hour >= $1 AND hour < $2
			GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`, from, to)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (StatRow, error) {
			var s StatRow
			var v int32
			err := row.Scan(&s.Schema, &v, &s.Outcome, &s.Reason, &s.Count)
			s.Version = int(v)
			return s, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("storage: stats: %w", err)
	}
	return out, nil
}

// readTx runs f in a read-only repeatable-read transaction as the reader
// role (when available), so its queries see one snapshot.
func (db *DB) readTx(ctx context.Context, f func(pgx.Tx) error) error {
	begin := "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
	if db.setReader != "" {
		begin += "; " + db.setReader
	}
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{BeginQuery: begin})
	if err != nil {
		return err
	}
	defer tx.Rollback(context.Background())
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
