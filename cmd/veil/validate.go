package main

import (
	"github.com/spf13/cobra"

	"github.com/veil-telemetry/veil/internal/validate"
)

func newValidateCmd() *cobra.Command {
	var o validate.Options
	cmd := &cobra.Command{
		Use:   "validate --schema FILE [EVENTS.jsonl|-]",
		Short: "Check events against a schema offline, as ingest would",
		Long: `validate lints and compiles the schema, then runs every event of a JSON
Lines file (or standard input, "-" or no argument) through the same
validation and identifier detectors as ingest. Each line is an event:

  {"schema": "app.launch", "version": 1, "fields": {"os": "ios"}}

It prints one JSON line per event:

  {"index":0,"status":"accepted"}
  {"index":1,"status":"rejected","reason":"identifier_email","field":"note"}

A schema that registration would refuse (lint findings, see "veil schema
lint") is still used, so a team can try the detectors on its draft: the
findings are printed on standard error as warnings. With --strict they are
fatal, as at registration.

Exit status: 0 when every event is accepted, 1 when any is rejected, 2 on a
usage error, a schema that cannot be compiled at all, or (with --strict) a
schema lint refuses. Reason codes are listed in docs/reason-codes.md.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Stdin, o.Stdout, o.Stderr = cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
			if len(args) == 1 {
				o.EventsFile = args[0]
			}
			rejected, err := validate.Run(o)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			if rejected > 0 {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&o.SchemaFile, "schema", "", "schema document (JSON Schema 2020-12 with x-veil)")
	cmd.Flags().BoolVar(&o.Strict, "strict", false, "refuse a schema with lint findings, as registration does")
	return cmd
}
