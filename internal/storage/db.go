package storage

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"

	"github.com/veil-telemetry/veil/migrations"
)

// versionTable is tern's bookkeeping table.
const versionTable = "public.veil_schema_version"

// ErrSchemaTooNew reports a database migrated by a newer veil.
var ErrSchemaTooNew = errors.New("database schema is newer than this veil binary")

// Defaults of Config's zero fields.
const (
	defaultMaxConns       = 8
	defaultConnectTimeout = 3 * time.Second
)

// Config configures Open. The zero value of every field but one of URL and
// DataDir works.
type Config struct {
	// URL is the service's PostgreSQL URL: the login the steady state
	// uses. When empty, Open starts the managed local server in DataDir
	// and logs in as that server's service login (Roles.Service).
	URL string
	// MigrationURL is the database owner's URL. Open uses it only to
	// apply migrations and provision the per-database roles
	// (ProvisionRoles), and closes it before it returns: the steady state
	// never holds it. URL's user must then be the database's service
	// login (RolesFor(database).Service), and URL's password, if any,
	// becomes that login's password.
	//
	// Empty with a URL: URL's login migrates and provisions itself (one
	// credential for both, a weaker setup: a superuser login is warned
	// about), unless it is the service login, which cannot migrate: Open
	// then only checks the schema version (run `veil migrate` first).
	MigrationURL string
	// DataDir is veil's data directory, for the managed server.
	DataDir string
	// MaxConns bounds the pool (0: 8).
	MaxConns int32
	// ConnectTimeout bounds each connection attempt (0: 3s), so a database
	// outage is noticed fast.
	ConnectTimeout time.Duration
	// MasterKey seals the key ring's private keys (32 bytes). Key ring
	// methods fail without it or MasterKeyFile.
	MasterKey []byte
	// MasterKeyFile is the master key's file (see LoadMasterKey), read
	// when MasterKey is nil. A missing file is created (random, mode
	// 0600), unless the key ring already holds sealed keys: Open then
	// fails with ErrMasterKeyMissing.
	MasterKeyFile string
	// SkipMigrate opens without applying migrations (the schema version is
	// still checked).
	SkipMigrate bool
	// StageKeyDir holds the writer's per-interval staging keys (see
	// staging.go), outside PostgreSQL (default: DataDir/stage-keys).
	StageKeyDir string
	// NoRoles makes the service run with its login role's own privileges
	// even where the writer and reader roles are available.
	NoRoles bool
}

// DB is veil's database handle.
type DB struct {
	pool      *pgxpool.Pool
	local     *LocalServer // nil with an external URL
	log       *slog.Logger
	masterKey []byte
	// setWriter/setReader are "SET LOCAL ROLE <writer/reader>" when the
	// login may switch to the database's writer/reader role (see Roles),
	// which its transactions then do; empty otherwise.
	setWriter, setReader string
	stageKeyDir          string
}

// Open connects (starting the managed server when cfg.URL is empty),
// applies pending migrations and provisions the roles (as the owner, see
// Config.MigrationURL), refuses a database newer than this binary, and
// loads the master key.
func Open(ctx context.Context, cfg Config, logger *slog.Logger) (*DB, error) {
	logger = cmp.Or(logger, slog.New(slog.DiscardHandler))
	if cfg.MaxConns < 0 || cfg.ConnectTimeout < 0 {
		return nil, errors.New("storage: Config.MaxConns and Config.ConnectTimeout must not be negative; leave them 0 for the defaults")
	}
	if cfg.MasterKey != nil && len(cfg.MasterKey) != masterKeySize {
		return nil, fmt.Errorf("storage: master key must be %d bytes, got %d", masterKeySize, len(cfg.MasterKey))
	}
	if cfg.MasterKey != nil && cfg.MasterKeyFile != "" {
		return nil, errors.New("storage: give a master key or a master key file, not both")
	}
	db := &DB{log: logger, masterKey: cfg.MasterKey, stageKeyDir: cfg.StageKeyDir}
	if db.stageKeyDir == "" && cfg.DataDir != "" {
		db.stageKeyDir = filepath.Join(cfg.DataDir, "stage-keys")
	}
	url, ownerURL := cfg.URL, cfg.MigrationURL
	if url == "" {
		if ownerURL != "" {
			return nil, errors.New("storage: a migration URL goes with a database URL; the managed server has its own")
		}
		local, err := StartLocal(ctx, cfg.DataDir, logger)
		if err != nil {
			return nil, err
		}
		db.local = local
		url, ownerURL = local.ServiceURL(), local.URL()
	}
	if ownerURL != "" {
		if _, _, err := prepareAsOwner(ctx, ownerURL, url, cfg.SkipMigrate, logger); err != nil {
			db.Close()
			return nil, err
		}
	}
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("storage: database URL: %w", err)
	}
	pcfg.MaxConns = cmp.Or(cfg.MaxConns, defaultMaxConns)
	pcfg.ConnConfig.ConnectTimeout = cmp.Or(cfg.ConnectTimeout, defaultConnectTimeout)
	pcfg.HealthCheckPeriod = 5 * time.Second
	// A statement that fails must not put its parameters (values, dedup
	// hashes) into the server's log (DESIGN.md invariant 3).
	pcfg.ConnConfig.RuntimeParams["log_parameter_max_length_on_error"] = "0"
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("storage: %w", err)
	}
	db.pool = pool
	if err := db.setUp(ctx, cfg, ownerURL != ""); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// prepareAsOwner migrates (or, with skipMigrate, checks the schema
