package release

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/veil-telemetry/veil/internal/dp"
	"github.com/veil-telemetry/veil/internal/storage"
)

// Config configures a Releaser.
type Config struct {
	// DB holds the releases and the ledger (required).
	DB *storage.DB
	// Source gives the exact cells (required).
	Source Source
	// Noise draws the noise (required): (*dp.Pool).Laplace.
	Noise Noise
	// Registerer takes the metrics (nil: none registered).
	Registerer prometheus.Registerer
	// Interval is how often Run looks for buckets to release finally
	// (0: one minute).
	Interval time.Duration
	// MaxPerRun bounds the final releases one pass of Run draws
	// (0: 500), so catching up after a long stop is spread out.
	MaxPerRun int
	Now       func() time.Time
	Logger    *slog.Logger
}

// Releaser draws, persists and reads releases.
type Releaser struct {
	cfg     Config
	metrics *metrics
}

// New checks cfg and returns a Releaser.
func New(cfg Config) (*Releaser, error) {
	if cfg.DB == nil || cfg.Source == nil || cfg.Noise == nil {
		return nil, errors.New("release: Config.DB, Source and Noise are required")
	}
	cfg.Interval = cmp.Or(cfg.Interval, time.Minute)
	cfg.MaxPerRun = cmp.Or(cfg.MaxPerRun, 500)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Logger = cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler))
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	return &Releaser{cfg: cfg, metrics: m}, nil
}

// Histograms reports whether the source keeps histograms (NewPlan's
// second argument).
func (r *Releaser) Histograms() bool { return r.cfg.Source.Histograms() }

// Registered is a schema version's plan and when it was registered: no
// bucket before that can hold its events, so none is released.
type Registered struct {
	Plan  *Plan
	Since time.Time
}

// unit is the plan's bucket length.
func (p *Plan) unit() time.Duration {
	if p.Granularity == "day" {
		return 24 * time.Hour
	}
	return time.Hour
}

