package storage_test

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/internal/storage"
	"github.com/veil-telemetry/veil/internal/storage/storagetest"
	"github.com/veil-telemetry/veil/internal/testlog"
)

func waitLogger() (*slog.Logger, *testlog.Buffer) {
	var b testlog.Buffer
	return slog.New(slog.NewJSONHandler(&b, nil)), &b
}

// TestWaitForServerConnectsOnceUp: a database that hangs up on the first
// connections is waited for, each wait logged, and once it answers
// WaitForServer returns nil — veil serve started before its PostgreSQL.
func TestWaitForServerConnectsOnceUp(t *testing.T) {
	_, owner := storagetest.URLs(t)
	srv := storagetest.StartNotReady(t, owner, 3)
	log, logs := waitLogger()
	err := storage.WaitForServer(ctxT(t), srv.URL,
		storage.WaitPolicy{Max: time.Minute, First: 10 * time.Millisecond, MaxPause: 40 * time.Millisecond}, log)
	if err != nil {
		t.Fatalf("WaitForServer: %v\n%s", err, logs.String())
	}
	if n := strings.Count(logs.String(), "database not accepting connections yet; waiting"); n < 1 {
		t.Errorf("%d waits logged, want at least 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "database accepts connections") {
		t.Errorf("the end of the wait is not logged:\n%s", logs.String())
	}
	if srv.Accepted() <= 3 {
		t.Errorf("%d connections: the server was never reached once up", srv.Accepted())
	}
	if strings.Contains(logs.String(), "password") {
		t.Errorf("a log line names the password:\n%s", logs.String())
	}
}

// TestWaitForServerGivesUp: a database that never answers is waited for
// no longer than the bound; the error says so, names the server (not the
// credentials) and what to check.
func TestWaitForServerGivesUp(t *testing.T) {
	srv := storagetest.StartNotReady(t, "postgres://veil:s3cret-password@localhost/veil?sslmode=disable", -1)
	dbURL := srv.URL
	log, logs := waitLogger()
	err := storage.WaitForServer(ctxT(t), dbURL,
		storage.WaitPolicy{Max: 300 * time.Millisecond, First: 10 * time.Millisecond, MaxPause: 50 * time.Millisecond}, log)
	if !errors.Is(err, storage.ErrServerNotReady) {
		t.Fatalf("err = %v, want ErrServerNotReady", err)
	}
	msg := err.Error()
	for _, want := range []string{srv.Addr, "within 300ms", "attempts", "check that PostgreSQL is running"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	if strings.Contains(msg+logs.String(), "s3cret") {
		t.Errorf("the password leaked: %s\n%s", msg, logs.String())
	}
	waits := strings.Count(logs.String(), "database not accepting connections yet; waiting")
	if waits < 2 || int64(waits) >= srv.Accepted()+1 {
		t.Errorf("%d waits logged for %d attempts, want one per failed attempt but the last", waits, srv.Accepted())
	}
}

// TestWaitForServerRefusedPassword: an answer waiting cannot change is
// returned at once, with no wait.
func TestWaitForServerRefusedPassword(t *testing.T) {
	_, owner := storagetest.URLs(t)
	u, err := url.Parse(owner)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), "not-the-password")
	log, logs := waitLogger()
	err = storage.WaitForServer(ctxT(t), u.String(), storage.WaitPolicy{Max: time.Hour}, log)
	if err == nil || errors.Is(err, storage.ErrServerNotReady) {
		t.Fatalf("err = %v, want the server's refusal", err)
	}
	if strings.Contains(logs.String(), "waiting") {
		t.Errorf("a refused password was waited out:\n%s", logs.String())
	}
}

// TestWaitForServerCanceled: the wait ends with its context.
func TestWaitForServerCanceled(t *testing.T) {
	srv := storagetest.StartNotReady(t, "", -1)
	ctx, cancel := context.WithCancel(ctxT(t))
	waiting := make(chan struct{})
	var once sync.Once
	log := slog.New(slog.NewJSONHandler(writerFunc(func(p []byte) (int, error) {
		once.Do(func() { close(waiting) })
		return len(p), nil
	}), nil))
	done := make(chan error, 1)
	go func() {
		done <- storage.WaitForServer(ctx, srv.URL,
			storage.WaitPolicy{Max: time.Hour, First: time.Hour}, log)
	}()
	// Cancel once the first wait has begun (its line is logged).
	select {
	case err := <-done:
		t.Fatalf("returned before waiting: %v", err)
	case <-waiting:
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
