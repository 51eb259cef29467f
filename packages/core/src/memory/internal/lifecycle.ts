// The stream lifecycle: streamInfo, soft delete, tombstone and retention. Delete and tombstone check
// and change a stream in one unit of work, journalling what they change so a rollback restores it.
import * as Effect from "effect/Effect"
import * as Inputs from "../../backend/Inputs.ts"
import * as StreamView from "../../backend/StreamView.ts"
import type { EventStoreShape } from "../../EventStore.ts"
import * as ExpectedVersion from "../../ExpectedVersion.ts"
import { StreamDeleted, type WrongExpectedVersion } from "../../StoreError.ts"
import * as StreamName from "../../StreamName.ts"
import { type MemoryContext, stored } from "./context.ts"
import { lastVersionOf, type StreamRecord } from "./state.ts"

export const make = (ctx: MemoryContext) => {
  const { horizon, openStream, recordFor, state, transaction } = ctx
  const { snapshots, streams } = state

  const streamInfo: EventStoreShape["streamInfo"] = (stream) =>
    Effect.gen(function*() {
      yield* StreamName.make(stream)
      return StreamView.info(stream, stored(streams.get(stream), yield* horizon))
    })

  // Check and change in one synchronous step, so no append can slip in between.
  const deleteWith = (
    stream: string,
    deleteOptions: { readonly expected?: ExpectedVersion.ExpectedVersion | undefined } | undefined,
    change: (record: StreamRecord) => void
  ) =>
    Effect.flatMap(
      StreamName.make(stream),
      (): Effect.Effect<void, StreamDeleted | WrongExpectedVersion> =>
        transaction(Effect.suspend((): Effect.Effect<void, StreamDeleted | WrongExpectedVersion> => {
          const record = streams.get(stream)
          if (record?.tombstoned) return Effect.fail(new StreamDeleted({ stream, tombstoned: true }))
          const conflict = ExpectedVersion.check(stream, deleteOptions?.expected, {
            lastVersion: lastVersionOf(record),
            deleted: record?.deleted ?? false
          })
          if (conflict !== undefined) return Effect.fail(conflict)
          const target = recordFor(stream)
          const before = { ...target }
          const snapshot = snapshots.get(stream)
          change(target)
          return Effect.map(state.journal, (journal) => {
            journal?.push(() => {
              Object.assign(target, {
                deleted: before.deleted,
                tombstoned: before.tombstoned,
                truncateBefore: before.truncateBefore
              })
              if (snapshot !== undefined) snapshots.set(stream, snapshot)
            })
          })
        }))
    )

  const deleteStream: EventStoreShape["deleteStream"] = (stream, deleteOptions) =>
    deleteWith(stream, deleteOptions, (record) => {
      const last = lastVersionOf(record)
      if (last === undefined) return
      record.deleted = true
      record.truncateBefore = last + 1n
      // A snapshot folds the deleted events: a re-created stream must not start from it.
      snapshots.delete(stream)
    })

  const tombstoneStream: EventStoreShape["tombstoneStream"] = (stream, deleteOptions) =>
    deleteWith(stream, deleteOptions, (record) => {
      record.tombstoned = true
      snapshots.delete(stream)
    })

  const setRetention: EventStoreShape["setRetention"] = (stream, patch) =>
    Effect.gen(function*() {
      const rules = yield* Inputs.retention(patch)
      const record = recordFor((yield* openStream(stream))?.name ?? stream)
      if (rules.truncateBefore !== undefined) record.truncateBefore = rules.truncateBefore ?? undefined
      if (rules.maxCount !== undefined) record.maxCount = rules.maxCount ?? undefined
      if (rules.maxAgeMillis !== undefined) record.maxAgeMillis = rules.maxAgeMillis ?? undefined
      return StreamView.retention(stored(record, yield* horizon))
    })

  return { streamInfo, deleteStream, tombstoneStream, setRetention }
}