// version of) the database as its owner and provisions its roles, making
// serviceURL's user the service login with serviceURL's password. The
// owner's connection is closed when it returns. It returns the schema
// versions before and after.
func prepareAsOwner(ctx context.Context, ownerURL, serviceURL string, skipMigrate bool, logger *slog.Logger) (from, to int32, err error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	svc, err := pgx.ParseConfig(serviceURL)
	if err != nil {
		return 0, 0, fmt.Errorf("storage: database URL: %w", err)
	}
	conn, err := connectURL(ctx, ownerURL)
	if err != nil {
		return 0, 0, fmt.Errorf("storage: connect with the migration credential: %w", err)
	}
	defer conn.Close(context.Background())
	var database string
	if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&database); err != nil {
		return 0, 0, fmt.Errorf("storage: %w", err)
	}
	if svc.Database != database {
		return 0, 0, fmt.Errorf("storage: the migration URL names database %q but the database URL names %q: they must name the same database", database, svc.Database)
	}
	if want := RolesFor(database).Service; svc.User != want {
		return 0, 0, fmt.Errorf("storage: the database URL logs in as %q, but the service login of database %q is %q: put that user (and its password) in the database URL", svc.User, database, want)
	}
	if skipMigrate {
		err = checkVersionOn(ctx, conn)
	} else {
		from, to, err = migrateConn(ctx, conn, logger)
	}
	if err != nil {
		return from, to, err
	}
	_, err = provisionRoles(ctx, conn, ProvisionOptions{Login: true, Password: svc.Password})
	return from, to, err
}

// setUp finishes Open on the service's own login: with one credential
// (asOwner false) it migrates and provisions; then it finds the roles it
// may switch to, warns about a superuser login, and loads the master key.
func (db *DB) setUp(ctx context.Context, cfg Config, asOwner bool) error {
	var database, login string
	var super bool
	err := db.pool.QueryRow(ctx, `SELECT current_database(), current_user,
		(SELECT rolsuper FROM pg_roles WHERE rolname = current_user)`).Scan(&database, &login, &super)
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	roles := RolesFor(database)
	if !asOwner {
		switch {
		case login == roles.Service:
			// The service login cannot migrate: `veil migrate` did.
			err = db.checkVersion(ctx)
		case cfg.SkipMigrate:
			err = db.checkVersion(ctx)
		default:
			err = db.Migrate(ctx)
		}
		if err != nil {
			return err
		}
		if login != roles.Service {
			if err := db.provisionSelf(ctx); err != nil {
				if !errors.Is(err, ErrCannotProvision) {
					return err
				}
				db.log.Warn("cannot create the database's roles; the service runs with its login's own privileges", "error", err.Error())
			}
		}
	}
	if super {
		db.log.Warn("the service's database login is a superuser: it can read the server's files (the master key among them) and run programs; "+
			"give the service its own login (a migration URL and the service login's URL, see the README)", "login", login)
	}
	if !cfg.NoRoles {
		var writer, reader bool
		err := db.pool.QueryRow(ctx, `SELECT
			coalesce((SELECT pg_has_role(oid, 'MEMBER') FROM pg_roles WHERE rolname = $1), false),
			coalesce((SELECT pg_has_role(oid, 'MEMBER') FROM pg_roles WHERE rolname = $2), false)`,
			roles.Writer, roles.Reader).Scan(&writer, &reader)
		if err != nil {
			return fmt.Errorf("storage: check roles: %w", err)
		}
		if writer && reader {
			db.setWriter = "SET LOCAL ROLE " + pgx.Identifier{roles.Writer}.Sanitize()
			db.setReader = "SET LOCAL ROLE " + pgx.Identifier{roles.Reader}.Sanitize()
		} else {
			db.log.Warn("this login may not switch to the database's writer and reader roles; running with its own privileges",
				"writer", roles.Writer, "reader", roles.Reader)
		}
	}
	if cfg.MasterKeyFile != "" {
		key, err := db.loadOrCreateMasterKey(ctx, cfg.MasterKeyFile)
		if err != nil {
			return err
		}
		db.masterKey = key
	}
	return nil
}

// provisionSelf provisions the roles on the pool's own login, which
// becomes a member of the writer and reader roles.
func (db *DB) provisionSelf(ctx context.Context) error {
	c, err := db.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("storage: provision roles: %w", err)
	}
	defer c.Release()
	_, err = provisionRoles(ctx, c.Conn(), ProvisionOptions{Self: true})
	return err
}

