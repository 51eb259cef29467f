-- Strata migration 6: event_tags
-- Generated from Strata's Effect migrations by npm run migrations:write; a test keeps the two equal.
-- Records itself in strata_migrations, so a store started later does not apply it again.

CREATE TABLE IF NOT EXISTS strata_migrations (id integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL);

ALTER TABLE strata_events ADD COLUMN tags TEXT;

CREATE TABLE strata_event_tags (
  tag TEXT NOT NULL,
  position INTEGER NOT NULL,
  type TEXT NOT NULL,
  PRIMARY KEY (tag, position)
) WITHOUT ROWID;

INSERT INTO strata_migrations (id, name, applied_at) VALUES (6, 'event_tags', CURRENT_TIMESTAMP);
