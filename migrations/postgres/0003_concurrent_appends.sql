-- Strata migration 3: concurrent_appends
-- Generated from Strata's Effect migrations by npm run migrations:write; a test keeps the two equal.
-- Records itself in strata_migrations, so a store started later does not apply it again.

CREATE TABLE IF NOT EXISTS strata_migrations (id integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL);

CREATE FUNCTION strata_lock_space() RETURNS bigint LANGUAGE sql STABLE AS $$
  -- 15 bits from the events table's oid, so two schemas in one database rarely share a space
  -- (sharing one only makes each wait for the other's appends in flight, never skip).
  SELECT ('strata_events'::regclass::oid::bigint % 32767) + 1
$$;

CREATE FUNCTION strata_announce() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  below bigint;
BEGIN
  SELECT last_value INTO below FROM strata_events_position_seq;
  IF below >= 281474976710655 THEN
    RAISE EXCEPTION 'strata: the global position space (2^48) is exhausted';
  END IF;
  PERFORM pg_advisory_xact_lock_shared((strata_lock_space() << 48) | below);
END
$$;

CREATE FUNCTION strata_horizon(OUT settled bigint, OUT pending boolean) LANGUAGE plpgsql AS $$
DECLARE
  issued bigint;
  lowest bigint;
  space bigint := strata_lock_space();
BEGIN
  -- The sequence first, then the locks: an appender that announces after the sequence was read
  -- takes a position above it.
  SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END INTO issued
  FROM strata_events_position_seq;
  SELECT min(((l.classid::bigint << 32) | l.objid::bigint) & 281474976710655) INTO lowest
  FROM pg_locks l
  WHERE l.locktype = 'advisory' AND l.objsubid = 1
    AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
    AND (l.classid::bigint >> 16) = space;
  settled := least(issued, lowest);
  pending := lowest IS NOT NULL AND lowest < issued;
END
$$;

CREATE OR REPLACE FUNCTION strata_append(
  p_stream text,
  p_category text,
  p_expected text,
  p_ids uuid[],
  p_types text[],
  p_data json[],
  p_metadata json[],
  p_created_at timestamptz
) RETURNS TABLE (outcome text, actual bigint, last_version bigint, last_position bigint)
LANGUAGE plpgsql AS $$
DECLARE
  s strata_streams%ROWTYPE;
  base bigint;
  current_version bigint;
  event_count bigint := cardinality(p_ids);
  position_reached bigint;
BEGIN
  LOOP
    IF p_expected IN ('any', 'no_stream') THEN
      INSERT INTO strata_streams AS t (stream, last_version) VALUES (p_stream, event_count - 1)
      ON CONFLICT (stream) DO UPDATE SET last_version = t.last_version + event_count, deleted = false
      WHERE NOT t.tombstoned AND (
      p_expected = 'any'
      OR (p_expected = 'no_stream' AND (t.deleted OR t.last_version < 0))
      OR (p_expected = 'stream_exists' AND NOT t.deleted AND t.last_version >= 0)
      OR (NOT t.deleted AND t.last_version >= 0 AND p_expected = t.last_version::text)
    )
      RETURNING t.last_version - event_count INTO base;
    ELSE
      UPDATE strata_streams AS t SET last_version = t.last_version + event_count, deleted = false
      WHERE t.stream = p_stream AND NOT t.tombstoned AND (
      p_expected = 'any'
      OR (p_expected = 'no_stream' AND (t.deleted OR t.last_version < 0))
      OR (p_expected = 'stream_exists' AND NOT t.deleted AND t.last_version >= 0)
      OR (NOT t.deleted AND t.last_version >= 0 AND p_expected = t.last_version::text)
    )
      RETURNING t.last_version - event_count INTO base;
    END IF;
    EXIT WHEN FOUND;
    SELECT * INTO s FROM strata_streams WHERE stream = p_stream;
    IF FOUND THEN
      IF s.tombstoned THEN
        RETURN QUERY SELECT 'tombstoned'::text, NULL::bigint, NULL::bigint, NULL::bigint;
        RETURN;
      END IF;
      current_version := CASE WHEN s.deleted OR s.last_version < 0 THEN NULL ELSE s.last_version END;
      -- The row may have been created by another append since the UPDATE looked: if it passes the
      -- check now, go round and move it; only a row that fails the check is a conflict.
      CONTINUE WHEN p_expected = 'any'
        OR (p_expected = 'no_stream' AND current_version IS NULL)
        OR (p_expected = 'stream_exists' AND current_version IS NOT NULL)
        OR p_expected = current_version::text;
      RETURN QUERY SELECT 'conflict'::text, current_version, NULL::bigint, NULL::bigint;
      RETURN;
    END IF;
    -- A new stream: only 'any' and 'no_stream' accept one.
    IF p_expected NOT IN ('any', 'no_stream') THEN
      RETURN QUERY SELECT 'conflict'::text, NULL::bigint, NULL::bigint, NULL::bigint;
      RETURN;
    END IF;
    INSERT INTO strata_streams (stream, last_version) VALUES (p_stream, event_count - 1)
    ON CONFLICT (stream) DO NOTHING;
    IF FOUND THEN
      base := -1;
      EXIT;
    END IF;
    -- Another append created the stream meanwhile: its row exists now, so go round once more.
  END LOOP;
  PERFORM strata_announce();
  WITH inserted AS (
    INSERT INTO strata_events (event_id, stream, version, category, type, data, metadata, created_at)
    -- Arrays, not one JSON document: json_array_elements would reject \u0000 in the data.
    SELECT e.id, p_stream, base + e.ordinality, p_category, e.type, e.data, e.metadata, p_created_at
    FROM unnest(p_ids, p_types, p_data, p_metadata) WITH ORDINALITY AS e (id, type, data, metadata, ordinality)
    RETURNING position
  )
  SELECT max(position) INTO position_reached FROM inserted;
  RETURN QUERY SELECT 'ok'::text, NULL::bigint, base + event_count, position_reached;
END
$$;

INSERT INTO strata_migrations (id, name, applied_at) VALUES (3, 'concurrent_appends', CURRENT_TIMESTAMP);
