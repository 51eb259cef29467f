// Snapshots and checkpoints, in Strata-owned system streams (`$strata-snapshot-<stream>`,
// `$strata-checkpoint-<name>`) capped at one event by `$maxCount: 1`: the last event is the value.
import { Event, type EventStore, StreamName } from "@strata/core"
import { Inputs } from "@strata/core/backend"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { ClientFailure } from "../KurrentClient.ts"
import { failureOf, type KurrentContext } from "./context.ts"
import type { KurrentEvents } from "./shape.ts"

const snapshotStream = (stream: string) => `$strata-snapshot-${stream}`
const checkpointStream = (name: string) => `$strata-checkpoint-${name}`
const snapshotType = "$strata.snapshot"
const snapshotDroppedType = "$strata.snapshot-dropped"
const checkpointType = "$strata.checkpoint"

/** Hides a stream's snapshot, if it has one, behind a marker event: a deleted stream keeps no snapshot. */
export const dropSnapshot = (ctx: KurrentContext, stream: string) =>
  ctx.call((client) =>
    client.appendToStream(snapshotStream(stream), [{
      id: Event.makeEventId(),
      contentType: "application/json",
      type: snapshotDroppedType,
      data: {}
    } as never], { streamState: "stream_exists" })
  ).pipe(
    Effect.asVoid,
    Effect.catchTag(
      "ClientFailure",
      (failure) =>
        failure.type === "wrong-expected-version" ? Effect.void : Effect.fail(ctx.unavailable("deleteStream", failure))
    )
  )

export const make = (ctx: KurrentContext) => {
  const { call, lastEvent, unavailable } = ctx

  const writeOwned: KurrentEvents["writeOwned"] = (operation, target, type, data) =>
    call((client) =>
      client.appendToStream(target, [{ id: Event.makeEventId(), contentType: "application/json", type, data } as never])
    ).pipe(
      Effect.flatMap((result): Effect.Effect<void, ClientFailure> =>
        // The first write of an owned stream caps it at one event.
        result.nextExpectedRevision === 0n
          ? Effect.asVoid(call((client) => client.setStreamMetadata(target, { maxCount: 1 })))
          : Effect.void
      ),
      Effect.asVoid,
      Effect.catchTag("ClientFailure", (failure) => Effect.fail(unavailable(operation, failure)))
    )

  const readOwned: KurrentEvents["readOwned"] = (operation, target) =>
    Effect.map(lastEvent(operation, target), (event) => Option.getOrUndefined(event)?.event).pipe(
      Effect.catchTag("StreamDeleted", (error) => Effect.fail(unavailable(operation, failureOf(error))))
    )

  const saveSnapshot: EventStore.EventStoreShape["saveSnapshot"] = (stream, snapshot) =>
    Effect.gen(function*() {
      yield* StreamName.make(stream)
      const version = yield* Inputs.bigint("saveSnapshot", "version", snapshot.version)
      const schemaVersion = snapshot.schemaVersion ?? 1
      const state = yield* Inputs.snapshotState(snapshot.state, schemaVersion)
      yield* writeOwned("saveSnapshot", snapshotStream(stream), snapshotType, {
        version: version.toString(),
        state,
        schemaVersion,
        createdAt: new Date().toISOString()
      })
    })

  const loadSnapshot: EventStore.EventStoreShape["loadSnapshot"] = (stream) =>
    Effect.gen(function*() {
      yield* StreamName.make(stream)
      const event = yield* readOwned("loadSnapshot", snapshotStream(stream))
      if (event === undefined || event.type !== snapshotType) return Option.none()
      const data = event.data as { version: string; state: string; schemaVersion: number; createdAt: string }
      return Option.some({
        stream,
        version: BigInt(data.version),
        state: JSON.parse(data.state),
        schemaVersion: data.schemaVersion,
        createdAt: new Date(data.createdAt)
      })
    })

  const saveCheckpoint: EventStore.EventStoreShape["saveCheckpoint"] = (name, position) =>
    Effect.gen(function*() {
      yield* Inputs.checkpointName("saveCheckpoint", name)
      const at = yield* Inputs.bigint("saveCheckpoint", "position", position)
      yield* writeOwned("saveCheckpoint", checkpointStream(name), checkpointType, { position: at.toString() })
    })

  const loadCheckpoint: EventStore.EventStoreShape["loadCheckpoint"] = (name) =>
    Effect.gen(function*() {
      yield* Inputs.checkpointName("loadCheckpoint", name)
      const event = yield* readOwned("loadCheckpoint", checkpointStream(name))
      return event === undefined ? Option.none() : Option.some(BigInt((event.data as { position: string }).position))
    })

  return { writeOwned, readOwned, saveSnapshot, loadSnapshot, saveCheckpoint, loadCheckpoint }
}
