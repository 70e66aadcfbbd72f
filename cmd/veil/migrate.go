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
	var databaseURL, dataDir string
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply database migrations",
		Long: "Apply veil's embedded SQL migrations to --database-url, or to the managed PostgreSQL\n" +
			"under --data-dir when no URL is given. Running it again is a no-op. A database\n" +
			"migrated by a newer veil is refused. Flags default to VEIL_DATABASE_URL and VEIL_DATA_DIR.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("database-url") && os.Getenv("VEIL_DATABASE_URL") != "" {
				databaseURL = os.Getenv("VEIL_DATABASE_URL")
			}
			if !cmd.Flags().Changed("data-dir") && os.Getenv("VEIL_DATA_DIR") != "" {
				dataDir = os.Getenv("VEIL_DATA_DIR")
			}
			ctx := cmd.Context()
			logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelInfo}))
			url := databaseURL
			if url == "" {
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
				url = local.URL()
			}
			from, to, err := storage.Migrate(ctx, url, logger)
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
	cmd.Flags().StringVar(&dataDir, "data-dir", config.DefaultDataDir, "data directory of the managed PostgreSQL")
	return cmd
}
