// Snapshots (the latest per stream) and consumer checkpoints (a position per name).
import { type EventStore, StreamName } from "@strata/core"
import { Inputs } from "@strata/core/backend"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Rows from "../Rows.ts"
import type { StoreContext } from "./context.ts"

const decodeSnapshot = Rows.decodeFirst(Rows.SnapshotRow)
const decodePosition = Rows.decodeFirst(Schema.Struct({ position: Rows.Int64 }))

export const make = (ctx: StoreContext) => {
  const { bigintInput, dialect, sql, unavailable } = ctx

  const saveSnapshot: EventStore.EventStoreShape["saveSnapshot"] = (stream, snapshot) =>
    Effect.gen(function*() {
      yield* StreamName.make(stream)
      const version = yield* bigintInput("saveSnapshot", "version", snapshot.version)
      const schemaVersion = snapshot.schemaVersion ?? 1
      const state = yield* Inputs.snapshotState(snapshot.state, schemaVersion)
      const now = yield* Clock.currentTimeMillis
      yield* sql`INSERT INTO strata_snapshots ${
        sql.insert({ stream, version, state, schema_version: schemaVersion, created_at: dialect.time(now) })
      } ON CONFLICT (stream) DO UPDATE SET version = excluded.version, state = excluded.state,
        schema_version = excluded.schema_version, created_at = excluded.created_at`.pipe(
        Effect.catchTag("SqlError", unavailable("saveSnapshot"))
      )
    })

  const loadSnapshot: EventStore.EventStoreShape["loadSnapshot"] = (stream) =>
    Effect.gen(function*() {
      yield* StreamName.make(stream)
      const row = yield* decodeSnapshot(
        sql`SELECT version, state, schema_version, created_at FROM strata_snapshots WHERE stream = ${stream}`
      ).pipe(Effect.catchTag("SqlError", unavailable("loadSnapshot")))
      return row === undefined ? Option.none() : Option.some({
        stream,
        version: row.version,
        state: dialect.decodeJson(row.state),
        schemaVersion: Number(row.schema_version),
        createdAt: dialect.decodeTime(row.created_at)
      })
    })

  const saveCheckpoint: EventStore.EventStoreShape["saveCheckpoint"] = (name, position) =>
    Effect.gen(function*() {
      yield* Inputs.checkpointName("saveCheckpoint", name)
      const at = yield* bigintInput("saveCheckpoint", "position", position)
      yield* sql`INSERT INTO strata_checkpoints ${
        sql.insert({ name, position: at })
      } ON CONFLICT (name) DO UPDATE SET position = excluded.position`.pipe(
        Effect.catchTag("SqlError", unavailable("saveCheckpoint"))
      )
    })

  const loadCheckpoint: EventStore.EventStoreShape["loadCheckpoint"] = (name) =>
    Effect.gen(function*() {
      yield* Inputs.checkpointName("loadCheckpoint", name)
      const row = yield* decodePosition(sql`SELECT position FROM strata_checkpoints WHERE name = ${name}`).pipe(
        Effect.catchTag("SqlError", unavailable("loadCheckpoint"))
      )
      return row === undefined ? Option.none() : Option.some(row.position)
    })

  return { saveSnapshot, loadSnapshot, saveCheckpoint, loadCheckpoint }
}
