package storage

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrNoPostgres reports that PostgreSQL's server binaries were not found.
var ErrNoPostgres = errors.New("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found in PATH, `pg_config --bindir` or /usr/lib/postgresql/*/bin: install the postgresql package (Debian/Ubuntu: apt-get install postgresql) or pass --database-url")

// ErrDataDirInUse reports that another process runs a server on the data
// directory.
var ErrDataDirInUse = errors.New("data directory is in use by another veil process")

const (
	// localSuperuser is the bootstrap superuser initdb creates.
	localSuperuser = "veil"
	// localDatabase is the database the service uses on the managed server.
	localDatabase = "veil"
	// maxSocketPath is sun_path's size on Linux minus the NUL.
	maxSocketPath = 107
)

// LocalConfig configures a managed local PostgreSQL server. The zero value
// of every field but DataDir works.
type LocalConfig struct {
	// DataDir is veil's data directory; the cluster lives in
	// DataDir/postgres and its socket inside it.
	DataDir string
	// Logger receives lifecycle lines (nil: discard).
	Logger *slog.Logger
	// Settings are extra postgresql.conf settings, e.g. "max_connections".
	Settings map[string]string
	// InitNoSync runs initdb --no-sync. For throwaway test clusters only:
	// the running server keeps fsync on regardless.
	InitNoSync bool
	// Ephemeral removes DataDir on Stop, and also when this process dies
	// without calling Stop (a watchdog process stops the server then).
	Ephemeral bool
}

// LocalServer is a PostgreSQL server run from the machine's binaries,
// private to one veil data directory: it listens only on a unix socket
// inside that directory (listen_addresses = ”), so no TCP port is opened.
//
// When the process runs as root, PostgreSQL (which refuses root) runs as the
// unprivileged "postgres" user that the Debian package creates, and owns the
// cluster directory.
type LocalServer struct {
	cfg     LocalConfig
	bin     string
	pgdata  string
	secret  []byte // from secretFile; the roles' passwords derive from it
	cred    *syscall.Credential
	lock    *os.File
	log     *slog.Logger
	watch   io.WriteCloser // stdin of the Ephemeral watchdog
	watchCm *exec.Cmd
}

// StartLocal starts (initializing on first use) the managed server for
// dataDir and waits until it accepts connections.
func StartLocal(ctx context.Context, dataDir string, logger *slog.Logger) (*LocalServer, error) {
	return StartLocalConfig(ctx, LocalConfig{DataDir: dataDir, Logger: logger})
}

// StartLocalConfig is StartLocal with all options.
func StartLocalConfig(ctx context.Context, cfg LocalConfig) (*LocalServer, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("storage: managed PostgreSQL needs a data directory")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	bin, err := FindPostgres()
	if err != nil {
		return nil, err
	}
	s := &LocalServer{cfg: cfg, bin: bin, pgdata: filepath.Join(dataDir, "postgres"), log: log}
	if n := len(filepath.Join(s.pgdata, ".s.PGSQL.5432")); n > maxSocketPath {
		return nil, fmt.Errorf("storage: data directory path %q is too long for a unix socket (%d > %d bytes); choose a shorter --data-dir", dataDir, n, maxSocketPath)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("storage: create data directory: %w", err)
	}
	if err := s.lockDataDir(dataDir); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			s.unlock()
		}
	}()
	if os.Geteuid() == 0 {
		cred, err := postgresCredential()
		if err != nil {
			return nil, err
		}
		s.cred = cred
		if err := makeTraversable(s.pgdata, cred, log); err != nil {
			return nil, err
		}
	}
	if err := s.initdb(ctx); err != nil {
		return nil, err
	}
	if err := s.writeSettings(); err != nil {
		return nil, err
	}
	if s.secret, err = s.loadSecret(dataDir); err != nil {
		return nil, err
	}
	// Password authentication once the superuser has a password; until
	// then (a new cluster, or one made by a veil that trusted every local
	// connection) trust, for as long as it takes to set one below.
	if err := s.writeHBA(s.secret != nil); err != nil {
		return nil, err
	}
	// A veil killed with SIGKILL leaves its postmaster running; we hold the
	// lock, so it is ours: stop it before starting afresh.
	if _, err := os.Stat(filepath.Join(s.pgdata, "postmaster.pid")); err == nil {
		if s.pgctl(ctx, "status") == nil {
			log.Info("stopping PostgreSQL left running by an earlier process")
			if err := s.pgctl(ctx, "stop", "-m", "fast", "-w", "-t", "60"); err != nil {
				return nil, fmt.Errorf("storage: stop leftover PostgreSQL: %w", err)
			}
		}
	}
	if cfg.Ephemeral {
		if err := s.startWatchdog(dataDir); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	if err := s.pgctl(ctx, "start", "-w", "-t", "120", "-l", filepath.Join(s.pgdata, "server.log")); err != nil {
		s.stopWatchdog()
		return nil, fmt.Errorf("storage: start PostgreSQL: %w\nlast lines of %s:\n%s", err, filepath.Join(s.pgdata, "server.log"), s.tailLog(20))
	}
	if s.secret == nil {
		if err := s.setPasswords(ctx, dataDir); err != nil {
			_ = s.pgctl(context.Background(), "stop", "-m", "fast", "-w")
			s.stopWatchdog()
			return nil, err
		}
	}
	if err := s.ensureDatabase(ctx); err != nil {
		_ = s.pgctl(context.Background(), "stop", "-m", "fast", "-w")
		s.stopWatchdog()
		return nil, err
	}
	log.Info("managed PostgreSQL started", "bindir", bin, "startup", time.Since(start).Round(time.Millisecond))
	ok = true
	return s, nil
}

