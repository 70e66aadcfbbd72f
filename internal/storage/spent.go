package storage

// Spent Privacy Pass tokens (issue 21): one extra dedup claim per request,
// checked and inserted in the request's acknowledge transaction beside its
// batch key and enc hash.
//
// Where it plugs into the writer (writer.go), for porting:
//   - Batch.Token (below): the claim; validateBatch bounds its hash.
//   - commit: a second request of a group with the same claim is refused
//     (StatusTokenSpent) unless it is a duplicate by batch key.
//   - tx: ensureSpentPartitions before the transaction; insert mode queues
//     queueSpentInserts after the key inserts (a stored token fails the
//     transaction with a unique violation on a spent_tokens partition, and
//     the group runs again in claim mode); claim mode queues
//     queueSpentClaim after the key claims (ON CONFLICT DO NOTHING
//     RETURNING: no error, and no error line can carry the hash).
//   - markDuplicates: the batch key is judged first, so a retried,
//     already-applied batch with its own token is a duplicate; otherwise an
//     unclaimed token marks the request spent, and its batch key and enc
//     hash claims are released like a duplicate's: nothing of it is written.

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// StatusTokenSpent: the request's Privacy Pass token was already spent (by
// another request); nothing of the request was written.
const StatusTokenSpent Status = 3

// TokenClaim is a request's spent-token record: Hash is a keyed hash of
// the token's nonce (never the nonce), Window the start of the redemption
// window the token was issued for (coarse: a day or a fraction of one).
type TokenClaim struct {
	Window time.Time
	Hash   []byte
}

// spentKey identifies a claim inside a group.
func (c *TokenClaim) spentKey() string {
	if c == nil {
		return ""
	}
	return c.Window.UTC().Format(time.RFC3339) + "/" + string(c.Hash)
}

const claimKindToken = 2 // readDedupClaims' kind of a spent-token claim

// spentClaims returns live's token claims sorted (one lock order).
func spentClaims(live []*pending) (windows []time.Time, hashes [][]byte) {
	var cs []*TokenClaim
	for _, p := range live {
		if p.b.Token != nil {
			cs = append(cs, p.b.Token)
		}
	}
	slices.SortFunc(cs, func(a, b *TokenClaim) int {
		if c := a.Window.Compare(b.Window); c != 0 {
			return c
		}
		return bytes.Compare(a.Hash, b.Hash)
	})
	for _, c := range cs {
		windows = append(windows, c.Window.UTC())
		hashes = append(hashes, c.Hash)
	}
	return windows, hashes
}

// queueSpentInserts queues the plain insert of live's token claims
// (insert mode).
func queueSpentInserts(batch *pgx.Batch, live []*pending) {
	ws, hs := spentClaims(live)
	if len(hs) > 0 {
		batch.Queue("INSERT INTO spent_tokens (window_start, hash) SELECT w, h FROM unnest($1::timestamptz[], $2::bytea[]) AS t(w, h)", ws, hs)
	}
}

// queueSpentClaim queues the claim of live's token claims (claim mode) and
// returns how many statements it queued (0 or 1). A token not returned is
// spent.
func queueSpentClaim(batch *pgx.Batch, live []*pending) int {
	ws, hs := spentClaims(live)
	if len(hs) == 0 {
		return 0
	}
	batch.Queue(`INSERT INTO spent_tokens (window_start, hash) SELECT w, h FROM unnest($1::timestamptz[], $2::bytea[]) AS t(w, h)
		ON CONFLICT DO NOTHING RETURNING 2, hash`, ws, hs)
	return 1
}

// spentConflict reports a unique violation on a spent_tokens partition.
func spentConflict(table string) bool {
	return strings.HasPrefix(table, "spent_tokens")
}

// ensureSpentPartitions makes sure every window day of live's claims has
// its partition, outside the transaction.
func (w *Writer) ensureSpentPartitions(ctx context.Context, live []*pending) error {
	for _, p := range live {
		if p.b.Token == nil {
			continue
		}
		day := p.b.Token.Window.UTC().Unix() / 86400
		w.partMu.Lock()
		known := w.spentParts[day]
		w.partMu.Unlock()
		if known {
			continue
		}
		if _, err := w.db.pool.Exec(ctx, "SELECT veil_ensure_spent_partition($1::date)",
			time.Unix(day*86400, 0).UTC().Format(time.DateOnly)); err != nil {
			return err
		}
		w.partMu.Lock()
		w.spentParts[day] = true
		w.partMu.Unlock()
	}
	return nil
}

// DropSpentBefore drops the spent-token partitions whose whole day is
// before cutoff: tokens of those windows can no longer be redeemed.
func (db *DB) DropSpentBefore(ctx context.Context, cutoff time.Time) error {
	rows, err := db.pool.Query(ctx, `SELECT c.relname FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'public.spent_tokens'::regclass ORDER BY 1`)
	if err != nil {
		return err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, n := range names {
		day, err := time.Parse("20060102", strings.TrimPrefix(n, "spent_tokens_"))
		if err != nil || !strings.HasPrefix(n, "spent_tokens_") {
			continue
		}
		if !day.AddDate(0, 0, 1).After(cutoff) {
			if _, err := db.pool.Exec(ctx, "SELECT veil_drop_spent_partition($1::date)", day.Format(time.DateOnly)); err != nil {
				return err
			}
		}
	}
	return nil
}

// SpentTokens counts the stored spent tokens (the spent set's size).
func (db *DB) SpentTokens(ctx context.Context) (int64, error) {
	var n int64
	err := db.pool.QueryRow(ctx, "SELECT count(*) FROM spent_tokens").Scan(&n)
	return n, err
}
