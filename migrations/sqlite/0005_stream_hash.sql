-- Strata migration 5: stream_hash
-- Generated from Strata's Effect migrations by npm run migrations:write; a test keeps the two equal.
-- Records itself in strata_migrations, so a store started later does not apply it again.

CREATE TABLE IF NOT EXISTS strata_migrations (id integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL);

ALTER TABLE strata_events ADD COLUMN stream_hash INTEGER;

CREATE TABLE strata_stream_hash_backfill (stream TEXT PRIMARY KEY, hash INTEGER NOT NULL);

WITH RECURSIVE h (stream, bytes, i, hash) AS (
  SELECT stream, hex(CAST(stream AS BLOB)), 0, 2166136261 FROM (SELECT DISTINCT stream FROM strata_events)
  UNION ALL
  SELECT stream, bytes, i + 1, (((hash | ((instr('0123456789ABCDEF', substr(bytes, 2 * i + 1, 1)) - 1) * 16 + instr('0123456789ABCDEF', substr(bytes, 2 * i + 2, 1)) - 1)) - (hash & ((instr('0123456789ABCDEF', substr(bytes, 2 * i + 1, 1)) - 1) * 16 + instr('0123456789ABCDEF', substr(bytes, 2 * i + 2, 1)) - 1))) * 16777619) & 4294967295
  FROM h WHERE 2 * i < length(bytes)
)
INSERT INTO strata_stream_hash_backfill (stream, hash) SELECT stream, hash FROM h WHERE 2 * i = length(bytes);

UPDATE strata_events SET stream_hash =
  (SELECT hash FROM strata_stream_hash_backfill AS b WHERE b.stream = strata_events.stream);

DROP TABLE strata_stream_hash_backfill;

INSERT INTO strata_migrations (id, name, applied_at) VALUES (5, 'stream_hash', CURRENT_TIMESTAMP);
