/**
 * The parked-events store of the SQL backends: the `strata_parked_events` table (PostgreSQL
 * migration 5, SQLite/D1 migration 3), one row per `(consumer, position)`.
 *
 * Written through the store's SqlClient, so a park inside a consumer's transactional checkpoint
 * commit (PostgreSQL, SQLite) commits or rolls back with the checkpoint, and `settle` runs a replayed
 * handler and the removal in one transaction. D1 has no transactions: there the writes follow each
 * other (a crash between them parks or replays an event again, never loses it).
 *
 * @since 0.1.0
 */
import { ParkedEvents, StoreError } from "@strata/core"
import { Inputs } from "@strata/core/backend"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as SqlClient from "effect/sql/SqlClient"
import { isSqlError } from "effect/sql/SqlError"
import type { Dialect } from "./Dialect.ts"
import * as Rows from "./Rows.ts"
import * as SqlErrorText from "./SqlErrorText.ts"

const ParkedRow = Schema.Struct({
  consumer: Schema.String,
  position: Rows.Int64,
  stream: Schema.String,
  version: Rows.Int64,
  event_id: Schema.String,
  type: Schema.String,
  error: Schema.String,
  attempts: Rows.Int64,
  parked_at: Schema.Unknown
})

const decodeRows = Rows.decodeAll(ParkedRow)
const decodeCount = Rows.decodeFirst(Schema.Struct({ n: Rows.Int64 }))

/**
 * A `ParkedEvents` store over `sql` (the schema must exist: see `Migrator.run`).
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (sql: SqlClient.SqlClient, dialect: Dialect): ParkedEvents.ParkedEventStore => {
  const unavailable = (operation: string) => SqlErrorText.toStoreError(dialect.isTransient, operation)
  const position = (operation: string, value: unknown) =>
    Effect.flatMap(Inputs.bigint(operation, "position", value), (checked) =>
      checked > dialect.maxInteger
        ? Effect.fail(
          new StoreError.InvalidArgument({ operation, detail: `position ${checked} is above ${dialect.maxInteger}` })
        )
        : Effect.succeed(checked))

  const park: ParkedEvents.ParkedEventStore["park"] = (entry) =>
    Effect.gen(function*() {
      yield* Inputs.checkpointName("ParkedEvents.park", entry.consumer)
      const at = yield* position("ParkedEvents.park", entry.position)
      yield* sql`INSERT INTO strata_parked_events ${
        sql.insert({
          consumer: entry.consumer,
          position: at,
          stream: entry.stream,
          version: entry.version,
          event_id: entry.id,
          type: entry.type,
          error: entry.error,
          attempts: entry.attempts,
          parked_at: dialect.time(entry.parkedAt.getTime())
        })
      } ON CONFLICT (consumer, position) DO UPDATE SET error = excluded.error, attempts = excluded.attempts,
        parked_at = excluded.parked_at`.pipe(Effect.catchTag("SqlError", unavailable("ParkedEvents.park")))
    })

  const list: ParkedEvents.ParkedEventStore["list"] = (consumer) =>
    Effect.gen(function*() {
      yield* Inputs.checkpointName("ParkedEvents.list", consumer)
      const rows = yield* decodeRows(
        sql`SELECT consumer, position, stream, version, event_id, type, error, attempts, parked_at
          FROM strata_parked_events WHERE consumer = ${consumer} ORDER BY position`
      ).pipe(Effect.catchTag("SqlError", unavailable("ParkedEvents.list")))
      return rows.map((row): ParkedEvents.ParkedEvent => ({
        consumer: row.consumer,
        position: row.position,
        stream: row.stream,
        version: row.version,
        id: row.event_id,
        type: row.type,
        error: row.error,
        attempts: Number(row.attempts),
        parkedAt: dialect.decodeTime(row.parked_at)
      }))
    })

  const count: ParkedEvents.ParkedEventStore["count"] = (consumer) =>
    Effect.gen(function*() {
      yield* Inputs.checkpointName("ParkedEvents.count", consumer)
      const row = yield* decodeCount(
        sql`SELECT count(*) AS n FROM strata_parked_events WHERE consumer = ${consumer}`
      ).pipe(Effect.catchTag("SqlError", unavailable("ParkedEvents.count")))
      return Number(row?.n ?? 0n)
    })

  const removeRow = (operation: string, consumer: string, at: bigint) =>
    sql<{ position: unknown }>`DELETE FROM strata_parked_events WHERE consumer = ${consumer} AND position = ${at}
      RETURNING position`.pipe(
      Effect.map((rows) => rows.length > 0),
      Effect.catchTag("SqlError", unavailable(operation))
    )

  const remove: ParkedEvents.ParkedEventStore["remove"] = (consumer, value) =>
    Effect.gen(function*() {
      yield* Inputs.checkpointName("ParkedEvents.remove", consumer)
      const at = yield* position("ParkedEvents.remove", value)
      return yield* removeRow("ParkedEvents.remove", consumer, at)
    })

  const settle = <A, X, R>(consumer: string, value: bigint, work: Effect.Effect<A, X, R>) =>
    Effect.gen(function*() {
      yield* Inputs.checkpointName("ParkedEvents.settle", consumer)
      const at = yield* position("ParkedEvents.settle", value)
      const body = Effect.gen(function*() {
        const found = yield* decodeCount(
          sql`SELECT count(*) AS n FROM strata_parked_events WHERE consumer = ${consumer} AND position = ${at}`
        ).pipe(Effect.catchTag("SqlError", unavailable("ParkedEvents.settle")))
        if ((found?.n ?? 0n) === 0n) return yield* ParkedEvents.notParked(consumer, at)
        const result = yield* work
        // A concurrent discard or replay removed it meanwhile: this one fails (and rolls back).
        if (!(yield* removeRow("ParkedEvents.settle", consumer, at))) {
          return yield* ParkedEvents.notParked(consumer, at)
        }
        return result
      })
      return yield* dialect.write._tag === "Batched"
        ? body
        : sql.withTransaction(body).pipe(Effect.catchIf(isSqlError, unavailable("ParkedEvents.settle")))
    })

  return { park, list, count, remove, settle }
}
