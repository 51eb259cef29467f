// Stream rows and the stream lifecycle: reading a stream's row (and the window of it a read may
// see), diagnosing why a guarded write changed nothing, streamInfo, soft delete, tombstone and
// retention. Every write here is one guarded statement, atomic without a transaction.
import { type EventStore, ExpectedVersion, StoreError, StreamName } from "@strata/core"
import { Inputs, StreamView } from "@strata/core/backend"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Statement from "effect/sql/Statement"
import * as Rows from "../Rows.ts"
import * as StreamGuard from "../StreamGuard.ts"
import type { StoreContext } from "./context.ts"

/** What StreamView shows of a stream row. */
export const stored = (row: Rows.StreamRow | undefined): StreamView.StoredStream | undefined =>
  row === undefined ? undefined : {
    tombstoned: row.tombstoned,
    deleted: row.deleted,
    lastVersion: StreamGuard.state(row).lastVersion,
    truncateBefore: row.truncate_before ?? undefined,
    maxCount: row.max_count === null ? undefined : Number(row.max_count),
    maxAgeMillis: row.max_age_ms === null ? undefined : Number(row.max_age_ms)
  }

const decodeStream = Rows.decodeFirst(Rows.StreamRow)

export const makeRows = (ctx: StoreContext) => {
  const { sql } = ctx

  const row = (stream: string) => decodeStream(sql`SELECT * FROM strata_streams WHERE stream = ${stream}`)

  // The visible window of a stream now, or the reason it cannot be read.
  const window = (stream: string) =>
    Effect.gen(function*() {
      const found = yield* row(stream)
      if (StreamGuard.tombstoned(found)) {
        return yield* new StoreError.StreamDeleted({ stream, tombstoned: true })
      }
      const view = stored(found)
      const { lastVersion } = StreamGuard.state(found)
      const first = Inputs.firstVisibleVersion(lastVersion, {
        truncateBefore: view?.truncateBefore,
        maxCount: view?.maxCount
      })
      const minTime = view?.maxAgeMillis === undefined
        ? undefined
        : (yield* Clock.currentTimeMillis) - view.maxAgeMillis
      return { lastVersion, first, minTime }
    })

  // After a guarded statement changed nothing: why? Re-read the row and apply the same rules.
  const diagnose = (stream: string, expected: ExpectedVersion.ExpectedVersion) =>
    Effect.map(row(stream), (found) => {
      if (StreamGuard.tombstoned(found)) return new StoreError.StreamDeleted({ stream, tombstoned: true })
      return ExpectedVersion.check(stream, expected, StreamGuard.state(found))
    })

  return { row, window, diagnose }
}

export type StreamRows = ReturnType<typeof makeRows>

export const makeLifecycle = (ctx: StoreContext, rows: StreamRows) => {
  const { sql, unavailable } = ctx
  const decodeAll = Rows.decodeAll(Rows.StreamRow)

  const streamInfo: EventStore.EventStoreShape["streamInfo"] = (stream) =>
    Effect.gen(function*() {
      yield* StreamName.make(stream)
      const found = yield* rows.row(stream).pipe(Effect.catchTag("SqlError", unavailable("streamInfo")))
      return StreamView.info(stream, stored(found))
    })

  const deleteWith = (
    operation: string,
    stream: string,
    deleteOptions: EventStore.AppendOptions | undefined,
    statement: (guard: Statement.Fragment) => Statement.Statement<{ stream: string }>
  ) =>
    Effect.gen(function*() {
      yield* StreamName.make(stream)
      const expected = deleteOptions?.expected ?? ExpectedVersion.any
      const changed = yield* statement(StreamGuard.accepts(sql, expected, "strata_streams."))
      if (changed.length > 0) {
        // A snapshot folds the deleted events: a re-created stream must not start from it.
        yield* sql`DELETE FROM strata_snapshots WHERE stream = ${stream}`
        return
      }
      // Nothing changed: a conflict, a tombstone, or nothing to delete (which `expected` allowed).
      const problem = yield* rows.diagnose(stream, expected)
      if (problem !== undefined) return yield* problem
    }).pipe(Effect.catchTag("SqlError", unavailable(operation)))

  const deleteStream: EventStore.EventStoreShape["deleteStream"] = (stream, deleteOptions) =>
    deleteWith(
      "deleteStream",
      stream,
      deleteOptions,
      (guard) =>
        sql<{ stream: string }>`UPDATE strata_streams SET deleted = ${true}, truncate_before = last_version + 1
        WHERE stream = ${stream} AND NOT tombstoned AND last_version >= 0 AND ${guard} RETURNING stream`
    )

  const tombstoneStream: EventStore.EventStoreShape["tombstoneStream"] = (stream, deleteOptions) => {
    const expected = deleteOptions?.expected ?? ExpectedVersion.any
    // A missing stream may only be tombstoned when `expected` accepts a stream with no events.
    const missingAllowed = ExpectedVersion.matches(expected, { lastVersion: undefined, deleted: false })
    return deleteWith(
      "tombstoneStream",
      stream,
      deleteOptions,
      (guard) =>
        missingAllowed
          ? sql<{ stream: string }>`INSERT INTO strata_streams (stream, tombstoned) VALUES (${stream}, ${true})
            ON CONFLICT (stream) DO UPDATE SET tombstoned = excluded.tombstoned
            WHERE NOT strata_streams.tombstoned AND ${guard} RETURNING stream`
          // An INSERT ... SELECT of no row never reaches ON CONFLICT: update the existing row instead.
          : sql<{ stream: string }>`UPDATE strata_streams SET tombstoned = ${true}
            WHERE stream = ${stream} AND NOT tombstoned AND ${guard} RETURNING stream`
    )
  }

  const setRetention: EventStore.EventStoreShape["setRetention"] = (stream, patch) =>
    Effect.gen(function*() {
      yield* StreamName.make(stream)
      const rules = yield* Inputs.retention(patch)
      const values: Record<string, unknown> = {}
      if (rules.truncateBefore !== undefined) values.truncate_before = rules.truncateBefore
      if (rules.maxCount !== undefined) values.max_count = rules.maxCount
      if (rules.maxAgeMillis !== undefined) values.max_age_ms = rules.maxAgeMillis
      const columns = Object.keys(values)
      const changed = yield* decodeAll(
        columns.length === 0
          ? sql`SELECT * FROM strata_streams WHERE stream = ${stream} AND NOT tombstoned`
          : sql`INSERT INTO strata_streams ${sql.insert({ stream, ...values })}
            ON CONFLICT (stream) DO UPDATE SET ${
            sql.literal(columns.map((column) => `${column} = excluded.${column}`).join(", "))
          } WHERE NOT strata_streams.tombstoned RETURNING *`
      )
      if (changed.length === 0 && StreamGuard.tombstoned(yield* rows.row(stream))) {
        return yield* new StoreError.StreamDeleted({ stream, tombstoned: true })
      }
      return StreamView.retention(stored(changed[0]))
    }).pipe(Effect.catchTag("SqlError", unavailable("setRetention")))

  return { streamInfo, deleteStream, tombstoneStream, setRetention }
}
