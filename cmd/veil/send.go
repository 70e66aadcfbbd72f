package main

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/veil-telemetry/veil/internal/send"
)

func newSendCmd() *cobra.Command {
	o := send.Config{MaxAttempts: send.DefaultMaxAttempts, Timeout: send.DefaultTimeout}
	cmd := &cobra.Command{
		Use:   "send --relay URL [--key-pin PIN] (--schema NAME --schema-version N [--fields JSON] | [EVENTS.jsonl|-])",
		Short: "Send events through an Oblivious HTTP relay",
		Long:  send.Help,
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := o
			if len(args) == 1 {
				cfg.Input = args[0]
			}
			cfg.Stdin, cfg.Stdout, cfg.Stderr = cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
			err := send.Run(cmd.Context(), cfg)
			if ee, ok := errors.AsType[*send.ExitError](err); ok {
				return &exitError{code: ee.Code, err: ee.Err}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Relay, "relay", "", "relay URL that encapsulated requests are POSTed to (required)")
	f.StringVar(&o.KeysURL, "keys-url", "", "key configuration URL (default: the relay's origin + /ohttp-keys-signed with --key-pin, else + /ohttp-keys)")
	f.StringVar(&o.KeyPin, "key-pin", "", `the collector's key pin ("veil admin keys pin"): use only keys it signed; required unless the relay is on loopback`)
	f.BoolVar(&o.InsecureNoKeyPin, "insecure-no-key-pin", false, "send without --key-pin to a relay that is not on loopback (the relay could read every event)")
	f.BoolVar(&o.InsecureHTTP, "insecure-http", false, "allow a plain http:// --relay or --keys-url that is not on loopback")
	f.StringVar(&o.Schema, "schema", "", "schema name of a single event")
	f.IntVar(&o.Version, "schema-version", 0, "schema version of a single event")
	f.IntVar(&o.Version, "version", 0, "schema version of a single event")
	_ = f.MarkDeprecated("version", "use --schema-version (veil --version prints veil's own version)")
	f.StringVar(&o.Fields, "fields", "", `fields of a single event, a JSON object (default "{}")`)
	f.BoolVar(&o.PostQuantum, "post-quantum", false, "prefer the gateway's X-Wing key")
	f.StringVar(&o.QueueDir, "queue-dir", "", "keep batches in this directory until they are answered, and first send what an earlier run left there")
	f.IntVar(&o.MaxAttempts, "max-attempts", o.MaxAttempts, "requests per batch before its events are reported dropped (0: retry until --timeout)")
	f.DurationVar(&o.Timeout, "timeout", o.Timeout, "give up on what is not delivered after this long")
	f.BoolVar(&o.Verbose, "verbose", false, "log delivery attempts on standard error")
	return cmd
}
