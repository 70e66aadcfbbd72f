-- Operating it (issue 20 §7).
--
-- audit_log records every state-changing admin call: who (the token's name
-- from the token file, never the token), what (the call) and on what (a
-- schema name and version, a key id). It is the operator's record, not
-- telemetry: it holds no event content.
CREATE TABLE audit_log (
	at     timestamptz NOT NULL DEFAULT now(),
	actor  text        NOT NULL CHECK (length(actor) BETWEEN 1 AND 64),
	action text        NOT NULL CHECK (length(action) BETWEEN 1 AND 64),
	target text        NOT NULL CHECK (length(target) <= 256)
);
CREATE INDEX audit_log_at ON audit_log (at);

-- A disabled schema version refuses new events (reason schema_disabled);
-- its rows and releases stay. Kept apart from schemas, whose rows are
-- immutable. The statement that inserts a row checks that the schema
-- exists (storage.SetSchemaDisabled); no foreign key, which the Citus plan
-- in docs/scaling.md avoids.
CREATE TABLE schema_disabled (
	name        text        NOT NULL,
	version     integer     NOT NULL,
	disabled_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (name, version)
);
