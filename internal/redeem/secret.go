package redeem

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/veil-telemetry/veil/internal/secretfile"
)

// SecretSize is the size of a generated secret.
const SecretSize = 32

// LoadOrCreateSecret reads the secret at path, creating a random one
// (mode 0600) when the file does not exist. The error never holds it.
func LoadOrCreateSecret(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		s := make([]byte, SecretSize)
		rand.Read(s)
		if err := secretfile.Create(path, s); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("redeem: create the token secret: %w", err)
		}
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("redeem: read the token secret: %w", err)
	}
	if len(data) < 16 {
		return nil, errors.New("redeem: the token secret file holds fewer than 16 bytes")
	}
	return data, nil
}
