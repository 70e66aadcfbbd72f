package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/veil-telemetry/veil/ohttp"
)

// A key file holds one gateway private key as text:
//
//	# veil OHTTP gateway private key. Keep secret.
//	veil-ohttp-key v1
//	config <hex: the RFC 9458 §3.1 Key Config>
//	secret <hex: the KEM private key, as ohttp.PrivateKey.Secret>
//
// Lines starting with # and blank lines are ignored. The file is written
// with mode 0600 and never overwritten.
const keyFileMagic = "veil-ohttp-key v1"

// maxKeyFileBytes bounds a key file; an X-Wing config and secret in hex
// take under 4 KiB.
const maxKeyFileBytes = 64 << 10

var kemNames = map[string]ohttp.KEMID{
	"x25519":         ohttp.KEMX25519,
	"xwing":          ohttp.KEMXWing,
	"x-wing":         ohttp.KEMXWing,
	"p256":           ohttp.KEMP256,
	"p-256":          ohttp.KEMP256,
	"x25519kyber768": ohttp.KEMX25519Kyber768,
}

var kdfNames = map[string]ohttp.KDFID{
	"hkdf-sha256": ohttp.KDFHKDFSHA256,
	"hkdf-sha384": ohttp.KDFHKDFSHA384,
	"hkdf-sha512": ohttp.KDFHKDFSHA512,
}

var aeadNames = map[string]ohttp.AEADID{
	"aes-128-gcm":       ohttp.AEADAES128GCM,
	"aes-256-gcm":       ohttp.AEADAES256GCM,
	"chacha20-poly1305": ohttp.AEADChaCha20Poly1305,
}

func newKeysCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Generate and inspect OHTTP gateway key files",
		Long: `Generate and inspect Oblivious HTTP gateway keys kept in files.

A key file holds one private key as text: a "veil-ohttp-key v1" line, a
"config" line with the hex RFC 9458 key configuration and a "secret" line with
the hex KEM private key. It is written with mode 0600. The running service
keeps its key ring in the database instead (see the admin API).`,
	}
	cmd.AddCommand(newKeysGenerateCmd(), newKeysConfigCmd(), newKeysListCmd())
	return cmd
}

func newKeysGenerateCmd() *cobra.Command {
	var (
		kemName string
		id      uint8
		out     string
		suites  []string
	)
	cmd := &cobra.Command{
		Use:   "generate --kem KEM --id N --out FILE",
		Short: "Generate a key, write it to FILE (0600) and print its public config in hex",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kem, ok := kemNames[strings.ToLower(kemName)]
			if !ok {
				return usageError("unknown --kem %q (x25519, xwing, p256, x25519kyber768)", kemName)
			}
			if out == "" {
				return usageError("--out is required")
			}
			ss, err := parseSuites(suites)
			if err != nil {
				return err
			}
			key, err := ohttp.GenerateKey(nil, id, kem, ss)
			if err != nil {
				return fmt.Errorf("keys generate: %w", err)
			}
			if err := writeKeyFile(out, key); err != nil {
				return err
			}
			cfg, err := key.Config.MarshalBinary()
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), hex.EncodeToString(cfg))
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&kemName, "kem", "x25519", "KEM: x25519, xwing, p256 or x25519kyber768")
	f.Uint8Var(&id, "id", 0, "key identifier, 0-255")
	f.StringVar(&out, "out", "", "private key file to create (mode 0600; must not exist)")
	f.StringSliceVar(&suites, "suite", []string{"hkdf-sha256/aes-128-gcm", "hkdf-sha256/chacha20-poly1305"},
		"symmetric suites offered, KDF/AEAD (KDF: hkdf-sha256|384|512; AEAD: aes-128-gcm, aes-256-gcm, chacha20-poly1305)")
	return cmd
}

func newKeysConfigCmd() *cobra.Command {
	var (
		files []string
		raw   bool
	)
	cmd := &cobra.Command{
		Use:   "config --key FILE...",
		Short: "Print the application/ohttp-keys document of the given keys (hex, or raw bytes)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			keys, err := readKeyFiles(files)
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
				_, err = cmd.OutOrStdout().Write(doc)
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), hex.EncodeToString(doc))
			return err
		},
	}
	cmd.Flags().StringSliceVar(&files, "key", nil, "key file (repeatable, in publication order)")
	cmd.Flags().BoolVar(&raw, "raw", false, "write the raw application/ohttp-keys bytes instead of hex")
	return cmd
}

