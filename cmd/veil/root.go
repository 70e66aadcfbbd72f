package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// exitError carries a process exit code through cobra; err may be nil when
// the command already printed what the user needs.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "veil",
		Short:         "Privacy-preserving telemetry over Oblivious HTTP",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newServeCmd(),
		newRelayCmd(),
		newKeysCmd(),
		newMigrateCmd(),
		newValidateCmd(),
		newDetectCmd(),
		newSchemaCmd(),
		newSendCmd(),
		newBenchCmd(),
	)
	return root
}
