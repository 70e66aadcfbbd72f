-- veil initial schema.
--
-- Privacy (DESIGN.md, invariant 3): no table that holds event data has a
-- serial or time-ordered id or a batch id; stored time is the server's
-- receive bucket; dedup keys live in their own tables, apart from the rows.

-- Raw events, one row per accepted event, partitioned by UTC day of the
-- receive bucket so retention drops whole partitions.
--
-- Layout decision (jsonb vs typed columns), measured with
-- BenchmarkEventLayout in storage/ (2 cores, fsync on, COPY of 10k-row
-- groups; see the comment there for the figures): typed columns are faster
-- per row, but event schemas are registered at run time, so typed columns
-- mean DDL per schema version (or a wide sparse table). jsonb keeps one
-- table, the difference is small next to the rest of the commit, and
-- rollups (below) serve the queries. No index: COPY speed matters more, and
-- raw rows are read by whole day partitions.
CREATE TABLE events (
	bucket         timestamptz NOT NULL,
	schema_name    text        NOT NULL,
	schema_version integer     NOT NULL,
	dims           jsonb       NOT NULL,
	measures       jsonb       NOT NULL
) PARTITION BY RANGE (bucket);

-- Hourly rollups, upserted in the writer's transaction from a group that is
-- pre-aggregated in memory. dims is the event's full dimension set.
CREATE TABLE rollups (
	hour           timestamptz NOT NULL,
	schema_name    text        NOT NULL,
	schema_version integer     NOT NULL,
	dims           jsonb       NOT NULL,
	count          bigint      NOT NULL,
	PRIMARY KEY (schema_name, schema_version, hour, dims)
);
CREATE INDEX rollups_hour ON rollups (hour);

-- Per-measure statistics of a rollup row. n counts the events that carried
-- the measure (measures may be optional), so mean = sum / n.
CREATE TABLE rollup_measures (
	hour           timestamptz      NOT NULL,
	schema_name    text             NOT NULL,
	schema_version integer          NOT NULL,
	dims           jsonb            NOT NULL,
	measure        text             NOT NULL,
	n              bigint           NOT NULL,
	sum            double precision NOT NULL,
	min            double precision NOT NULL,
	max            double precision NOT NULL,
	PRIMARY KEY (schema_name, schema_version, hour, dims, measure)
);
CREATE INDEX rollup_measures_hour ON rollup_measures (hour);

-- Ingest outcomes: counts per hour, schema, outcome and reason code. Never
-- a value.
CREATE TABLE ingest_outcomes (
	hour           timestamptz NOT NULL,
	schema_name    text        NOT NULL,
	schema_version integer     NOT NULL,
	outcome        text        NOT NULL CHECK (outcome IN ('accepted', 'rejected')),
	reason         text        NOT NULL DEFAULT '',
	count          bigint      NOT NULL,
	PRIMARY KEY (hour, schema_name, schema_version, outcome, reason)
);

-- Dedup keys. batch_keys holds each applied batch's idempotency key for the
-- dedup horizon; enc_hashes holds sha256(enc) of each applied encapsulated
-- request for the replay window. Neither says which rows a batch wrote.
CREATE TABLE batch_keys (
	key        bytea       PRIMARY KEY CHECK (octet_length(key) BETWEEN 1 AND 64),
	expires_at timestamptz NOT NULL
);
CREATE INDEX batch_keys_expires_at ON batch_keys (expires_at);

CREATE TABLE enc_hashes (
	hash       bytea       PRIMARY KEY CHECK (octet_length(hash) BETWEEN 1 AND 64),
	expires_at timestamptz NOT NULL
);
CREATE INDEX enc_hashes_expires_at ON enc_hashes (expires_at);

-- Schema registry. A version, once registered, is immutable.
CREATE TABLE schemas (
	name       text        NOT NULL,
	version    integer     NOT NULL CHECK (version > 0),
	document   bytea       NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (name, version)
);

CREATE FUNCTION veil_schemas_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'schema versions are immutable'
		USING ERRCODE = 'integrity_constraint_violation';
