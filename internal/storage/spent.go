package storage

// Spent Privacy Pass tokens (issue 21) are dedup material like batch ids:
// a claim of kind ClaimSpentToken, a keyed hash of the token's window and
// nonce hash, inserted in the acknowledge transaction of the request that
// spent it (dedup.go), kept until the token could no longer be redeemed
// and deleted by retention with the other expired claims. Unlike another
// held claim, a held token claim does not make a request a duplicate: a
// request whose batch id and enc are new but whose token is spent is
// refused (StatusTokenSpent) and nothing of it is written. The batch id is
// judged first, so a retried, already-applied batch presenting its own
// token is answered duplicate.

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"
)

// StatusTokenSpent: the request's Privacy Pass token was already spent (by
// another request); nothing of the request was written.
const StatusTokenSpent Status = 3

// tokenRedeemable is how long after its window's start a token may still
// be presented: its window and the next, a window being at most a day.
const tokenRedeemable = 48 * time.Hour

// TokenClaim is the claim of a spent token: hash is a keyed hash of its
// nonce (never the nonce), window the start of the redemption window it
// was issued for. now is the time of the request.
func TokenClaim(window time.Time, hash []byte, now time.Time) Claim {
	v := make([]byte, 8, 8+len(hash))
	binary.BigEndian.PutUint64(v, uint64(window.Unix()))
	return Claim{Kind: ClaimSpentToken, Value: append(v, hash...), TTL: max(time.Hour, window.Add(tokenRedeemable).Sub(now))}
}

// SpentTokens counts the spent tokens kept (the spent set, for metrics).
func (db *DB) SpentTokens(ctx context.Context) (int64, error) {
	var n int64
	err := db.pool.QueryRow(ctx, `SELECT count(*) FROM dedup_claims WHERE kind = $1 AND expires_at > now()`, int16(ClaimSpentToken)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("storage: spent tokens: %w", err)
	}
	return n, nil
}
