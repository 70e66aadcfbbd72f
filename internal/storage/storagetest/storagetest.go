// Package storagetest gives tests a fresh, migrated PostgreSQL database
// each, on a real server: by default one managed local server per test
// binary (started on first use from the machine's PostgreSQL binaries, the
// same launcher `veil serve` uses), or the server at VEIL_TEST_DATABASE_URL.
//
// Each test's database is cloned from a migrated template (CREATE DATABASE
// ... TEMPLATE), which takes a fraction of a second, and dropped when the
// test ends. Call Main from TestMain to stop the server when the tests are
// done; without it, a watchdog process stops it and removes its files when
// the test binary exits.
//
// Without PostgreSQL binaries, tests are skipped, except under CI=true,
// where they fail.
package storagetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/veil-telemetry/veil/internal/storage"
	"github.com/veil-telemetry/veil/migrations"
)

// EnvURL names the variable that points tests at an existing server. Its
// user must be allowed to create databases.
const EnvURL = "VEIL_TEST_DATABASE_URL"

// server is the one server of this test binary. It is package state on
// purpose: sharing one server across the binary's tests is what makes them
// fast.
var server struct {
	once     sync.Once
	mu       sync.Mutex
	local    *storage.LocalServer
	adminURL string // a URL on the server's maintenance database
	template string
	err      error
	skip     bool // err means "no PostgreSQL here"

	// Databases are dropped in the background (a drop waits for a
	// checkpoint, seconds on a busy machine); Stop waits for the drops.
	drops   chan string
	dropped sync.WaitGroup
}

// Main runs the tests and then stops the managed server, if one was
// started. Use it as TestMain's body: func TestMain(m *testing.M) {
// storagetest.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

// Stop stops this binary's managed server, if running.
func Stop() {
	server.mu.Lock()
	defer server.mu.Unlock()
	if server.drops != nil && server.local == nil {
		// On an external server, wait for the drops; a managed server's
		// files are removed whole.
		close(server.drops)
		server.dropped.Wait()
	}
	server.drops = nil
	if server.local != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = server.local.Stop(ctx)
		server.local = nil
		server.err = errors.New("storagetest: server stopped")
	}
}

// New returns a handle on a fresh migrated database, closed and dropped
// when the test ends. Its key ring has a random master key.
func New(t testing.TB) *storage.DB {
	t.Helper()
	return Open(t, storage.Config{})
}

// Open is New with cfg (its URL and DataDir are set by storagetest; a nil
// MasterKey gets a random one).
func Open(t testing.TB, cfg storage.Config) *storage.DB {
	t.Helper()
	cfg.URL = URL(t)
	cfg.DataDir = ""
	if cfg.MasterKey == nil {
		cfg.MasterKey = make([]byte, 32)
		rand.Read(cfg.MasterKey)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := storage.Open(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("storagetest: open: %v", err)
	}
	t.Cleanup(db.Close)
	return db
}

// NewWriter starts a writer on db (storage.NewWriter), failing the test
// when cfg is refused. Closing it is the test's business: several test
// how Close behaves.
func NewWriter(t testing.TB, db *storage.DB, cfg storage.WriterConfig) *storage.Writer {
	t.Helper()
	w, err := storage.NewWriter(db, cfg)
	if err != nil {
		t.Fatalf("storagetest: writer: %v", err)
	}
	return w
}

// URL creates a fresh migrated database, dropped when the test ends, and
// returns its URL (for tests that run a child process or a command).
func URL(t testing.TB) string {
	t.Helper()
	return newDatabase(t, true)
}

// EmptyURL creates a fresh database with no migrations applied.
func EmptyURL(t testing.TB) string {
	t.Helper()
	return newDatabase(t, false)
}

func newDatabase(t testing.TB, migrated bool) string {
	t.Helper()
	admin := adminURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("storagetest: connect: %v", err)
	}
	defer conn.Close(context.Background())
	var b [8]byte
	rand.Read(b[:])
	name := "veil_t_" + hex.EncodeToString(b[:])
	tmpl := "template0"
	if migrated {
		tmpl = server.template
	}
	for attempt := 0; ; attempt++ {
		_, err = conn.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, tmpl))
		var pe *pgconn.PgError
		// 55006: another session was on the template (another binary
		// creating it); it does not last.
		if err == nil || !errors.As(err, &pe) || pe.Code != "55006" || attempt == 50 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("storagetest: create database: %v", err)
	}
	t.Cleanup(func() {
		server.mu.Lock()
		defer server.mu.Unlock()
		if server.drops != nil {
			server.drops <- name
		}
	})
	return withDatabase(t, admin, name)
}

