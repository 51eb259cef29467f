-- Strata migration 8: stream_hash
-- Generated from Strata's Effect migrations by npm run migrations:write; a test keeps the two equal.
-- Records itself in strata_migrations, so a store started later does not apply it again.

CREATE TABLE IF NOT EXISTS strata_migrations (id integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL);

CREATE FUNCTION strata_stream_hash(p_stream text) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
  bytes bytea := convert_to(p_stream, 'UTF8');
  h bigint := 2166136261;
BEGIN
  FOR i IN 0 .. length(bytes) - 1 LOOP
    h := ((h # get_byte(bytes, i)) * 16777619) & 4294967295;
  END LOOP;
  RETURN h;
END
$$;

ALTER TABLE strata_events ADD COLUMN stream_hash bigint GENERATED ALWAYS AS (strata_stream_hash(stream)) STORED;

INSERT INTO strata_migrations (id, name, applied_at) VALUES (8, 'stream_hash', CURRENT_TIMESTAMP);
