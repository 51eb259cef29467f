// Snapshots (the latest per stream, kept as JSON text so a loaded state is a fresh copy) and consumer
// checkpoints (a position per name, restored when the unit of work that saved it rolls back).
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Inputs from "../../backend/Inputs.ts"
import type { EventStoreShape } from "../../EventStore.ts"
import * as StreamName from "../../StreamName.ts"
import type { MemoryContext } from "./context.ts"

export const make = (ctx: MemoryContext) => {
  const { checkpoints, journal, snapshots } = ctx.state

  const saveSnapshot: EventStoreShape["saveSnapshot"] = (stream, snapshot) =>
    Effect.gen(function*() {
      yield* StreamName.make(stream)
      const version = yield* Inputs.bigint("saveSnapshot", "version", snapshot.version)
      const schemaVersion = snapshot.schemaVersion ?? 1
      const state = yield* Inputs.snapshotState(snapshot.state, schemaVersion)
      const createdAt = new Date(yield* Clock.currentTimeMillis)
      snapshots.set(stream, { version, state, schemaVersion, createdAt })
    })

  const loadSnapshot: EventStoreShape["loadSnapshot"] = (stream) =>
    Effect.gen(function*() {
      yield* StreamName.make(stream)
      const snapshot = snapshots.get(stream)
      return snapshot === undefined ? Option.none() : Option.some({
        stream,
        version: snapshot.version,
        state: JSON.parse(snapshot.state),
        schemaVersion: snapshot.schemaVersion,
        createdAt: snapshot.createdAt
      })
    })

  const saveCheckpoint: EventStoreShape["saveCheckpoint"] = (name, position) =>
    Effect.gen(function*() {
      yield* Inputs.checkpointName("saveCheckpoint", name)
      const next = yield* Inputs.bigint("saveCheckpoint", "position", position)
      const previous = checkpoints.get(name)
      checkpoints.set(name, next)
      // Inside a unit of work (a consumer's batch), a rollback restores the previous checkpoint.
      const undo = yield* journal
      undo?.push(() => previous === undefined ? checkpoints.delete(name) : checkpoints.set(name, previous))
    })

  const loadCheckpoint: EventStoreShape["loadCheckpoint"] = (name) =>
    Effect.map(Inputs.checkpointName("loadCheckpoint", name), (name) => Option.fromUndefinedOr(checkpoints.get(name)))

  return { saveSnapshot, loadSnapshot, saveCheckpoint, loadCheckpoint }
}
