package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newSchemaCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "(schema: under construction)",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("schema is not built yet")
		},
	}
}
