package issuer

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/veil-telemetry/veil/privacypass"
)

// keyRing holds one key per epoch, generated (or loaded from dir) when the
// epoch is first needed.
type keyRing struct {
	epoch time.Duration
	dir   string
	gen   func() (*privacypass.IssuerKey, error)

	mu   sync.Mutex
	keys map[int64]*privacypass.IssuerKey // by epoch start, Unix seconds
}

func (k *keyRing) epochStart(t time.Time) time.Time { return t.UTC().Truncate(k.epoch) }

// get returns the key of the epoch starting at start.
func (k *keyRing) get(start time.Time) (*privacypass.IssuerKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if key, ok := k.keys[start.Unix()]; ok {
		return key, nil
	}
	key, err := k.load(start)
	if err != nil {
		return nil, err
	}
	k.keys[start.Unix()] = key
	// Keep the current and previous epochs only.
	for e := range k.keys {
		if e < start.Add(-k.epoch).Unix() {
			delete(k.keys, e)
		}
	}
	return key, nil
}

// has reports whether the epoch's key is ready without making it.
func (k *keyRing) has(start time.Time) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	_, ok := k.keys[start.Unix()]
	return ok
}

// PublicKeyFile and privateKeyFile name an epoch's key files in the key
// directory: the private key (PKCS #8 PEM, mode 0600) and the public key
// as the encoded RSASSA-PSS SPKI (what veil serve --token-issuer-key reads).
func PublicKeyFile(start time.Time) string {
	return "token-key-" + strconv.FormatInt(start.Unix(), 10) + ".spki"
}

func privateKeyFile(start time.Time) string {
	return "token-key-" + strconv.FormatInt(start.Unix(), 10) + ".pem"
}

func (k *keyRing) load(start time.Time) (*privacypass.IssuerKey, error) {
	if k.dir != "" {
		data, err := os.ReadFile(filepath.Join(k.dir, privateKeyFile(start)))
		switch {
		case err == nil:
			blk, _ := pem.Decode(data)
			if blk == nil || blk.Type != "PRIVATE KEY" {
				return nil, fmt.Errorf("issuer: %s is not a PKCS #8 PEM key", privateKeyFile(start))
			}
			sk, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("issuer: %s: %w", privateKeyFile(start), err)
			}
			rk, ok := sk.(*rsa.PrivateKey)
			if !ok {
				return nil, fmt.Errorf("issuer: %s is not an RSA key", privateKeyFile(start))
			}
			return privacypass.NewIssuerKey(rk)
		case !errors.Is(err, os.ErrNotExist):
			return nil, err
		}
	}
	key, err := k.gen()
	if err != nil {
		return nil, err
	}
	if k.dir == "" {
		return key, nil
	}
	der, err := x509.MarshalPKCS8PrivateKey(key.PrivateKey())
	if err != nil {
		return nil, err
	}
	if err := writeNew(filepath.Join(k.dir, privateKeyFile(start)), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	if err := writeNew(filepath.Join(k.dir, PublicKeyFile(start)), key.Public.SPKI, 0o644); err != nil {
		return nil, err
	}
	return key, nil
}

// writeNew writes a file that must not exist yet.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
