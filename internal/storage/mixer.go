package storage

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// The mixer (DESIGN.md data flow step 8, invariant 3). Every MixInterval
// it takes the staging partitions of the intervals that have ended, opens
// their rows with their interval keys, and in one transaction:
//
//   - folds every request's outcome counts into ingest_outcomes (stats stay
//     fresh whatever k);
//   - when at least MixK requests with content are pending, or the bucket
//     of one of them has closed, folds all their partial cells into the
//     rollups, requests in shuffled order, cells in key order; otherwise
//     carries their content, sealed again under the current interval's key,
//     into the current partition for the next check;
//   - drops the partitions it took (never a row-by-row delete).
//
// After the commit it deletes the taken intervals' key files. So a content
// row version's transaction id is the mixer's, shared with no dedup
// material; rollup row versions hold deltas of at least k requests (or a
// bucket's last ones); and nothing but the hour of a bucket is stored in
// clear. Only one replica mixes: the mixer holds a session advisory lock
// (pg_try_advisory_lock) on its own connection, with TCP keepalives, and
// runs its transactions on that connection, so losing the connection
// loses the lock and aborts the mix together.

// mixLockKey is the mixer's advisory lock (per database).
const mixLockKey int64 = 0x7665696c6d6978 // "veilmix"

type mixer struct {
	w    *Writer
	mu   sync.Mutex // one mix at a time; guards conn
	conn *pgx.Conn  // holds the advisory lock when non-nil

	stopCh   chan struct{}
	stopOnce sync.Once
	done     chan struct{}

	checks, mixes, mixed, lastReqs, lastCells, pending, lagNanos atomic.Int64
}

func newMixer(w *Writer) *mixer {
	return &mixer{w: w, stopCh: make(chan struct{}), done: make(chan struct{})}
}

// MixResult says what one mixer check did.
type MixResult struct {
	// Leader is false when another session holds the mixer lock: nothing
	// was done.
	Leader bool
	// Requests is how many staged requests with content were folded into
	// the rollups, Cells into how many rollup cells.
	Requests, Cells int
	// Carried is how many requests were left pending (fewer than k, no
	// bucket closed).
	Carried int
	// Outcomes is how many staged requests' outcome counts were folded.
	Outcomes int
}

// Mix runs one mixer check now. With force, it takes every staging
// partition, the current interval's too, and folds all content whatever
// k: a flush, for tests and tools.
//
// Warning: a forced mix may carry fewer than k requests, so the rollups'
// row versions may then hold a delta of fewer than k requests. Never force
// in production.
func (w *Writer) Mix(ctx context.Context, force bool) (MixResult, error) {
	return w.mixer.mix(ctx, force)
}

func (m *mixer) run(ctx context.Context) {
	defer close(m.done)
	t := time.NewTicker(m.w.cfg.MixInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.stopCh:
			return
		case <-t.C:
		}
		if _, err := m.mix(ctx, false); err != nil && ctx.Err() == nil {
			m.w.log.Error("mix failed; staged requests stay staged for the next check", "error_kind", errorKind(err), "error", safeMixError(err))
		}
	}
}

// safeMixError is err's text when it is one of the mixer's own errors
// (which never hold content), else its kind.
func safeMixError(err error) string {
	var pe interface{ SQLState() string }
	if errors.As(err, &pe) {
		return "sqlstate " + pe.SQLState()
	}
	return err.Error()
}

func (m *mixer) stop() { m.stopOnce.Do(func() { close(m.stopCh) }) }

// close releases the lock connection (after run has returned).
func (m *mixer) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = m.conn.Close(ctx)
		m.conn = nil
	}
}

func (m *mixer) fillStats(s *WriterStats) {
	s.MixChecks, s.Mixes, s.MixedRequests = m.checks.Load(), m.mixes.Load(), m.mixed.Load()
	s.LastMixRequests, s.LastMixCells = m.lastReqs.Load(), m.lastCells.Load()
	s.PendingRequests, s.MixLag = m.pending.Load(), time.Duration(m.lagNanos.Load())
}

