// A document's point read and its guarded write. A write reads the latest event of the document's
// stream and appends expecting exactly that revision, so concurrent writers conflict on the server
// (optimistic concurrency by stream revision); with events, it is one multi-stream append of the
// document part and the event parts, and a refused one may be a repeat of the same put (core's
// Replay rule, judged on the failure path only).
import { type DocumentStore, Event, type EventStore, ExpectedVersion, StoreError } from "@strata/core"
import { type AppendPlan, DocumentCodec, Replay } from "@strata/core/backend"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { KurrentEvents } from "../KurrentEvents.ts"
import { type DocumentData, documentType, type Latest, type Stored, storedOf, streamOf } from "./documentsStreams.ts"

const check = (
  collection: string,
  id: string,
  expected: DocumentStore.ExpectedDocument,
  current: Stored | undefined
): StoreError.DocumentConflict | undefined => DocumentCodec.conflict(collection, id, expected, current?.version)

/**
 * How far back a stream is searched for the ids of a put's event part: the event store's default
 * replay window (`KurrentEvents` options).
 */
const replayWindow = 10_000

/** The expected revision that pins the state just read. */
const pin = (state: Latest) =>
  state.revision === undefined ? ExpectedVersion.noStream : ExpectedVersion.exact(state.revision)

/** The one event of a document write, appended expecting exactly the state just read. */
const documentPlan = (
  collection: string,
  id: string,
  state: Latest,
  event: { readonly type: string; readonly data: DocumentData }
): AppendPlan.AppendPlan => ({
  request: { stream: streamOf(collection, id), events: [{ type: event.type, data: event.data }], expected: pin(state) },
  prepared: [{ id: Event.makeEventId(), type: event.type, data: JSON.stringify(event.data), metadata: "{}" }]
})

