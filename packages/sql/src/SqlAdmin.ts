/**
 * The StoreAdmin of the SQL backends (PostgreSQL, SQLite, D1): migration status from
 * `strata_migrations`, checkpoints from `strata_checkpoints`, statistics from aggregate queries, and
 * the database size (`pg_database_size`; SQLite's page count times page size).
 *
 * @since 0.1.0
 */
import { StoreAdmin, StoreError } from "@strata/core"
import { Inputs } from "@strata/core/backend"
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import type { Dialect } from "./Dialect.ts"
import * as Migrator from "./Migrator.ts"

// Admin queries are not on a hot path: any database error is reported, never a defect.
const unavailable = (operation: string) => (error: SqlError) =>
  Effect.fail(new StoreError.StoreUnavailable({ operation, reason: error.reason._tag, cause: error }))

const num = (value: unknown): number => Number(value ?? 0)

/**
 * A StoreAdmin over the SqlClient in context.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (dialect: Dialect): Effect.Effect<StoreAdmin.StoreAdminShape, never, SqlClient.SqlClient> =>
  Effect.map(SqlClient.SqlClient, (sql) => {
    const backend = dialect.name

    const ledgerExists = dialect.name === "postgres"
      ? Effect.map(
        sql<{ t: unknown }>`SELECT to_regclass('strata_migrations') AS t`,
        (rows) => rows[0]?.t !== null && rows[0]?.t !== undefined
      )
      : Effect.map(
        sql<
          { n: unknown }
        >`SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'strata_migrations'`,
        (rows) => num(rows[0]?.n) > 0
      )

    const migrationStatus = Effect.gen(function*() {
      const rows = (yield* ledgerExists)
        ? yield* sql<{ id: unknown; name: string; applied_at: unknown }>`
            SELECT id, name, applied_at FROM strata_migrations ORDER BY id`
        : []
      const applied = rows.map((row) => ({ id: num(row.id), name: row.name, appliedAt: String(row.applied_at) }))
      const done = new Set(applied.map(({ id }) => id))
      const pending = dialect.migrations.filter(({ id }) => !done.has(id)).map(({ id, name }) => ({ id, name }))
      return { applied, pending }
    }).pipe(Effect.catchTag("SqlError", unavailable("migrationStatus")), Effect.withSpan("StoreAdmin.migrationStatus"))

    const migrate = Migrator.run(dialect).pipe(
      Effect.provideService(SqlClient.SqlClient, sql),
      Effect.catchTag("SqlError", unavailable("migrate"))
    )

    const checkpoints = Effect.gen(function*() {
      const rows = yield* sql<{ name: string; position: unknown; lag: unknown }>`
        SELECT c.name, c.position,
          (SELECT count(*) FROM strata_events e WHERE e.position > c.position) AS lag
        FROM strata_checkpoints c ORDER BY c.name`
      return rows.map((row) => ({ name: row.name, position: BigInt(row.position as bigint), lag: num(row.lag) }))
    }).pipe(Effect.catchTag("SqlError", unavailable("checkpoints")), Effect.withSpan("StoreAdmin.checkpoints"))

    const deleteCheckpoint = (name: string) =>
      Effect.gen(function*() {
        const checked = yield* Inputs.checkpointName("deleteCheckpoint", name)
        const rows = yield* sql<{ name: string }>`DELETE FROM strata_checkpoints WHERE name = ${checked} RETURNING name`
        return rows.length > 0
      }).pipe(
        Effect.catchTag("SqlError", unavailable("deleteCheckpoint")),
        Effect.withSpan("StoreAdmin.deleteCheckpoint")
      )

    const databaseBytes = (dialect.name === "postgres"
      ? Effect.map(sql<{ n: unknown }>`SELECT pg_database_size(current_database()) AS n`, (rows) => num(rows[0]?.n))
      : Effect.map(
        sql<{ n: unknown }>`SELECT page_count * page_size AS n FROM pragma_page_count(), pragma_page_size()`,
        (rows) => num(rows[0]?.n)
      )).pipe(
        // Not every host allows it (D1 refuses some pragmas): then the size is unknown.
        Effect.catchTag("SqlError", () => Effect.succeed(undefined))
      )

    const counts = (column: "type" | "category") =>
      Effect.map(
        sql<{ k: string; n: unknown }>`SELECT ${sql(column)} AS k, count(*) AS n FROM strata_events GROUP BY ${
          sql(column)
        }`,
        (rows) => StoreAdmin.sortCounts(rows.map((row) => [row.k, num(row.n)] as const))
      )

    const stats = Effect.gen(function*() {
      const [totals] = yield* sql<{ events: unknown; head: unknown }>`
        SELECT count(*) AS events, max(position) AS head FROM strata_events`
      const [streams] = yield* sql<{ n: unknown }>`SELECT count(*) AS n FROM strata_streams`
      return {
        streams: num(streams?.n),
        events: num(totals?.events),
        head: totals?.head === null || totals?.head === undefined ? undefined : BigInt(totals.head as bigint),
        byType: yield* counts("type"),
        byCategory: yield* counts("category"),
        databaseBytes: yield* databaseBytes
      }
    }).pipe(Effect.catchTag("SqlError", unavailable("stats")), Effect.withSpan("StoreAdmin.stats"))

    return StoreAdmin.StoreAdmin.of({ backend, migrationStatus, migrate, checkpoints, deleteCheckpoint, stats })
  })
