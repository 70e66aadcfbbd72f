package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// States of a key-document signing key (migration 005).
const (
	SignerCurrent = "current" // signs; its pin is the one apps ship
	SignerNext    = "next"    // signs too, during a rotation
	SignerRetired = "retired" // signs nothing; its secret is wiped
)

// ErrSignerConflict reports an AddSigner for a state that already has a
// key: one current and one next at most.
var ErrSignerConflict = errors.New("storage: a signing key in that state exists")

// SignerRecord is one key-document signing key. Secret, the Ed25519 seed,
// exists in clear only in memory (nil for a retired key).
type SignerRecord struct {
	PublicKey []byte
	Secret    []byte
	State     string
	CreatedAt time.Time
	RetiredAt time.Time // zero unless retired
}

// LogValue redacts the secret.
func (s SignerRecord) LogValue() slog.Value {
	return slog.GroupValue(slog.String("state", s.State), slog.Time("created", s.CreatedAt))
}

// signerAAD binds a sealed seed to its public key, so rows cannot be
// swapped, and keeps it apart from key_ring's secrets (sealAAD).
func signerAAD(public []byte) []byte {
	return append([]byte("veil-signer\x00"), public...)
}

// ListSigners returns every signing key, secrets unsealed: the current
// one first, then the next, then retired ones, newest first.
func (db *DB) ListSigners(ctx context.Context) ([]SignerRecord, error) {
	if db.masterKey == nil {
		return nil, ErrNoMasterKey
	}
	rows, err := db.pool.Query(ctx, `SELECT public_key, sealed_secret, state, created_at, retired_at FROM key_signers
		ORDER BY CASE state WHEN 'current' THEN 0 WHEN 'next' THEN 1 ELSE 2 END, created_at DESC`)
	if err != nil {
		return nil, fmt.Errorf("storage: list signing keys: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (SignerRecord, error) {
		var (
			s         SignerRecord
			sealed    []byte
			retiredAt *time.Time
		)
		if err := row.Scan(&s.PublicKey, &sealed, &s.State, &s.CreatedAt, &retiredAt); err != nil {
			return s, err
		}
		if retiredAt != nil {
			s.RetiredAt = *retiredAt
		}
		if sealed != nil {
			seed, err := db.unseal(signerAAD(s.PublicKey), sealed)
			if err != nil {
				return s, err
			}
			s.Secret = seed
		}
		return s, nil
	})
}

// AddSigner stores a signing key in state (SignerCurrent for the first
// key, SignerNext to start a rotation): its public key and its seed,
// sealed. A state that has a key already gives ErrSignerConflict, so
// replicas creating the first key at once end with one.
func (db *DB) AddSigner(ctx context.Context, state string, public, seed []byte) (SignerRecord, error) {
	if state != SignerCurrent && state != SignerNext {
		return SignerRecord{}, fmt.Errorf("storage: add signing key: state %q is not current or next", state)
	}
	sealed, err := db.seal(signerAAD(public), seed)
	if err != nil {
		return SignerRecord{}, err
	}
	rec := SignerRecord{PublicKey: public, Secret: seed, State: state}
	err = db.pool.QueryRow(ctx, `INSERT INTO key_signers (public_key, sealed_secret, state, created_at)
		VALUES ($1, $2, $3, now()) RETURNING created_at`, public, sealed, state).Scan(&rec.CreatedAt)
	if err != nil {
		if pe, ok := errors.AsType[*pgconn.PgError](err); ok && pe.Code == "23505" {
			return SignerRecord{}, ErrSignerConflict
		}
		return SignerRecord{}, fmt.Errorf("storage: store signing key: %w", err)
	}
	return rec, nil
}

// PromoteSigner ends a rotation: the next key becomes current, and the
// current one is retired and its secret wiped, in one transaction. It
// returns the new current key's record (its secret not unsealed), or
// ErrNotFound when there is no next key.
func (db *DB) PromoteSigner(ctx context.Context) (SignerRecord, error) {
	var rec SignerRecord
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		// The row lock keeps two promotions from both retiring.
		err := tx.QueryRow(ctx, `SELECT public_key FROM key_signers WHERE state = 'next' FOR UPDATE`).Scan(&rec.PublicKey)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE key_signers SET state = 'retired', sealed_secret = NULL, retired_at = now()
			WHERE state = 'current'`); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `UPDATE key_signers SET state = 'current' WHERE public_key = $1 RETURNING state, created_at`,
			rec.PublicKey).Scan(&rec.State, &rec.CreatedAt)
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		err = fmt.Errorf("storage: promote signing key: %w", err)
	}
	return rec, err
}
