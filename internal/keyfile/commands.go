package keyfile

import (
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/veil-telemetry/veil/ohttp"
)

// The functions in this file are the commands of veil keys; their errors
// read as the command's ("keys: ...").

// UsageError reports arguments veil keys cannot act on; its message names
// the flag and what it takes.
type UsageError struct{ msg string }

func (e *UsageError) Error() string { return e.msg }

func usageError(format string, args ...any) error {
	return &UsageError{msg: fmt.Sprintf("keys: "+format, args...)}
}

// DefaultSuites are the symmetric suites a generated key offers unless
// told otherwise, as KDF/AEAD names.
var DefaultSuites = []string{"hkdf-sha256/aes-128-gcm", "hkdf-sha256/chacha20-poly1305"}

// GenerateOptions are the arguments of veil keys generate.
type GenerateOptions struct {
	KEM    string   // a name of ohttp.ParseKEM
	ID     uint8    // key identifier
	Out    string   // key file to create
	Suites []string // KDF/AEAD names, at least one
	Rand   io.Reader
}

// Generate makes a key as o says, writes it to the new file o.Out (see
// Write) and writes its public key configuration, in hex, to w.
func Generate(w io.Writer, o GenerateOptions) error {
	kem, err := ohttp.ParseKEM(o.KEM)
	if err != nil {
		return usageError("unknown --kem %q (%s)", o.KEM, strings.Join(ohttp.KEMNames(), ", "))
	}
	if o.Out == "" {
		return usageError("--out is required")
	}
	if len(o.Suites) == 0 {
		return usageError("at least one --suite is required")
	}
	ss := make([]ohttp.SymmetricSuite, len(o.Suites))
	for i, s := range o.Suites {
		if ss[i], err = ohttp.ParseSymmetricSuite(s); err != nil {
			return usageError("bad --suite %q (want KDF/AEAD, e.g. hkdf-sha256/aes-128-gcm)", s)
		}
	}
	key, err := ohttp.GenerateKey(o.Rand, o.ID, kem, ss)
	if err != nil {
		return fmt.Errorf("keys generate: %w", err)
	}
	if err := Write(o.Out, key); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	cfg, err := key.Config.MarshalBinary()
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, hex.EncodeToString(cfg))
	return err
}

// WriteConfigs writes the application/ohttp-keys document of the key files
// at paths, in that order: in hex on one line, or with raw its bytes.
func WriteConfigs(w io.Writer, paths []string, raw bool) error {
	keys, err := readKeyFiles(paths)
	if err != nil {
		return err
	}
	cfgs := make([]*ohttp.KeyConfig, len(keys))
	for i, k := range keys {
		cfgs[i] = &k.Config
	}
	doc, err := ohttp.MarshalKeyConfigs(cfgs)
	if err != nil {
		return fmt.Errorf("keys config: %w", err)
	}
	if raw {
		_, err = w.Write(doc)
		return err
	}
	_, err = fmt.Fprintln(w, hex.EncodeToString(doc))
	return err
}

// WriteList writes a table of the key files at paths: key identifier, KEM
// and suites; never a secret.
func WriteList(w io.Writer, paths []string) error {
	keys, err := readKeyFiles(paths)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%-6s %-28s %s\n", "KEY_ID", "KEM", "SUITES")
	for _, k := range keys {
		ss := make([]string, len(k.Config.Suites))
		for i, s := range k.Config.Suites {
			ss[i] = s.String()
		}
		fmt.Fprintf(w, "%-6d %-28s %s\n", k.Config.KeyID,
			fmt.Sprintf("%s (0x%04x)", k.Config.KEM, uint16(k.Config.KEM)), strings.Join(ss, ","))
	}
	return nil
}

func readKeyFiles(paths []string) ([]*ohttp.PrivateKey, error) {
	if len(paths) == 0 {
		return nil, usageError("at least one --key is required")
	}
	keys, err := ReadAll(paths)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return keys, nil
}
