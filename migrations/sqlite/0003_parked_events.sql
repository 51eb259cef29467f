-- Strata migration 3: parked_events
-- Generated from Strata's Effect migrations by npm run migrations:write; a test keeps the two equal.
-- Records itself in strata_migrations, so a store started later does not apply it again.

CREATE TABLE IF NOT EXISTS strata_migrations (id integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL);

CREATE TABLE strata_parked_events (
  consumer TEXT NOT NULL,
  position INTEGER NOT NULL,
  stream TEXT NOT NULL,
  version INTEGER NOT NULL,
  event_id TEXT NOT NULL,
  type TEXT NOT NULL,
  error TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  parked_at INTEGER NOT NULL,
  PRIMARY KEY (consumer, position)
);

INSERT INTO strata_migrations (id, name, applied_at) VALUES (3, 'parked_events', CURRENT_TIMESTAMP);
