package main

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/veil-telemetry/veil/internal/keyfile"
	"github.com/veil-telemetry/veil/ohttp"
)

func newKeysCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Generate and inspect OHTTP gateway key files",
		Long: `Generate and inspect Oblivious HTTP gateway keys kept in files.

A key file holds one private key as text: a "` + keyfile.Magic + `" line, a
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
	kems := strings.Join(ohttp.KEMNames(), ", ")
	cmd := &cobra.Command{
		Use:   "generate --kem KEM --id N --out FILE",
		Short: "Generate a key, write it to FILE (0600) and print its public config in hex",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kem, err := ohttp.ParseKEM(kemName)
			if err != nil {
				return usageError("unknown --kem %q (%s)", kemName, kems)
			}
			if out == "" {
				return usageError("--out is required")
			}
			if len(suites) == 0 {
				return usageError("at least one --suite is required")
			}
			ss := make([]ohttp.SymmetricSuite, len(suites))
			for i, s := range suites {
				if ss[i], err = ohttp.ParseSymmetricSuite(s); err != nil {
					return usageError("bad --suite %q (want KDF/AEAD, e.g. hkdf-sha256/aes-128-gcm)", s)
				}
			}
			key, err := ohttp.GenerateKey(nil, id, kem, ss)
			if err != nil {
				return fmt.Errorf("keys generate: %w", err)
			}
			if err := keyfile.Write(out, key); err != nil {
				return fmt.Errorf("keys: %w", err)
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
	f.StringVar(&kemName, "kem", ohttp.KEMX25519.Name(), "KEM: "+kems)
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

func readKeyFiles(paths []string) ([]*ohttp.PrivateKey, error) {
	if len(paths) == 0 {
		return nil, usageError("at least one --key is required")
	}
	keys, err := keyfile.ReadAll(paths)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return keys, nil
}
