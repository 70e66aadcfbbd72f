package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/veil-telemetry/veil/internal/release"
	"github.com/veil-telemetry/veil/internal/schema"
)

func newSchemaCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schema",
		Short: "Work with event schemas",
	}
	cmd.AddCommand(newSchemaLintCmd())
	return cmd
}

func newSchemaLintCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "lint FILE",
		Short: "Print the findings that would refuse a schema at registration",
		Long: `lint runs the registration checks on a schema document and prints one
finding per line, tab separated: property ("-" for the whole document),
rule, message; or, when there is none, one line saying the schema passes.
A warning (which does not refuse the schema) has a message starting
"warning: ". Exit status: 0 when the schema is acceptable, 1 when there are
findings that refuse it, 2 when the file cannot be read.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			doc, err := os.ReadFile(args[0])
			if err != nil {
				return &exitError{code: 2, err: fmt.Errorf("schema lint: %w", err)}
			}
			sch, err := schema.Compile(doc)
			if err == nil {
				// Warnings, if any (the release's too), then the line
				// saying it passes.
				schema.WriteFindings(cmd.OutOrStdout(), append(schema.Lint(doc), release.Lint(sch, release.RollupSource{WithHistograms: true}.Histograms())...))
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s: schema %s version %d passes every registration check\n", args[0], sch.Name, sch.Version)
				return err
			}
			var le *schema.LintError
			if err != nil && !errors.As(err, &le) {
				return &exitError{code: 2, err: fmt.Errorf("schema lint: %w", err)}
			}
			schema.WriteFindings(cmd.OutOrStdout(), schema.Lint(doc))
			if err != nil {
				return &exitError{code: 1}
			}
			return nil
		},
	}
}