// lead returns the lock connection, connecting and taking the lock when
// needed; nil when another session holds the lock. m.mu is held.
func (m *mixer) lead(ctx context.Context) (*pgx.Conn, error) {
	if m.conn != nil && !m.conn.IsClosed() {
		return m.conn, nil
	}
	cfg := m.w.db.pool.Config().ConnConfig.Copy()
	// Keepalives: a mixer whose peer vanished must notice, so that its
	// lock, held by the server for a dead session, is freed.
	d := &net.Dialer{Timeout: cfg.ConnectTimeout, KeepAliveConfig: net.KeepAliveConfig{
		Enable: true, Idle: 15 * time.Second, Interval: 5 * time.Second, Count: 3}}
	cfg.DialFunc = d.DialContext
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", mixLockKey).Scan(&got); err != nil {
		conn.Close(ctx)
		return nil, err
	}
	if !got {
		conn.Close(ctx)
		return nil, nil
	}
	m.conn = conn
	return conn, nil
}

// staged is one opened staging row.
type staged struct {
	p *stagedPayload
}

func (m *mixer) mix(ctx context.Context, force bool) (MixResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	conn, err := m.lead(ctx)
	if err != nil || conn == nil {
		return MixResult{}, err
	}
	res, err := m.mixOn(ctx, conn, force)
	if err != nil && conn.IsClosed() {
		m.conn = nil
	}
	if err != nil && !conn.IsClosed() && conn.PgConn().TxStatus() != 'I' {
		// Should not happen (the transaction rolls back on error), but
		// never keep a connection in a transaction.
		_ = conn.Close(ctx)
		m.conn = nil
	}
	return res, err
}

