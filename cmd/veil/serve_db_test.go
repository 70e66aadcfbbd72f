package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/veil-telemetry/veil/internal/storage/storagetest"
)

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
	c, err := parseServe(t, []string{"--data-dir", filepath.Join(dir, "data"),
		"--database-url-file", svcFile, "--migration-database-url-file", ownerFile}, nil)
	if err != nil || c.DatabaseURL != service || c.migrationURL != owner {
		t.Fatalf("config: %v", err)
	}
	if _, err := parseServe(t, []string{"--migration-database-url-file", ownerFile}, nil); err == nil ||
		!strings.Contains(err.Error(), "--migration-database-url-file needs") {
		t.Fatalf("a migration URL without a database URL: %v", err)
	}
	c.Listen, c.AdminListen = "127.0.0.1:0", "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- runServe(ctx, c, slog.New(slog.DiscardHandler), func(serveAddrs) { close(started) })
	}()
	select {
	case <-started:
	case err := <-done:
		t.Fatalf("runServe: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("veil serve did not start")
	}
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
