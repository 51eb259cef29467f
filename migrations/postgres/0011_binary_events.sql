-- Strata migration 11: binary_events
-- Generated from Strata's Effect migrations by npm run migrations:write; a test keeps the two equal.
-- Records itself in strata_migrations, so a store started later does not apply it again.

CREATE TABLE IF NOT EXISTS strata_migrations (id integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL);

ALTER TABLE strata_events ADD COLUMN content_type text;

ALTER TABLE strata_events ADD COLUMN data_bytes bytea;

INSERT INTO strata_migrations (id, name, applied_at) VALUES (11, 'binary_events', CURRENT_TIMESTAMP);
