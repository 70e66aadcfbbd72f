package main

import (
	"errors"
	"os"

	"github.com/spf13/cobra"

	"github.com/veil-telemetry/veil/internal/admincli"
)

func newAdminCmd() *cobra.Command {
	var f admincli.Flags
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Operate a running veil serve: schemas, keys, aggregates, stats",
		Long: `admin talks to the admin listener of veil serve over gRPC, with a bearer
token from --token-file, else the file named by VEIL_ADMIN_TOKEN_FILE, else
<data-dir>/admin-token (the token veil serve creates when given none).

Results are tables; with --json, the API's answer as exactly one JSON
document (the REST API's JSON). Errors print the problem's title, its detail
and each finding.

Times (--from, --to) are RFC 3339 (2025-01-31T09:00:00Z), a date
(2025-01-31, midnight UTC), or relative to now: -24h, -7d, -1d12h, now.

Exit status: 0 on success, 1 when the API refused or could not be reached,
2 on a usage error.`,
	}
	f.BindFlags(cmd.PersistentFlags(), os.Getenv)
	cmd.AddCommand(newAdminSchemasCmd(&f), newAdminKeysCmd(&f), newAdminAggregatesCmd(&f), newAdminStatsCmd(&f))
	return cmd
}

// adminRun runs fn as the flags say and maps its error to veil's exit
// statuses.
func adminRun(cmd *cobra.Command, f *admincli.Flags, fn func(*admincli.CLI) error) error {
	err := f.Run(cmd.OutOrStdout(), os.Getenv, fn)
	var ue *admincli.UsageError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ue):
		return &exitError{code: 2, err: err}
	}
	return &exitError{code: 1, err: err}
}

func newAdminSchemasCmd(f *admincli.Flags) *cobra.Command {
	cmd := &cobra.Command{Use: "schemas", Short: "Register, list, show, disable and enable event schemas"}
	cmd.AddCommand(
		&cobra.Command{
			Use:   "register FILE...",
			Short: "Register schema documents (the files veil schema lint reads)",
			Long: `register sends each file's schema document, in order, and prints one row per
file: registered, or unchanged when the identical document was registered
before. The first refusal stops the run and prints its findings. With
--json: an array of the API's answers, one per file registered.`,
			Args: cobra.MinimumNArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return adminRun(cmd, f, func(c *admincli.CLI) error { return c.RegisterSchemas(cmd.Context(), args) })
			},
		},
		&cobra.Command{
			Use:   "list",
			Short: "List registered schema versions",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				return adminRun(cmd, f, func(c *admincli.CLI) error { return c.ListSchemas(cmd.Context()) })
			},
		},
		&cobra.Command{
			Use:   "get NAME VERSION",
			Short: "Print a schema version's document as registered",
			Args:  cobra.ExactArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				return adminRun(cmd, f, func(c *admincli.CLI) error { return c.GetSchema(cmd.Context(), args[0], args[1]) })
			},
		},
		&cobra.Command{
			Use:   "disable NAME VERSION",
			Short: "Refuse new events of a schema version (reason schema_disabled); its data stays",
			Args:  cobra.ExactArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				return adminRun(cmd, f, func(c *admincli.CLI) error { return c.SetSchemaDisabled(cmd.Context(), args[0], args[1], true) })
			},
		},
		&cobra.Command{
			Use:   "enable NAME VERSION",
			Short: "Accept events of a disabled schema version again",
			Args:  cobra.ExactArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				return adminRun(cmd, f, func(c *admincli.CLI) error { return c.SetSchemaDisabled(cmd.Context(), args[0], args[1], false) })
			},
		},
	)
	return cmd
}

func newAdminKeysCmd(f *admincli.Flags) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "List, rotate and retire the gateway's keys; print the key pin"}
	var kems []string
	rotate := &cobra.Command{
		Use:   "rotate [--kem K]...",
		Short: "Make a new current key per KEM; the old one stays active for veil serve's --key-grace",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return adminRun(cmd, f, func(c *admincli.CLI) error { return c.RotateKeys(cmd.Context(), kems) })
		},
	}
	rotate.Flags().StringSliceVar(&kems, "kem", nil, "KEM to rotate: x25519, xwing, p256, x25519kyber768 (repeatable; default: every KEM with a current key)")
	cmd.AddCommand(
		&cobra.Command{
			Use:   "list",
			Short: "List the key ring (states, creation and retirement times)",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				return adminRun(cmd, f, func(c *admincli.CLI) error { return c.ListKeys(cmd.Context()) })
			},
		},
		rotate,
		&cobra.Command{
			Use:   "retire ID",
			Short: "Stop offering a key at once (a current key must be rotated first)",
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return adminRun(cmd, f, func(c *admincli.CLI) error { return c.RetireKey(cmd.Context(), args[0]) })
			},
		},
		newAdminKeyPinCmd(f),
	)
	return cmd
}