export const make = (events: KurrentEvents) => {
  const latest = (collection: string, id: string): Effect.Effect<Latest, StoreError.StoreUnavailable> =>
    Stream.runHead(events.readRaw("get", streamOf(collection, id), { backwards: true, limit: 1 })).pipe(
      Effect.map((head): Latest => {
        const event = Option.getOrUndefined(head)?.event
        if (event === undefined) return { revision: undefined, document: undefined }
        const data = event.data as unknown as DocumentData
        return { revision: event.revision, document: storedOf(event.type, data) }
      }),
      // Document streams are never tombstoned by Strata; treat one as unreachable rather than die.
      Effect.catchTag(
        "StreamDeleted",
        () =>
          Effect.fail(
            new StoreError.StoreUnavailable({ operation: "document", reason: "document stream is tombstoned" })
          )
      )
    )

  // A conflict on the document stream means another writer got in between: the caller's expectation
  // is judged again against the new state, so `expected: "any"` retries and a version expectation fails.
  const writeDocument = <A>(
    collection: string,
    id: string,
    expected: DocumentStore.ExpectedDocument,
    build: (state: Latest) => { readonly type: string; readonly data: DocumentData } | undefined,
    result: (state: Latest) => A
  ): Effect.Effect<A, StoreError.DocumentStoreError> =>
    Effect.gen(function*() {
      for (let attempt = 0;; attempt++) {
        const state = yield* latest(collection, id)
        const conflict = check(collection, id, expected, state.document)
        if (conflict !== undefined) return yield* conflict
        const event = build(state)
        if (event === undefined) return result(state)
        const plan = documentPlan(collection, id, state, event)
        const outcome = yield* events.appendPlan(plan).pipe(
          Effect.as({ _tag: "Done" as const }),
          Effect.catchTag("WrongExpectedVersion", (error) =>
            error.stream === plan.request.stream && attempt < 50
              ? Effect.succeed({ _tag: "Retry" as const })
              : Effect.fail(error))
        )
        if (outcome._tag === "Done") return result(state)
      }
    })

  // Where a planned part's ids are stored in its stream (its last `replayWindow` events), as the
  // event store judges a refused append.
  const partOutcome = (plan: AppendPlan.AppendPlan) =>
    Effect.gen(function*() {
      const { stream } = plan.request
      const stored = new Map<string, Replay.StoredId>()
      yield* events.readRaw("put", stream, { backwards: true, limit: replayWindow }).pipe(
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
        ),
        Effect.catchTag("StreamDeleted", () => Effect.void)
      )
      return Replay.classifyPlan(plan, (id) => stored.get(id))
    })

  // A put's event parts judged together; only caller-supplied ids can be stored already.
  const partsOutcome = (plans: ReadonlyArray<AppendPlan.AppendPlan>) =>
    plans.some((plan) => plan.request.events.some((event) => event?.id !== undefined))
      ? Effect.map(
        Effect.forEach(plans, partOutcome, { concurrency: "unbounded" }),
        (outcomes) => Replay.classifyPut(Replay.partsOf(plans), outcomes)
      )
      : Effect.succeed<Replay.PutOutcome>({ _tag: "New" })

  // A put whose event parts are all stored: the same write when the document is the one it wrote.
  const repeatOf = (
    plans: ReadonlyArray<AppendPlan.AppendPlan>,
    results: ReadonlyArray<EventStore.AppendResult>,
    write: { readonly expected: DocumentStore.ExpectedDocument; readonly json: string },
    state: Latest
  ): Effect.Effect<DocumentStore.PutResult, StoreError.DuplicateEvent> => {
    const version = Replay.sameDocument(write, state.document)
    return version === undefined
      ? Effect.fail(Replay.notTheSameWrite(Replay.partsOf(plans)))
      : Effect.succeed({ version, appended: results })
  }

  /**
   * A put that carries events: one multi-stream append of the document part and the event parts. A
   * refusal (a document conflict, or a conflict the server reports for parts that are stored already)
   * is judged by core's Replay rule: a repeat of the same put answers its original result, ids of
   * another write are a `DuplicateEvent`, and when only some parts are stored, the others are
   * appended with the document.
   */
  const putWithEvents = (
    collection: string,
    id: string,
    write: { readonly expected: DocumentStore.ExpectedDocument; readonly json: string },
    plans: ReadonlyArray<AppendPlan.AppendPlan>
  ): Effect.Effect<DocumentStore.PutResult, StoreError.DocumentStoreError> =>
    Effect.gen(function*() {
      // The answers of parts found stored (a partial repeat), which are not sent again.
      let replayed: ReadonlyArray<EventStore.AppendResult | undefined> = plans.map(() => undefined)
      let judged = false
      for (let attempt = 0;; attempt++) {
        const state = yield* latest(collection, id)
        const conflict = check(collection, id, write.expected, state.document)
        if (conflict !== undefined) {
          const outcome = judged ? { _tag: "New" as const } : yield* partsOutcome(plans)
          if (outcome._tag === "Stored") return yield* repeatOf(plans, outcome.results, write, state)
          if (outcome._tag === "Duplicate") {
            return yield* new StoreError.DuplicateEvent({ stream: outcome.stream, eventId: outcome.eventId })
          }
          return yield* conflict
        }
        const version = (state.document?.version ?? 0n) + 1n
        const plan = documentPlan(collection, id, state, {
          type: documentType,
          data: { collection, id, version: version.toString(), json: write.json }
        })
        const fresh = plans.filter((_, i) => replayed[i] === undefined)
        const outcome = yield* events.appendPlans("put", [plan, ...fresh]).pipe(
          Effect.map((appended) => ({ _tag: "Done" as const, appended: appended.slice(1) })),
          Effect.catchTag("WrongExpectedVersion", (error) =>
            Effect.gen(function*() {
              if (!judged) {
                judged = true
                const parts = yield* partsOutcome(plans)
                if (parts._tag === "Stored") {
                  return {
                    _tag: "Repeat" as const,
                    result: yield* repeatOf(plans, parts.results, write, yield* latest(collection, id))
                  }
                }
                if (parts._tag === "Duplicate") {
                  return yield* new StoreError.DuplicateEvent({ stream: parts.stream, eventId: parts.eventId })
                }
                if (parts._tag === "Partial") {
                  replayed = parts.results
                  return { _tag: "Retry" as const }
                }
              }
              return error.stream === plan.request.stream && attempt < 50
                ? { _tag: "Retry" as const }
                : yield* error
            }))
        )
        if (outcome._tag === "Repeat") return outcome.result
        if (outcome._tag === "Done") {
          let next = 0
          return { version, appended: replayed.map((result) => result ?? outcome.appended[next++]) }
        }
      }
    })

  return { latest, writeDocument, putWithEvents }
}
