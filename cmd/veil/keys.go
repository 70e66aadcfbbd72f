package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newKeysCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "keys",
		Short: "(keys: under construction)",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("keys is not built yet")
		},
	}
}
