-- Strata migration 1: create_event_store
-- Generated from Strata's Effect migrations by npm run migrations:write; a test keeps the two equal.
-- Records itself in strata_migrations, so a store started later does not apply it again.

CREATE TABLE IF NOT EXISTS strata_migrations (id integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL);

CREATE TABLE strata_streams (
  stream text PRIMARY KEY,
  last_version bigint NOT NULL DEFAULT -1,
  deleted boolean NOT NULL DEFAULT false,
  tombstoned boolean NOT NULL DEFAULT false,
  truncate_before bigint,
  max_count bigint,
  max_age_ms bigint
);

CREATE TABLE strata_events (
  position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  event_id uuid NOT NULL UNIQUE,
  stream text NOT NULL,
  version bigint NOT NULL,
  category text NOT NULL,
  type text NOT NULL,
  data json NOT NULL,
  metadata json NOT NULL,
  created_at timestamptz NOT NULL,
  UNIQUE (stream, version)
);

CREATE INDEX strata_events_type_position ON strata_events (type, position);

CREATE INDEX strata_events_category_position ON strata_events (category, position);

CREATE TABLE strata_snapshots (
  stream text PRIMARY KEY,
  version bigint NOT NULL,
  state json NOT NULL,
  schema_version integer NOT NULL,
  created_at timestamptz NOT NULL
);

CREATE TABLE strata_checkpoints (
  name text PRIMARY KEY,
  position bigint NOT NULL
);

CREATE TABLE strata_documents (
  collection text NOT NULL,
  id text NOT NULL,
  version bigint NOT NULL,
  data jsonb NOT NULL,
  PRIMARY KEY (collection, id)
);

INSERT INTO strata_migrations (id, name, applied_at) VALUES (1, 'create_event_store', CURRENT_TIMESTAMP);
