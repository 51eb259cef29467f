-- Strata migration 4: tight_announcement
-- Generated from Strata's Effect migrations by npm run migrations:write; a test keeps the two equal.
-- Records itself in strata_migrations, so a store started later does not apply it again.

CREATE TABLE IF NOT EXISTS strata_migrations (id integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL);

CREATE OR REPLACE FUNCTION strata_announce() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  below bigint;
BEGIN
  SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END INTO below FROM strata_events_position_seq;
  IF below >= 281474976710655 THEN
    RAISE EXCEPTION 'strata: the global position space (2^48) is exhausted';
  END IF;
  PERFORM pg_advisory_xact_lock_shared((strata_lock_space() << 48) | below);
END
$$;

ALTER SEQUENCE strata_events_position_seq MAXVALUE 281474976710655;

INSERT INTO strata_migrations (id, name, applied_at) VALUES (4, 'tight_announcement', CURRENT_TIMESTAMP);
