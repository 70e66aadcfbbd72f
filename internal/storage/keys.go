package storage

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/veil-telemetry/veil/internal/keystate"
)

const masterKeySize = 32

// Key ring errors.
var (
	// ErrNoMasterKey reports key ring use without Config.MasterKey.
	ErrNoMasterKey = errors.New("storage: no master key configured for the key ring")
	// ErrKeyIDsExhausted reports that all 256 key ids are live.
	ErrKeyIDsExhausted = errors.New("storage: no free key id (256 live keys)")
	// ErrKeyConflict reports an AddKey that would make a second current
	// key for a KEM, or a RotateKeyIf whose expected current key is no
	// longer current (another replica rotated first).
	ErrKeyConflict = errors.New("storage: a current key for this KEM exists")
	// ErrUnsealKey reports a sealed key that does not open under the
	// master key (wrong master key file, or tampering).
	ErrUnsealKey = errors.New("storage: cannot unseal key: wrong master key or corrupted key ring")
)

// KeyRecord is one OHTTP key of the ring. Config is the RFC 9458 key
// configuration; Secret, the serialized private key, exists in clear only
// in memory (it is nil for retired keys). State, DrainAfter and RetireAfter
// are its life as last recorded (see keystate; read it with Life().At).
type KeyRecord struct {
	ID          uint8
	KEM         uint16
	Config      []byte
	Secret      []byte
	State       keystate.State
	CreatedAt   time.Time
	DrainAfter  time.Time // zero: none
	RetireAfter time.Time // zero: none
}

// Life is the key's recorded life.
func (k KeyRecord) Life() keystate.Life {
	return keystate.Life{State: k.State, DrainAfter: k.DrainAfter, RetireAfter: k.RetireAfter}
}

// LogValue redacts the secret.
func (k KeyRecord) LogValue() slog.Value {
	return slog.GroupValue(slog.Int("id", int(k.ID)), slog.Int("kem", int(k.KEM)), slog.String("state", string(k.State)))
}

// KeyGen makes a key for id: its key configuration and serialized secret.
type KeyGen func(id uint8) (config, secret []byte, err error)

// sealAAD binds a sealed secret to its key id, so rows cannot be swapped.
func sealAAD(id uint8) []byte { return []byte{'v', 'e', 'i', 'l', '-', 'k', 'e', 'y', 0, id} }

func (db *DB) aead() (cipher.AEAD, error) {
	if db.masterKey == nil {
		return nil, ErrNoMasterKey
	}
	b, err := aes.NewCipher(db.masterKey)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// seal returns nonce || AES-256-GCM(secret) under the master key, bound
// to aad (sealAAD for key_ring, signerAAD for key_signers), so a sealed
// secret cannot be moved to another row.
func (db *DB) seal(aad, secret []byte) ([]byte, error) {
	a, err := db.aead()
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, a.NonceSize(), a.NonceSize()+len(secret)+a.Overhead())
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		return nil, err
	}
	return a.Seal(nonce, nonce, secret, aad), nil
}

// unseal opens what seal returned for the same aad; every failure is
// ErrUnsealKey.
func (db *DB) unseal(aad, sealed []byte) ([]byte, error) {
	a, err := db.aead()
	if err != nil {
		return nil, err
	}
	if len(sealed) < a.NonceSize()+a.Overhead() {
		return nil, ErrUnsealKey
	}
	out, err := a.Open(nil, sealed[:a.NonceSize()], sealed[a.NonceSize():], aad)
	if err != nil {
		return nil, ErrUnsealKey
	}
	return out, nil
}

const keyColumns = "id, kem, config, sealed_secret, state, created_at, drain_after, retire_after"

func (db *DB) scanKey(row pgx.CollectableRow) (KeyRecord, error) {
	var (
		k           KeyRecord
		id          int16
		kem         int32
		sealed      []byte
		state       string
		drainAfter  *time.Time
		retireAfter *time.Time
	)
	if err := row.Scan(&id, &kem, &k.Config, &sealed, &state, &k.CreatedAt, &drainAfter, &retireAfter); err != nil {
		return k, err
	}
	k.ID, k.KEM, k.State = uint8(id), uint16(kem), keystate.State(state)
	if drainAfter != nil {
		k.DrainAfter = *drainAfter
	}
	if retireAfter != nil {
		k.RetireAfter = *retireAfter
	}
	if sealed != nil {
		s, err := db.unseal(sealAAD(k.ID), sealed)
		if err != nil {
			return k, err
		}
		k.Secret = s
	}
	return k, nil
}

