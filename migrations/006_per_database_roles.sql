-- Least privilege per database (issue 22, §3).
--
-- Migration 001 granted this database's privileges to veil_writer and
-- veil_reader, roles shared by every database of the cluster: a tenant with
-- CREATEROLE on one database could SET ROLE veil_writer in another's and
-- forge rollups or delete dedup keys. Roles are now per database, named
-- from it and created with their grants after every migration run
-- (storage.ProvisionRoles; not here, because a database cloned from a
-- migrated template must get roles of its own). This migration takes the
-- shared roles' privileges on this database away; the roles themselves may
-- still serve other databases, so they stay.
DO $$
DECLARE
	r text;
BEGIN
	FOREACH r IN ARRAY ARRAY['veil_writer', 'veil_reader'] LOOP
		IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
			EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA public FROM %I', r);
			EXECUTE format('REVOKE ALL ON ALL FUNCTIONS IN SCHEMA public FROM %I', r);
		END IF;
	END LOOP;
END
$$;

-- Day partitions are created by veil_ensure_event_partition, so they belong
-- to the owner; the service, which does not own them, drops expired ones
-- through this function, which can drop a day partition of events and
-- nothing else.
CREATE FUNCTION veil_drop_event_partition(day date) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	part text := 'events_' || to_char(day, 'YYYYMMDD');
BEGIN
	IF EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
			WHERE i.inhparent = 'public.events'::regclass AND c.relname = part
				AND c.relnamespace = 'public'::regnamespace) THEN
		-- IF EXISTS: another replica's retention may drop it first.
		EXECUTE format('DROP TABLE IF EXISTS public.%I', part);
	END IF;
END
$$;
REVOKE ALL ON FUNCTION veil_drop_event_partition(date) FROM PUBLIC;
