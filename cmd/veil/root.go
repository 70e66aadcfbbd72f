package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/veil-telemetry/veil/internal/buildinfo"
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
		Version:       buildinfo.Read().String(),
	}
	// --version prints what `veil version` prints.
	root.SetVersionTemplate("{{.Version}}")
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
		newAdminCmd(),
		newVersionCmd(),
		newAuditSDKCmd(),
	)
	flagWarningsToStderr(root)
	return root
}

// flagWarningsToStderr sends pflag's warnings (a deprecated flag was
// used) to each command's standard error. cobra prints them on standard
// output when one is set, where they would mix with results such as send's
// JSON lines.
func flagWarningsToStderr(c *cobra.Command) {
	c.Flags().SetOutput(stderrOf{c})
	for _, sub := range c.Commands() {
		flagWarningsToStderr(sub)
	}
}

// stderrOf writes to a command's standard error as it is when written.
type stderrOf struct{ c *cobra.Command }

func (w stderrOf) Write(p []byte) (int, error) { return w.c.ErrOrStderr().Write(p) }

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the module version, the VCS revision and the Go version of this binary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprint(cmd.OutOrStdout(), buildinfo.Read().String())
			return err
		},
	}
}
