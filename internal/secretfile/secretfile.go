// Package secretfile creates files that hold a secret (the admin token,
// the storage master key): readable by their owner only, written whole or
// not at all, and never over an existing file.
package secretfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Create writes data to a new file at path with mode 0600, creating its
// directory (mode 0700) if needed, and syncs it. It never replaces a file:
// when path exists it fails with an error matching fs.ErrExist, so of two
// processes creating one file at once the loser can read the winner's. A
// failed write removes the file, since a half-written secret would fail
// every later start. The error never holds data.
func Create(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	// O_EXCL: never overwrite, and never follow a link planted at path
	// (O_NOFOLLOW says so for the last element where the system has it).
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|oNoFollow, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if rerr := os.Remove(path); rerr != nil {
			err = errors.Join(err, fmt.Errorf("remove the partial file: %w", rerr))
		}
		return err
	}
	return nil
}
