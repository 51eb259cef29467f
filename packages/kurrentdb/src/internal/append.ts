// The append paths: one planned part as one `appendToStream` (expected revisions and idempotent
// re-appends are KurrentDB's own), several parts as one AppendRecords call (26.1; the v2 append
// session before it). A refusal is answered
// by `conflicts.ts`, so what a caller sees follows Strata's contract rather than the server's rule.
import type { AppendResult as ClientAppendResult } from "@kurrent/kurrentdb-client"
import { type EventStore, StoreError } from "@strata/core"
import { AppendPlan } from "@strata/core/backend"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Stream from "effect/Stream"
import { ClientFailure } from "../KurrentClient.ts"
import * as Codec from "../KurrentCodec.ts"
import { deletedAnswer, judgeConflict, replayOf } from "./conflicts.ts"
import type { KurrentContext } from "./context.ts"
import type { KurrentEvents } from "./shape.ts"

export const make = (ctx: KurrentContext) => {
  const { backend, call, maxEventBytes, readRaw, signal, unavailable } = ctx

  const appendPlan = (plan: AppendPlan.AppendPlan): Effect.Effect<EventStore.AppendResult, EventStore.AppendError> => {
    const { stream } = plan.request
    return call((client) =>
      client.appendToStream(
        stream,
        plan.prepared.map((event, i) => Codec.toEventData(event, plan.request.events[i])),
        { streamState: Codec.streamState(plan.request.expected) }
      )
    ).pipe(
      Effect.map((result: ClientAppendResult) => {
        // Wakes this store's live reader at once (the server's push would, a round trip later).
        PubSub.publishUnsafe(signal, undefined)
        return {
          stream,
          nextExpectedVersion: result.nextExpectedRevision,
          position: result.position?.commit ?? -1n
        }
      }),
      Effect.catchTag("ClientFailure", (failure): Effect.Effect<EventStore.AppendResult, EventStore.AppendError> => {
        if (failure.type === "wrong-expected-version") {
          const actual = (failure.error as { actualState?: unknown }).actualState
          return judgeConflict(ctx, plan, typeof actual === "bigint" ? actual : undefined)
        }
        if (failure.type === "stream-deleted") return deletedAnswer(ctx, "append", stream, plan.request.expected)
        return Effect.fail(unavailable("append", failure))
      })
    )
  }

  const append: EventStore.EventStoreShape["append"] = (stream, events, appendOptions) =>
    Effect.flatMap(
      AppendPlan.one({ stream, events, expected: appendOptions?.expected }, maxEventBytes),
      appendPlan
    )

  type Committed = { readonly position: bigint; readonly revisions: ReadonlyArray<bigint> }

  /**
   * One atomic write of every part: AppendRecords (26.1) where the server serves it, one unary call
   * whose expected versions are consistency checks on the streams written (an `any` part carries no
   * check: the server refuses ANY as a check and expects `any` of a stream no check names); else the
   * v2 append session (25.1). The client refuses AppendRecords itself (`unsupported`) on an older server.
   */
  const commit = (plans: ReadonlyArray<AppendPlan.AppendPlan>): Effect.Effect<Committed, ClientFailure> =>
    call((client) =>
      client.appendRecords(
        plans.flatMap((plan) =>
          plan.prepared.map((event, i) => ({
            streamName: plan.request.stream,
            record: Codec.toRecordData(event, plan.request.events[i])
          }))
        ) as never,
        plans.flatMap((plan) => {
          const state = Codec.streamState(plan.request.expected)
          return state === "any"
            ? []
            : [{ type: "stream_state" as const, streamName: plan.request.stream, expectedState: state }]
        })
      )
    ).pipe(
      // Revisions come "one per stream written, in no guaranteed order" (streams.proto).
      Effect.map((result): Committed => {
        const byStream = new Map(result.responses.map((r) => [r.streamName, r.revision]))
        return {
          position: result.position,
          revisions: plans.map((plan) => byStream.get(plan.request.stream) ?? -1n)
        }
      }),
      Effect.catchIf(
        (failure) => failure.type === "unsupported",
        () =>
          call((client) =>
            client.multiStreamAppend(plans.map((plan) => ({
              streamName: plan.request.stream,
              expectedState: Codec.streamState(plan.request.expected),
              events: plan.prepared.map((event, i) => Codec.toRecordData(event, plan.request.events[i]))
            })) as never)
          ).pipe(Effect.map((result): Committed => ({
            position: result.position,
            revisions: plans.map((_, i) => result.responses[i]?.revision ?? -1n)
          })))
      )
    )

  /** A refused part (its stream and the actual state the server named): a replay, a duplicate or a conflict. */
  const refused = (
    plans: ReadonlyArray<AppendPlan.AppendPlan>,
    named: AppendPlan.AppendPlan,
    actual: bigint | undefined
  ): Effect.Effect<ReadonlyArray<EventStore.AppendResult>, EventStore.AppendError> =>
    // A replayed multi-stream append has every part stored already, in place.
    Effect.flatMap(Effect.forEach(plans, (plan) => replayOf(ctx, plan)), (outcomes) => {
      const results = outcomes.flatMap((outcome) => outcome._tag === "Replay" ? [outcome.result] : [])
      if (results.length === plans.length) return Effect.succeed(results)
      const duplicate = outcomes.findIndex((outcome) => outcome._tag === "Duplicate")
      const outcome = outcomes[duplicate]
      if (outcome?._tag === "Duplicate") {
        return Effect.fail(
          new StoreError.DuplicateEvent({ stream: plans[duplicate].request.stream, eventId: outcome.eventId })
        )
      }
      return Effect.map(judgeConflict(ctx, named, actual), (result) => [result])
    })

  const appendPlans: KurrentEvents["appendPlans"] = (operation, plans) =>
    commit(plans).pipe(
      Effect.tap(() => Effect.sync(() => PubSub.publishUnsafe(signal, undefined))),
      // The server answers one position for the whole transaction: each part's own last position is
      // read back (one read per part), as the contract reports the position of each part's last event.
      Effect.flatMap((result) =>
        Effect.forEach(plans, (plan, i) => {
          const revision = result.revisions[i]
          return Stream.runHead(readRaw(operation, plan.request.stream, { from: revision, limit: 1 })).pipe(
            Effect.map((head): EventStore.AppendResult => ({
              stream: plan.request.stream,
              nextExpectedVersion: revision,
              position: Option.getOrUndefined(head)?.event?.position?.commit ?? result.position
            })),
            Effect.catchTag(
              "StreamDeleted",
              () =>
                Effect.succeed({
                  stream: plan.request.stream,
                  nextExpectedVersion: revision,
                  position: result.position
                })
            )
          )
        }, { concurrency: "unbounded" }).pipe(
          Effect.mapError((error) => new ClientFailure({ type: "unavailable", error }))
        )
      ),
      Effect.catchTag("ClientFailure", (failure): Effect.Effect<
        ReadonlyArray<EventStore.AppendResult>,
        EventStore.AppendError | StoreError.Unsupported
      > => {
        const error = failure.error as {
          streamName?: string
          stream?: string
          actualState?: unknown
          violations?: ReadonlyArray<{ streamName: string; actualState: unknown }>
        }
        if (failure.type === "unsupported") {
          return Effect.fail(
            new StoreError.Unsupported({
              operation,
              backend,
              detail: "atomic multi-stream appends need KurrentDB 25.1 or later (the v2 append session)"
            })
          )
        }
        if (failure.type === "append-consistency-violation") {
          // AppendRecords names every failing stream; the first part among them is answered. Its actual
          // state is a revision, "no_stream", -5 (soft-deleted) or -6 (tombstoned).
          const failing = new Map((error.violations ?? []).map((v) => [v.streamName, v.actualState]))
          const named = plans.find((plan) => failing.has(plan.request.stream))
          if (named !== undefined) {
            const actual = failing.get(named.request.stream)
            if (actual === -6n) return deletedAnswer(ctx, operation, named.request.stream, named.request.expected)
            return refused(plans, named, typeof actual === "bigint" && actual >= 0n ? actual : undefined)
          }
        }
        const named = plans.find((plan) => plan.request.stream === (error.streamName ?? error.stream))
        if (failure.type === "wrong-expected-version" && named !== undefined) {
          return refused(
            plans,
            named,
            typeof error.actualState === "bigint" ? error.actualState : undefined
          )
        }
        if (failure.type === "stream-tombstoned" && named !== undefined) {
          return deletedAnswer(ctx, operation, named.request.stream, named.request.expected)
        }
        return Effect.fail(unavailable(operation, failure))
      })
    )

  const appendMany: EventStore.EventStoreShape["appendMany"] = (requests) =>
    Effect.flatMap(AppendPlan.many("appendMany", requests, maxEventBytes), (plans) => appendPlans("appendMany", plans))

  return { appendPlan, append, appendPlans, appendMany }
}
