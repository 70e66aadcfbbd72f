package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/veil-telemetry/veil/internal/loghist"
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
	// IncludeUnverified counts the unverified stream too: events of
	// batches that carried no Privacy Pass token for a schema whose
	// tokens are optional (UnverifiedDimension). Left out by default.
	IncludeUnverified bool
}

// UnverifiedDimension marks the rollup cells of the unverified stream
// (ingest adds it to events of untokened batches of schemas whose tokens
// are optional); releases leave them out unless the operator includes
// them.
const UnverifiedDimension = "veil:unverified"

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
	// Percentiles come from the group's cells' histograms (within
	// loghist.RelativeError of the exact values, ranks as loghist's
	// Quantile); nil when a cell of the group holds values stored before
	// histograms existed.
	Percentiles *Percentiles
}

// Percentiles of a measure over a group.
type Percentiles struct {
	P50, P90, P99 float64
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
	WHERE r.schema_name = $1 AND r.schema_version = $2 AND r.hour >= $3 AND r.hour < $4 AND ($8 OR r.dims -> 'veil:unverified' IS NULL)
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
	args := []any{q.Schema, int32(q.Version), q.From, q.To, unit, groupBy, int64(q.K), q.IncludeUnverified}
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
			WHERE r.schema_name = $1 AND r.schema_version = $2 AND r.hour >= $3 AND r.hour < $4 AND ($8 OR r.dims -> 'veil:unverified' IS NULL)
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
		if err != nil {
			return err
		}
		return addPercentiles(ctx, tx, args, index, &res)
	})
	if err != nil {
		return AggregateResult{}, fmt.Errorf("storage: aggregates: %w", err)
	}
	return res, nil
}

// addPercentiles merges the histograms of the cells of res's groups and
// sets their measures' percentiles.
func addPercentiles(ctx context.Context, tx pgx.Tx, args []any, index map[string]int, res *AggregateResult) error {
	rows, err := tx.Query(ctx, aggregateGroups+`, c AS (
		SELECT date_trunc($5, r.hour, 'UTC') AS b,
			(SELECT coalesce(jsonb_object_agg(e.key, e.value), '{}'::jsonb)
				FROM jsonb_each(r.dims) AS e WHERE e.key = ANY($6::text[])) AS g,
			r.count, r.measure_names, r.measure_stats, r.measure_hists
		FROM rollups r
		WHERE r.schema_name = $1 AND r.schema_version = $2 AND r.hour >= $3 AND r.hour < $4 AND ($8 OR r.dims -> 'veil:unverified' IS NULL) AND cardinality(r.measure_names) > 0
	)
	SELECT c.b, c.g, c.count, c.measure_names, c.measure_stats, c.measure_hists
	FROM c JOIN groups USING (b, g) WHERE groups.n >= $7`, args...)
	if err != nil {
		return err
	}
	type acc struct {
		h   loghist.Hist
		n   int64
		bad bool
	}
	accs := map[int]map[string]*acc{}
	var (
		b     time.Time
		g     []byte
		count int64
		names []string
		stats []float64
		hists []byte
	)
	_, err = pgx.ForEachRow(rows, []any{&b, &g, &count, &names, &stats, &hists}, func() error {
		i, ok := index[b.UTC().String()+"\x00"+string(g)]
		if !ok {
			return errors.New("storage: cell without its group")
		}
		c, err := storedCell(count, names, stats, hists)
		if err != nil {
			return err
		}
		if accs[i] == nil {
			accs[i] = map[string]*acc{}
		}
		for j, name := range c.names {
			a := accs[i][name]
			if a == nil {
				a = &acc{}
				accs[i][name] = a
			}
			m := c.ms[j]
			a.n += m.n
			a.h.Merge(&m.hist)
			a.bad = a.bad || int64(m.hist.Count()) != m.n
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, ms := range accs {
		for name, a := range ms {
			st, ok := res.Groups[i].Measures[name]
			if !ok || a.bad || int64(a.h.Count()) != a.n || a.n == 0 {
				continue
			}
			p := &Percentiles{}
			p.P50, _ = a.h.Quantile(0.5)
			p.P90, _ = a.h.Quantile(0.9)
			p.P99, _ = a.h.Quantile(0.99)
			st.Percentiles = p
			res.Groups[i].Measures[name] = st
		}
	}
	return nil
}

// RollupCell is one stored rollup cell: the events of one schema version
// in one hour with one full dimension set.
type RollupCell struct {
	Hour time.Time
	// Dims holds the cell's dimension values (string, bool, or float64
	// for integers).
	Dims     map[string]any
	Count    int64
	Measures map[string]CellMeasure
}

// CellMeasure is one measure of a rollup cell. Count is how many of the
// cell's events carried it.
type CellMeasure struct {
	Count         int64
	Sum, Min, Max float64
	// Hist counts the measure's values (internal/loghist); nil when the
	// cell holds values stored before histograms existed.
	Hist *loghist.Hist
}

// RollupCells returns the rollup cells of a schema version whose hour is in
// [from, to), ordered by hour. It is exact and unthresholded: for a release
// mechanism (differential privacy, k-anonymity) to consume, never to serve
// as it is.
func (db *DB) RollupCells(ctx context.Context, schema string, version int, from, to time.Time) ([]RollupCell, error) {
	var out []RollupCell
	err := db.readTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT hour, dims, count, measure_names, measure_stats, measure_hists
			FROM rollups WHERE schema_name = $1 AND schema_version = $2 AND hour >= $3 AND hour < $4
			ORDER BY hour, dims`, schema, int32(version), from, to)
		if err != nil {
			return err
		}
		var (
			hour  time.Time
			dims  []byte
			count int64
			names []string
			stats []float64
			hists []byte
		)
		_, err = pgx.ForEachRow(rows, []any{&hour, &dims, &count, &names, &stats, &hists}, func() error {
			c, err := storedCell(count, slices.Clone(names), stats, hists)
			if err != nil {
				return err
			}
			rc := RollupCell{Hour: hour.UTC(), Count: count, Measures: make(map[string]CellMeasure, len(c.names))}
			if err := jsonUnmarshal(dims, &rc.Dims); err != nil {
				return err
			}
			for j, name := range c.names {
				m := c.ms[j]
				cm := CellMeasure{Count: m.n, Sum: m.sum, Min: m.min, Max: m.max}
				if int64(m.hist.Count()) == m.n {
					h := m.hist
					cm.Hist = &h
				}
				rc.Measures[name] = cm
			}
			out = append(out, rc)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("storage: rollup cells: %w", err)
	}
	return out, nil
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
	return db.roleTx(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", db.setReader, f)
}

// roleTx runs f in a transaction begun with begin, switched to a role by
// setRole (a SET ROLE statement; empty: the login's own), committed when
// f returns nil.
func (db *DB) roleTx(ctx context.Context, begin, setRole string, f func(pgx.Tx) error) error {
	if setRole != "" {
		begin += "; " + setRole
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
