package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/pflag"

	"github.com/veil-telemetry/veil/internal/config"
	"github.com/veil-telemetry/veil/internal/storage/storagetest"
	"github.com/veil-telemetry/veil/internal/testlog"
)

// parseServe runs serve's configuration pipeline on args: flags, the
// environment (none here), validation.
func parseServe(t *testing.T, args ...string) (config.Serve, error) {
	t.Helper()
	c := config.DefaultServe()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	c.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if err := config.Load(fs, func(string) string { return "" }); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// serving is the addresses of a started runServe, from its "veil
// serving" log line.
type serving struct{ Public, Admin string }

// waitServing waits for runServe's "veil serving" line in logs (or its
// early return on done) and returns the listeners' host:port.
func waitServing(t *testing.T, logs *testlog.Buffer, done <-chan error) serving {
	t.Helper()
	deadline := time.After(2 * time.Minute)
	for {
		for line := range strings.SplitSeq(logs.String(), "\n") {
			var l struct{ Msg, Public, Admin string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "veil serving" {
				trim := func(u string) string { _, hp, _ := strings.Cut(u, "://"); return hp }
				return serving{Public: trim(l.Public), Admin: trim(l.Admin)}
			}
		}
		select {
		case err := <-done:
			t.Fatalf("runServe returned before serving: %v\n%s", err, logs.String())
		case <-deadline:
			t.Fatalf("veil serve did not start:\n%s", logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestServeMigrationURLFile: with --migration-database-url-file, veil
// serve migrates and sets up the roles as the owner at start, and serves
// as the service login whose URL --database-url-file holds; that login
// can then connect with its password and is no superuser.
func TestServeMigrationURLFile(t *testing.T) {
	service, owner := storagetest.URLs(t)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	svcFile, ownerFile := write("database_url", service), write("migration_database_url", owner)
	c, err := parseServe(t, "--data-dir", filepath.Join(dir, "data"),
		"--database-url-file", svcFile, "--migration-database-url-file", ownerFile)
	if err != nil || c.DatabaseURL != service || c.MigrationURL() != owner {
		t.Fatalf("config: %v", err)
	}
	// Port 0 for both, after validation (which wants them to differ).
	c.Listen, c.AdminListen = "127.0.0.1:0", "127.0.0.1:0"
	if _, err := parseServe(t, "--migration-database-url-file", ownerFile); err == nil ||
		!strings.Contains(err.Error(), "--migration-database-url-file needs") {
		t.Fatalf("a migration URL without a database URL: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs testlog.Buffer
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, c, slog.New(slog.NewJSONHandler(&logs, nil))) }()
	waitServing(t, &logs, done)
	conn, err := pgx.Connect(ctx, service)
	if err != nil {
		t.Fatalf("the service login cannot connect: %v", err)
	}
	var super bool
	err = conn.QueryRow(ctx, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&super)
	conn.Close(ctx)
	if err != nil || super {
		t.Fatalf("service login superuser %v (%v)", super, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
