package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/veil-telemetry/veil/internal/schema"
)

func newDetectCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "detect [FILE|-]",
		Short: "Run the identifier detectors over values, one JSON value per line",
		Long: `detect reads one JSON value per line — a string or a number — from a file
(or standard input, "-" or no argument) and runs veil's identifier
detectors over each, as ingest does, numbers as if no schema bounded them.
It prints one JSON line per value:

  {"index":0,"identifier":"email"}
  {"index":1,"identifier":null}

A line that is not a JSON string or number gets "identifier":null and an
"error". Exit status: 0 when every line was a value, 1 when some was not,
2 on a usage or read error. The detectors and what each normalises are
listed in docs/reason-codes.md.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in := cmd.InOrStdin()
			if len(args) == 1 && args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return &exitError{code: 2, err: fmt.Errorf("detect: %w", err)}
				}
				defer f.Close()
				in = f
			}
			invalid, err := schema.DetectLines(in, cmd.OutOrStdout())
			if err != nil {
				return &exitError{code: 2, err: fmt.Errorf("detect: %w", err)}
			}
			if invalid > 0 {
				return &exitError{code: 1}
			}
			return nil
		},
	}
}