func (m *mixer) mixOn(ctx context.Context, conn *pgx.Conn, force bool) (MixResult, error) {
	w := m.w
	res := MixResult{Leader: true}
	now := w.cfg.Now()
	cur := w.keys.intervalOf(now)
	ctx, cancel := context.WithTimeout(ctx, 4*w.cfg.CommitTimeout)
	defer cancel()

	// The current key exists before the transaction, in case content is
	// carried (and, a forced mix aside, is never one the mix deletes).
	var curKey *stageKey
	if !force {
		var err error
		if curKey, err = w.keys.current(ctx, now); err != nil {
			return res, err
		}
	}
	var seed [32]byte
	if _, err := io.ReadFull(w.cfg.Rand, seed[:]); err != nil {
		return res, err
	}
	rng := rand.New(rand.NewChaCha8(seed))

	var taken []int64
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if w.db.setWriter != "" {
			if _, err := tx.Exec(ctx, w.db.setWriter); err != nil {
				return err
			}
		}
		all, err := stagingIntervals(ctx, tx)
		if err != nil {
			return err
		}
		var ivs []int64
		for _, iv := range all {
			if iv < cur || force {
				var ok bool
				if err := tx.QueryRow(ctx, "SELECT veil_take_staging_partition($1)", iv).Scan(&ok); err != nil {
					return err
				}
				if ok {
					ivs = append(ivs, iv)
				}
			}
		}
		if len(ivs) == 0 {
			m.pending.Store(0)
			m.lagNanos.Store(0)
			return nil
		}
		rows, err := tx.Query(ctx, "SELECT interval_id, key_id, sealed FROM staging WHERE interval_id = ANY($1)", ivs)
		if err != nil {
			return err
		}
		// Rows are folded as they are read, so the mixer's memory is
		// bounded by the number of distinct cells, not of requests. Until
		// it is known that the mix will happen (k requests with content
		// read, or a closed bucket), content waits in buf, at most k-1
		// payloads. Requests are folded in stored order, which the
		// acknowledge transactions shuffled within each group; the cells
		// are written in key order.
		var buf []*stagedPayload
		cells := map[cellKey]*rollupCell{}
		folding := force
		fold := func(p *stagedPayload) error {
			for i := range p.Cells {
				k, c, err := cellOf(&p.Cells[i])
				if err != nil {
					return err
				}
				if have := cells[k]; have != nil {
					have.merge(c)
				} else {
					cells[k] = c
				}
			}
			return nil
		}
		nContent := 0
		outcomes := map[outcomeKey]int64{}
		closed := false
		since := cur
		keys := map[[stageIDSize]byte]*stageKey{}
		var iv int64
		var id, sealed []byte
		_, err = pgx.ForEachRow(rows, []any{&iv, &id, &sealed}, func() error {
			if len(id) != stageIDSize {
				return errStagedOpen
			}
			k := keys[[stageIDSize]byte(id)]
			if k == nil {
				var err error
				if k, err = w.keys.open(iv, id); err != nil {
					return err
				}
				keys[k.id] = k
			}
			plain, err := k.open(sealed)
			if err != nil {
				return err
			}
			p, err := decodePayload(plain)
			if err != nil {
				return err
			}
			for _, o := range p.Outcomes {
				outcomes[outcomeKey{o.Hour, o.Schema, o.Version, o.Outcome, o.Reason}] += o.Count
			}
			res.Outcomes++
			if len(p.Cells) == 0 {
				return nil
			}
			p.Outcomes = nil
			if p.Since == 0 {
				p.Since = iv
			}
			since = min(since, p.Since)
			nContent++
			closed = closed || p.Closes <= now.Unix()
			if folding {
				return fold(p)
			}
			buf = append(buf, p)
			if closed || nContent >= w.cfg.MixK {
				folding = true
				rng.Shuffle(len(buf), func(i, j int) { buf[i], buf[j] = buf[j], buf[i] })
				for _, q := range buf {
					if err := fold(q); err != nil {
						return err
					}
				}
				buf = nil
			}
			return nil
		})
		if err != nil {
			return err
		}
		switch {
		case nContent == 0:
		case folding:
			for _, q := range buf { // forced, fewer than k
				if err := fold(q); err != nil {
					return err
				}
			}
			if err := upsertCells(ctx, tx, cells); err != nil {
				return err
			}
			res.Requests, res.Cells = nContent, len(cells)
		default:
			// Fewer than k and no bucket closed: carry, sealed anew.
			rng.Shuffle(len(buf), func(i, j int) { buf[i], buf[j] = buf[j], buf[i] })
			carried := make([][]byte, len(buf))
			for i, p := range buf {
				b, err := marshalPayload(p)
				if err != nil {
					return err
				}
				if carried[i], err = curKey.seal(b, w.cfg.Rand); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(ctx, "INSERT INTO staging (interval_id, key_id, sealed) SELECT $1, $2, s FROM unnest($3::bytea[]) AS s",
				curKey.iv, curKey.id[:], carried); err != nil {
				return err
			}
			res.Carried = len(buf)
		}
		if err := upsertOutcomes(ctx, tx, outcomes); err != nil {
			return err
		}
		for _, iv := range ivs {
			if _, err := tx.Exec(ctx, "SELECT veil_truncate_staging_partition($1)", iv); err != nil {
				return err
			}
		}
		taken = ivs
		m.pending.Store(int64(res.Carried))
		if res.Carried > 0 {
			m.lagNanos.Store(int64(now.Sub(time.Unix(since, 0))))
		} else {
			m.lagNanos.Store(0)
		}
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("storage: mix: %w", err)
	}
	// The emptied partitions go, each in a transaction of its own, and
	// with them their intervals' keys (the current one, which carried rows
	// use, is never taken unless forced). A partition a late acknowledge
	// transaction wrote to stays, with its key, for the next mix.
	var dropped []int64
	for _, iv := range taken {
		var gone bool
		if err := conn.QueryRow(ctx, "SELECT veil_drop_staging_partition($1)", iv).Scan(&gone); err != nil {
			w.log.Error("could not drop a mixed staging partition; the next mix takes it again", "error_kind", errorKind(err))
			continue
		}
		if gone {
			dropped = append(dropped, iv)
		}
	}
	taken = dropped
	// The next interval's partition is made now, off the acknowledge
	// path: creating it locks the parent table, which would otherwise
	// stall every acknowledge transaction at the interval's start.
	next := cur + int64(w.cfg.MixInterval/time.Second)
	if _, err := conn.Exec(ctx, "SELECT veil_ensure_staging_partition($1)", next); err != nil {
		w.log.Warn("could not make the next staging partition ahead", "error_kind", errorKind(err))
	}
	if err := w.keys.removeIntervals(taken); err != nil {
		// The mix committed: the files are orphans, removed at the next
		// start (removeOrphans).
		w.log.Error("could not remove consumed stage keys", "error", err.Error())
	}
	if force {
		// The current key's partition may be gone: start a new one.
		w.keys.mu.Lock()
		if c := w.keys.cur; c != nil && slices.Contains(taken, c.iv) {
			w.keys.cur = nil
		}
		w.keys.mu.Unlock()
	}
	m.checks.Add(1)
	if res.Requests > 0 {
		m.mixes.Add(1)
		m.mixed.Add(int64(res.Requests))
		m.lastReqs.Store(int64(res.Requests))
		m.lastCells.Store(int64(res.Cells))
		w.log.Info("mixed staged requests into the rollups", "requests", res.Requests, "cells", res.Cells)
	}
	return res, nil
}

