package release

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Export writes the released cells of p's schema version as CSV: the
// newest release of each bucket (final, or the latest provisional), one
// row per cell, with the raw noisy values as released (a count may be
// negative: noise on a small count; post-processing shows it as 0).
// Columns: bucket, release, epsilon, grouping, one per dimension of the
// plan, count, then per measure its sum and its histogram's bins joined by
// ";" (the bins' edges are public: the privacy report states the clamp
// ranges they span).
func (r *Releaser) Export(ctx context.Context, p *Plan, w io.Writer) error {
	var dims []string
	seen := map[string]bool{}
	for _, g := range p.Groupings {
		for _, d := range g.Dims {
			if !seen[d] {
				seen[d] = true
				dims = append(dims, d)
			}
		}
	}
	cw := csv.NewWriter(w)
	header := append([]string{"bucket", "release", "epsilon", "grouping"}, dims...)
	header = append(header, "count")
	for _, m := range p.Measures {
		header = append(header, m.Name+".sum", m.Name+".histogram")
	}
	if err := cw.Write(header); err != nil {
		return err
	}
	rows, err := r.cfg.DB.Pool().Query(ctx, `SELECT c.bucket, r.final, r.epsilon, c.grouping, c.cell, c.count, c.sums, c.hists, r.params
		FROM release_cells c
		JOIN (SELECT DISTINCT ON (bucket) bucket, seq, final, epsilon, params FROM releases
			WHERE schema_name = $1 AND schema_version = $2 ORDER BY bucket, seq DESC) r
			ON c.bucket = r.bucket AND c.seq = r.seq
		WHERE c.schema_name = $1 AND c.schema_version = $2
		ORDER BY c.bucket, c.grouping, c.cell`, p.Schema, int32(p.Version))
	if err != nil {
		return fmt.Errorf("release: export: %w", err)
	}
	var (
		b            time.Time
		final        bool
		eps, g, cell string
		count        int64
		sums, hists  []int64
		raw          []byte
	)
	_, err = pgx.ForEachRow(rows, []any{&b, &final, &eps, &g, &cell, &count, &sums, &hists, &raw}, func() error {
		kind := "provisional"
		if final {
			kind = "final"
		}
		vals, err := Key(cell).Values()
		if err != nil {
			return err
		}
		gdims := strings.Split(g, ",")
		rec := []string{b.UTC().Format(time.RFC3339), kind, eps, g}
		for _, d := range dims {
			v := ""
			for i, gd := range gdims {
				if gd == d && i < len(vals) && vals[i] != nil {
					v = fmt.Sprint(vals[i])
				}
			}
			rec = append(rec, v)
		}
		rec = append(rec, strconv.FormatInt(count, 10))
		var pr params
		if err := json.Unmarshal(raw, &pr); err != nil || len(pr.Measures) != len(p.Measures) || len(sums) != len(p.Measures) {
			return errors.New("release: export: a stored release disagrees with the plan's measures")
		}
		off := 0
		for i, mp := range pr.Measures {
			if off+mp.HistBins > len(hists) {
				return errors.New("release: export: a stored histogram is short")
			}
			bins := make([]string, mp.HistBins)
			for j := range bins {
				bins[j] = strconv.FormatInt(hists[off+j], 10)
			}
			off += mp.HistBins
			rec = append(rec, strconv.FormatInt(sums[i], 10), strings.Join(bins, ";"))
		}
		return cw.Write(rec)
	})
	if err != nil {
		return fmt.Errorf("release: export: %w", err)
	}
	cw.Flush()
	return cw.Error()
}
