-- Spent Privacy Pass tokens (issue 21), dedup material under the storage
-- rules: the value is a keyed hash of the token's nonce (HMAC with a key
-- kept outside PostgreSQL), the only time is the start of the redemption
-- window the token was issued for (a day or coarser unit, never an arrival
-- time), and nothing links a row to the batch that spent it. A token can be
-- redeemed only in its own window and the next, so partitions (one per UTC
-- day of window_start) older than that are dropped whole.
CREATE TABLE spent_tokens (
	window_start timestamptz NOT NULL,
	hash         bytea       NOT NULL CHECK (octet_length(hash) BETWEEN 1 AND 64),
	PRIMARY KEY (window_start, hash)
) PARTITION BY RANGE (window_start);

CREATE FUNCTION veil_ensure_spent_partition(day date) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	part text := 'spent_tokens_' || to_char(day, 'YYYYMMDD');
BEGIN
	IF to_regclass('public.' || quote_ident(part)) IS NOT NULL THEN
		RETURN;
	END IF;
	EXECUTE format(
		'CREATE TABLE IF NOT EXISTS public.%I PARTITION OF public.spent_tokens FOR VALUES FROM (%L) TO (%L)',
		part,
		to_char(day, 'YYYY-MM-DD') || ' 00:00:00+00',
		to_char(day + 1, 'YYYY-MM-DD') || ' 00:00:00+00');
EXCEPTION
	WHEN duplicate_table OR unique_violation THEN
		RETURN;
END
$$;
REVOKE ALL ON FUNCTION veil_ensure_spent_partition(date) FROM PUBLIC;

CREATE FUNCTION veil_drop_spent_partition(day date) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	part text := 'spent_tokens_' || to_char(day, 'YYYYMMDD');
BEGIN
	IF EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
			WHERE i.inhparent = 'public.spent_tokens'::regclass AND c.relname = part
				AND c.relnamespace = 'public'::regnamespace) THEN
		EXECUTE format('DROP TABLE IF EXISTS public.%I', part);
	END IF;
END
$$;
REVOKE ALL ON FUNCTION veil_drop_spent_partition(date) FROM PUBLIC;
