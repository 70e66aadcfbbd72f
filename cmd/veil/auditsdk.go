package main

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/veil-telemetry/veil/internal/auditsdk"
)

func newAuditSDKCmd() *cobra.Command {
	var asJSON bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "audit-sdk URL",
		Short: "Check that a deployed browser SDK file is a published build",
		Long: `audit-sdk fetches URL (a deployed copy of @veil-telemetry/web's dist/veil.js
or dist/veil-xwing.js) and compares its SHA-384 digest with the digests of
every published build, which are compiled into this binary (never fetched
from the place being audited).

Exit status: 0 when the file matches a published build, 1 when it matches
none, 2 when it could not be fetched.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			hc := &http.Client{Timeout: timeout}
			r, err := auditsdk.Audit(cmd.Context(), hc, args[0])
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			if asJSON {
				err = json.NewEncoder(cmd.OutOrStdout()).Encode(r)
			} else {
				err = r.Write(cmd.OutOrStdout())
			}
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			if len(r.Matches) == 0 {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "time limit for the fetch")
	return cmd
}
