-- Strata migration 1: create_event_store
-- Generated from Strata's Effect migrations by npm run migrations:write; a test keeps the two equal.
-- Records itself in strata_migrations, so a store started later does not apply it again.

CREATE TABLE IF NOT EXISTS strata_migrations (id integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL);

CREATE TABLE strata_streams (
  stream TEXT PRIMARY KEY,
  last_version INTEGER NOT NULL DEFAULT -1,
  deleted INTEGER NOT NULL DEFAULT 0,
  tombstoned INTEGER NOT NULL DEFAULT 0,
  truncate_before INTEGER,
  max_count INTEGER,
  max_age_ms INTEGER
);

CREATE TABLE strata_events (
  position INTEGER PRIMARY KEY AUTOINCREMENT,
  event_id TEXT NOT NULL UNIQUE,
  stream TEXT NOT NULL,
  version INTEGER NOT NULL,
  category TEXT NOT NULL,
  type TEXT NOT NULL,
  data TEXT NOT NULL,
  metadata TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  UNIQUE (stream, version)
);

CREATE INDEX strata_events_type_position ON strata_events (type, position);

CREATE INDEX strata_events_category_position ON strata_events (category, position);

CREATE TABLE strata_snapshots (
  stream TEXT PRIMARY KEY,
  version INTEGER NOT NULL,
  state TEXT NOT NULL,
  schema_version INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);

CREATE TABLE strata_checkpoints (
  name TEXT PRIMARY KEY,
  position INTEGER NOT NULL
);

CREATE TABLE strata_documents (
  collection TEXT NOT NULL,
  id TEXT NOT NULL,
  version INTEGER NOT NULL,
  data TEXT NOT NULL,
  PRIMARY KEY (collection, id)
);

INSERT INTO strata_migrations (id, name, applied_at) VALUES (1, 'create_event_store', CURRENT_TIMESTAMP);
