-- Strata migration 2: append_function
-- Generated from packages/sql/src/Migrations.ts; a test keeps this file equal to it.
-- Records itself in strata_migrations, so a store started later does not apply it again.

CREATE TABLE IF NOT EXISTS strata_migrations (id integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL);

CREATE FUNCTION strata_append(
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
  current_version bigint;
  event_count bigint := cardinality(p_ids);
  position_reached bigint;
BEGIN
  INSERT INTO strata_streams (stream) VALUES (p_stream) ON CONFLICT (stream) DO NOTHING;
  SELECT * INTO s FROM strata_streams WHERE stream = p_stream FOR UPDATE;
  IF s.tombstoned THEN
    RETURN QUERY SELECT 'tombstoned'::text, NULL::bigint, NULL::bigint, NULL::bigint;
    RETURN;
  END IF;
  current_version := CASE WHEN s.deleted OR s.last_version < 0 THEN NULL ELSE s.last_version END;
  IF NOT (
    p_expected = 'any'
    OR (p_expected = 'no_stream' AND current_version IS NULL)
    OR (p_expected = 'stream_exists' AND current_version IS NOT NULL)
    OR (current_version IS NOT NULL AND p_expected = current_version::text)
  ) THEN
    RETURN QUERY SELECT 'conflict'::text, current_version, NULL::bigint, NULL::bigint;
    RETURN;
  END IF;
  PERFORM pg_advisory_xact_lock(126943972389985);
  WITH inserted AS (
    INSERT INTO strata_events (event_id, stream, version, category, type, data, metadata, created_at)
    -- Arrays, not one JSON document: json_array_elements would reject \u0000 in the data.
    SELECT e.id, p_stream, s.last_version + e.ordinality, p_category, e.type, e.data, e.metadata, p_created_at
    FROM unnest(p_ids, p_types, p_data, p_metadata) WITH ORDINALITY AS e (id, type, data, metadata, ordinality)
    RETURNING position
  )
  SELECT max(position) INTO position_reached FROM inserted;
  UPDATE strata_streams SET last_version = s.last_version + event_count, deleted = false WHERE stream = p_stream;
  PERFORM pg_notify('strata_events', '');
  RETURN QUERY SELECT 'ok'::text, NULL::bigint, s.last_version + event_count, position_reached;
END
$$;

INSERT INTO strata_migrations (id, name, applied_at) VALUES (2, 'append_function', CURRENT_TIMESTAMP);
