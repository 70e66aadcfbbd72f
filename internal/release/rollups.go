package release

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/veil-telemetry/veil/internal/storage"
)

// Defaults of RollupSource.
const (
	// DefaultGrace is how long after a bucket ends its final release
	// waits: longer than the writer takes to commit what it has
	// acknowledged.
	DefaultGrace = 2 * time.Minute
	// DefaultMixInterval numbers mix epochs when rollups are written at
	// commit (there is no mixer to ask).
	DefaultMixInterval = time.Minute
)

// RollupSource reads cells from the rollups table: counts and
// per-measure counts and sums, without histograms (so percentiles are not
// released and an x-veil-clamp narrower than the validation bounds is
// widened to them; see Measure.ClampWidened).
type RollupSource struct {
	DB *storage.DB
	// Grace is how long after a bucket's end it counts as settled
	// (0: DefaultGrace).
	Grace time.Duration
	// MixInterval is the epoch length of MixEpoch (0: DefaultMixInterval).
	MixInterval time.Duration
}

// Histograms reports false: rollups keep no histograms.
func (RollupSource) Histograms() bool { return false }

// Settled reports a bucket that ended at least Grace ago.
func (s RollupSource) Settled(_, end, now time.Time) bool {
	return !now.Before(end.Add(cmpOr(s.Grace, DefaultGrace)))
}

// MixEpoch numbers MixInterval-long periods of the clock.
func (s RollupSource) MixEpoch(now time.Time) int64 {
	return now.UnixNano() / int64(cmpOr(s.MixInterval, DefaultMixInterval))
}

func cmpOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Cells groups the bucket's rollup rows by dims.
func (s RollupSource) Cells(ctx context.Context, schema string, version int, bucket time.Time, dims []string) ([]Cell, error) {
	if dims == nil {
		dims = []string{}
	}
	tx, err := s.DB.Pool().BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.Background())
	// One row per cell and measure (measure NULL for a cell's count).
	rows, err := tx.Query(ctx, `WITH r AS (
			SELECT (SELECT coalesce(jsonb_agg(r.dims -> d ORDER BY o), '[]'::jsonb)
					FROM unnest($4::text[]) WITH ORDINALITY AS u(d, o)) AS g,
				r.count, r.measure_names, r.measure_stats
			FROM rollups r
			WHERE r.schema_name = $1 AND r.schema_version = $2 AND r.hour = $3
		)
		SELECT g, NULL::text, sum(count)::bigint, 0::float8 FROM r GROUP BY g
		UNION ALL
		SELECT g, e.m, sum(measure_stats[4 * e.i - 3])::bigint, sum(measure_stats[4 * e.i - 2])
		FROM r CROSS JOIN LATERAL unnest(measure_names) WITH ORDINALITY AS e(m, i)
		GROUP BY g, e.m`, schema, int32(version), bucket, dims)
	if err != nil {
		return nil, fmt.Errorf("release: reading rollups: %w", err)
	}
	index := map[string]int{}
	var out []Cell
	var (
		g       []byte
		measure *string
		n       int64
		sum     float64
	)
	_, err = pgx.ForEachRow(rows, []any{&g, &measure, &n, &sum}, func() error {
		i, ok := index[string(g)]
		if !ok {
			var vals []any
			dec := json.NewDecoder(bytes.NewReader(g))
			dec.UseNumber()
			if err := dec.Decode(&vals); err != nil {
				return err
			}
			i = len(out)
			index[string(g)] = i
			out = append(out, Cell{Values: vals, Measures: map[string]MeasureCell{}})
		}
		if measure == nil {
			out[i].Count = n
		} else {
			out[i].Measures[*measure] = MeasureCell{Count: n, Sum: sum}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("release: reading rollups: %w", err)
	}
	return out, tx.Commit(ctx)
}