// DataPath is the PostgreSQL data directory (PGDATA) of the server, with
// its WAL under pg_wal and its log in server.log: for tests that inspect
// what the server keeps below SQL.
func (s *LocalServer) DataPath() string { return s.pgdata }

// URL is the connection URL of the service database on this server, as
// its bootstrap superuser, which owns it and runs its migrations.

func (s *LocalServer) URL() string { return s.DatabaseURL(localDatabase) }

// ServiceURL is the connection URL of the service database as its service
// login (RolesFor: NOSUPERUSER NOCREATEROLE NOCREATEDB), which Migrate
// provisions.
func (s *LocalServer) ServiceURL() string {
	return s.urlAs(RolesFor(localDatabase).Service, localDatabase)
}

// DatabaseURL is the connection URL of database name on this server, as
// its bootstrap superuser.
func (s *LocalServer) DatabaseURL(name string) string { return s.urlAs(localSuperuser, name) }

// urlAs is the URL of database name as role, with its password.
func (s *LocalServer) urlAs(role, name string) string {
	q := url.Values{}
	q.Set("host", s.pgdata)
	q.Set("sslmode", "disable")
	u := &url.URL{Scheme: "postgres", Path: "/" + name, RawQuery: q.Encode()}
	if s.secret != nil {
		u.User = url.UserPassword(role, rolePassword(s.secret, role))
	} else {
		u.User = url.User(role)
	}
	return u.String()
}

// Migrate applies pending migrations to the service database as the
// superuser and provisions its roles, the service login with its password
// (see ServiceURL).
func (s *LocalServer) Migrate(ctx context.Context, logger *slog.Logger) (from, to int32, err error) {
	return prepareAsOwner(ctx, s.URL(), s.ServiceURL(), false, logger)
}

