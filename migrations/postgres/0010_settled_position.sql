-- Strata migration 10: settled_position
-- Generated from Strata's Effect migrations by npm run migrations:write; a test keeps the two equal.
-- Records itself in strata_migrations, so a store started later does not apply it again.

CREATE TABLE IF NOT EXISTS strata_migrations (id integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL);

CREATE TABLE strata_settled (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  position bigint NOT NULL,
  published_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

INSERT INTO strata_settled (position) SELECT settled FROM strata_horizon();

CREATE FUNCTION strata_publish_settled(OUT settled bigint, OUT pending boolean, OUT published bigint)
LANGUAGE plpgsql AS $$
BEGIN
  SELECT h.settled, h.pending INTO settled, pending FROM strata_horizon() h;
  UPDATE strata_settled AS s SET position = settled, published_at = clock_timestamp()
  WHERE s.position < settled
  RETURNING s.position INTO published;
  IF published IS NULL THEN
    SELECT s.position INTO published FROM strata_settled AS s;
  END IF;
END
$$;

INSERT INTO strata_migrations (id, name, applied_at) VALUES (10, 'settled_position', CURRENT_TIMESTAMP);
