// Package storagetest gives tests a fresh, migrated PostgreSQL database
// each, on a real server: by default one managed local server per test
// binary (started on first use from the machine's PostgreSQL binaries, the
// same launcher `veil serve` uses), or the server at VEIL_TEST_DATABASE_URL.
//
// Each test's database is cloned from a migrated template (CREATE DATABASE
// ... TEMPLATE), which takes a fraction of a second, and dropped when the
// test ends, with its roles. The template has no roles: roles are per
// database (storage.RolesFor), so New and Open provision each clone's as
// `veil serve` does (storage.Config.MigrationURL) and log in as its
// service login. Call Main from TestMain to stop the server when the tests are
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
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/veil-telemetry/veil/internal/storage"
	"github.com/veil-telemetry/veil/migrations"
)

// EnvURL names the variable that points tests at an existing server. Its
// user must be allowed to create databases and roles, and the server must
// let the roles it creates log in by password.
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
	drops    chan string
	dropped  sync.WaitGroup
	stopping atomic.Bool // the managed server is stopping: drops may fail
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
		// Its files go whole: drops still queued do not matter.
		server.stopping.Store(true)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = server.local.Stop(ctx)
		server.local = nil
		server.err = errors.New("storagetest: server stopped")
	}
}

// New returns a handle on a fresh migrated database, closed and dropped
// when the test ends, logged in as its service login (see Owner for the
// rest). Its key ring has a random master key.
func New(t testing.TB) *storage.DB {
	t.Helper()
	return Open(t, storage.Config{})
}

// Open is New with cfg (its URL, MigrationURL and DataDir are set by
// storagetest; a nil MasterKey without a MasterKeyFile gets a random one,
// an empty StageKeyDir a temporary directory).
func Open(t testing.TB, cfg storage.Config) *storage.DB {
	t.Helper()
	cfg.URL, cfg.MigrationURL = URLs(t)
	cfg.DataDir = ""
	if cfg.StageKeyDir == "" {
		cfg.StageKeyDir = t.TempDir()
	}
	if cfg.MasterKey == nil && cfg.MasterKeyFile == "" {
		cfg.MasterKey = make([]byte, 32)
		rand.Read(cfg.MasterKey)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := storage.Open(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("storagetest: open: %v", err)
	}
	ownerURLs.Store(db, cfg.MigrationURL)
	t.Cleanup(func() {
		ownerURLs.Delete(db)
		db.Close()
	})
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
// returns its owner's URL (for tests that run a child process or a
// command with one credential).
func URL(t testing.TB) string {
	t.Helper()
	return newDatabase(t, true)
}

// URLs creates a fresh migrated database, dropped when the test ends, and
// returns the URL of its service login (storage.RolesFor, with a random
// password) and of its owner, for storage.Config's URL and MigrationURL.
// The service login exists once the owner's URL has provisioned it.
func URLs(t testing.TB) (service, owner string) {
	t.Helper()
	owner = newDatabase(t, true)
	u, err := url.Parse(owner)
	if err != nil {
		t.Fatalf("storagetest: %v", err)
	}
	var pw [16]byte
	rand.Read(pw[:])
	u.User = url.UserPassword(storage.RolesFor(strings.TrimPrefix(u.Path, "/")).Service, hex.EncodeToString(pw[:]))
	return u.String(), owner
}

// Owner returns a pool on db's database as its owner, closed when the test
// ends: for tests that look at what the service login may not read
// (events, the key ring as stored) or change what it may not change.
func Owner(t testing.TB, db *storage.DB) *pgxpool.Pool {
	t.Helper()
	if p, ok := owners.Load(db); ok {
		return p.(*pgxpool.Pool)
	}
	u, ok := ownerURLs.Load(db)
	if !ok {
		t.Fatalf("storagetest: Owner of a database that New or Open did not make")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool, err := pgxpool.New(ctx, u.(string))
	if err != nil {
		t.Fatalf("storagetest: owner pool: %v", err)
	}
	if p, loaded := owners.LoadOrStore(db, pool); loaded {
		pool.Close()
		return p.(*pgxpool.Pool)
	}
	t.Cleanup(func() {
		owners.Delete(db)
		pool.Close()
	})
	return pool
}

// ownerURLs holds the owner's URL of each database Open made; owners
// caches Owner's pools. Both are keyed by *storage.DB.
var ownerURLs, owners sync.Map

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
			if err == nil {
				r := storage.RolesFor(name)
				_, err = c.Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{r.Service}.Sanitize()+", "+
					pgx.Identifier{r.Writer}.Sanitize()+", "+pgx.Identifier{r.Reader}.Sanitize())
			}
			c.Close(context.Background())
		}
		cancel()
		if err != nil && !server.stopping.Load() {
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
	if _, _, err := storage.MigrateTemplate(ctx, withDatabaseURL(admin, name), nil); err != nil {
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

// Mix folds every request staged in db into the rollups and outcome
// counts, at once and whatever k (a forced mix, by a writer of its own):
// what the mixer would do over the next intervals.
func Mix(t testing.TB, db *storage.DB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w, err := storage.NewWriter(db, storage.WriterConfig{NoMixer: true})
	if err != nil {
		t.Fatalf("storagetest: mix: %v", err)
	}
	defer w.Close(ctx)
	res, err := w.Mix(ctx, true)
	if err != nil || !res.Leader {
		t.Fatalf("storagetest: mix: %+v %v", res, err)
	}
}
