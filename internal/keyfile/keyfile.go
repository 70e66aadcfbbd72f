// Package keyfile is the text format of `veil keys` files: one OHTTP
// gateway private key each.
//
//	# veil OHTTP gateway private key. Keep secret.
//	veil-ohttp-key v1
//	config <hex: the RFC 9458 §3.1 Key Config>
//	secret <hex: the KEM private key, as ohttp.PrivateKey.Secret>
//
// Lines starting with # and blank lines are ignored. A file is written with
// mode 0600 and never overwritten. Errors never quote a file's contents:
// they are secret.
package keyfile

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/veil-telemetry/veil/ohttp"
)

// Magic is the line that opens a key file.
const Magic = "veil-ohttp-key v1"

// MaxBytes bounds a key file; an X-Wing config and secret in hex take
// under 4 KiB.
const MaxBytes = 64 << 10

// ErrFormat reports a file that is not a veil key file, or a damaged one.
var ErrFormat = errors.New("not a veil key file")

// Marshal encodes key as a key file. The caller clears the result after
// use: it holds the secret.
func Marshal(key *ohttp.PrivateKey) ([]byte, error) {
	cfg, err := key.Config.MarshalBinary()
	if err != nil {
		return nil, err
	}
	secret := key.Secret()
	defer clear(secret)
	var b bytes.Buffer
	b.WriteString("# veil OHTTP gateway private key. Keep secret.\n")
	b.WriteString(Magic + "\n")
	b.WriteString("config " + hex.EncodeToString(cfg) + "\n")
	b.WriteString("secret ")
	hexSecret := make([]byte, hex.EncodedLen(len(secret)))
	hex.Encode(hexSecret, secret)
	b.Write(hexSecret)
	clear(hexSecret)
	b.WriteString("\n")
	return b.Bytes(), nil
}

// Parse decodes a key file.
func Parse(data []byte) (*ohttp.PrivateKey, error) {
	var magic bool
	var cfgHex, secretHex string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), MaxBytes)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !magic {
			if line != Magic {
				return nil, ErrFormat
			}
			magic = true
			continue
		}
		name, val, _ := strings.Cut(line, " ")
		switch name {
		case "config":
			cfgHex = strings.TrimSpace(val)
		case "secret":
			secretHex = strings.TrimSpace(val)
		default:
			// Name the line by number only: an unparsed line may be
			// the secret itself.
			return nil, fmt.Errorf("%w: line %d not understood", ErrFormat, n)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if !magic || cfgHex == "" || secretHex == "" {
		return nil, fmt.Errorf("%w: missing config or secret", ErrFormat)
	}
	cfgBytes, err := hex.DecodeString(cfgHex)
	if err != nil {
		return nil, fmt.Errorf("%w: config is not hex", ErrFormat)
	}
	secret, err := hex.DecodeString(secretHex)
	if err != nil {
		return nil, fmt.Errorf("%w: secret is not hex", ErrFormat)
	}
	defer clear(secret)
	cfg, err := ohttp.ParseKeyConfig(cfgBytes)
	if err != nil {
		return nil, err
	}
	return ohttp.NewPrivateKey(*cfg, secret)
}

// Write creates path (mode 0600) holding key. It never overwrites a file,
// which could lose a key still in use.
func Write(path string, key *ohttp.PrivateKey) error {
	data, err := Marshal(key)
	if err != nil {
		return err
	}
	defer clear(data)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

// Read reads the key file at path.
func Read(path string) (*ohttp.PrivateKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxBytes+1))
	if err != nil {
		return nil, err
	}
	defer clear(data)
	if len(data) > MaxBytes {
		return nil, fmt.Errorf("%s: file too large", path)
	}
	k, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// ReadAll reads the key files at paths, in order, refusing two that share
// a key identifier: a gateway could reach only one of them.
func ReadAll(paths []string) ([]*ohttp.PrivateKey, error) {
	seen := map[uint8]string{}
	keys := make([]*ohttp.PrivateKey, 0, len(paths))
	for _, p := range paths {
		k, err := Read(p)
		if err != nil {
			return nil, err
		}
		if other, dup := seen[k.Config.KeyID]; dup {
			return nil, fmt.Errorf("%s and %s share key id %d", other, p, k.Config.KeyID)
		}
		seen[k.Config.KeyID] = p
		keys = append(keys, k)
	}
	return keys, nil
}
