package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newSendCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "send",
		Short: "(send: under construction)",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("send is not built yet")
		},
	}
}
