-- Releases (DESIGN.md, invariant 4): the only form in which aggregates leave
-- the server. Written by internal/release; a cell, once released, is never
-- redrawn, so repeated or shifted queries cannot average its noise away.

-- One release of one bucket of a schema version: seq 1-3 provisional (the
-- open bucket), the final one once the bucket is settled. epsilon is this
-- release's ε as an exact fraction ("1/6"); params holds its public
-- parameters (noise scales, clamp ranges, bins, partition threshold).
CREATE TABLE releases (
	schema_name    text        NOT NULL,
	schema_version integer     NOT NULL,
	bucket         timestamptz NOT NULL,
	seq            smallint    NOT NULL CHECK (seq BETWEEN 1 AND 4),
	final          boolean     NOT NULL,
	epsilon        text        NOT NULL,
	mix_epoch      bigint      NOT NULL,
	params         jsonb       NOT NULL,
	released_at    timestamptz NOT NULL,
	PRIMARY KEY (schema_name, schema_version, bucket, seq)
);
CREATE UNIQUE INDEX releases_one_final ON releases (schema_name, schema_version, bucket) WHERE final;
CREATE INDEX releases_bucket ON releases (bucket);

-- The released cells: noisy values only. cell is the JSON array of the
-- grouping's dimension values; sums holds one noisy clamped sum per measure
-- (in params' measure order), hists the measures' noisy histogram bins one
-- after the other.
CREATE TABLE release_cells (
	schema_name    text        NOT NULL,
	schema_version integer     NOT NULL,
	bucket         timestamptz NOT NULL,
	seq            smallint    NOT NULL,
	grouping       text        NOT NULL,
	cell           text        NOT NULL,
	count          bigint      NOT NULL,
	sums           bigint[]    NOT NULL,
	hists          bigint[]    NOT NULL,
	PRIMARY KEY (schema_name, schema_version, bucket, seq, grouping, cell)
);
-- No foreign key to releases (the Citus plan in docs/scaling.md avoids
-- them): release.Releaser's prune deletes a release's cells with it.

-- The ε ledger: per bucket, the budget and what its releases spent, as
-- exact fractions. A release charges it in the transaction that stores the
-- release, under this row's lock, and a charge past the budget is refused.
CREATE TABLE release_ledger (
	schema_name    text        NOT NULL,
	schema_version integer     NOT NULL,
	bucket         timestamptz NOT NULL,
	budget         text        NOT NULL,
	spent          text        NOT NULL,
	releases       smallint    NOT NULL DEFAULT 0,
	PRIMARY KEY (schema_name, schema_version, bucket)
);
CREATE INDEX release_ledger_bucket ON release_ledger (bucket);
