package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/internal/storage"
	"github.com/veil-telemetry/veil/internal/storage/storagetest"
)

// TestMigrateDatabaseURLFile: `veil migrate` reads the owner's URL, and
// its password, from --database-url-file, as `veil serve` does, and sets
// up the database's roles.
func TestMigrateDatabaseURLFile(t *testing.T) {
	u := storagetest.EmptyURL(t)
	file := filepath.Join(t.TempDir(), "database_url")
	if err := os.WriteFile(file, []byte(u+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		cmd := newMigrateCmd()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(args)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		err := cmd.ExecuteContext(ctx)
		return out.String(), err
	}
	latest, err := storage.SchemaVersion()
	if err != nil {
		t.Fatal(err)
	}
	out, err := run("--database-url-file", file)
	if err != nil || !strings.Contains(out, "migrated from version 0 to") {
		t.Fatalf("migrate --database-url-file: %v\n%s", err, out)
	}
	if strings.Contains(out, u) {
		t.Errorf("output holds the database URL:\n%s", out)
	}
	// Migrated, and provisioned: the service login's role exists.
	db, err := storage.Open(context.Background(), storage.Config{URL: u, SkipMigrate: true}, nil)
	if err != nil {
		t.Fatalf("open after migrate: %v", err)
	}
	defer db.Close()
	var roles int
	r := storage.RolesFor(db.Pool().Config().ConnConfig.Database)
	if err := db.Pool().QueryRow(context.Background(), "SELECT count(*) FROM pg_roles WHERE rolname = ANY($1)",
		[]string{r.Writer, r.Reader, r.Service}).Scan(&roles); err != nil || roles != 3 {
		t.Fatalf("roles after migrate: %d of 3 (%v)", roles, err)
	}
	out, err = run("--database-url-file", file)
	if err != nil || !strings.Contains(out, fmt.Sprintf("up to date at version %d", latest)) {
		t.Fatalf("second migrate: %v\n%s", err, out)
	}
	if _, err := run("--database-url-file", file, "--database-url", u); err == nil {
		t.Fatal("--database-url and --database-url-file together accepted")
	}
	if _, err := run("--database-url-file", filepath.Join(t.TempDir(), "none")); err == nil {
		t.Fatal("a missing --database-url-file accepted")
	}
}
