-- Strata migration 9: event_tags
-- Generated from Strata's Effect migrations by npm run migrations:write; a test keeps the two equal.
-- Records itself in strata_migrations, so a store started later does not apply it again.

CREATE TABLE IF NOT EXISTS strata_migrations (id integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL);

ALTER TABLE strata_events ADD COLUMN tags json;

CREATE TABLE strata_event_tags (
  tag text NOT NULL,
  position bigint NOT NULL,
  type text NOT NULL,
  PRIMARY KEY (tag, position)
);

INSERT INTO strata_migrations (id, name, applied_at) VALUES (9, 'event_tags', CURRENT_TIMESTAMP);
