package storage

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	// URL is a PostgreSQL connection URL. When empty, Open starts the
	// managed local server in DataDir.
	URL string
	// DataDir is veil's data directory, for the managed server.
	DataDir string
	// MaxConns bounds the pool (0: 8).
	MaxConns int32
	// ConnectTimeout bounds each connection attempt (0: 3s), so a database
	// outage is noticed fast.
	ConnectTimeout time.Duration
	// MasterKey seals the key ring's private keys (32 bytes, see
	// LoadOrCreateMasterKey). Key ring methods fail without it.
	MasterKey []byte
	// SkipMigrate opens without applying migrations (the schema version is
	// still checked).
	SkipMigrate bool
	// NoRoles makes the service run with its login role's own privileges
	// even where veil_writer and veil_reader are available.
	NoRoles bool
}

// DB is veil's database handle.
type DB struct {
	pool      *pgxpool.Pool
	local     *LocalServer // nil with an external URL
	log       *slog.Logger
	masterKey []byte
	// writerRole/readerRole are set when the login role may SET ROLE to
	// veil_writer/veil_reader; transactions then switch with SET LOCAL ROLE.
	writerRole, readerRole bool
}

// Open connects (starting the managed server when cfg.URL is empty),
// applies pending migrations, and refuses a database newer than this binary.
func Open(ctx context.Context, cfg Config, logger *slog.Logger) (*DB, error) {
	logger = cmp.Or(logger, slog.New(slog.DiscardHandler))
	if cfg.MaxConns < 0 || cfg.ConnectTimeout < 0 {
		return nil, errors.New("storage: Config.MaxConns and Config.ConnectTimeout must not be negative; leave them 0 for the defaults")
	}
	if cfg.MasterKey != nil && len(cfg.MasterKey) != masterKeySize {
		return nil, fmt.Errorf("storage: master key must be %d bytes, got %d", masterKeySize, len(cfg.MasterKey))
	}
	db := &DB{log: logger, masterKey: cfg.MasterKey}
	url := cfg.URL
	if url == "" {
		local, err := StartLocal(ctx, cfg.DataDir, logger)
		if err != nil {
			return nil, err
		}
		db.local = local
		url = local.URL()
	}
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("storage: database URL: %w", err)
	}
	pcfg.MaxConns = cmp.Or(cfg.MaxConns, defaultMaxConns)
	pcfg.ConnConfig.ConnectTimeout = cmp.Or(cfg.ConnectTimeout, defaultConnectTimeout)
	pcfg.HealthCheckPeriod = 5 * time.Second
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("storage: %w", err)
	}
	db.pool = pool
	if cfg.SkipMigrate {
		err = db.checkVersion(ctx)
	} else {
		err = db.Migrate(ctx)
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	if !cfg.NoRoles {
		err := pool.QueryRow(ctx, `SELECT
			coalesce((SELECT pg_has_role(oid, 'MEMBER') FROM pg_roles WHERE rolname = 'veil_writer'), false),
			coalesce((SELECT pg_has_role(oid, 'MEMBER') FROM pg_roles WHERE rolname = 'veil_reader'), false)`).
			Scan(&db.writerRole, &db.readerRole)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("storage: check roles: %w", err)
		}
	}
	if !db.writerRole || !db.readerRole {
		logger.Warn("least-privilege roles veil_writer/veil_reader not available to this login; running with its own privileges")
	}
	return db, nil
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

// Migrate connects to url and applies pending migrations; applying them
// again is a no-op. It returns the schema versions before and after.
func Migrate(ctx context.Context, url string, logger *slog.Logger) (from, to int32, err error) {
	logger = cmp.Or(logger, slog.New(slog.DiscardHandler))
	conn, err := connectURL(ctx, url)
	if err != nil {
		return 0, 0, fmt.Errorf("storage: migrate: %w", err)
	}
	defer conn.Close(context.Background())
	return migrateConn(ctx, conn, logger)
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
	latest, err := SchemaVersion()
	if err != nil {
		return err
	}
	var v int32
	err = db.pool.QueryRow(ctx, "SELECT version FROM "+versionTable).Scan(&v)
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
