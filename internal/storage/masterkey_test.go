package storage_test

import (
	"bytes"
	"context"
	"errors"
	"github.com/veil-telemetry/veil/internal/keystate"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/internal/storage"
	"github.com/veil-telemetry/veil/internal/storage/storagetest"
)

// TestMasterKeyFile: Open creates a missing master key file (0600) for an
// empty key ring, and a second Open reads the same key.
func TestMasterKeyFile(t *testing.T) {
	t.Parallel()
	path := t.TempDir() + "/sub/master.key"
	storagetest.Open(t, storage.Config{MasterKeyFile: path})
	k1, err := storage.LoadMasterKey(path)
	if err != nil || len(k1) != 32 {
		t.Fatalf("create: %d bytes, %v", len(k1), err)
	}
	storagetest.Open(t, storage.Config{MasterKeyFile: path})
	k2, err := storage.LoadMasterKey(path)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("reload differs: %v", err)
	}
	fi, err := statMode(path)
	if err != nil || fi != 0o600 {
		t.Fatalf("mode %o, %v; want 600", fi, err)
	}
}

// TestMasterKeyFileReadableByOthers: an existing master key that other
// users may read is refused, not used.
func TestMasterKeyFileReadableByOthers(t *testing.T) {
	t.Parallel()
	for _, mode := range []os.FileMode{0o644, 0o604, 0o640, 0o660, 0o666} {
		path := filepath.Join(t.TempDir(), "master.key")
		if err := os.WriteFile(path, bytes.Repeat([]byte{7}, 32), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := storage.LoadMasterKey(path)
		if !errors.Is(err, storage.ErrSecretFileMode) || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("mode %04o: %v; want ErrSecretFileMode saying chmod 600", mode, err)
		}
	}
	// Through Open too, as veil serve loads it.
	path := filepath.Join(t.TempDir(), "master.key")
	if err := os.WriteFile(path, bytes.Repeat([]byte{7}, 32), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o644)
	cfg := storage.Config{MasterKeyFile: path}
	cfg.URL, cfg.MigrationURL = storagetest.URLs(t)
	if db, err := storage.Open(ctxT(t), cfg, nil); !errors.Is(err, storage.ErrSecretFileMode) {
		if db != nil {
			db.Close()
		}
		t.Fatalf("Open with a 0644 master key: %v; want ErrSecretFileMode", err)
	}
}

// TestSecretModeRule: group read is accepted only on a file another user
// owns (a secret mount readable by the pod's group); nobody else ever.
func TestSecretModeRule(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		perm fs.FileMode
		mine bool
		ok   bool
	}{
		{0o600, true, true}, {0o400, true, true}, {0o640, true, false}, {0o604, true, false},
		{0o440, false, true}, {0o640, false, true}, {0o460, false, false}, {0o444, false, false},
		{0o450, false, false}, {0o602, false, false},
	} {
		if err := storage.SecretModeError(tc.perm, tc.mine); (err == nil) != tc.ok {
			t.Errorf("mode %04o, owned by us %v: %v; want ok=%v", tc.perm, tc.mine, err, tc.ok)
		}
	}
}

// TestMasterKeyMissingWithPopulatedRing: when the master key file is gone
// but the key ring holds keys sealed under it, Open creates no new key
// (it could open none of them) and says what to do.
func TestMasterKeyMissingWithPopulatedRing(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	path := filepath.Join(t.TempDir(), "master.key")
	cfg := storage.Config{MasterKeyFile: path}
	cfg.URL, cfg.MigrationURL = storagetest.URLs(t)
	db, err := storage.Open(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddKey(ctx, 0x20, fakeGen(map[uint8][]byte{}), keystate.Current); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	db, err = storage.Open(ctx, cfg, nil)
	if err == nil {
		db.Close()
	}
	if !errors.Is(err, storage.ErrMasterKeyMissing) || !strings.Contains(err.Error(), "Restore the file") {
		t.Fatalf("Open without the master key of a populated ring: %v; want ErrMasterKeyMissing saying what to do", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a master key file was written anyway (%v)", err)
	}
}

// TestMasterKeyDanglingSymlink: a link to a missing file at the master key
// path fails at once (it used to recurse forever, at 100% CPU).
func TestMasterKeyDanglingSymlink(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "master.key")
	if err := os.Symlink(filepath.Join(dir, "missing", "key"), path); err != nil {
		t.Fatal(err)
	}
	cfg := storage.Config{MasterKeyFile: path}
	cfg.URL, cfg.MigrationURL = storagetest.URLs(t)
	ctx, cancel := context.WithTimeout(ctxT(t), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		db, err := storage.Open(ctx, cfg, nil)
		if err == nil {
			db.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "symbolic link") {
			t.Fatalf("Open with a dangling master key link: %v; want an error naming the link", err)
		}
	case <-ctx.Done():
		t.Fatal("Open with a dangling master key link did not return within a minute")
	}
	if _, err := os.Stat(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("something was created through the link (%v)", err)
	}
}
