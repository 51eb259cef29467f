/**
 * The schema, as migrations per dialect, and the Effect that applies them.
 *
 * The same statements are checked in under `migrations/<dialect>/` for DBAs and for
 * `wrangler d1 migrations apply`; a test keeps the two equal. Runs are safe when several processes
 * start at once: each run holds the dialect's migration lock (PostgreSQL: an advisory lock;
 * SQLite: the write transaction) and applies only what `strata_migrations` lacks.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import type { Dialect, Migration } from "./Dialect.ts"

/**
 * The bookkeeping table, created before anything else.
 *
 * @category constants
 * @since 0.1.0
 */
export const ledger =
  "CREATE TABLE IF NOT EXISTS strata_migrations (id integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL)"

/**
 * PostgreSQL: events in `json` (exact text, including \u0000), documents in `jsonb`.
 *
 * @category migrations
 * @since 0.1.0
 */
export const postgres: ReadonlyArray<Migration> = [
  {
    id: 1,
    name: "create_event_store",
    statements: [
      `CREATE TABLE strata_streams (
  stream text PRIMARY KEY,
  last_version bigint NOT NULL DEFAULT -1,
  deleted boolean NOT NULL DEFAULT false,
  tombstoned boolean NOT NULL DEFAULT false,
  truncate_before bigint,
  max_count bigint,
  max_age_ms bigint
)`,
      `CREATE TABLE strata_events (
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
)`,
      "CREATE INDEX strata_events_type_position ON strata_events (type, position)",
      "CREATE INDEX strata_events_category_position ON strata_events (category, position)",
      `CREATE TABLE strata_snapshots (
  stream text PRIMARY KEY,
  version bigint NOT NULL,
  state json NOT NULL,
  schema_version integer NOT NULL,
  created_at timestamptz NOT NULL
)`,
      `CREATE TABLE strata_checkpoints (
  name text PRIMARY KEY,
  position bigint NOT NULL
)`,
      `CREATE TABLE strata_documents (
  collection text NOT NULL,
  id text NOT NULL,
  version bigint NOT NULL,
  data jsonb NOT NULL,
  PRIMARY KEY (collection, id)
)`
    ]
  }
]

/**
 * SQLite and D1: JSON as text, times as epoch milliseconds, AUTOINCREMENT so positions are never reused.
 *
 * @category migrations
 * @since 0.1.0
 */
export const sqlite: ReadonlyArray<Migration> = [
  {
    id: 1,
    name: "create_event_store",
    statements: [
      `CREATE TABLE strata_streams (
  stream TEXT PRIMARY KEY,
  last_version INTEGER NOT NULL DEFAULT -1,
  deleted INTEGER NOT NULL DEFAULT 0,
  tombstoned INTEGER NOT NULL DEFAULT 0,
  truncate_before INTEGER,
  max_count INTEGER,
  max_age_ms INTEGER
)`,
      `CREATE TABLE strata_events (
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
)`,
      "CREATE INDEX strata_events_type_position ON strata_events (type, position)",
      "CREATE INDEX strata_events_category_position ON strata_events (category, position)",
      `CREATE TABLE strata_snapshots (
  stream TEXT PRIMARY KEY,
  version INTEGER NOT NULL,
  state TEXT NOT NULL,
  schema_version INTEGER NOT NULL,
  created_at INTEGER NOT NULL
)`,
      `CREATE TABLE strata_checkpoints (
  name TEXT PRIMARY KEY,
  position INTEGER NOT NULL
)`,
      `CREATE TABLE strata_documents (
  collection TEXT NOT NULL,
  id TEXT NOT NULL,
  version INTEGER NOT NULL,
  data TEXT NOT NULL,
  PRIMARY KEY (collection, id)
)`
    ]
  }
]

/**
 * One migration as a plain SQL file (what `migrations/<dialect>/NNNN_name.sql` holds).
 *
 * @category rendering
 * @since 0.1.0
 */
export const render = (migration: Migration): string =>
  `-- Strata migration ${migration.id}: ${migration.name}\n` +
  `-- Generated from packages/sql/src/Migrations.ts; a test keeps this file equal to it.\n\n` +
  migration.statements.map((statement) => `${statement};\n`).join("\n")

/**
 * The file name of a migration: `0001_create_event_store.sql`.
 *
 * @category rendering
 * @since 0.1.0
 */
export const fileName = (migration: Migration): string =>
  `${String(migration.id).padStart(4, "0")}_${migration.name}.sql`

/**
 * Applies the pending migrations of `dialect`, each in its own transaction under the migration
 * lock. Returns the ids it applied (empty when the schema was already current).
 *
 * @category migrations
 * @since 0.1.0
 */
export const run = (dialect: Dialect): Effect.Effect<ReadonlyArray<number>, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const applied: Array<number> = []
    for (const migration of dialect.migrations) {
      const done = yield* sql.withTransaction(Effect.gen(function*() {
        yield* dialect.lockMigrations(sql)
        yield* sql.unsafe(ledger)
        const rows = yield* sql<{ id: unknown }>`SELECT id FROM strata_migrations WHERE id = ${migration.id}`
        if (rows.length > 0) return false
        for (const statement of migration.statements) yield* sql.unsafe(statement)
        yield* sql`INSERT INTO strata_migrations (id, name, applied_at) VALUES (${migration.id}, ${migration.name}, ${
          new Date().toISOString()
        })`
        return true
      }))
      if (done) applied.push(migration.id)
    }
    return applied
  }).pipe(Effect.withSpan("strata.migrate", { attributes: { "strata.dialect": dialect.name } }))
