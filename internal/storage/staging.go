package storage

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/veil-telemetry/veil/internal/secretfile"
)

// Staging keys (DESIGN.md invariant 3). Each mix interval has its own
// AES-256-GCM key in a file of the stage key directory, outside
// PostgreSQL, named <interval>-<key id>.key: created and synced (with its
// directory) before the first row sealed with it is written, and deleted
// once the mix that consumed its interval has committed. WAL, base backups
// and replicas therefore hold staged content only as ciphertext whose key
// is gone once it has been mixed.
//
// A staging row is (interval_id, key_id, sealed) with sealed = nonce (12
// bytes) ‖ AES-256-GCM(key, payload, AAD = "veil staging v1" ‖ interval
// (8 bytes, big endian) ‖ key id). Interval ids are the Unix second of the
// interval's start, so they compare across MixInterval settings.
//
// Replicas each keep their own key files; a mixer reads only the keys in
// its own directory, so replicas that all take mixing turns must share the
// directory (a shared volume), or mixing must stay on one replica.

const (
	stageKeySize = 32
	stageIDSize  = 16
	stageAAD     = "veil staging v1"
)

// stageKey is one interval's key.
type stageKey struct {
	iv   int64
	id   [stageIDSize]byte
	aead cipher.AEAD
}

func (k *stageKey) aad() []byte {
	a := make([]byte, 0, len(stageAAD)+8+stageIDSize)
	a = append(a, stageAAD...)
	a = binary.BigEndian.AppendUint64(a, uint64(k.iv))
	return append(a, k.id[:]...)
}

func (k *stageKey) seal(payload []byte, rand io.Reader) ([]byte, error) {
	out := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(payload)+k.aead.Overhead())
	if _, err := io.ReadFull(rand, out); err != nil {
		return nil, fmt.Errorf("storage: nonce: %w", err)
	}
	return k.aead.Seal(out, out, payload, k.aad()), nil
}

// errStagedOpen is the one error of a staging row that does not open.
var errStagedOpen = errors.New("storage: staging row does not open with its key")

func (k *stageKey) open(sealed []byte) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(sealed) < n+k.aead.Overhead() {
		return nil, errStagedOpen
	}
	p, err := k.aead.Open(nil, sealed[:n], sealed[n:], k.aad())
	if err != nil {
		return nil, errStagedOpen
	}
	return p, nil
}

func newStageKey(iv int64, id [stageIDSize]byte, key []byte) (*stageKey, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		return nil, err
	}
	return &stageKey{iv: iv, id: id, aead: g}, nil
}

// stageKeys is the writer's and the mixer's view of the key directory.
type stageKeys struct {
	db       *DB
	dir      string
	interval time.Duration
	rand     io.Reader

	mu  sync.Mutex
	cur *stageKey
}

func newStageKeys(db *DB, dir string, interval time.Duration, rand io.Reader) *stageKeys {
	return &stageKeys{db: db, dir: dir, interval: interval, rand: rand}
}

func (s *stageKeys) intervalOf(t time.Time) int64 { return t.Truncate(s.interval).Unix() }

func (s *stageKeys) path(iv int64, id [stageIDSize]byte) string {
	return filepath.Join(s.dir, strconv.FormatInt(iv, 10)+"-"+hex.EncodeToString(id[:])+".key")
}

