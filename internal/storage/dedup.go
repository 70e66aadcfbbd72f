package storage

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// Dedup material (DESIGN.md reliability contract, invariant 3).
//
// The acknowledge transaction claims, per request, a keyed hash of its
// batch id (kept for the dedup horizon), of its OHTTP enc (kept for the enc
// TTL) and of each extra Claim, in dedup_claims. A hash is
// HMAC-SHA256(K, kind ‖ value) with K = HKDF-SHA256(master key, info
// "veil dedup claims v1"): a reader of the database learns neither a batch
// id nor an enc, and cannot test a guess without the master key. K is
// fixed for the master key's life rather than rotated with the OHTTP key
// ring: a retry of a batch must find its claim for the whole horizon, and
// checking every key of a rotating set would multiply the claims. Expiry
// times are rounded up to the hour, so they say nothing finer about when a
// request came than a stored bucket does.
//
// A claim is INSERT ... ON CONFLICT DO UPDATE ... WHERE expired RETURNING:
// a duplicate simply is not returned, so no statement ever fails on a
// stored key and PostgreSQL never logs one (its unique-violation DETAIL
// line would name the key).

// ClaimKind names a kind of dedup claim. Kinds 0 and 1 are the writer's
// own (batch ids, enc hashes).
type ClaimKind int16

const (
	claimBatch ClaimKind = 0
	claimEnc   ClaimKind = 1
	// ClaimSpentToken is reserved for Privacy Pass: a redeemed token's
	// nonce, claimed in the acknowledge transaction of the request that
	// spent it.
	ClaimSpentToken ClaimKind = 2
	firstExtraClaim           = ClaimSpentToken
	maxClaimKind    ClaimKind = 1000
)

// Claim is an extra dedup claim of a request (Batch.Claims): its keyed hash
// is inserted into dedup_claims in the request's acknowledge transaction,
// with the same guarantees as the batch id's — atomic with the request,
// never logged, never raising. The request is answered StatusDuplicate
// when any of its claims is already held (and unexpired).
type Claim struct {
	Kind  ClaimKind // ClaimSpentToken or another kind ≥ 2
	Value []byte    // 1 to 64 bytes, hashed before it is stored
	TTL   time.Duration
}

// dedupHasher makes the keyed hashes.
type dedupHasher struct{ key []byte }

func newDedupHasher(master []byte) (dedupHasher, error) {
	if len(master) == 0 {
		return dedupHasher{}, errors.New("storage: the writer needs the master key (Config.MasterKey or MasterKeyFile) for its dedup hashes")
	}
	k, err := hkdf.Key(sha256.New, master, nil, "veil dedup claims v1", 32)
	if err != nil {
		return dedupHasher{}, err
	}
	return dedupHasher{key: k}, nil
}

func (d dedupHasher) hash(kind ClaimKind, value []byte) []byte {
	var m hash.Hash = hmac.New(sha256.New, d.key)
	var kb [2]byte
	binary.BigEndian.PutUint16(kb[:], uint16(kind))
	m.Write(kb[:])
	m.Write(value)
	return m.Sum(nil)
}

// roundUpHour rounds t up to a whole UTC hour.
func roundUpHour(t time.Time) time.Time {
	h := t.UTC().Truncate(time.Hour)
	if h.Before(t) {
		h = h.Add(time.Hour)
	}
	return h
}

// claim is one dedup claim of a request in a group.
type claim struct {
	kind    ClaimKind
	hash    []byte
	expires time.Time
}

// claimsOf returns b's claims, hashed, with their expiry.
func (w *Writer) claimsOf(b *Batch, now time.Time) []claim {
	var cs []claim
	add := func(k ClaimKind, v []byte, ttl time.Duration) {
		cs = append(cs, claim{k, w.dedup.hash(k, v), roundUpHour(now.Add(ttl))})
	}
	if len(b.BatchKey) > 0 {
		add(claimBatch, b.BatchKey, w.cfg.DedupHorizon)
	}
	if len(b.EncHash) > 0 {
		add(claimEnc, b.EncHash, w.cfg.EncHashTTL)
	}
	for _, c := range b.Claims {
		add(c.Kind, c.Value, c.TTL)
	}
	return cs
}

func claimID(c claim) string { return string(rune(c.kind)) + string(c.hash) }

