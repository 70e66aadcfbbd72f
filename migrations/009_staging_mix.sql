-- Acknowledge durably, then mix (issue 15; DESIGN.md data flow steps 6-8,
-- invariant 3).
--
-- Events are no longer stored one row each: the writer's acknowledge
-- transaction stores one sealed staging row per request (its events
-- pre-aggregated into partial rollup cells, AES-GCM under a per-interval
-- key kept in a file outside PostgreSQL) and keyed hashes of its dedup
-- keys; the mixer folds staged requests into the rollups in one shuffled
-- transaction of at least k requests (or at a bucket's end) and drops
-- their staging partition. The existing rollups already hold every event's
-- count and statistics (the previous writer upserted them with the rows),
-- so no queryable count or sum depends on the events table: its day
-- partitions are no longer written and are left to retention.

-- Per-measure histograms of a rollup cell (internal/loghist), for
-- percentiles: for each name of measure_names in order, a varint length
-- and the histogram's encoding. Empty for cells written before this
-- migration; a histogram counting fewer values than its measure's n (a
-- cell that also holds earlier events) yields no percentile.
ALTER TABLE rollups ADD COLUMN measure_hists bytea NOT NULL DEFAULT ''::bytea;

-- One row per acknowledged request not yet mixed. interval_id is the Unix
-- time of the start of the mix interval whose key sealed the row; key_id
-- names that key's file. Partitions are per interval and dropped whole by
-- the mixer, never deleted row by row.
CREATE TABLE staging (
	interval_id bigint NOT NULL,
	key_id      bytea  NOT NULL CHECK (octet_length(key_id) = 16),
	sealed      bytea  NOT NULL
) PARTITION BY LIST (interval_id);
-- Keep the sealed payload in the row (it is incompressible ciphertext, a
-- few kilobytes): out-of-line TOAST storage would add chunk rows and index
-- entries to every acknowledge transaction. Partitions inherit this.
ALTER TABLE staging ALTER COLUMN sealed SET STORAGE MAIN;

CREATE FUNCTION veil_ensure_staging_partition(iv bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	part text := 'staging_' || iv::text;
BEGIN
	IF iv < 0 THEN
		RAISE EXCEPTION 'negative interval';
	END IF;
	IF to_regclass('public.' || quote_ident(part)) IS NOT NULL THEN
		RETURN;
	END IF;
	EXECUTE format('CREATE TABLE IF NOT EXISTS public.%I PARTITION OF public.staging FOR VALUES IN (%s)', part, iv);
EXCEPTION
	WHEN duplicate_table OR unique_violation THEN
		RETURN;
END
$$;
REVOKE ALL ON FUNCTION veil_ensure_staging_partition(bigint) FROM PUBLIC;

-- veil_take_staging_partition locks interval iv's partition until the end
-- of the calling transaction, waiting for acknowledge transactions that
-- are inserting into it and keeping new ones out, so the mixer reads every
-- row it will drop. It returns false when the partition does not exist.
CREATE FUNCTION veil_take_staging_partition(iv bigint) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	part text := 'staging_' || iv::text;
BEGIN
	IF to_regclass('public.' || quote_ident(part)) IS NULL THEN
		RETURN false;
	END IF;
	EXECUTE format('LOCK TABLE public.%I IN ACCESS EXCLUSIVE MODE', part);
	RETURN true;
END
$$;
REVOKE ALL ON FUNCTION veil_take_staging_partition(bigint) FROM PUBLIC;

-- The mixer empties a partition it took with TRUNCATE, in its transaction
-- (a lock on the partition alone), and drops it afterwards in a
-- transaction of its own: DROP locks the parent table too, and taking that
-- lock while holding partition locks could deadlock with a reader of the
-- parent or an acknowledge transaction at an interval's end.
CREATE FUNCTION veil_truncate_staging_partition(iv bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	EXECUTE format('TRUNCATE public.%I', 'staging_' || iv::text);
END
$$;
REVOKE ALL ON FUNCTION veil_truncate_staging_partition(bigint) FROM PUBLIC;

-- veil_drop_staging_partition drops interval iv's partition if it is empty
-- and reports whether it is gone: a late acknowledge transaction may have
-- written to it after the mix; its rows wait for the next mix (and its key
-- file stays).
CREATE FUNCTION veil_drop_staging_partition(iv bigint) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	part text := 'staging_' || iv::text;
	nonempty boolean;
BEGIN
	IF to_regclass('public.' || quote_ident(part)) IS NULL THEN
		RETURN true;
	END IF;
	EXECUTE format('LOCK TABLE public.staging IN ACCESS EXCLUSIVE MODE');
	EXECUTE format('SELECT EXISTS (SELECT 1 FROM public.%I)', part) INTO nonempty;
	IF nonempty THEN
		RETURN false;
	END IF;
	EXECUTE format('DROP TABLE public.%I', part);
	RETURN true;
END
$$;
REVOKE ALL ON FUNCTION veil_drop_staging_partition(bigint) FROM PUBLIC;

-- Dedup material: HMAC-SHA256 under a key derived from the master key of
-- (kind, value), never the value; kind 0 is a batch id, 1 an OHTTP enc,
-- others are claims callers add (Batch.Claims). expires_at is rounded up
-- to the hour, so it says nothing finer about when a request came.
CREATE TABLE dedup_claims (
	kind       smallint    NOT NULL CHECK (kind >= 0),
	hash       bytea       NOT NULL CHECK (octet_length(hash) = 32),
	expires_at timestamptz NOT NULL,
	PRIMARY KEY (kind, hash)
);
CREATE INDEX dedup_claims_expires_at ON dedup_claims USING brin (expires_at);

-- batch_keys and enc_hashes (raw values) are converted to dedup_claims by
-- the writer at start (it holds the hashing key) and emptied; they stay
-- until a later migration drops them.
