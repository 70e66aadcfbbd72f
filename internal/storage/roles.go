package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Roles are the PostgreSQL roles of one veil database. Roles belong to the
// whole cluster while privileges belong to a database, so every database
// gets roles of its own (RolesFor): a login or role of one database is
// nothing in another, and no tenant of a shared cluster can SET ROLE to
// another's writer.
//
// The privileges, granted by ProvisionRoles and nothing else:
//
//	Writer   NOLOGIN  INSERT on events (COPY); SELECT, INSERT, UPDATE on
//	                  rollups and ingest_outcomes; SELECT, INSERT, UPDATE,
//	                  DELETE on the dedup keys (batch_keys, enc_hashes);
//	                  EXECUTE veil_ensure_event_partition.
//	Reader   NOLOGIN  SELECT on rollups, ingest_outcomes and schemas only:
//	                  not the key ring, not the dedup keys, not events.
//	Service  the service's login: NOSUPERUSER NOCREATEROLE NOCREATEDB
//	                  NOREPLICATION NOBYPASSRLS, a member of Writer and
//	                  Reader, CONNECT on its database (PUBLIC has none);
//	                  on its own what the key store, the schema registry
//	                  and retention need: SELECT, INSERT, UPDATE on key_ring
//	                  and key_signers;
//	                  SELECT, INSERT on schemas; DELETE on rollups and
//	                  ingest_outcomes; EXECUTE veil_drop_event_partition;
//	                  SELECT on the schema version.
//
// The tables belong to the role that runs the migrations (the owner), which
// the service uses only while it migrates. The writer's transactions and
// the aggregate queries run under SET LOCAL ROLE Writer/Reader, so even the
// service's own statements there cannot reach the key ring.
type Roles struct {
	Writer  string
	Reader  string
	Service string
}

// maxIdentifier is PostgreSQL's longest identifier (NAMEDATALEN - 1).
const maxIdentifier = 63

// RolesFor names the roles of database: veil_writer_<database>,
// veil_reader_<database> and veil_service_<database>. A name that would
// exceed PostgreSQL's 63 bytes keeps the database name's first bytes and
// ends in 16 hex digits of its SHA-256, so distinct databases never share
// a role.
func RolesFor(database string) Roles {
	return Roles{
		Writer:  roleName("writer", database),
		Reader:  roleName("reader", database),
		Service: roleName("service", database),
	}
}

func roleName(kind, database string) string {
	prefix := "veil_" + kind + "_"
	if len(prefix)+len(database) <= maxIdentifier {
		return prefix + database
	}
	sum := sha256.Sum256([]byte(database))
	tag := "_" + hex.EncodeToString(sum[:8])
	keep := database[:maxIdentifier-len(prefix)-len(tag)]
	for !utf8.ValidString(keep) {
		keep = keep[:len(keep)-1]
	}
	return prefix + keep + tag
}

// ErrCannotProvision reports a migrating login that may not create roles
// or grant privileges. With one credential for migrations and service
// (see Config.MigrationURL) the service then runs without role separation.
var ErrCannotProvision = errors.New("storage: this login may not create veil's database roles")

// ProvisionOptions says what ProvisionRoles does with the service login.
type ProvisionOptions struct {
	// Login makes the service role a login (it is created NOLOGIN
	// otherwise, and an existing role's LOGIN is left alone).
	Login bool
	// Password, when not empty, becomes the service login's password
	// (stored as a SCRAM-SHA-256 verifier; it never reaches the server in
	// clear).
	Password string
	// Self also makes the connected (migrating) login a member of the
	// writer and reader roles, for one credential that migrates and
	// serves. Only for that case: it is the weaker setup.
	Self bool
}

// ProvisionRoles creates the per-database roles of url's database where
// missing (see Roles), gives them exactly their privileges, revokes CONNECT
// and TEMPORARY on the database from PUBLIC, and returns their names. url
// must log in as the database's owner (who ran the migrations) with
// CREATEROLE, or as a superuser. Running it again is a no-op.
func ProvisionRoles(ctx context.Context, url string, opts ProvisionOptions) (Roles, error) {
	conn, err := connectURL(ctx, url)
	if err != nil {
		return Roles{}, fmt.Errorf("storage: provision roles: %w", err)
	}
	defer conn.Close(context.Background())
	return provisionRoles(ctx, conn, opts)
}

// provisionLock serializes provisioning of one database (advisory locks are
// per database): replicas starting together each provision.
const provisionLock = 7204963122

