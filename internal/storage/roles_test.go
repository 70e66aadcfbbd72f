package storage_test

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/veil-telemetry/veil/internal/storage"
	"github.com/veil-telemetry/veil/internal/storage/storagetest"
)

// querier runs one statement; a pool, a connection or a transaction.
type querier interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}

// refused fails the test unless q refuses stmt for lack of privilege
// (SQLSTATE 42501).
func refused(t *testing.T, ctx context.Context, q querier, what, stmt string) {
	t.Helper()
	_, err := q.Exec(ctx, stmt)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42501" {
		t.Errorf("%s: %q answered %v; want insufficient_privilege (42501)", what, stmt, err)
	}
}

// asRole runs f in a transaction under SET LOCAL ROLE role, rolled back.
func asRole(t *testing.T, ctx context.Context, db *storage.DB, role string, f func(pgx.Tx)) {
	t.Helper()
	tx, err := db.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, "SET LOCAL ROLE "+pgx.Identifier{role}.Sanitize()); err != nil {
		t.Fatalf("SET ROLE %s: %v", role, err)
	}
	f(tx)
}

// TestServiceLoginLeastPrivilege connects as the service's login, as
// `veil serve` does, and shows what it can no longer do: read server files
// (the master key, the admin token), run programs, create roles or
// databases; and that its reader role cannot read the key ring or the
// dedup keys, nor its writer role the key ring.
func TestServiceLoginLeastPrivilege(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	db := storagetest.New(t)
	var database, login string
	var super, createRole, createDB bool
	err := db.Pool().QueryRow(ctx, `SELECT current_database(), current_user, rolsuper, rolcreaterole, rolcreatedb
		FROM pg_roles WHERE rolname = current_user`).Scan(&database, &login, &super, &createRole, &createDB)
	if err != nil {
		t.Fatal(err)
	}
	roles := storage.RolesFor(database)
	if login != roles.Service || super || createRole || createDB {
		t.Fatalf("logged in as %s (superuser %v, createrole %v, createdb %v); want %s with none", login, super, createRole, createDB, roles.Service)
	}
	pool := db.Pool()
	refused(t, ctx, pool, "read a server file", "SELECT pg_read_file('PG_VERSION')")
	refused(t, ctx, pool, "read a server file", "SELECT pg_read_binary_file('postmaster.pid')")
	refused(t, ctx, pool, "list a server directory", "SELECT pg_ls_dir('.')")
	refused(t, ctx, pool, "run a program", "COPY (SELECT 1) TO PROGRAM 'id'")
	refused(t, ctx, pool, "write a server file", "COPY (SELECT 1) TO '/tmp/veil-copy-test'")
	refused(t, ctx, pool, "create a role", "CREATE ROLE veil_intruder")
	refused(t, ctx, pool, "create a database", "CREATE DATABASE veil_intruder")
	refused(t, ctx, pool, "create a table", "CREATE TABLE public.veil_intruder (a int)")
	refused(t, ctx, pool, "read raw events", "SELECT * FROM events")
	refused(t, ctx, pool, "change a schema version", "UPDATE schemas SET document = document")
	refused(t, ctx, pool, "drop a table", "DROP TABLE rollups")

	// One transaction each: a refusal aborts the transaction it is in.
	for _, table := range []string{"key_ring", "key_signers", "batch_keys", "enc_hashes", "events"} {
		asRole(t, ctx, db, roles.Reader, func(tx pgx.Tx) {
			refused(t, ctx, tx, "reader", "SELECT * FROM "+table)
		})
	}
	for _, table := range []string{"key_ring", "key_signers", "events", "schemas"} {
		asRole(t, ctx, db, roles.Writer, func(tx pgx.Tx) {
			refused(t, ctx, tx, "writer", "SELECT * FROM "+table)
		})
	}
	// What the roles are for still works.
	asRole(t, ctx, db, roles.Reader, func(tx pgx.Tx) {
		if _, err := tx.Exec(ctx, "SELECT count(*) FROM rollups, ingest_outcomes, schemas"); err != nil {
			t.Errorf("reader cannot read the aggregates: %v", err)
		}
	})
	// The key store's own needs, on the login itself.
	if _, err := db.ListKeys(ctx); err != nil {
		t.Errorf("key store: %v", err)
	}
}

