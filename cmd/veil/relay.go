package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newRelayCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "relay",
		Short: "(relay: under construction)",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("relay is not built yet")
		},
	}
}