END
$$;

CREATE TRIGGER schemas_immutable BEFORE UPDATE OR DELETE ON schemas
	FOR EACH ROW EXECUTE FUNCTION veil_schemas_immutable();

-- OHTTP key ring. config is the RFC 9458 key configuration (public);
-- sealed_secret is nonce || AES-256-GCM(master key, private key, AAD = key
-- id), never the key in clear; it is wiped when the key is retired.
CREATE TABLE key_ring (
	id            smallint    PRIMARY KEY CHECK (id BETWEEN 0 AND 255),
	kem           integer     NOT NULL CHECK (kem BETWEEN 0 AND 65535),
	config        bytea       NOT NULL,
	sealed_secret bytea,
	state         text        NOT NULL CHECK (state IN ('current', 'active', 'retired')),
	created_at    timestamptz NOT NULL,
	retire_after  timestamptz,
	CHECK (state = 'retired' OR sealed_secret IS NOT NULL)
);
CREATE UNIQUE INDEX key_ring_one_current ON key_ring (kem) WHERE state = 'current';

-- Day partitions of events. SECURITY DEFINER so the writer role can make
-- sure a partition exists without owning the table; it can do nothing else.
CREATE FUNCTION veil_ensure_event_partition(day date) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	part text := 'events_' || to_char(day, 'YYYYMMDD');
BEGIN
	IF to_regclass('public.' || quote_ident(part)) IS NOT NULL THEN
		RETURN;
	END IF;
	EXECUTE format(
		'CREATE TABLE IF NOT EXISTS public.%I PARTITION OF public.events FOR VALUES FROM (%L) TO (%L)',
		part,
		to_char(day, 'YYYY-MM-DD') || ' 00:00:00+00',
		to_char(day + 1, 'YYYY-MM-DD') || ' 00:00:00+00');
EXCEPTION
	-- Another session created it first.
	WHEN duplicate_table OR unique_violation THEN
		RETURN;
END
$$;
REVOKE ALL ON FUNCTION veil_ensure_event_partition(date) FROM PUBLIC;

-- Least-privilege group roles (NOLOGIN). The service connects as the
-- migration owner and switches with SET LOCAL ROLE per transaction when its
-- login role is a member (always on the managed server):
--   veil_writer: INSERT into events (COPY), INSERT/UPDATE rollups, outcomes
--                and dedup keys (SELECT where ON CONFLICT/RETURNING need it);
--   veil_reader: SELECT on the query tables only.
-- Roles are cluster-wide: when the migrating user may not create roles, the
-- roles are skipped and the service runs with its own privileges.
DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'veil_writer') THEN
		CREATE ROLE veil_writer NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'veil_reader') THEN
		CREATE ROLE veil_reader NOLOGIN;
	END IF;
EXCEPTION
	WHEN insufficient_privilege THEN
		RAISE NOTICE 'veil: cannot create roles veil_writer/veil_reader; running without role separation';
	WHEN duplicate_object OR unique_violation THEN
		NULL; -- created concurrently by a migration of another database
END
$$;

DO $$
BEGIN
	IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'veil_writer') THEN
		GRANT INSERT ON events TO veil_writer;
		GRANT SELECT, INSERT, UPDATE ON rollups, rollup_measures, ingest_outcomes TO veil_writer;
		GRANT SELECT, INSERT, UPDATE, DELETE ON batch_keys, enc_hashes TO veil_writer;
		GRANT EXECUTE ON FUNCTION veil_ensure_event_partition(date) TO veil_writer;
	END IF;
	IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'veil_reader') THEN
		GRANT SELECT ON rollups, rollup_measures, ingest_outcomes, schemas TO veil_reader;
	END IF;
	IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
		BEGIN
			EXECUTE format('GRANT veil_writer, veil_reader TO %I', current_user);
		EXCEPTION WHEN OTHERS THEN
			RAISE NOTICE 'veil: cannot grant veil_writer/veil_reader to %', current_user;
		END;
	END IF;
END
$$;
