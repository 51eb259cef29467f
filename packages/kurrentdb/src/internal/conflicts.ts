// How a write the server refused is answered, on the failure path only: a conflicting append is judged
// with Strata's replay rule (`Replay.classify`) against the stream's events, so a retry with a
// different expected version still returns the original result; a conflict on a soft-deleted stream
// reports no version, as the contract says.
import { type EventStore, ExpectedVersion, StoreError } from "@strata/core"
import { type AppendPlan, Replay } from "@strata/core/backend"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as Codec from "../KurrentCodec.ts"
import type { KurrentContext } from "./context.ts"

export const conflict = (
  stream: string,
  expected: ExpectedVersion.ExpectedVersion | undefined,
  actual: bigint | undefined
): Effect.Effect<never, StoreError.WrongExpectedVersion> =>
  Effect.fail(
    actual === undefined
      ? new StoreError.WrongExpectedVersion({
        stream,
        expected: ExpectedVersion.format(expected ?? ExpectedVersion.any)
      })
      : new StoreError.WrongExpectedVersion({
        stream,
        expected: ExpectedVersion.format(expected ?? ExpectedVersion.any),
        actual
      })
  )

/** Where the ids of a planned part are stored in its stream (the last `replayWindow` events). */
export const replayOf = (ctx: KurrentContext, plan: AppendPlan.AppendPlan) =>
  Effect.gen(function*() {
    const { stream } = plan.request
    const stored = new Map<string, Replay.StoredId>()
    yield* ctx.readRaw("append", stream, { backwards: true, limit: ctx.replayWindow }).pipe(
      Stream.runForEach((resolved) =>
        Effect.sync(() => {
          const event = resolved.event
          if (event !== undefined) {
            stored.set(event.id.toLowerCase(), {
              stream,
              version: event.revision,
              position: event.position?.commit ?? -1n
            })
          }
        })
      )
    )
    return Replay.classifyPlan(plan, (id) => stored.get(id))
  })

/** Strata's judgement of a conflict: a replay, a duplicate, or a real conflict. */
export const judgeConflict = (
  ctx: KurrentContext,
  plan: AppendPlan.AppendPlan,
  actual: bigint | undefined
): Effect.Effect<EventStore.AppendResult, EventStore.AppendError> =>
  Effect.gen(function*() {
    const { stream } = plan.request
    // Ids Strata generated for this call cannot be stored yet: only caller-supplied ids can replay.
    const supplied = plan.request.events.some((event) => event?.id !== undefined)
    const outcome = actual === undefined || !supplied ? { _tag: "New" as const } : yield* replayOf(ctx, plan)
    if (outcome._tag === "Replay") return outcome.result
    if (outcome._tag === "Duplicate") {
      return yield* new StoreError.DuplicateEvent({ stream, eventId: outcome.eventId })
    }
    const softDeleted = actual !== undefined && (yield* ctx.metadataOf("append", stream).pipe(
      Effect.map(({ raw }) => Codec.retentionOf(raw).softDeleted)
    ))
    return yield* conflict(stream, plan.request.expected, softDeleted ? undefined : actual)
  })

/**
 * A "stream deleted" answer: a tombstone, or (for `streamExists`) a soft-deleted stream, which the
 * contract reports as a conflict with no version.
 */
export const deletedAnswer = (
  ctx: KurrentContext,
  operation: string,
  stream: string,
  expected: ExpectedVersion.ExpectedVersion | undefined
): Effect.Effect<never, StoreError.WrongExpectedVersion | StoreError.StreamDeleted | StoreError.StoreUnavailable> =>
  Effect.flatMap(
    ctx.isTombstoned(operation, stream),
    (tombstoned): Effect.Effect<never, StoreError.WrongExpectedVersion | StoreError.StreamDeleted> =>
      tombstoned
        ? Effect.fail(new StoreError.StreamDeleted({ stream, tombstoned: true }))
        : conflict(stream, expected, undefined)
  )
