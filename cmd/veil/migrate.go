package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/veil-telemetry/veil/internal/config"
	"github.com/veil-telemetry/veil/internal/storage"
)

// newMigrateCmd applies the embedded migrations: to --database-url, or to
// the managed PostgreSQL under --data-dir (started for the occasion and
// stopped after). Applying twice is a no-op; a database migrated by a newer
// veil is refused.
func newMigrateCmd() *cobra.Command {
	var c config.Migrate
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply database migrations",
		Long: "Apply veil's embedded SQL migrations to --database-url (or --database-url-file), or to\n" +
			"the managed PostgreSQL under --data-dir when no URL is given, and set up the database's\n" +
			"roles (veil_writer_<db>, veil_reader_<db>, the service login veil_service_<db>). The URL\n" +
			"logs in as the database's owner. Running it again is a no-op. A database migrated by a\n" +
			"newer veil is refused. Flags default to VEIL_DATABASE_URL, VEIL_DATABASE_URL_FILE and\n" +
			"VEIL_DATA_DIR.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := c.Load(cmd.Flags(), os.Getenv); err != nil {
				return &exitError{code: 2, err: err}
			}
			logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelInfo}))
			from, to, err := storage.MigrateURLOrLocal(cmd.Context(), c.DatabaseURL, c.DataDir, logger)
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			if from == to {
				fmt.Fprintf(cmd.OutOrStdout(), "database schema is up to date at version %d\n", to)
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "database schema migrated from version %d to %d\n", from, to)
			}
			return nil
		},
	}
	c.BindFlags(cmd.Flags())
	return cmd
}