func newAdminKeyPinCmd(f *admincli.Flags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pin",
		Short: "Print the key pin apps ship to authenticate the gateway's keys",
		Long: `pin prints the key pin, alone on one line: the public half of the key veil
serve signs its key document with (veil-pin-ed25519:...). Apps give it to
the SDK (Config.KeyPin) and veil send takes it as --key-pin; with it a relay
cannot substitute keys of its own. The pin is public.

Rotating the signing key takes two steps, so that apps in the field keep
working: "pin add" makes a next key that signs beside the current one (ship
its pin in new app releases), and "pin promote", once no app ships the old
pin any more, makes it current and destroys the old one.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return adminRun(cmd, f, func(c *admincli.CLI) error { return c.KeyPin(cmd.Context()) })
		},
	}
	cmd.AddCommand(
		&cobra.Command{
			Use:   "list",
			Short: "List the key-document signing keys by pin (current, next, retired)",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				return adminRun(cmd, f, func(c *admincli.CLI) error { return c.ListKeyPins(cmd.Context()) })
			},
		},
		&cobra.Command{
			Use:   "add",
			Short: "Start a rotation: a next signing key that signs beside the current one; prints its pin",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				return adminRun(cmd, f, func(c *admincli.CLI) error { return c.AddKeyPin(cmd.Context()) })
			},
		},
		&cobra.Command{
			Use:   "promote",
			Short: "End a rotation: the next key becomes current, the old one stops signing",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				return adminRun(cmd, f, func(c *admincli.CLI) error { return c.PromoteKeyPin(cmd.Context()) })
			},
		},
	)
	return cmd
}

func newAdminAggregatesCmd(f *admincli.Flags) *cobra.Command {
	var q admincli.AggregatesQuery
	cmd := &cobra.Command{
		Use:   "aggregates --schema S --version V [--group-by a,b] [--from T --to T] [--bucket hour|day]",
		Short: "Print counts and measure statistics per time bucket and group",
		Long: `aggregates prints, per time bucket and group of the --group-by dimensions,
the number of events and each measure's count, sum, min, max and mean.
Groups with fewer events than veil serve's --k-anonymity are withheld and
only counted. Without --from and --to it covers the last 24 hours.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return adminRun(cmd, f, func(c *admincli.CLI) error { return c.Aggregates(cmd.Context(), q) })
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&q.Schema, "schema", "", "schema name (required)")
	fl.IntVar(&q.Version, "version", 0, "schema version (required)")
	fl.IntVar(&q.Version, "schema-version", 0, "same as --version, as veil send names it")
	fl.StringSliceVar(&q.GroupBy, "group-by", nil, "dimensions to group by, comma separated")
	fl.StringVar(&q.From, "from", "", "start of the range (default: 24 hours before --to)")
	fl.StringVar(&q.To, "to", "", "end of the range (default: now)")
	fl.StringVar(&q.Bucket, "bucket", "", "time bucket: hour (default) or day")
	return cmd
}

func newAdminStatsCmd(f *admincli.Flags) *cobra.Command {
	var from, to string
	cmd := &cobra.Command{
		Use:   "stats [--from T --to T]",
		Short: "Print accepted and rejected event counts by schema and reason",
		Long: `stats prints how many events ingest accepted and rejected, by schema version
and reason code (docs/reason-codes.md). These are exact operational counts,
not aggregates, so nothing is withheld. Events naming a schema that is not
registered are counted as "(unregistered)": the name a client sent may
itself be a value, so it is not kept. Without --from and --to it covers the
last 24 hours.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return adminRun(cmd, f, func(c *admincli.CLI) error { return c.Stats(cmd.Context(), from, to) })
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "start of the range (default: 24 hours before --to)")
	cmd.Flags().StringVar(&to, "to", "", "end of the range (default: now)")
	return cmd
}