// current returns the key of now's interval, creating its file and its
// staging partition first when needed.
func (s *stageKeys) current(ctx context.Context, now time.Time) (*stageKey, error) {
	iv := s.intervalOf(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil && s.cur.iv == iv {
		// A forced mix by another writer may have taken the interval and
		// deleted its key while this one still holds it.
		if _, err := os.Stat(s.path(iv, s.cur.id)); err == nil {
			return s.cur, nil
		}
	}
	var id [stageIDSize]byte
	key := make([]byte, stageKeySize)
	if _, err := io.ReadFull(s.rand, id[:]); err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(s.rand, key); err != nil {
		return nil, err
	}
	k, err := newStageKey(iv, id, key)
	if err != nil {
		return nil, err
	}
	if err := secretfile.Create(s.path(iv, id), key); err != nil {
		return nil, fmt.Errorf("storage: stage key file: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		return nil, fmt.Errorf("storage: stage key directory: %w", err)
	}
	if _, err := s.db.pool.Exec(ctx, "SELECT veil_ensure_staging_partition($1)", iv); err != nil {
		return nil, err
	}
	s.cur = k
	return k, nil
}

// invalidate forgets k if it is still the current key.
func (s *stageKeys) invalidate(k *stageKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == k {
		s.cur = nil
	}
}

// open reads the key of a staging row.
func (s *stageKeys) open(iv int64, id []byte) (*stageKey, error) {
	if len(id) != stageIDSize {
		return nil, errStagedOpen
	}
	var kid [stageIDSize]byte
	copy(kid[:], id)
	s.mu.Lock()
	if c := s.cur; c != nil && c.iv == iv && c.id == kid {
		s.mu.Unlock()
		return c, nil
	}
	s.mu.Unlock()
	key, err := os.ReadFile(s.path(iv, kid))
	if err != nil {
		return nil, fmt.Errorf("storage: stage key of interval %d: %w", iv, err)
	}
	if len(key) != stageKeySize {
		return nil, fmt.Errorf("storage: stage key of interval %d: %d bytes", iv, len(key))
	}
	return newStageKey(iv, kid, key)
}

// remove deletes consumed keys' files and syncs the directory.
func (s *stageKeys) remove(keys map[[stageIDSize]byte]int64) error {
	var errs []error
	for id, iv := range keys {
		if err := os.Remove(s.path(iv, id)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if len(keys) > 0 {
		errs = append(errs, syncDir(s.dir))
	}
	return errors.Join(errs...)
}

// removeIntervals deletes the key files of the intervals ivs, whose
// partitions a committed mix dropped (keys no row used included: another
// writer's, or one made just before its interval ended).
func (s *stageKeys) removeIntervals(ivs []int64) error {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	taken := make(map[int64]bool, len(ivs))
	for _, iv := range ivs {
		taken[iv] = true
	}
	gone := map[[stageIDSize]byte]int64{}
	for _, e := range ents {
		if iv, id, ok := parseKeyName(e.Name()); ok && taken[iv] {
			gone[id] = iv
		}
	}
	return s.remove(gone)
}

// parseKeyName parses a key file's name, <interval>-<key id hex>.key.
func parseKeyName(name string) (iv int64, id [stageIDSize]byte, ok bool) {
	base, ok1 := strings.CutSuffix(name, ".key")
	ivs, idh, ok2 := strings.Cut(base, "-")
	iv, err := strconv.ParseInt(ivs, 10, 64)
	idb, herr := hex.DecodeString(idh)
	if !ok1 || !ok2 || err != nil || herr != nil || len(idb) != stageIDSize {
		return 0, id, false
	}
	return iv, [stageIDSize]byte(idb), true
}

// removeOrphans deletes the key files of past intervals that have no
// staging partition: a crash between a mix's commit and its file removal
// leaves them behind.
func (s *stageKeys) removeOrphans(ctx context.Context, now time.Time) error {
	ents, err := os.ReadDir(s.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("storage: stage key directory: %w", err)
	}
	live, err := stagingIntervals(ctx, s.db.pool)
	if err != nil {
		return fmt.Errorf("storage: staging partitions: %w", err)
	}
	has := make(map[int64]bool, len(live))
	for _, iv := range live {
		has[iv] = true
	}
	cur := s.intervalOf(now)
	orphans := map[[stageIDSize]byte]int64{}
	for _, e := range ents {
		iv, id, ok := parseKeyName(e.Name())
		if ok && iv < cur && !has[iv] {
			orphans[id] = iv
		}
	}
	return s.remove(orphans)
}

// stagingIntervals lists the intervals that have a staging partition.
func stagingIntervals(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) ([]int64, error) {
	rows, err := q.Query(ctx, `SELECT c.relname FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'public.staging'::regclass ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	var out []int64
	for _, n := range names {
		s, ok := strings.CutPrefix(n, "staging_")
		iv, err := strconv.ParseInt(s, 10, 64)
		if ok && err == nil {
			out = append(out, iv)
		}
	}
	return out, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
