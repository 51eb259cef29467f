// Stream reads, global reads and the raw `$all` scan the DocumentStore's queries use. The server applies
// retention and soft deletes to stream reads only; on `$all`, KurrentDB's and Strata's own `$` records
// are filtered out here.
import type { ResolvedEvent } from "@kurrent/kurrentdb-client"
import { END, START } from "@kurrent/kurrentdb-client"
import { type Event, type EventStore, type StoreError, StreamName } from "@strata/core"
import { Inputs } from "@strata/core/backend"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as Codec from "../KurrentCodec.ts"
import { isUserEvent, type KurrentContext, maxRevision } from "./context.ts"
import type { KurrentEvents } from "./shape.ts"

const toRecorded = (stream: Stream.Stream<ResolvedEvent, StoreError.StreamDeleted | StoreError.StoreUnavailable>) =>
  stream.pipe(
    Stream.map(Codec.fromResolved),
    Stream.filter((event): event is Event.RecordedEvent => event !== undefined)
  )

export const make = (ctx: KurrentContext) => {
  const { lastEvent, readAllRaw, readRaw } = ctx

  const read: EventStore.EventStoreShape["read"] = (stream, readOptions) =>
    Stream.unwrap(Effect.gen(function*() {
      const { direction, from, limit } = yield* Inputs.readOptions("read", readOptions)
      yield* StreamName.make(stream)
      if (limit === 0) {
        // Still refuse a tombstoned stream, as every backend does.
        yield* lastEvent("read", stream)
        return Stream.empty
      }
      return toRecorded(readRaw("read", stream, { from, backwards: direction === "backwards", limit }))
    }))

  const readAll: EventStore.EventStoreShape["readAll"] = (readOptions) =>
    Stream.unwrap(Effect.gen(function*() {
      const { direction, from, limit } = yield* Inputs.readOptions("readAll", readOptions)
      const filter = readOptions?.filter
      const backwards = direction === "backwards"
      // Backwards from a position returns what lies before it: start one past it to include it.
      if (from !== undefined && from > maxRevision && !backwards) return Stream.empty
      const fromPosition = from === undefined || from > maxRevision
        ? (backwards ? END : START)
        : { commit: backwards ? from + 1n : from, prepare: backwards ? from + 1n : from }
      const events = readAllRaw("readAll", {
        backwards,
        from: typeof fromPosition === "object" ? fromPosition : undefined,
        filter: Codec.serverFilter(filter)
      }).pipe(
        Stream.map(Codec.fromResolved),
        Stream.filter((event): event is Event.RecordedEvent =>
          isUserEvent(event) && Inputs.passes(filter, event.stream, event.type)
        )
      )
      return limit === undefined ? events : Stream.take(events, limit)
    }))

  const scanAll: KurrentEvents["scanAll"] = (operation, filter) =>
    readAllRaw(operation, { backwards: false, from: undefined, filter })

  return { read, readAll, scanAll }
}
