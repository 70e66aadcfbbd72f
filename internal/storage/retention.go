package storage

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// RetentionConfig configures RunRetention; the zero value gives the
// defaults.
type RetentionConfig struct {
	// RawDays keeps raw event day partitions this many days (0: 30).
	RawDays int
	// RollupDays keeps rollups and outcome counts this many days (0: 400).
	RollupDays int
	// DaysAhead is ignored: events are no longer stored one row each, so
	// no event partition is created any more.
	DaysAhead int
}

// RunRetention drops the event partitions of earlier versions past the raw
// retention, deletes rollups and outcome counts past theirs and expired
// dedup claims, records
// the key moves the schedule made (drains active keys past their drain
// time, retires keys past their retire time and wipes their secrets). Run
// it periodically
// (RunRetentionLoop).
func (db *DB) RunRetention(ctx context.Context, now time.Time, cfg RetentionConfig) error {
	if cfg.RawDays < 0 || cfg.RollupDays < 0 || cfg.DaysAhead < 0 {
		return errors.New("storage: retention: RetentionConfig days must not be negative; leave them 0 for the defaults")
	}
	cfg.RawDays = cmp.Or(cfg.RawDays, 30)
	cfg.RollupDays = cmp.Or(cfg.RollupDays, 400)
	cfg.DaysAhead = cmp.Or(cfg.DaysAhead, 3)
	today := now.UTC().Truncate(24 * time.Hour)
	// A partition is dropped once its whole day is older than the cutoff.
	cutoff := today.AddDate(0, 0, -cfg.RawDays)
	parts, err := db.eventPartitions(ctx)
	if err != nil {
		return fmt.Errorf("storage: retention: %w", err)
	}
	for _, p := range parts {
		if !p.day.AddDate(0, 0, 1).After(cutoff) {
			// The partitions belong to the owner: the service drops them
			// through a function that can drop nothing else.
			if _, err := db.pool.Exec(ctx, "SELECT veil_drop_event_partition($1::date)", p.day.Format(time.DateOnly)); err != nil {
				return fmt.Errorf("storage: retention: drop partition: %w", err)
			}
			db.log.Info("dropped event partition", "day", p.day.Format(time.DateOnly))
		}
	}
	rollupCutoff := today.AddDate(0, 0, -cfg.RollupDays)
	for _, q := range []string{
		"DELETE FROM rollups WHERE hour < $1",
		"DELETE FROM ingest_outcomes WHERE hour < $1",
	} {
		if _, err := db.pool.Exec(ctx, q, rollupCutoff); err != nil {
			return fmt.Errorf("storage: retention: %w", err)
		}
	}
	for _, q := range []string{
		"DELETE FROM dedup_claims WHERE expires_at <= $1",
		"DELETE FROM batch_keys WHERE expires_at <= $1",
		"DELETE FROM enc_hashes WHERE expires_at <= $1",
	} {
		if _, err := db.pool.Exec(ctx, q, now); err != nil {
			return fmt.Errorf("storage: retention: %w", err)
		}
	}
	if err := db.advanceKeys(ctx, now); err != nil {
		return fmt.Errorf("storage: retention: %w", err)
	}
	return nil
}

// DefaultRetentionInterval is how often veil serve runs retention.
const DefaultRetentionInterval = time.Hour

// RunRetentionLoop runs RunRetention, with the default RetentionConfig, at
// once and then every interval until ctx ends. A failed run is logged and
// the next tick tries again.
func (db *DB) RunRetentionLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	retentionLoop(ctx, t.C, time.Now, func(ctx context.Context, now time.Time) error {
		return db.RunRetention(ctx, now, RetentionConfig{})
	}, db.log)
}

// retentionLoop is RunRetentionLoop with its clock and run injected.
func retentionLoop(ctx context.Context, ticks <-chan time.Time, now func() time.Time, run func(context.Context, time.Time) error, log *slog.Logger) {
	for {
		if err := run(ctx, now()); err != nil && ctx.Err() == nil {
			log.Error("retention run failed", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-ticks:
		}
	}
}

type partition struct {
	name string
	day  time.Time
}

// eventPartitions lists the day partitions of events.
func (db *DB) eventPartitions(ctx context.Context) ([]partition, error) {
	rows, err := db.pool.Query(ctx, `SELECT c.relname FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'public.events'::regclass ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	var out []partition
	for _, n := range names {
		day, err := time.Parse("20060102", strings.TrimPrefix(n, "events_"))
		if err != nil || !strings.HasPrefix(n, "events_") {
			continue // not one of ours
		}
		out = append(out, partition{name: n, day: day})
	}
	return out, nil
}

// EventPartitions lists the days that have an event partition, oldest
// first.
func (db *DB) EventPartitions(ctx context.Context) ([]time.Time, error) {
	parts, err := db.eventPartitions(ctx)
	if err != nil {
		return nil, err
	}
	days := make([]time.Time, len(parts))
	for i, p := range parts {
		days[i] = p.day
	}
	return days, nil
}
