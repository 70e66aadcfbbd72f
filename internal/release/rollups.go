package release

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/veil-telemetry/veil/internal/loghist"
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
	// WithHistograms reads the rollups' per-measure histograms
	// (internal/loghist) into the cells, for released histograms and
	// percentiles and clamps narrower than the validation bounds.
	WithHistograms bool
	// IncludeUnverified releases the unverified stream too (see
	// storage.UnverifiedDimension); left out by default.
	IncludeUnverified bool
}

// Histograms reports whether Cells returns histograms.
func (s RollupSource) Histograms() bool { return s.WithHistograms }

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
				AND ($5 OR r.dims -> 'veil:unverified' IS NULL)
		)
		SELECT g, NULL::text, sum(count)::bigint, 0::float8 FROM r GROUP BY g
		UNION ALL
		SELECT g, e.m, sum(measure_stats[4 * e.i - 3])::bigint, sum(measure_stats[4 * e.i - 2])
		FROM r CROSS JOIN LATERAL unnest(measure_names) WITH ORDINALITY AS e(m, i)
		GROUP BY g, e.m`, schema, int32(version), bucket, dims, s.IncludeUnverified)
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
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	if s.WithHistograms {
		if err := s.addHistograms(ctx, schema, version, bucket, dims, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// addHistograms merges the bucket's per-measure histograms into the cells
// of the grouping dims. A cell or measure the histograms do not match
// (values stored before histograms existed) keeps none, and a release
// then treats its measure as it does without histograms.
func (s RollupSource) addHistograms(ctx context.Context, schema string, version int, bucket time.Time, dims []string, cells []Cell) error {
	rcs, err := s.DB.RollupCells(ctx, schema, version, bucket, bucket.Add(time.Hour))
	if err != nil {
		return fmt.Errorf("release: reading histograms: %w", err)
	}
	type hk struct{ cell, measure string }
	merged := map[hk]*loghist.Hist{}
	counts := map[hk]int64{}
	for _, rc := range rcs {
		if _, unverified := rc.Dims[storage.UnverifiedDimension]; unverified && !s.IncludeUnverified {
			continue
		}
		vals := make([]any, len(dims))
		for i, d := range dims {
			vals[i] = rc.Dims[d]
		}
		key, err := json.Marshal(vals)
		if err != nil {
			return err
		}
		for name, m := range rc.Measures {
			k := hk{string(key), name}
			counts[k] += m.Count
			if m.Hist == nil {
				continue
			}
			if merged[k] == nil {
				merged[k] = &loghist.Hist{}
			}
			merged[k].Merge(m.Hist)
		}
	}
	for i := range cells {
		key, err := json.Marshal(cells[i].Values)
		if err != nil {
			return err
		}
		for name, mc := range cells[i].Measures {
			k := hk{string(key), name}
			// Only a histogram of every value the cell counts.
			if h := merged[k]; h != nil && int64(h.Count()) == mc.Count && counts[k] == mc.Count {
				mc.Hist = fromLoghist(h)
				cells[i].Measures[name] = mc
			}
		}
	}
	return nil
}

// fromLoghist turns a log-linear histogram into contiguous bins: one per
// non-empty bucket, with empty bins over the gaps between them.
func fromLoghist(h *loghist.Hist) *Histogram {
	out := &Histogram{}
	h.Each(func(lo, hi float64, n uint64) {
		switch {
		case len(out.Bounds) == 0:
			out.Bounds = append(out.Bounds, lo)
		case out.Bounds[len(out.Bounds)-1] < lo:
			out.Bounds = append(out.Bounds, lo)
			out.Counts = append(out.Counts, 0)
		}
		out.Bounds = append(out.Bounds, hi)
		out.Counts = append(out.Counts, int64(n))
	})
	return out
}