// NeedBinaries stops a test that must start a PostgreSQL server of its own
// when the machine has no server binaries: a failure under CI=true, a skip
// elsewhere.
func NeedBinaries(t testing.TB) {
	t.Helper()
	if _, err := storage.FindPostgres(); err != nil {
		missing(t, err)
	}
}

// missing fails the test under CI=true, where a missing database is never
// silently skipped, and skips it with what to install otherwise.
func missing(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("storagetest: CI=true and no PostgreSQL: %v", err)
	}
	t.Skipf("storagetest: no PostgreSQL: %v (install the postgresql package or set %s)", err, EnvURL)
}

// adminURL starts the server on first use and returns its maintenance URL.
func adminURL(t testing.TB) string {
	t.Helper()
	server.once.Do(start)
	server.mu.Lock()
	defer server.mu.Unlock()
	if server.err != nil {
		if server.skip {
			missing(t, server.err)
		}
		t.Fatalf("storagetest: %v", server.err)
	}
	return server.adminURL
}

func start() {
	server.mu.Lock()
	defer server.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if u := os.Getenv(EnvURL); u != "" {
		server.adminURL = u
	} else {
		dir, err := os.MkdirTemp("", "veil-pg-")
		if err != nil {
			server.err = err
			return
		}
		local, err := storage.StartLocalConfig(ctx, storage.LocalConfig{
			DataDir:    dir,
			InitNoSync: true, // a throwaway cluster; the server keeps fsync on
			Ephemeral:  true,
			Settings:   map[string]string{"max_connections": "300"},
		})
		if err != nil {
			os.RemoveAll(dir)
			server.err = err
			server.skip = errors.Is(err, storage.ErrNoPostgres)
			return
		}
		server.local = local
		server.adminURL = local.DatabaseURL("postgres")
	}
	server.template, server.err = ensureTemplate(ctx, server.adminURL)
	if server.err == nil {
		server.drops = make(chan string, 1024)
		server.dropped.Add(1)
		go dropper(server.adminURL, server.drops)
	}
}

// dropper drops the databases of finished tests, one at a time.
func dropper(admin string, names <-chan string) {
	defer server.dropped.Done()
	for name := range names {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		c, err := pgx.Connect(ctx, admin)
		if err == nil {
			_, err = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(context.Background())
		}
		cancel()
		if err != nil {
			fmt.Fprintf(os.Stderr, "storagetest: drop database %s: %v\n", name, err)
		}
	}
}

// ensureTemplate creates, once per server and migration set, a migrated
// template database; concurrent test binaries serialize on an advisory
// lock.
func ensureTemplate(ctx context.Context, admin string) (string, error) {
	h := sha256.New()
	err := fs.WalkDir(migrations.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations.FS, path)
		fmt.Fprintf(h, "%s\x00%d\x00", path, len(b))
		h.Write(b)
		return err
	})
	if err != nil {
		return "", err
	}
	name := "veil_tmpl_" + hex.EncodeToString(h.Sum(nil)[:8])
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", fmt.Errorf("connect to %s: %w", redact(admin), err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(7204963121)"); err != nil {
		return "", err
	}
	defer conn.Exec(context.Background(), "SELECT pg_advisory_unlock(7204963121)")
	var isTemplate *bool
	err = conn.QueryRow(ctx, "SELECT datistemplate FROM pg_database WHERE datname = $1", name).Scan(&isTemplate)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return "", err
	}
	if isTemplate != nil && *isTemplate {
		return name, nil
	}
	if isTemplate != nil { // left half-made by a crashed run
		if _, err := conn.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			return "", err
		}
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE template0"); err != nil {
		return "", err
	}
	if _, _, err := storage.Migrate(ctx, withDatabaseURL(admin, name), nil); err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+name+" IS_TEMPLATE true"); err != nil {
		return "", err
	}
	return name, nil
}

func withDatabase(t testing.TB, admin, name string) string {
	t.Helper()
	u := withDatabaseURL(admin, name)
	if u == "" {
		t.Fatalf("storagetest: %s must be a postgres:// URL", EnvURL)
	}
	return u
}

// withDatabaseURL replaces the database of a postgres:// URL.
func withDatabaseURL(admin, name string) string {
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return ""
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
