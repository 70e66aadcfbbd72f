-- The dedup key claims (INSERT ... ON CONFLICT ... RETURNING, one per
-- request and table in every writer group) paid for a second btree insert
-- into each table's expires_at index, at a random place for the key and at
-- the right edge for the expiry, which only the periodic retention DELETE
-- reads.
--
-- enc_hashes holds the replay window (10 minutes by default) of requests:
-- retention scans it without an index.
DROP INDEX enc_hashes_expires_at;

-- batch_keys holds the dedup horizon (7 days by default), too many rows to
-- scan each retention run. Keys expire in about the order they are
-- inserted (a fixed horizon from the commit time), so a BRIN index finds
-- the expired ranges; it costs the writer next to nothing (pages appended
-- since the last summary are not summarized until VACUUM, and are always
-- scanned).
DROP INDEX batch_keys_expires_at;
CREATE INDEX batch_keys_expires_at ON batch_keys USING brin (expires_at);
