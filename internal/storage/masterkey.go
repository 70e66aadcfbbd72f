package storage

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"

	"github.com/veil-telemetry/veil/internal/secretfile"
)

// Master key file errors.
var (
	// ErrMasterKeyMissing reports a missing master key file while the key
	// ring holds keys sealed under a master key: a new key would open none
	// of them, so none is created.
	ErrMasterKeyMissing = errors.New("storage: master key file is missing but the key ring holds sealed keys")
	// ErrSecretFileMode reports a secret file (the master key, the managed
	// PostgreSQL's secret) that other users may access.
	ErrSecretFileMode = errors.New("storage: secret file is accessible to other users")
)

// LoadMasterKey reads the 32-byte master key at path. A missing file is
// an error matching fs.ErrNotExist; a symbolic link to a missing file is
// a different error, so it is never mistaken for a key to create. A file
// that other users may access is refused with ErrSecretFileMode (see
// checkSecretMode).
func LoadMasterKey(path string) ([]byte, error) {
	b, err := readSecretFile(path, masterKeySize+1)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
				return nil, fmt.Errorf("storage: master key file %s is a symbolic link to a file that does not exist: restore the file it points to, or remove the link", path)
			}
		}
		return nil, fmt.Errorf("storage: master key: %w", err)
	}
	if len(b) > masterKeySize {
		return nil, fmt.Errorf("storage: master key file %s holds more than %d bytes", path, masterKeySize)
	}
	if len(b) != masterKeySize {
		return nil, fmt.Errorf("storage: master key file %s holds %d bytes, want %d", path, len(b), masterKeySize)
	}
	return b, nil
}

// readSecretFile reads at most limit bytes of path after checking its mode.
func readSecretFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := checkSecretMode(path, fi); err != nil {
		return nil, err
	}
	return io.ReadAll(io.LimitReader(f, limit))
}

// checkSecretMode refuses a secret file that others may access. A file
// owned by this process's user must be 0600 or narrower (veil creates them
// so; anything wider was changed by someone). A file owned by another user
// may in addition be readable by its group: that is how a secret reaches a
// non-root container (Kubernetes mounts secrets root-owned, readable by the
// pod's fsGroup). Nobody else may ever have access.
// CheckSecretFileMode applies the rule above to the file at path: for
// secrets other than the master key (the admin token file).
func CheckSecretFileMode(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	return checkSecretMode(path, fi)
}

func checkSecretMode(path string, fi fs.FileInfo) error {
	mine := true
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		mine = int(st.Uid) == os.Geteuid()
	}
	if err := secretModeError(fi.Mode().Perm(), mine); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrSecretFileMode, path, err)
	}
	return nil
}

func secretModeError(perm fs.FileMode, mine bool) error {
	switch {
	case perm&0o007 != 0:
		return fmt.Errorf("mode %04o lets every user of this machine at it; chmod 600 it", perm)
	case mine && perm&0o070 != 0:
		return fmt.Errorf("mode %04o lets its group at it; chmod 600 it", perm)
	case perm&0o030 != 0:
		return fmt.Errorf("mode %04o lets its group change it; chmod 640 or narrower", perm)
	}
	return nil
}

// loadOrCreateMasterKey is LoadMasterKey, creating the file when it is
// missing and the key ring holds no sealed key.
func (db *DB) loadOrCreateMasterKey(ctx context.Context, path string) ([]byte, error) {
	key, err := LoadMasterKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	var sealed int
	if err := db.pool.QueryRow(ctx, "SELECT count(*) FROM key_ring WHERE sealed_secret IS NOT NULL").Scan(&sealed); err != nil {
		return nil, fmt.Errorf("storage: master key: read the key ring: %w", err)
	}
	if sealed > 0 {
		return nil, fmt.Errorf("%w: %s does not exist and the key ring holds %d gateway keys sealed under the master key it held. "+
			"Restore the file from your backup (or point --master-key-file at it); the database holds no copy. "+
			"If it is lost for good, those keys cannot be opened: delete them as the database owner (DELETE FROM key_ring) "+
			"and start again, which creates a new master key and new gateway keys", ErrMasterKeyMissing, path, sealed)
	}
	key, created, err := createMasterKey(path)
	if err == nil && created {
		db.log.Info("created master key file", "path", path)
	}
	return key, err
}

// createMasterKey writes a random master key at path (mode 0600). When
// the file appears meanwhile — another process on the same data directory
// won — it reads that one, once.
func createMasterKey(path string) (key []byte, created bool, err error) {
	key = make([]byte, masterKeySize)
	if _, err := io.ReadFull(rand.Reader, key); err != nil {
		return nil, false, err
	}
	// Two processes creating at once must not end with different keys:
	// the loser reads the winner's.
	err = secretfile.Create(path, key)
	if errors.Is(err, fs.ErrExist) {
		key, err := LoadMasterKey(path)
		return key, false, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("storage: create master key: %w", err)
	}
	return key, true, nil
}
