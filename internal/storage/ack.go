package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The acknowledge transaction (DESIGN.md data flow step 6): for a group of
// requests, in two exchanges with the server,
//
//  1. BEGIN, SET LOCAL ROLE writer, and the group's dedup claims (dedup.go);
//  2. the release of a duplicate's other claims, one staging row per
//     non-duplicate request — its payload sealed under the current
//     interval's key (staging.go), rows in shuffled order — and COMMIT.
//
// Nothing in it is content in clear: the database sees ciphertext, keyed
// hashes and hour-rounded expiry times. Content problems were found at
// Submit (encodePayload), so a failure here is the database's, never one
// request's: the group fails as a whole and is never re-run request by
// request.

// pending is the group-local state of one request.
type pending struct {
	b      *Batch
	claims []claim
	dupOf  *pending // an earlier request of the group with a common claim
	dup    bool     // a claim is held by an earlier request
	spent  bool     // of which only its token claim (StatusTokenSpent)
	status Status
	err    error
}

// commitGroup commits group in one transaction and completes each request.
func (w *Writer) commitGroup(group []*Batch) {
	defer w.txStarted()()
	now := w.cfg.Now()
	ps := make([]*pending, len(group))
	first := make(map[string]*pending)
	var live []*pending
	for i, b := range group {
		p := &pending{b: b, claims: w.claimsOf(b, now)}
		ps[i] = p
		// Within a group, a request sharing a claim with an earlier one
		// follows it: duplicate if it commits, its error if it fails.
		// A shared batch id or enc makes a duplicate; a shared token
		// alone, a spent token.
		for _, c := range p.claims {
			q := first[claimID(c)]
			if q == nil {
				continue
			}
			if c.kind != ClaimSpentToken {
				p.dupOf, p.spent = q, false
				break
			}
			if p.dupOf == nil {
				p.dupOf, p.spent = q, true
			}
		}
		if p.dupOf != nil {
			continue
		}
		for _, c := range p.claims {
			first[claimID(c)] = p
		}
		live = append(live, p)
	}
	w.commitLive(live, now)
	for _, p := range ps {
		if p.dupOf != nil {
			p.status, p.err = StatusDuplicate, p.dupOf.err
			if p.spent {
				p.status = StatusTokenSpent
			}
			if p.err != nil {
				p.status = 0
			}
		}
		if p.status == StatusDuplicate {
			w.stats.duplicates.Add(1)
		}
		p.b.payload = nil
		if p.b.Done != nil {
			p.b.Done(p.status, p.err)
		}
	}
}

// commitLive commits requests with distinct claims, retrying transient
// failures.
func (w *Writer) commitLive(live []*pending, now time.Time) {
	if len(live) == 0 {
		return
	}
	fail := func(err error) {
		for _, p := range live {
			p.status, p.err = 0, err
		}
	}
	if w.ctx.Err() != nil || !w.health.up.Load() {
		fail(ErrUnavailable)
		return
	}
	var err error
	for attempt := 0; attempt < 4; attempt++ {
		for _, p := range live {
			p.dup, p.spent = false, false
		}
		var key *stageKey
		key, err = w.keys.current(w.ctx, now)
		if err == nil {
			err = w.ackTx(live, key, now)
		}
		if err == nil {
			w.health.ok()
			w.stats.groups.Add(1)
			for _, p := range live {
				p.status = StatusCommitted
				if p.dup {
					p.status = StatusDuplicate
				}
				if p.spent {
					p.status = StatusTokenSpent
				}
			}
			return
		}
		if key != nil && stagingGone(err) {
			// The mixer took the interval's partition (a group at an
			// interval's end, or a forced mix): seal again under a new key.
			w.keys.invalidate(key)
			now = w.cfg.Now()
			continue
		}
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || (pe.Code != "40001" && pe.Code != "40P01") {
			break
		}
	}
	if w.ctx.Err() != nil || unavailable(err) {
		w.health.markDown(err)
		fail(fmt.Errorf("%w: %v", ErrUnavailable, err))
		return
	}
	w.log.Error("acknowledge transaction failed", "requests", len(live), "error_kind", errorKind(err))
	fail(fmt.Errorf("storage: write: %w", err))
}

// stagingGone reports an error of an insert into a staging partition the
// mixer has dropped.
func stagingGone(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	// 23514: no partition for the row; 42P01: the partition went while
	// the insert waited for it; XX000: "could not open relation".
	return pe.Code == "23514" || pe.Code == "42P01" || pe.Code == "XX000"
}

// errorKind names an error for the log without its text (a server error's
// message could quote a value).
func errorKind(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return "sqlstate " + pe.Code
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return "connection"
}

// ackTx runs one acknowledge transaction for live, marking duplicates.
func (w *Writer) ackTx(live []*pending, key *stageKey, now time.Time) (err error) {
	ctx, cancel := context.WithTimeout(w.ctx, w.cfg.CommitTimeout)
	defer cancel()
	var seed [32]byte
	if _, err := io.ReadFull(w.cfg.Rand, seed[:]); err != nil {
		return fmt.Errorf("storage: shuffle seed: %w", err)
	}
	sealed := make([][]byte, len(live))
	for i, p := range live {
		if p.b.payload != nil {
			if sealed[i], err = key.seal(p.b.payload, w.cfg.Rand); err != nil {
				return err
			}
		}
	}
	opening := []string{"BEGIN"}
	if w.db.setWriter != "" {
		opening = append(opening, w.db.setWriter)
	}

	c, err := w.db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer c.Release()
	conn := c.Conn()
	defer func() {
		if err == nil {
			return
		}
		// Leave the connection idle for the pool; if even that fails,
		// the pool discards it on Release.
		rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer rcancel()
		if conn.PgConn().TxStatus() != 'I' {
			_, _ = conn.Exec(rctx, "ROLLBACK")
		}
	}()

	final := &pgx.Batch{}
	first := &pgx.Batch{}
	if queueClaims(first, live, now) {
		if err := conn.PgConn().Exec(ctx, strings.Join(opening, "; ")).Close(); err != nil {
			return err
		}
		br := conn.SendBatch(ctx, first)
		held, err := readClaims(br)
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		markDuplicates(live, held, final)
	} else {
		for _, q := range opening {
			final.Queue(q)
		}
	}
	var rows [][]byte
	for i, p := range live {
		if !p.dup && sealed[i] != nil {
			rows = append(rows, sealed[i])
		}
	}
	if len(rows) > 0 {
		// Shuffled, so the rows' physical order says nothing about the
		// order of the requests (DESIGN.md invariant 3).
		rng := rand.New(rand.NewChaCha8(seed))
		rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
		final.Queue("INSERT INTO staging (interval_id, key_id, sealed) SELECT $1, $2, s FROM unnest($3::bytea[]) AS s",
			key.iv, key.id[:], rows)
	}
	final.Queue("COMMIT")
	br := conn.SendBatch(ctx, final)
	var tag pgconn.CommandTag
	for range final.Len() {
		if tag, err = br.Exec(); err != nil {
			br.Close()
			return err
		}
	}
	if err := br.Close(); err != nil {
		return err
	}
	// COMMIT of a failed transaction answers ROLLBACK without an error.
	if tag.String() != "COMMIT" {
		return fmt.Errorf("storage: transaction not committed (%s)", tag)
	}
	return nil
}
