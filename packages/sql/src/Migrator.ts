/**
 * The migration runner: applies a dialect's migrations (each dialect keeps its own list:
 * `SqliteMigrations` here, `PgMigrations` in `@strata/postgres`) and renders them as plain SQL.
 *
 * The same statements are checked in under `migrations/<dialect>/` for DBAs and for
 * `wrangler d1 migrations apply`; a test keeps the two equal. Runs are safe when several processes
 * start at once: each run holds the dialect's migration lock (PostgreSQL: an advisory lock;
 * SQLite: the write transaction; D1: one atomic batch per migration) and applies only what
 * `strata_migrations` lacks.
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

export type {
  /**
   * A schema migration: statements applied in one transaction (or batch), recorded in `strata_migrations`.
   *
   * @category models
   * @since 0.1.0
   */
  Migration
} from "./Dialect.ts"

/**
 * One migration as a plain SQL file (what `migrations/<dialect>/NNNN_name.sql` holds).
 *
 * @category rendering
 * @since 0.1.0
 */
export const render = (migration: Migration): string =>
  `-- Strata migration ${migration.id}: ${migration.name}\n` +
  `-- Generated from Strata's Effect migrations by npm run migrations:write; a test keeps the two equal.\n` +
  `-- Records itself in strata_migrations, so a store started later does not apply it again.\n\n` +
  [
    ledger,
    ...migration.statements,
    `INSERT INTO strata_migrations (id, name, applied_at) VALUES (${migration.id}, '${migration.name}', CURRENT_TIMESTAMP)`
  ].map((statement) => `${statement};\n`).join("\n")

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
      const { write } = dialect
      if (write._tag === "Batched") {
        if (yield* write.applyMigration(sql, migration)) applied.push(migration.id)
        continue
      }
      const done = yield* sql.withTransaction(Effect.gen(function*() {
        yield* write.lockMigrations(sql)
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