// upsertCells merges cells into the rollups: it reads the stored cells of
// the same keys (locking them), merges in Go (histograms cannot be merged
// by a plain SQL expression), and writes the merged cells, in key order.
func upsertCells(ctx context.Context, tx pgx.Tx, cells map[cellKey]*rollupCell) error {
	keys := make([]cellKey, 0, len(cells))
	for k := range cells {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b cellKey) int {
		return cmp.Or(cmp.Compare(a.schema, b.schema), cmp.Compare(a.version, b.version),
			cmp.Compare(a.hour, b.hour), cmp.Compare(a.dims, b.dims))
	})
	n := len(keys)
	hours := make([]time.Time, n)
	schemas, dims := make([]string, n), make([]string, n)
	versions := make([]int32, n)
	for i, k := range keys {
		hours[i], schemas[i], versions[i], dims[i] = time.Unix(k.hour, 0).UTC(), k.schema, k.version, k.dims
	}
	rows, err := tx.Query(ctx, `SELECT u.o, r.count, r.measure_names, r.measure_stats, r.measure_hists
		FROM unnest($1::timestamptz[], $2::text[], $3::int[], $4::jsonb[]) WITH ORDINALITY AS u(h, s, v, d, o)
		JOIN rollups r ON r.schema_name = u.s AND r.schema_version = u.v AND r.hour = u.h AND r.dims = u.d
		ORDER BY u.o FOR UPDATE OF r`, hours, schemas, versions, dims)
	if err != nil {
		return err
	}
	var (
		o     int64
		count int64
		names []string
		stats []float64
		hists []byte
	)
	_, err = pgx.ForEachRow(rows, []any{&o, &count, &names, &stats, &hists}, func() error {
		if o < 1 || o > int64(n) {
			return errors.New("storage: rollup cell out of range")
		}
		stored, err := storedCell(count, slices.Clone(names), slices.Clone(stats), hists)
		if err != nil {
			return err
		}
		stored.merge(cells[keys[o-1]])
		cells[keys[o-1]] = stored
		return nil
	})
	if err != nil {
		return err
	}
	counts := make([]int64, n)
	nameLits, statLits := make([]string, n), make([]string, n)
	histCols := make([][]byte, n)
	var nb, sb []byte
	for i, k := range keys {
		c := cells[k]
		var hb []byte
		nb, sb, hb = appendCellArrays(nb[:0], sb[:0], nil, c)
		counts[i], nameLits[i], statLits[i], histCols[i] = c.count, string(nb), string(sb), hb
		if histCols[i] == nil {
			histCols[i] = []byte{}
		}
	}
	_, err = tx.Exec(ctx, `INSERT INTO rollups AS t (hour, schema_name, schema_version, dims, count, measure_names, measure_stats, measure_hists)
		SELECT h, s, v, d, c, n::text[], st::float8[], mh
		FROM unnest($1::timestamptz[], $2::text[], $3::int[], $4::jsonb[], $5::bigint[], $6::text[], $7::text[], $8::bytea[]) AS u(h, s, v, d, c, n, st, mh)
		ON CONFLICT (schema_name, schema_version, hour, dims) DO UPDATE SET
			count = excluded.count, measure_names = excluded.measure_names,
			measure_stats = excluded.measure_stats, measure_hists = excluded.measure_hists`,
		hours, schemas, versions, dims, counts, nameLits, statLits, histCols)
	return err
}

// upsertOutcomes adds outcome counts, in key order.
func upsertOutcomes(ctx context.Context, tx pgx.Tx, sums map[outcomeKey]int64) error {
	if len(sums) == 0 {
		return nil
	}
	keys := make([]outcomeKey, 0, len(sums))
	for k := range sums {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b outcomeKey) int {
		return cmp.Or(cmp.Compare(a.hour, b.hour), cmp.Compare(a.schema, b.schema), cmp.Compare(a.version, b.version),
			cmp.Compare(a.outcome, b.outcome), cmp.Compare(a.reason, b.reason))
	})
	var (
		hours                     []time.Time
		schemas, outcomes, reason []string
		versions                  []int32
		counts                    []int64
	)
	for _, k := range keys {
		hours = append(hours, time.Unix(k.hour, 0).UTC())
		schemas, versions, outcomes, reason = append(schemas, k.schema), append(versions, k.version), append(outcomes, k.outcome), append(reason, k.reason)
		counts = append(counts, sums[k])
	}
	_, err := tx.Exec(ctx, `INSERT INTO ingest_outcomes AS t (hour, schema_name, schema_version, outcome, reason, count)
		SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::int[], $4::text[], $5::text[], $6::bigint[])
		ON CONFLICT (hour, schema_name, schema_version, outcome, reason) DO UPDATE SET count = t.count + excluded.count`,
		hours, schemas, versions, outcomes, reason, counts)
	return err
}