func provisionRoles(ctx context.Context, conn *pgx.Conn, opts ProvisionOptions) (Roles, error) {
	var roles Roles
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(provisionLock)); err != nil {
			return err
		}
		var database, self string
		var super, owner bool
		err := tx.QueryRow(ctx, `SELECT current_database(), current_user,
			(SELECT rolsuper FROM pg_roles WHERE rolname = current_user),
			pg_has_role(current_user, (SELECT datdba FROM pg_database WHERE datname = current_database()), 'USAGE')`).
			Scan(&database, &self, &super, &owner)
		if err != nil {
			return err
		}
		roles = RolesFor(database)
		if self == roles.Service {
			return fmt.Errorf("storage: provision roles: logged in as the service login %s, which must not own or migrate the database: use the owner's credential", self)
		}
		if !super && !owner {
			return fmt.Errorf("%w: %s neither owns database %s nor is a superuser, so it cannot revoke CONNECT from PUBLIC", ErrCannotProvision, self, database)
		}
		for _, r := range []string{roles.Writer, roles.Reader, roles.Service} {
			if err := ensureRole(ctx, tx, r); err != nil {
				return err
			}
		}
		id := func(s string) string { return pgx.Identifier{s}.Sanitize() }
		w, r, s, db := id(roles.Writer), id(roles.Reader), id(roles.Service), id(database)
		stmts := []string{
			"GRANT " + w + ", " + r + " TO " + s,
			"REVOKE ALL ON DATABASE " + db + " FROM PUBLIC",
			"GRANT CONNECT ON DATABASE " + db + " TO " + s,
			// PostgreSQL before 15 let PUBLIC create in schema public.
			"REVOKE CREATE ON SCHEMA public FROM PUBLIC",
			"GRANT USAGE ON SCHEMA public TO " + w + ", " + r + ", " + s,
			// Exactly these privileges, whatever was granted before.
			"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM " + w + ", " + r + ", " + s,
			"REVOKE ALL ON ALL FUNCTIONS IN SCHEMA public FROM " + w + ", " + r + ", " + s,
			"GRANT INSERT ON events TO " + w,
			"GRANT SELECT, INSERT, UPDATE ON rollups, ingest_outcomes TO " + w,
			"GRANT SELECT, INSERT, UPDATE, DELETE ON batch_keys, enc_hashes TO " + w,
			"GRANT EXECUTE ON FUNCTION veil_ensure_event_partition(date) TO " + w,
			"GRANT SELECT ON rollups, ingest_outcomes, schemas TO " + r,
			"GRANT SELECT, INSERT, UPDATE ON key_ring TO " + s,
			"GRANT SELECT, INSERT, UPDATE ON key_signers TO " + s,
			"GRANT SELECT, INSERT ON schemas TO " + s,
			"GRANT SELECT, INSERT ON audit_log TO " + s,
			"GRANT SELECT, INSERT, DELETE ON schema_disabled TO " + s,
			"GRANT DELETE ON rollups, ingest_outcomes TO " + s,
			"GRANT EXECUTE ON FUNCTION veil_drop_event_partition(date) TO " + s,
			"GRANT SELECT ON " + versionTable + " TO " + s,
		}
		if opts.Self && !super {
			stmts = append(stmts, "GRANT "+w+", "+r+" TO "+id(self))
		}
		for _, q := range stmts {
			if _, err := tx.Exec(ctx, q); err != nil {
				return provisionError(q, err)
			}
		}
		if opts.Login || opts.Password != "" {
			q := "ALTER ROLE " + s + " LOGIN"
			if opts.Password != "" {
				v, err := scramVerifier(opts.Password)
				if err != nil {
					return err
				}
				q += " PASSWORD " + quoteLiteral(v)
			}
			if _, err := tx.Exec(ctx, q); err != nil {
				// Never the statement: it holds the verifier.
				return provisionError("ALTER ROLE "+s+" LOGIN PASSWORD …", err)
			}
		}
		return nil
	})
	return roles, err
}

// ensureRole creates role NOLOGIN when missing, and refuses an existing one
// with any power beyond its grants.
func ensureRole(ctx context.Context, tx pgx.Tx, role string) error {
	var super, createRole, createDB, replication, bypassRLS bool
	err := tx.QueryRow(ctx, `SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls
		FROM pg_roles WHERE rolname = $1`, role).Scan(&super, &createRole, &createDB, &replication, &bypassRLS)
	if errors.Is(err, pgx.ErrNoRows) {
		q := "CREATE ROLE " + pgx.Identifier{role}.Sanitize() + " NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
		if _, err := tx.Exec(ctx, q); err != nil {
			return provisionError(q, err)
		}
		return nil
	}
	if err != nil {
		return err
	}
	var extra []string
	for _, a := range []struct {
		on   bool
		name string
	}{{super, "SUPERUSER"}, {createRole, "CREATEROLE"}, {createDB, "CREATEDB"}, {replication, "REPLICATION"}, {bypassRLS, "BYPASSRLS"}} {
		if a.on {
			extra = append(extra, a.name)
		}
	}
	if len(extra) > 0 {
		return fmt.Errorf("storage: role %s has %s, which veil's roles must not have: ALTER ROLE %s NO%s",
			role, strings.Join(extra, ", "), pgx.Identifier{role}.Sanitize(), strings.Join(extra, " NO"))
	}
	return nil
}

func provisionError(stmt string, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42501" { // insufficient_privilege
		return fmt.Errorf("%w (%s: %s): migrate as the database owner with CREATEROLE, or as a superuser", ErrCannotProvision, stmt, pe.Message)
	}
	return fmt.Errorf("storage: provision roles: %s: %w", stmt, err)
}

// quoteLiteral quotes s as an SQL string literal (standard_conforming_strings
// is on in every supported PostgreSQL).
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