// TestRolesPerDatabase: two databases of one cluster get distinct roles,
// and neither's service login can connect to the other's database (PUBLIC
// has no CONNECT) or switch to the other's writer.
func TestRolesPerDatabase(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	a, b := storagetest.New(t), storagetest.New(t)
	dbA, dbB := a.Pool().Config().ConnConfig.Database, b.Pool().Config().ConnConfig.Database
	rA, rB := storage.RolesFor(dbA), storage.RolesFor(dbB)
	if rA.Writer == rB.Writer || rA.Reader == rB.Reader || rA.Service == rB.Service {
		t.Fatalf("databases %s and %s share roles: %+v %+v", dbA, dbB, rA, rB)
	}
	// A's login on B's database.
	cfg := a.Pool().Config().ConnConfig.Copy()
	cfg.Database = dbB
	conn, err := pgx.ConnectConfig(ctx, cfg)
	var pe *pgconn.PgError
	if err == nil {
		conn.Close(ctx)
		t.Fatalf("%s connected to database %s", rA.Service, dbB)
	} else if !errors.As(err, &pe) || pe.Code != "42501" {
		t.Fatalf("%s on database %s: %v; want permission denied (42501)", rA.Service, dbB, err)
	}
	refused(t, ctx, a.Pool(), "switch to another database's writer", "SET ROLE "+pgx.Identifier{rB.Writer}.Sanitize())
	var public bool
	if err := storagetest.Owner(t, a).QueryRow(ctx, "SELECT has_database_privilege('public', current_database(), 'CONNECT')").Scan(&public); err != nil || public {
		t.Errorf("PUBLIC may connect to %s (%v)", dbA, err)
	}
}

func TestRolesForNames(t *testing.T) {
	t.Parallel()
	if r := storage.RolesFor("veil"); r.Writer != "veil_writer_veil" || r.Reader != "veil_reader_veil" || r.Service != "veil_service_veil" {
		t.Fatalf("RolesFor(veil) = %+v", r)
	}
	long1 := strings.Repeat("d", 60) + "1"
	long2 := strings.Repeat("d", 60) + "2"
	r1, r2 := storage.RolesFor(long1), storage.RolesFor(long2)
	for _, n := range []string{r1.Writer, r1.Reader, r1.Service, r2.Service} {
		if len(n) > 63 {
			t.Errorf("%q is %d bytes; PostgreSQL keeps 63", n, len(n))
		}
	}
	if r1.Service == r2.Service {
		t.Errorf("long names collide: %q", r1.Service)
	}
	if r := storage.RolesFor(strings.Repeat("é", 30)); !strings.HasPrefix(r.Service, "veil_service_é") || len(r.Service) > 63 {
		t.Errorf("multibyte name: %q", r.Service)
	}
}

// TestManagedServerLeastPrivilege opens the managed server as `veil serve`
// does: the service logs in as its own login, which cannot read the master
// key in the data directory, and every connection needs a password — a
// URL without one (what any local process of the server's user could
// try) is refused, the superuser's included.
func TestManagedServerLeastPrivilege(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	dir := localDir(t)
	keyFile := filepath.Join(dir, "master.key")
	db, err := storage.Open(ctx, storage.Config{DataDir: dir, MasterKeyFile: keyFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var login string
	var super bool
	if err := db.Pool().QueryRow(ctx, "SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&login, &super); err != nil {
		t.Fatal(err)
	}
	if login != storage.RolesFor("veil").Service || super {
		t.Fatalf("the service logs in as %s (superuser %v)", login, super)
	}
	refused(t, ctx, db.Pool(), "read the master key", "SELECT pg_read_binary_file("+quote(keyFile)+")")
	refused(t, ctx, db.Pool(), "run a program", "COPY (SELECT 1) TO PROGRAM 'id'")
	refused(t, ctx, db.Pool(), "create a role", "CREATE ROLE veil_intruder")

	if m, err := statMode(filepath.Join(dir, "postgres-secret")); err != nil || m != 0o600 {
		t.Fatalf("managed PostgreSQL secret: mode %o, %v; want 600", m, err)
	}
	u, err := url.Parse(db.Pool().Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{"veil", login} {
		u.User = url.User(user)
		conn, err := pgx.Connect(ctx, u.String())
		var pe *pgconn.PgError
		if err == nil {
			conn.Close(ctx)
			t.Errorf("%s connected without a password", user)
		} else if !errors.As(err, &pe) || !strings.HasPrefix(pe.Code, "28") {
			t.Errorf("%s without a password: %v; want an authentication failure", user, err)
		}
	}
}

// TestManagedServerTrustUpgrade: a cluster made by a veil that trusted
// every local connection (no secret yet) gets passwords at its next start.
func TestManagedServerTrustUpgrade(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	dir := localDir(t)
	s, err := storage.StartLocal(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// As an old veil left it: no secret, pg_hba.conf trusting.
	if err := os.Remove(filepath.Join(dir, "postgres-secret")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "postgres", "pg_hba.conf"), []byte("local all all trust\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := storage.Open(ctx, storage.Config{DataDir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	u, _ := url.Parse(db.Pool().Config().ConnString())
	u.User = url.User("veil")
	if conn, err := pgx.Connect(ctx, u.String()); err == nil {
		conn.Close(ctx)
		t.Fatal("the superuser connects without a password after the upgrade")
	}
	var n int
	if err := db.Pool().QueryRow(ctx, "SELECT count(*) FROM key_ring").Scan(&n); err != nil {
		t.Fatalf("service login after the upgrade: %v", err)
	}
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