// ensure makes sure the bucket has the release a reader at now should
// see, drawing one when due: the final release once the bucket is
// settled; before that a provisional one when a mix has happened since
// the last (at most MaxProvisional). It returns the newest release.
//
// The cells are read before the ledger row is locked, so a transaction
// never waits for a second connection while holding one; the decision is
// taken again under the lock.
func (r *Releaser) ensure(ctx context.Context, p *Plan, bucket time.Time, now time.Time) (*meta, error) {
	end := bucket.Add(p.unit())
	settled := r.cfg.Source.Settled(bucket, end, now)
	epoch := r.cfg.Source.MixEpoch(now)
	var out *meta
	err := pgx.BeginFunc(ctx, r.cfg.DB.Pool(), func(tx pgx.Tx) error {
		var err error
		out, err = latest(ctx, tx, p, bucket)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	if !due(out, settled, epoch) {
		return out, nil
	}
	cells := map[string][]Cell{}
	for _, g := range p.Groupings {
		cs, err := r.cfg.Source.Cells(ctx, p.Schema, p.Version, bucket, g.Dims)
		if err != nil {
			return nil, fmt.Errorf("release: %w", err)
		}
		cells[g.Name()] = cs
	}
	err = pgx.BeginFunc(ctx, r.cfg.DB.Pool(), func(tx pgx.Tx) error {
		budget, n, err := lockLedger(ctx, tx, p, bucket)
		if err != nil {
			return err
		}
		last, err := latest(ctx, tx, p, bucket)
		if err != nil {
			return err
		}
		out = last
		if !due(last, settled, epoch) {
			return nil // another request drew it meanwhile
		}
		eps, final := p.ProvisionalEpsilon(), settled
		if final {
			eps = budget.Left()
		}
		if eps.Sign() <= 0 {
			return fmt.Errorf("%s version %d bucket %s: %w", p.Schema, p.Version, bucket.Format(time.RFC3339), dp.ErrOverdraw)
		}
		drawn, sc, err := p.Draw(ctx, r.cfg.Noise, eps, cells, r.cfg.Source.Histograms())
		if err != nil {
			return err
		}
		if err := store(ctx, tx, p, bucket, n+1, final, epoch, now, budget, eps, sc, drawn); err != nil {
			return err
		}
		if out, err = latest(ctx, tx, p, bucket); err != nil {
			return err
		}
		r.metrics.released(p, final, now.Sub(end), budget.Left())
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	return out, nil
}

// due reports whether a bucket whose newest release is last needs a new
// one: a final release once settled (unless it has one), else a
// provisional one per mix epoch, MaxProvisional at most.
func due(last *meta, settled bool, epoch int64) bool {
	switch {
	case last != nil && last.final:
		return false
	case settled:
		return true
	case last != nil && (last.seq >= MaxProvisional || last.epoch >= epoch):
		return false
	}
	return true
}

// buckets lists the buckets of p in [from, to) a reader at now may see:
// not before registration or retention, not after the open bucket.
func (p *Plan) buckets(since, from, to, now time.Time) []time.Time {
	u := p.unit()
	start := from.UTC().Truncate(u)
	if start.Before(from) {
		start = start.Add(u)
	}
	if s := since.UTC().Truncate(u); start.Before(s) {
		start = s
	}
	if keep := now.UTC().Add(-time.Duration(p.Retention) * 24 * time.Hour).Truncate(u); start.Before(keep) {
		start = keep
	}
	open := now.UTC().Truncate(u)
	var out []time.Time
	for b := start; b.Before(to) && !b.After(open); b = b.Add(u) {
		out = append(out, b)
	}
	return out
}

// Run draws the final release of every settled bucket of every dp-mode
// schema listed by plans, every Interval, until ctx ends; it also prunes
// releases past their schema's retention. Run it on one replica at a
// time.
func (r *Releaser) Run(ctx context.Context, plans func(context.Context) ([]Registered, error)) error {
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		if err := r.RunOnce(ctx, plans); err != nil && ctx.Err() == nil {
			r.cfg.Logger.ErrorContext(ctx, "release pass failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// RunOnce is one pass of Run.
func (r *Releaser) RunOnce(ctx context.Context, plans func(context.Context) ([]Registered, error)) error {
	regs, err := plans(ctx)
	if err != nil {
		return err
	}
	now := r.cfg.Now()
	budget := r.cfg.MaxPerRun
	var errs []error
	for _, reg := range regs {
		p := reg.Plan
		if p.Mode != "dp" {
			continue
		}
		from, err := r.lastFinal(ctx, p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if from.IsZero() || from.Before(reg.Since) {
			from = reg.Since
		}
		for _, b := range p.buckets(reg.Since, from, now, now) {
			if budget == 0 {
				break
			}
			if !r.cfg.Source.Settled(b, b.Add(p.unit()), now) {
				break
			}
			if _, err := r.ensure(ctx, p, b, now); err != nil {
				errs = append(errs, err)
				break
			}
			budget--
		}
		if err := r.prune(ctx, p, now); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// lastFinal returns the bucket after the newest final release of p (zero
// when none).
func (r *Releaser) lastFinal(ctx context.Context, p *Plan) (time.Time, error) {
	var b *time.Time
	err := r.cfg.DB.Pool().QueryRow(ctx, `SELECT max(bucket) FROM releases
		WHERE schema_name = $1 AND schema_version = $2 AND final`, p.Schema, int32(p.Version)).Scan(&b)
	if err != nil || b == nil {
		return time.Time{}, err
	}
	return b.UTC().Add(p.unit()), nil
}

// prune deletes releases and ledger rows past the schema's retention.
func (r *Releaser) prune(ctx context.Context, p *Plan, now time.Time) error {
	cut := now.Add(-time.Duration(p.Retention) * 24 * time.Hour).Truncate(p.unit())
	_, err := r.cfg.DB.Pool().Exec(ctx, `WITH d AS (DELETE FROM releases
			WHERE schema_name = $1 AND schema_version = $2 AND bucket < $3),
		c AS (DELETE FROM release_cells
			WHERE schema_name = $1 AND schema_version = $2 AND bucket < $3)
		DELETE FROM release_ledger WHERE schema_name = $1 AND schema_version = $2 AND bucket < $3`,
		p.Schema, int32(p.Version), cut)
	return err
}