// MigrateURLOrLocal is veil migrate: it migrates the database at url as
// Migrate does or, when url is empty, the managed PostgreSQL under
// dataDir, started for the occasion (StartLocal) and stopped after, as
// (*LocalServer).Migrate does. It returns the schema versions before and
// after.
func MigrateURLOrLocal(ctx context.Context, url, dataDir string, logger *slog.Logger) (from, to int32, err error) {
	if url != "" {
		return Migrate(ctx, url, logger)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	local, err := StartLocal(ctx, dataDir, logger)
	if err != nil {
		return 0, 0, err
	}
	defer func() {
		// Not ctx: an interrupt must still stop the server.
		stopCtx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := local.Stop(stopCtx); err != nil {
			logger.Error("stopping managed PostgreSQL", "err", err)
		}
	}()
	return local.Migrate(ctx, logger)
}

// Stop shuts the server down (fast mode: open sessions are ended and their
// transactions rolled back; committed data is durable) and releases the data
// directory.
//
// An Ephemeral server is stopped in immediate mode: its data is discarded,
// so the shutdown checkpoint would be wasted work.
func (s *LocalServer) Stop(ctx context.Context) error {
	mode := "fast"
	if s.cfg.Ephemeral {
		mode = "immediate"
	}
	err := s.pgctl(ctx, "stop", "-m", mode, "-w", "-t", "120")
	if err != nil && s.pgctl(ctx, "status") != nil {
		err = nil // not running: nothing to stop
	}
	s.stopWatchdog()
	s.unlock()
	if err != nil {
		return fmt.Errorf("storage: stop PostgreSQL: %w", err)
	}
	s.log.Info("managed PostgreSQL stopped")
	return nil
}

// FindPostgres returns the directory holding initdb, pg_ctl and postgres:
// from PATH, then `pg_config --bindir`, then /usr/lib/postgresql/*/bin with
// the newest major version first.
func FindPostgres() (string, error) {
	var dirs []string
	if p, err := exec.LookPath("initdb"); err == nil {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			dirs = append(dirs, filepath.Dir(r))
		}
		dirs = append(dirs, filepath.Dir(p))
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dirs = append(dirs, strings.TrimSpace(string(out)))
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(matches, func(a, b string) int {
		return versionOf(b) - versionOf(a)
	})
	dirs = append(dirs, matches...)
	for _, d := range dirs {
		if hasServerBinaries(d) {
			return d, nil
		}
	}
	return "", ErrNoPostgres
}

func versionOf(bindir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(bindir)))
	return v
}

func hasServerBinaries(dir string) bool {
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// lockDataDir takes an exclusive flock on DataDir/veil.lock for the life of
// the server, so a second veil on the same directory is refused instead of
// sharing (or corrupting) the cluster.
func (s *LocalServer) lockDataDir(dataDir string) error {
	path := filepath.Join(dataDir, "veil.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("storage: open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("storage: %s: %w (lock file %s); stop it or use another --data-dir", dataDir, ErrDataDirInUse, path)
		}
		return fmt.Errorf("storage: lock %s: %w", path, err)
	}
	s.lock = f
	return nil
}

func (s *LocalServer) unlock() {
	if s.lock != nil {
		_ = syscall.Flock(int(s.lock.Fd()), syscall.LOCK_UN)
		s.lock.Close()
		s.lock = nil
	}
}

// postgresCredential returns the unprivileged account PostgreSQL runs as
// when veil runs as root.
func postgresCredential() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, errors.New("storage: running as root, and PostgreSQL refuses to run as root: no \"postgres\" user to run it as (the postgresql package creates one), or run veil as a normal user")
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("storage: bad uid/gid for user postgres: %q/%q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

// makeTraversable creates pgdata owned by cred and makes sure every parent
// directory lets cred's user through: it adds o+x (search, not read) where
// needed, and says so in the log.
func makeTraversable(pgdata string, cred *syscall.Credential, log *slog.Logger) error {
	if err := os.MkdirAll(pgdata, 0o700); err != nil {
		return err
	}
	if err := os.Chown(pgdata, int(cred.Uid), int(cred.Gid)); err != nil {
		return fmt.Errorf("storage: chown %s: %w", pgdata, err)
	}
	for dir := filepath.Dir(pgdata); ; dir = filepath.Dir(dir) {
		fi, err := os.Stat(dir)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		mode := fi.Mode().Perm()
		searchable := mode&0o001 != 0 ||
			(st.Uid == cred.Uid && mode&0o100 != 0) ||
			(st.Gid == cred.Gid && mode&0o010 != 0)
		if !searchable {
			if err := os.Chmod(dir, fi.Mode().Perm()|0o001); err != nil {
				return fmt.Errorf("storage: PostgreSQL runs as user postgres and cannot reach %s: %w", dir, err)
			}
			log.Info("made directory searchable for the postgres user (o+x)", "dir", dir)
		}
		if dir == "/" || dir == filepath.Dir(dir) {
			return nil
		}
	}
}

func (s *LocalServer) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, name), args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
		cmd.Dir = "/"
	}
	return cmd
}

func (s *LocalServer) run(cmd *exec.Cmd) error {
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if len(msg) > 2000 {
			msg = msg[len(msg)-2000:]
		}
		return fmt.Errorf("%s: %w: %s", filepath.Base(cmd.Path), err, msg)
	}
	return nil
}

func (s *LocalServer) pgctl(ctx context.Context, args ...string) error {
	return s.run(s.command(ctx, "pg_ctl", append([]string{"-D", s.pgdata}, args...)...))
}

