-- Strata migration 5: parked_events
-- Generated from Strata's Effect migrations by npm run migrations:write; a test keeps the two equal.
-- Records itself in strata_migrations, so a store started later does not apply it again.

CREATE TABLE IF NOT EXISTS strata_migrations (id integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL);

CREATE TABLE strata_parked_events (
  consumer text NOT NULL,
  position bigint NOT NULL,
  stream text NOT NULL,
  version bigint NOT NULL,
  event_id text NOT NULL,
  type text NOT NULL,
  error text NOT NULL,
  attempts integer NOT NULL,
  parked_at timestamptz NOT NULL,
  PRIMARY KEY (consumer, position)
);

INSERT INTO strata_migrations (id, name, applied_at) VALUES (5, 'parked_events', CURRENT_TIMESTAMP);
