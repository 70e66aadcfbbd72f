package sdk

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// QueueKeySize is the size of a queue key in bytes: an AES-256-GCM key.
const QueueKeySize = 32

// QueueKeyProvider supplies the key that encrypts the files of
// Config.QueueDir, so that an app can keep it in the platform's keystore
// (Keychain, Android Keystore, DPAPI…) rather than beside the batches.
type QueueKeyProvider interface {
	// QueueKey returns the installation's queue key: QueueKeySize bytes
	// from a cryptographically secure random source, created on the first
	// call and the same on every later one, across restarts. New calls it
	// once and fails with its error. Batches queued under another key
	// cannot be decrypted: they are removed and, when this Client knows
	// their events, reported dropped with ReasonCorrupt.
	QueueKey() ([]byte, error)
}

// ErrQueueDirUnsafe is returned by New for a queue directory, or a key
// file in it, that another user could tamper with or read: a symbolic
// link, not owned by this process's effective user, writable by group or
// others (the key file: readable either). The error names the path and the
// fix.
var ErrQueueDirUnsafe = errors.New("veil: queue directory is not private to this user")

// queueKeyFile is the default key's file in the queue directory. It holds
// QueueKeySize random bytes, mode 0600.
const queueKeyFile = "queue.key"

// sealedMagic starts every sealed queue file; a file written before queue
// files were sealed starts with '{'. The format:
//
//	sealed queue file {
//	  magic (64) = "veil-q1\n",
//	  nonce (96),
//	  AES-256-GCM ciphertext and tag (..) of the queue file's JSON,
//	    with the magic as additional data,
//	}
const sealedMagic = "veil-q1\n"

// sealOverhead is what sealing adds to a queue file's JSON.
const sealOverhead = len(sealedMagic) + 12 + 16

// newQueueAEAD checks key and returns its AES-256-GCM.
func newQueueAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != QueueKeySize {
		return nil, fmt.Errorf("veil: queue key of %d bytes, want %d", len(key), QueueKeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// seal encrypts a queue file's JSON under a fresh random nonce. Nonces are
// 96 random bits: a Client writes a file per batch, far below the 2³²
// messages per key at which random nonces would risk a collision.
func seal(aead cipher.AEAD, plain []byte) []byte {
	out := make([]byte, 0, sealOverhead+len(plain))
	out = append(out, sealedMagic...)
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	out = append(out, nonce...)
	return aead.Seal(out, nonce, plain, []byte(sealedMagic))
}

// errQueueFileKey reports a sealed queue file that does not open: damaged,
// or sealed under another key.
var errQueueFileKey = errors.New("cannot be decrypted: damaged, or sealed under another queue key")

// unseal returns the JSON of a sealed queue file.
func unseal(aead cipher.AEAD, data []byte) ([]byte, error) {
	rest, ok := bytes.CutPrefix(data, []byte(sealedMagic))
	if !ok || len(rest) < aead.NonceSize()+aead.Overhead() {
		return nil, errQueueFileKey
	}
	nonce, ct := rest[:aead.NonceSize()], rest[aead.NonceSize():]
	plain, err := aead.Open(nil, nonce, ct, []byte(sealedMagic))
	if err != nil {
		return nil, errQueueFileKey
	}
	return plain, nil
}

// providedKey asks p for the queue key.
func providedKey(p QueueKeyProvider) ([]byte, error) {
	key, err := p.QueueKey()
	if err != nil {
		return nil, fmt.Errorf("veil: Config.QueueKey: %w", err)
	}
	if len(key) != QueueKeySize {
		return nil, fmt.Errorf("veil: Config.QueueKey gave a key of %d bytes, want %d (QueueKeySize)", len(key), QueueKeySize)
	}
	return key, nil
}

// fileKey returns the key kept in the queue directory, creating it when
// there is none. The directory is locked and private (openQueueDir), so no
// one else can create or replace the file meanwhile; it is still checked as
// it is found, since an earlier process or a backup restore may have left
// it readable.
func fileKey(root *os.Root, dir string) ([]byte, error) {
	path := filepath.Join(dir, queueKeyFile)
	info, err := root.Lstat(queueKeyFile)
	if errors.Is(err, fs.ErrNotExist) {
		return createFileKey(root)
	}
	if err != nil {
		return nil, fmt.Errorf("veil: queue key: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file (%v): remove it; a new key is then made, and batches queued under the old one are dropped",
			ErrQueueDirUnsafe, path, info.Mode().Type())
	}
	if err := checkPrivate(path, info, 0o077); err != nil {
		return nil, err
	}
	if info.Size() != QueueKeySize {
		return nil, fmt.Errorf("veil: queue key file %s holds %d bytes, not a %d-byte key: remove it; a new key is then made, and batches queued under the old one are dropped",
			path, info.Size(), QueueKeySize)
	}
	f, err := root.Open(queueKeyFile)
	if err != nil {
		return nil, fmt.Errorf("veil: queue key: %w", err)
	}
	defer f.Close()
	key := make([]byte, QueueKeySize)
	if _, err := io.ReadFull(f, key); err != nil {
		return nil, fmt.Errorf("veil: queue key file %s: %w", path, err)
	}
	return key, nil
}

// createFileKey makes a new random key and stores it in the queue
// directory: written to a temporary file created exclusively (never through
// a link someone left), synced, then renamed into place, so the key file is
// whole or absent after a crash.
func createFileKey(root *os.Root) ([]byte, error) {
	key := make([]byte, QueueKeySize)
	rand.Read(key)
	if err := writeExclusive(root, queueKeyFile, key); err != nil {
		return nil, fmt.Errorf("veil: queue key: %w", err)
	}
	return key, nil
}

// writeExclusive stores data under name in root atomically: a temporary
// file created with O_EXCL (mode 0600), synced, renamed over the name, then
// the directory synced. A stale temporary file from a crash is removed by
// openQueueDir; one that is still there makes the write fail.
func writeExclusive(root *os.Root, name string, data []byte) error {
	tmp := name + ".tmp"
	fh, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = fh.Write(data)
	if err == nil {
		err = fh.Sync()
	}
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Rename(tmp, name)
	}
	if err != nil {
		root.Remove(tmp)
		return err
	}
	// Make the rename durable. Not every platform can sync a directory;
	// the rename itself is still atomic there.
	if d, err := root.Open("."); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