// initdb creates the cluster once; PG_VERSION marks a finished one.
func (s *LocalServer) initdb(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(s.pgdata, "PG_VERSION")); err == nil {
		return nil
	}
	if s.cred == nil {
		if err := os.MkdirAll(s.pgdata, 0o700); err != nil {
			return err
		}
	}
	// A half-made cluster (interrupted initdb) is useless: start over.
	entries, _ := os.ReadDir(s.pgdata)
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(s.pgdata, e.Name())); err != nil {
			return err
		}
	}
	args := []string{"-D", s.pgdata, "-U", localSuperuser, "-E", "UTF8", "--no-locale",
		// The socket lives in a 0700 directory of the server's user, so only
		// that user (and root) can connect at all.
		"--auth-local=trust", "--auth-host=reject"}
	if s.cfg.InitNoSync {
		args = append(args, "--no-sync")
	}
	s.log.Info("initializing managed PostgreSQL cluster", "dir", s.pgdata)
	if err := s.run(s.command(ctx, "initdb", args...)); err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(s.pgdata, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString("\n# Settings managed by veil, rewritten at every start.\ninclude_if_exists = 'veil.conf'\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeSettings regenerates veil.conf: unix socket in the cluster directory
// only, no TCP. fsync stays on (the default). Logging and commit
// timestamps are set so PostgreSQL keeps nothing that could link content
// to a request (see LoggingWarnings for an external server).
func (s *LocalServer) writeSettings() error {
	settings := map[string]string{
		"listen_addresses":        "''",
		"unix_socket_directories": quoteConf(s.pgdata),
		"unix_socket_permissions": "0700",
		"port":                    "5432",
		"timezone":                "'UTC'",
		"log_timezone":            "'UTC'",
		"fsync":                   "on",
		// What the server keeps or logs must not time or quote content
		// (DESIGN.md invariant 3): no commit timestamps; errors logged
		// without DETAIL (a unique violation's names the key) and without
		// the statement; no statement or parameter logging.
		"track_commit_timestamp":            "off",
		"log_error_verbosity":               "terse",
		"log_min_error_statement":           "panic",
		"log_statement":                     "none",
		"log_min_duration_statement":        "-1",
		"log_parameter_max_length":          "0",
		"log_parameter_max_length_on_error": "0",
	}
	for k, v := range s.cfg.Settings {
		settings[k] = v
	}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s = %s\n", k, settings[k])
	}
	path := filepath.Join(s.pgdata, "veil.conf")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return err
	}
	if s.cred != nil {
		return os.Chown(path, int(s.cred.Uid), int(s.cred.Gid))
	}
	return nil
}

func quoteConf(v string) string { return "'" + strings.ReplaceAll(v, "'", "''") + "'" }

// startWatchdog runs a small shell, as the server's user, that waits for
// its stdin to close (this process exiting, however it dies) and then stops
// the server and removes the data directory.
func (s *LocalServer) startWatchdog(dataDir string) error {
	if s.cred != nil {
		if err := os.Chown(dataDir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			return err
		}
	}
	script := `cat >/dev/null; "$1" -D "$2" stop -m immediate -w >/dev/null 2>&1; rm -rf "$3"`
	cmd := exec.Command("/bin/sh", "-c", script, "veil-pg-watchdog", filepath.Join(s.bin, "pg_ctl"), s.pgdata, dataDir)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if s.cred != nil {
		cmd.SysProcAttr.Credential = s.cred
	}
	w, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("storage: start watchdog: %w", err)
	}
	s.watch, s.watchCm = w, cmd
	return nil
}

func (s *LocalServer) stopWatchdog() {
	if s.watch == nil {
		return
	}
	s.watch.Close()
	_ = s.watchCm.Wait()
	s.watch, s.watchCm = nil, nil
}

// ensureDatabase creates the service database on first start.
func (s *LocalServer) ensureDatabase(ctx context.Context) error {
	conn, err := connectURL(ctx, s.DatabaseURL("postgres"))
	if err != nil {
		return fmt.Errorf("storage: connect to managed PostgreSQL: %w", err)
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", localDatabase).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+localDatabase); err != nil {
			return fmt.Errorf("storage: create database: %w", err)
		}
	}
	return nil
}

// tailLog returns the last lines of the server log, for error messages.
func (s *LocalServer) tailLog(n int) string {
	f, err := os.Open(filepath.Join(s.pgdata, "server.log"))
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}
