package main

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/veil-telemetry/veil/internal/storage"
	"github.com/veil-telemetry/veil/internal/storage/storagetest"
	"github.com/veil-telemetry/veil/internal/testlog"
)

// TestServeWaitsForDatabase: veil serve started before its PostgreSQL
// accepts connections waits for it, logging each wait, and then serves.
func TestServeWaitsForDatabase(t *testing.T) {
	db := storagetest.StartNotReady(t, storagetest.URL(t), 3)
	c, err := parseServe(t, "--data-dir", filepath.Join(t.TempDir(), "data"),
		"--database-url", db.URL, "--database-wait", "2m")
	if err != nil {
		t.Fatal(err)
	}
	c.Listen, c.AdminListen = "127.0.0.1:0", "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs testlog.Buffer
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, c, slog.New(slog.NewJSONHandler(&logs, nil))) }()
	waitServing(t, &logs, done)
	if !strings.Contains(logs.String(), "database not accepting connections yet; waiting") {
		t.Errorf("no wait logged:\n%s", logs.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestServeGivesUpOnDatabase: a database that never accepts is waited for
// no longer than --database-wait, and the error says which flags to check.
func TestServeGivesUpOnDatabase(t *testing.T) {
	db := storagetest.StartNotReady(t, "", -1)
	c, err := parseServe(t, "--data-dir", filepath.Join(t.TempDir(), "data"),
		"--database-url", db.URL, "--database-wait", "300ms")
	if err != nil {
		t.Fatal(err)
	}
	c.Listen, c.AdminListen = "127.0.0.1:0", "127.0.0.1:0"
	var logs testlog.Buffer
	err = runServe(context.Background(), c, slog.New(slog.NewJSONHandler(&logs, nil)))
	if !errors.Is(err, storage.ErrServerNotReady) {
		t.Fatalf("err = %v, want ErrServerNotReady", err)
	}
	for _, want := range []string{db.Addr, "within 300ms", "--database-url", "--database-wait"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if _, err := parseServe(t, "--database-wait", "-1s"); err == nil || !strings.Contains(err.Error(), "--database-wait") {
		t.Errorf("a negative --database-wait: %v", err)
	}
}
