package release

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/veil-telemetry/veil/internal/dp"
)

// params is a release's public parameters, persisted with it (jsonb): what
// a reader needs to post-process its cells and state their noise.
type params struct {
	Epsilon    string          `json:"epsilon"`     // this release's ε, a fraction
	CountScale string          `json:"count_scale"` // discrete Laplace scale of counts and bins
	Threshold  int64           `json:"threshold,omitempty"`
	Measures   []measureParams `json:"measures"`
}

type measureParams struct {
	Name     string    `json:"name"`
	SumScale string    `json:"sum_scale"`
	Lo       string    `json:"lo"`
	Hi       string    `json:"hi"`
	Edges    []float64 `json:"edges"` // public bins; nil when HistBins is 1
	HistBins int       `json:"hist_bins"`
}

// meta is a stored release without its cells.
type meta struct {
	bucket time.Time
	seq    int
	final  bool
	epoch  int64
	params params
}

// ledgerRow locks (creating it) the ledger row of a bucket and returns
// its budget.
func lockLedger(ctx context.Context, tx pgx.Tx, p *Plan, bucket time.Time) (*dp.Budget, int, error) {
	if _, err := tx.Exec(ctx, `INSERT INTO release_ledger (schema_name, schema_version, bucket, budget, spent)
		VALUES ($1, $2, $3, $4, '0') ON CONFLICT DO NOTHING`, p.Schema, int32(p.Version), bucket, p.Epsilon.RatString()); err != nil {
		return nil, 0, err
	}
	var total, spent string
	var n int16
	if err := tx.QueryRow(ctx, `SELECT budget, spent, releases FROM release_ledger
		WHERE schema_name = $1 AND schema_version = $2 AND bucket = $3 FOR UPDATE`,
		p.Schema, int32(p.Version), bucket).Scan(&total, &spent, &n); err != nil {
		return nil, 0, err
	}
	t, err1 := dp.ParseRat(total)
	s, err2 := dp.ParseRat(spent)
	if err := errors.Join(err1, err2); err != nil {
		return nil, 0, fmt.Errorf("release: ledger of %s: %w", bucket, err)
	}
	// The budget is the one first recorded for the bucket: a changed
	// schema is a new version with a ledger of its own.
	b, err := dp.NewBudget(t, s)
	return b, int(n), err
}

// latest returns the newest release of a bucket (nil when none), reading
// in tx.
func latest(ctx context.Context, q pgx.Tx, p *Plan, bucket time.Time) (*meta, error) {
	rows, err := q.Query(ctx, `SELECT bucket, seq, final, mix_epoch, params FROM releases
		WHERE schema_name = $1 AND schema_version = $2 AND bucket = $3 ORDER BY seq DESC LIMIT 1`,
		p.Schema, int32(p.Version), bucket)
	if err != nil {
		return nil, err
	}
	ms, err := scanMetas(rows)
	if err != nil || len(ms) == 0 {
		return nil, err
	}
	return &ms[0], nil
}

func scanMetas(rows pgx.Rows) ([]meta, error) {
	var out []meta
	var (
		m   meta
		seq int16
		raw []byte
	)
	_, err := pgx.ForEachRow(rows, []any{&m.bucket, &seq, &m.final, &m.epoch, &raw}, func() error {
		m.seq = int(seq)
		m.bucket = m.bucket.UTC()
		m.params = params{}
		if err := json.Unmarshal(raw, &m.params); err != nil {
			return err
		}
		out = append(out, m)
		return nil
	})
	return out, err
}

// store writes a drawn release and charges its ε, in tx (which holds the
// ledger row's lock).
func store(ctx context.Context, tx pgx.Tx, p *Plan, bucket time.Time, seq int, final bool, epoch int64, now time.Time,
	budget *dp.Budget, eps *big.Rat, sc Scales, cells []Released) error {
	if err := budget.Charge(eps); err != nil {
		return fmt.Errorf("release: %s version %d bucket %s: %w", p.Schema, p.Version, bucket.Format(time.RFC3339), err)
	}
	pr := params{Epsilon: eps.RatString(), CountScale: sc.Count.RatString(), Threshold: sc.Threshold}
	for i, m := range p.Measures {
		mp := measureParams{Name: m.Name, SumScale: sc.Sums[i].RatString(), Lo: m.Lo.RatString(), Hi: m.Hi.RatString(), HistBins: 1}
		if len(cells) > 0 {
			mp.HistBins = len(cells[0].Hists[i])
		} else if p.histograms {
			mp.HistBins = m.Bins.Len()
		}
		if mp.HistBins > 1 {
			mp.Edges = m.Bins.Edges
		}
		pr.Measures = append(pr.Measures, mp)
	}
	raw, err := json.Marshal(pr)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO releases (schema_name, schema_version, bucket, seq, final, epsilon, mix_epoch, params, released_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		p.Schema, int32(p.Version), bucket, int16(seq), final, eps.RatString(), epoch, raw, now); err != nil {
		return err
	}
	if len(cells) > 0 {
		rows := make([][]any, len(cells))
		for i, c := range cells {
			var hists []int64
			for _, h := range c.Hists {
				hists = append(hists, h...)
			}
			sums := c.Sums
			if sums == nil {
				sums = []int64{}
			}
			if hists == nil {
				hists = []int64{}
			}
			rows[i] = []any{p.Schema, int32(p.Version), bucket, int16(seq), c.Grouping, string(c.Key), c.Count, sums, hists}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"release_cells"},
			[]string{"schema_name", "schema_version", "bucket", "seq", "grouping", "cell", "count", "sums", "hists"},
			pgx.CopyFromRows(rows)); err != nil {
			return err
		}
	}
	_, err = tx.Exec(ctx, `UPDATE release_ledger SET spent = $4, releases = releases + 1
		WHERE schema_name = $1 AND schema_version = $2 AND bucket = $3`,
		p.Schema, int32(p.Version), bucket, budget.Spent().RatString())
	return err
}