// ListKeys returns every key of the ring, secrets unsealed, by id.
func (db *DB) ListKeys(ctx context.Context) ([]KeyRecord, error) {
	if db.masterKey == nil {
		return nil, ErrNoMasterKey
	}
	rows, err := db.pool.Query(ctx, "SELECT "+keyColumns+" FROM key_ring ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("storage: list keys: %w", err)
	}
	return pgx.CollectRows(rows, db.scanKey)
}

// RotateKey makes a new current key for kem; the previous current key of
// that KEM stays published (active) for grace, then drains
// (keystate.Life.Rotate). It picks the id (the first free one after the
// newest key's, so ids are reused as late as possible) inside the
// transaction and calls gen with it; a retired key's id may be reused, and
// its row is replaced. It rotates whatever the current key is: for a
// rotation several replicas may attempt at once, use RotateKeyIf.
func (db *DB) RotateKey(ctx context.Context, kem uint16, gen KeyGen, grace time.Duration) (KeyRecord, error) {
	return db.rotateKey(ctx, kem, nil, gen, grace)
}

// RotateKeyIf is RotateKey done only if kem's current key is still
// expectCurrent, checked under the key ring's lock in the rotating
// transaction. Otherwise (another key is current, or none is) it changes
// nothing and returns ErrKeyConflict: replicas that saw the same current
// key and rotate together make one new key, not one each.
func (db *DB) RotateKeyIf(ctx context.Context, kem uint16, expectCurrent uint8, gen KeyGen, grace time.Duration) (KeyRecord, error) {
	return db.rotateKey(ctx, kem, &expectCurrent, gen, grace)
}

func (db *DB) rotateKey(ctx context.Context, kem uint16, expect *uint8, gen KeyGen, grace time.Duration) (KeyRecord, error) {
	var out KeyRecord
	err := db.keyTx(ctx, func(tx pgx.Tx, now time.Time) error {
		// The lock is held, so this statement's snapshot includes every
		// rotation committed before ours.
		var cur int16
		err := tx.QueryRow(ctx, `SELECT id FROM key_ring WHERE kem = $1 AND state = 'current'`, int32(kem)).Scan(&cur)
		hasCurrent := err == nil
		switch {
		case errors.Is(err, pgx.ErrNoRows) && expect != nil:
			return fmt.Errorf("%w: KEM %#04x has no current key, expected key %d", ErrKeyConflict, kem, *expect)
		case err != nil && !errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("storage: read current key: %w", err)
		case expect != nil && uint8(cur) != *expect:
			return fmt.Errorf("%w: KEM %#04x current key is %d, expected %d", ErrKeyConflict, kem, cur, *expect)
		}
		if hasCurrent {
			old, err := keystate.Life{State: keystate.Current}.Rotate(now, grace)
			if err != nil {
				return fmt.Errorf("storage: rotate key: %w", err)
			}
			if _, err := tx.Exec(ctx, `UPDATE key_ring SET state = $2, drain_after = $3, retire_after = $4 WHERE id = $1`,
				cur, string(old.State), old.DrainAfter, old.RetireAfter); err != nil {
				return err
			}
		}
		k, err := db.insertKey(ctx, tx, now, kem, gen, keystate.Current)
		out = k
		return err
	})
	return out, err
}

// AddKey adds a key in state (current or active, with no scheduled end),
// e.g. the first key of a ring. A second current key for a KEM is refused
// with ErrKeyConflict.
func (db *DB) AddKey(ctx context.Context, kem uint16, gen KeyGen, state keystate.State) (KeyRecord, error) {
	if state != keystate.Current && state != keystate.Active {
		return KeyRecord{}, fmt.Errorf("storage: add key: state %q is not current or active", state)
	}
	var out KeyRecord
	err := db.keyTx(ctx, func(tx pgx.Tx, now time.Time) error {
		k, err := db.insertKey(ctx, tx, now, kem, gen, state)
		out = k
		return err
	})
	return out, err
}

