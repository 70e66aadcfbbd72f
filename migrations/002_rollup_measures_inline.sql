-- Per-measure rollup statistics move into the rollups row: one upsert per
-- dimension set instead of one per dimension set plus one per measure.
--
-- Measured with BenchmarkWriter in storage/ (2 cores, fsync on, 400
-- dimension sets, 2 measures): a 1,000-row group upserted about 1,200
-- rollup rows across rollups and rollup_measures, more than it COPYed; the
-- upserts, not the COPY, bounded the writer at small groups.
--
-- measures maps a measure name to [n, sum, min, max]; n counts the events
-- that carried the measure (measures may be optional), so mean = sum / n.
ALTER TABLE rollups ADD COLUMN measures jsonb NOT NULL DEFAULT '{}'::jsonb;

UPDATE rollups r SET measures = m.stats
FROM (
	SELECT schema_name, schema_version, hour, dims,
		jsonb_object_agg(measure, jsonb_build_array(n, sum, min, max)) AS stats
	FROM rollup_measures
	GROUP BY 1, 2, 3, 4
) m
WHERE r.schema_name = m.schema_name AND r.schema_version = m.schema_version
	AND r.hour = m.hour AND r.dims = m.dims;

DROP TABLE rollup_measures;

-- veil_merge_measures combines two measures objects: n and sum add, min and
-- max take the extreme. The writer's upsert calls it on conflict. Floats go
-- through float8 and back (to_jsonb of a float8 keeps its shortest exact
-- form), so sums round exactly as they did in float8 columns.
CREATE FUNCTION veil_merge_measures(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
	SELECT coalesce(jsonb_object_agg(coalesce(x.key, y.key),
		CASE
			WHEN x.key IS NULL THEN y.value
			WHEN y.key IS NULL THEN x.value
			ELSE jsonb_build_array(
				(x.value->>0)::bigint + (y.value->>0)::bigint,
				(x.value->>1)::float8 + (y.value->>1)::float8,
				least((x.value->>2)::float8, (y.value->>2)::float8),
				greatest((x.value->>3)::float8, (y.value->>3)::float8))
		END), '{}'::jsonb)
	FROM jsonb_each(a) AS x FULL JOIN jsonb_each(b) AS y ON x.key = y.key
$$;
