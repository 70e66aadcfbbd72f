package main

import (
	"errors"
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

// keysExit gives a usage error veil's exit status 2.
func keysExit(err error) error {
	var ue *keyfile.UsageError
	if errors.As(err, &ue) {
		return &exitError{code: 2, err: err}
	}
	return err
}

func newKeysGenerateCmd() *cobra.Command {
	var o keyfile.GenerateOptions
	cmd := &cobra.Command{
		Use:   "generate --kem KEM --id N --out FILE",
		Short: "Generate a key, write it to FILE (0600) and print its public config in hex",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return keysExit(keyfile.Generate(cmd.OutOrStdout(), o))
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.KEM, "kem", ohttp.KEMX25519.Name(), "KEM: "+strings.Join(ohttp.KEMNames(), ", "))
	f.Uint8Var(&o.ID, "id", 0, "key identifier, 0-255")
	f.StringVar(&o.Out, "out", "", "private key file to create (mode 0600; must not exist)")
	f.StringSliceVar(&o.Suites, "suite", keyfile.DefaultSuites,
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
			return keysExit(keyfile.WriteConfigs(cmd.OutOrStdout(), files, raw))
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
			return keysExit(keyfile.WriteList(cmd.OutOrStdout(), files))
		},
	}
	cmd.Flags().StringSliceVar(&files, "key", nil, "key file (repeatable)")
	return cmd
}
