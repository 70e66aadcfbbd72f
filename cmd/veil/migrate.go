package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/veil-telemetry/veil/internal/config"
	"github.com/veil-telemetry/veil/internal/storage"
)

// newMigrateCmd applies the embedded migrations: to --database-url, or to
// the managed PostgreSQL under --data-dir (started for the occasion and
// stopped after). Applying twice is a no-op; a database migrated by a newer
// veil is refused.
func newMigrateCmd() *cobra.Command {
	var databaseURL, databaseURLFile, dataDir string
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
			if !cmd.Flags().Changed("database-url") && os.Getenv("VEIL_DATABASE_URL") != "" {
				databaseURL = os.Getenv("VEIL_DATABASE_URL")
			}
			if !cmd.Flags().Changed("data-dir") && os.Getenv("VEIL_DATA_DIR") != "" {
				dataDir = os.Getenv("VEIL_DATA_DIR")
			}
			if !cmd.Flags().Changed("database-url-file") && os.Getenv("VEIL_DATABASE_URL_FILE") != "" {
				databaseURLFile = os.Getenv("VEIL_DATABASE_URL_FILE")
			}
			if databaseURLFile != "" {
				if databaseURL != "" {
					return &exitError{code: 2, err: fmt.Errorf("migrate: --database-url and --database-url-file exclude each other")}
				}
				u, err := config.ReadSecretLine(databaseURLFile)
				if err != nil {
					return &exitError{code: 2, err: fmt.Errorf("migrate: --database-url-file: %w", err)}
				}
				databaseURL = u
			}
			ctx := cmd.Context()
			logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelInfo}))
			migrate := func() (int32, int32, error) { return storage.Migrate(ctx, databaseURL, logger) }
			if databaseURL == "" {
				if dataDir == "" {
					return &exitError{code: 2, err: fmt.Errorf("migrate: give --database-url or --data-dir")}
				}
				local, err := storage.StartLocal(ctx, dataDir, logger)
				if err != nil {
					return &exitError{code: 1, err: err}
				}
				defer func() {
					// Not ctx: an interrupt must still stop the server.
					stopCtx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
					defer cancel()
					if err := local.Stop(stopCtx); err != nil {
						logger.Error("stopping managed PostgreSQL", "err", err)
					}
				}()
				migrate = func() (int32, int32, error) { return local.Migrate(ctx, logger) }
			}
			from, to, err := migrate()
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
	cmd.Flags().StringVar(&databaseURL, "database-url", "", "PostgreSQL URL; empty uses the managed PostgreSQL under --data-dir")
	cmd.Flags().StringVar(&databaseURLFile, "database-url-file", "", "read --database-url from this `FILE` (first line), keeping its password out of ps and the environment")
	cmd.Flags().StringVar(&dataDir, "data-dir", config.DefaultDataDir, "data directory of the managed PostgreSQL")
	return cmd
}