// queueClaims queues the claims of live, sorted so concurrent transactions
// take index locks in one order, and reports whether it queued any.
func queueClaims(batch *pgx.Batch, live []*pending, now time.Time) bool {
	var all []claim
	for _, p := range live {
		all = append(all, p.claims...)
	}
	if len(all) == 0 {
		return false
	}
	slices.SortFunc(all, func(a, b claim) int { return cmp.Or(cmp.Compare(a.kind, b.kind), bytes.Compare(a.hash, b.hash)) })
	kinds := make([]int16, len(all))
	hashes := make([][]byte, len(all))
	exp := make([]time.Time, len(all))
	for i, c := range all {
		kinds[i], hashes[i], exp[i] = int16(c.kind), c.hash, c.expires
	}
	batch.Queue(`INSERT INTO dedup_claims AS t (kind, hash, expires_at)
		SELECT * FROM unnest($1::int2[], $2::bytea[], $3::timestamptz[])
		ON CONFLICT (kind, hash) DO UPDATE SET expires_at = excluded.expires_at WHERE t.expires_at <= $4
		RETURNING kind, hash`, kinds, hashes, exp, now)
	return true
}

// readClaims reads what queueClaims's statement returned: the claims this
// transaction holds.
func readClaims(br pgx.BatchResults) (map[string]bool, error) {
	got := map[string]bool{}
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	var kind int16
	var h []byte
	_, err = pgx.ForEachRow(rows, []any{&kind, &h}, func() error {
		got[claimID(claim{kind: ClaimKind(kind), hash: h})] = true
		return nil
	})
	return got, err
}

// markDuplicates marks as duplicates the live requests with a claim not
// returned (held by an earlier request) — as spent when only their token
// claim was —, and queues on batch the release
// of the claims a duplicate did take: nothing of a duplicate is written.
func markDuplicates(live []*pending, held map[string]bool, batch *pgx.Batch) {
	var kinds []int16
	var hashes [][]byte
	for _, p := range live {
		// A held batch id or enc makes a duplicate; only then a held
		// token makes the request spent (spent.go).
		token := false
		for _, c := range p.claims {
			if !held[claimID(c)] {
				if c.kind == ClaimSpentToken {
					token = true
				} else {
					p.dup = true
				}
			}
		}
		if token && !p.dup {
			p.dup, p.spent = true, true
		}
		if !p.dup {
			continue
		}
		for _, c := range p.claims {
			if held[claimID(c)] {
				kinds, hashes = append(kinds, int16(c.kind)), append(hashes, c.hash)
			}
		}
	}
	if len(kinds) > 0 {
		batch.Queue(`DELETE FROM dedup_claims WHERE (kind, hash) IN (SELECT * FROM unnest($1::int2[], $2::bytea[]))`, kinds, hashes)
	}
}

// convertLegacyKeys moves the raw batch ids and enc hashes an earlier
// version stored (batch_keys, enc_hashes) into dedup_claims as keyed
// hashes with rounded expiry, and empties the old tables.
func (w *Writer) convertLegacyKeys(ctx context.Context) error {
	err := w.db.writeTx(ctx, func(tx pgx.Tx) error {
		var kinds []int16
		var hashes [][]byte
		var exps []time.Time
		for _, q := range []struct {
			kind ClaimKind
			stmt string
		}{
			{claimBatch, "DELETE FROM batch_keys RETURNING key, expires_at"},
			{claimEnc, "DELETE FROM enc_hashes RETURNING hash, expires_at"},
		} {
			rows, err := tx.Query(ctx, q.stmt)
			if err != nil {
				return err
			}
			var k []byte
			var e time.Time
			if _, err := pgx.ForEachRow(rows, []any{&k, &e}, func() error {
				kinds, hashes, exps = append(kinds, int16(q.kind)), append(hashes, w.dedup.hash(q.kind, k)), append(exps, roundUpHour(e))
				return nil
			}); err != nil {
				return err
			}
		}
		if len(kinds) == 0 {
			return nil
		}
		_, err := tx.Exec(ctx, `INSERT INTO dedup_claims AS t (kind, hash, expires_at)
			SELECT * FROM unnest($1::int2[], $2::bytea[], $3::timestamptz[])
			ON CONFLICT (kind, hash) DO UPDATE SET expires_at = greatest(t.expires_at, excluded.expires_at)`, kinds, hashes, exps)
		if err == nil {
			w.log.Info("converted stored dedup keys to keyed hashes", "keys", len(kinds))
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("storage: convert dedup keys: %w", err)
	}
	return nil
}

// writeTx runs f in a transaction as the writer role (when available).
func (db *DB) writeTx(ctx context.Context, f func(pgx.Tx) error) error {
	return db.roleTx(ctx, "BEGIN", db.setWriter, f)
}
