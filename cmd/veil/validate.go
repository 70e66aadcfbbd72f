package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate",
		Short: "(validate: under construction)",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("validate is not built yet")
		},
	}
}