// RetireKey retires key id at once and wipes its sealed secret, whatever
// its state (the admin API asks keystate.Life.Retire first, which refuses
// the current key). Retiring a retired or missing key returns ErrNotFound.
func (db *DB) RetireKey(ctx context.Context, id uint8) error {
	tag, err := db.pool.Exec(ctx, `UPDATE key_ring SET state = 'retired', sealed_secret = NULL
		WHERE id = $1 AND state <> 'retired'`, int16(id))
	if err != nil {
		return fmt.Errorf("storage: retire key: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// keyTx runs f in a transaction that holds the key ring's write lock, so
// concurrent rotations (several gateway replicas) serialize.
func (db *DB) keyTx(ctx context.Context, f func(pgx.Tx, time.Time) error) error {
	if db.masterKey == nil {
		return ErrNoMasterKey
	}
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "LOCK TABLE key_ring IN SHARE ROW EXCLUSIVE MODE"); err != nil {
			return fmt.Errorf("storage: lock key ring: %w", err)
		}
		var now time.Time
		if err := tx.QueryRow(ctx, "SELECT now()").Scan(&now); err != nil {
			return err
		}
		return f(tx, now)
	})
}

func (db *DB) insertKey(ctx context.Context, tx pgx.Tx, now time.Time, kem uint16, gen KeyGen, state keystate.State) (KeyRecord, error) {
	var used [256]bool
	live := 0
	newest := -1
	rows, err := tx.Query(ctx, "SELECT id, state <> 'retired' FROM key_ring ORDER BY created_at, id")
	if err != nil {
		return KeyRecord{}, err
	}
	var id int16
	var isLive bool
	_, err = pgx.ForEachRow(rows, []any{&id, &isLive}, func() error {
		used[id] = isLive
		if isLive {
			live++
		}
		newest = int(id)
		return nil
	})
	if err != nil {
		return KeyRecord{}, err
	}
	if live == 256 {
		return KeyRecord{}, ErrKeyIDsExhausted
	}
	pick := 0
	for i := 1; i <= 256; i++ {
		if c := (newest + i) & 0xff; !used[c] {
			pick = c
			break
		}
	}
	cfg, secret, err := gen(uint8(pick))
	if err != nil {
		return KeyRecord{}, fmt.Errorf("storage: generate key: %w", err)
	}
	sealed, err := db.seal(sealAAD(uint8(pick)), secret)
	if err != nil {
		return KeyRecord{}, err
	}
	_, err = tx.Exec(ctx, `INSERT INTO key_ring (`+keyColumns+`) VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL)
		ON CONFLICT (id) DO UPDATE SET kem = excluded.kem, config = excluded.config,
			sealed_secret = excluded.sealed_secret, state = excluded.state,
			created_at = excluded.created_at, drain_after = NULL, retire_after = NULL
		WHERE key_ring.state = 'retired'`,
		int16(pick), int32(kem), cfg, sealed, string(state), now)
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23505" {
			return KeyRecord{}, ErrKeyConflict
		}
		return KeyRecord{}, fmt.Errorf("storage: store key: %w", err)
	}
	return KeyRecord{ID: uint8(pick), KEM: kem, Config: cfg, Secret: secret, State: state, CreatedAt: now}, nil
}

// advanceKeys records the moves the schedule made since the last run
// (keystate.Life.At): active keys past their drain time drain, keys past
// their retire time are retired and their secrets wiped. Each update is
// conditional on the state it read, so a concurrent retirement or an id
// reused meanwhile is left alone.
func (db *DB) advanceKeys(ctx context.Context, now time.Time) error {
	rows, err := db.pool.Query(ctx, `SELECT id, state, drain_after, retire_after FROM key_ring
		WHERE state IN ('active', 'draining')`)
	if err != nil {
		return err
	}
	type move struct {
		id       int16
		from, to keystate.State
	}
	var moves []move
	var (
		id                      int16
		state                   string
		drainAfter, retireAfter *time.Time
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &state, &drainAfter, &retireAfter}, func() error {
		l := keystate.Life{State: keystate.State(state)}
		if drainAfter != nil {
			l.DrainAfter = *drainAfter
		}
		if retireAfter != nil {
			l.RetireAfter = *retireAfter
		}
		if to := l.At(now); to != l.State {
			moves = append(moves, move{id, l.State, to})
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, m := range moves {
		q := `UPDATE key_ring SET state = $3 WHERE id = $1 AND state = $2`
		if m.to == keystate.Retired {
			q = `UPDATE key_ring SET state = $3, sealed_secret = NULL WHERE id = $1 AND state = $2`
		}
		if _, err := db.pool.Exec(ctx, q, m.id, string(m.from), string(m.to)); err != nil {
			return err
		}
	}
	return nil
}