func newKeysListCmd() *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "list --key FILE...",
		Short: "List key identifiers, KEMs and suites of the given key files",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			keys, err := readKeyFiles(files)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
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
		},
	}
	cmd.Flags().StringSliceVar(&files, "key", nil, "key file (repeatable)")
	return cmd
}

func usageError(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf("keys: "+format, args...)}
}

func parseSuites(specs []string) ([]ohttp.SymmetricSuite, error) {
	if len(specs) == 0 {
		return nil, usageError("at least one --suite is required")
	}
	var out []ohttp.SymmetricSuite
	for _, s := range specs {
		k, a, ok := strings.Cut(strings.ToLower(strings.TrimSpace(s)), "/")
		kdf, okK := kdfNames[k]
		aead, okA := aeadNames[a]
		if !ok || !okK || !okA {
			return nil, usageError("bad --suite %q (want KDF/AEAD, e.g. hkdf-sha256/aes-128-gcm)", s)
		}
		out = append(out, ohttp.SymmetricSuite{KDF: kdf, AEAD: aead})
	}
	return out, nil
}

func writeKeyFile(path string, key *ohttp.PrivateKey) error {
	cfg, err := key.Config.MarshalBinary()
	if err != nil {
		return err
	}
	secret := key.Secret()
	defer clear(secret)
	var b bytes.Buffer
	b.WriteString("# veil OHTTP gateway private key. Keep secret.\n")
	b.WriteString(keyFileMagic + "\n")
	b.WriteString("config " + hex.EncodeToString(cfg) + "\n")
	b.WriteString("secret ")
	hexSecret := make([]byte, hex.EncodedLen(len(secret)))
	hex.Encode(hexSecret, secret)
	b.Write(hexSecret)
	clear(hexSecret)
	b.WriteString("\n")
	defer clear(b.Bytes())

	// O_EXCL: never overwrite a key, which could lose one still in use.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	if _, err := f.Write(b.Bytes()); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("keys: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return fmt.Errorf("keys: %w", err)
	}
	return nil
}

func readKeyFiles(paths []string) ([]*ohttp.PrivateKey, error) {
	if len(paths) == 0 {
		return nil, usageError("at least one --key is required")
	}
	seen := map[uint8]string{}
	keys := make([]*ohttp.PrivateKey, 0, len(paths))
	for _, p := range paths {
		k, err := readKeyFile(p)
		if err != nil {
			return nil, err
		}
		if other, dup := seen[k.Config.KeyID]; dup {
			return nil, fmt.Errorf("keys: %s and %s share key id %d", other, p, k.Config.KeyID)
		}
		seen[k.Config.KeyID] = p
		keys = append(keys, k)
	}
	return keys, nil
}

func readKeyFile(path string) (*ohttp.PrivateKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	defer clear(data)
	if len(data) > maxKeyFileBytes {
		return nil, fmt.Errorf("keys: %s: file too large", path)
	}
	k, err := parseKeyFile(data)
	if err != nil {
		// The error never quotes file contents: they are secret.
		return nil, fmt.Errorf("keys: %s: %w", path, err)
	}
	return k, nil
}

var errKeyFile = errors.New("not a veil key file")

func parseKeyFile(data []byte) (*ohttp.PrivateKey, error) {
	var magic bool
	var cfgHex, secretHex string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxKeyFileBytes)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !magic {
			if line != keyFileMagic {
				return nil, errKeyFile
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
			return nil, fmt.Errorf("%w: line %d not understood", errKeyFile, n)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if !magic || cfgHex == "" || secretHex == "" {
		return nil, fmt.Errorf("%w: missing config or secret", errKeyFile)
	}
	cfgBytes, err := hex.DecodeString(cfgHex)
	if err != nil {
		return nil, fmt.Errorf("%w: config is not hex", errKeyFile)
	}
	secret, err := hex.DecodeString(secretHex)
	if err != nil {
		return nil, fmt.Errorf("%w: secret is not hex", errKeyFile)
	}
	defer clear(secret)
	cfg, err := ohttp.ParseKeyConfig(cfgBytes)
	if err != nil {
		return nil, err
	}
	return ohttp.NewPrivateKey(*cfg, secret)
}