// Close closes the pool and stops the managed server, if any.
func (db *DB) Close() {
	if db.pool != nil {
		db.pool.Close()
	}
	if db.local != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := db.local.Stop(ctx); err != nil {
			db.log.Error("stopping managed PostgreSQL", "err", err)
		}
		db.local = nil
	}
}

// Pool is the underlying pool, for tests and tools. Writes to the ingest
// tables go through Writer.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.pool.Ping(ctx) }

// Migrate applies pending migrations on db's database.
func (db *DB) Migrate(ctx context.Context) error {
	c, err := db.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("storage: migrate: %w", err)
	}
	defer c.Release()
	_, _, err = migrateConn(ctx, c.Conn(), db.log)
	return err
}

// Migrate connects to url as the database's owner, applies pending
// migrations and provisions the database's roles (ProvisionRoles; the
// service login is created NOLOGIN when missing, see Config.MigrationURL
// for how it gets its password). Running it again is a no-op. It returns
// the schema versions before and after.
func Migrate(ctx context.Context, url string, logger *slog.Logger) (from, to int32, err error) {
	return migrateURL(ctx, url, true, logger)
}

// MigrateTemplate applies pending migrations to a database that serves as
// a template for others (CREATE DATABASE ... TEMPLATE) and provisions no
// roles: roles are per database, so each copy is provisioned on its own.
func MigrateTemplate(ctx context.Context, url string, logger *slog.Logger) (from, to int32, err error) {
	return migrateURL(ctx, url, false, logger)
}

func migrateURL(ctx context.Context, url string, provision bool, logger *slog.Logger) (from, to int32, err error) {
	logger = cmp.Or(logger, slog.New(slog.DiscardHandler))
	conn, err := connectURL(ctx, url)
	if err != nil {
		return 0, 0, fmt.Errorf("storage: migrate: %w", err)
	}
	defer conn.Close(context.Background())
	from, to, err = migrateConn(ctx, conn, logger)
	if err != nil || !provision {
		return from, to, err
	}
	_, err = provisionRoles(ctx, conn, ProvisionOptions{})
	return from, to, err
}

// SchemaVersion is the number of migrations this binary carries.
func SchemaVersion() (int32, error) {
	names, err := migrate.FindMigrations(migrations.FS)
	return int32(len(names)), err
}

func migrateConn(ctx context.Context, conn *pgx.Conn, log *slog.Logger) (from, to int32, err error) {
	m, err := migrate.NewMigrator(ctx, conn, versionTable)
	if err != nil {
		return 0, 0, fmt.Errorf("storage: migrate: %w", err)
	}
	if err := m.LoadMigrations(migrations.FS); err != nil {
		return 0, 0, fmt.Errorf("storage: load migrations: %w", err)
	}
	from, err = m.GetCurrentVersion(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("storage: migrate: %w", err)
	}
	latest := int32(len(m.Migrations))
	if from > latest {
		return from, from, tooNew(from, latest)
	}
	m.OnStart = func(seq int32, name, _, _ string) {
		log.Info("applying migration", "version", seq, "name", name)
	}
	if err := m.Migrate(ctx); err != nil {
		var bad migrate.BadVersionError
		if errors.As(err, &bad) {
			// Another binary migrated past us between the check and the lock.
			if v, verr := m.GetCurrentVersion(ctx); verr == nil && v > latest {
				return v, v, tooNew(v, latest)
			}
		}
		return from, 0, fmt.Errorf("storage: migrate: %w", err)
	}
	return from, latest, nil
}

func tooNew(db, binary int32) error {
	return fmt.Errorf("storage: %w: the database is at schema version %d but this binary knows only up to %d; run a newer veil (downgrades are not supported)", ErrSchemaTooNew, db, binary)
}

// checkVersion refuses a database newer than this binary without
// migrating.
func (db *DB) checkVersion(ctx context.Context) error {
	return checkVersionOn(ctx, db.pool)
}

// rowQuerier is a pool or a connection.
type rowQuerier interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}

func checkVersionOn(ctx context.Context, q rowQuerier) error {
	latest, err := SchemaVersion()
	if err != nil {
		return err
	}
	var v int32
	err = q.QueryRow(ctx, "SELECT version FROM "+versionTable).Scan(&v)
	if err != nil {
		return fmt.Errorf("storage: read schema version (run `veil migrate`): %w", err)
	}
	if v > latest {
		return tooNew(v, latest)
	}
	if v < latest {
		return fmt.Errorf("storage: database schema version %d is older than this binary's %d: run `veil migrate`", v, latest)
	}
	return nil
}

func connectURL(ctx context.Context, url string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.ConnectTimeout = cmp.Or(cfg.ConnectTimeout, 5*time.Second)
	return pgx.ConnectConfig(ctx, cfg)
}
