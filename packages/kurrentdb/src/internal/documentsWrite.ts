// A document's point read and its guarded write. A write reads the latest event of the document's
// stream and appends expecting exactly that revision, so concurrent writers conflict on the server
// (optimistic concurrency by stream revision); with events, it is one multi-stream append of the
// document part and the event parts.
import { type DocumentStore, Event, ExpectedVersion, StoreError } from "@strata/core"
import { type AppendPlan, DocumentCodec } from "@strata/core/backend"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { KurrentEvents } from "../KurrentEvents.ts"
import { type DocumentData, type Latest, type Stored, storedOf, streamOf } from "./documentsStreams.ts"

const check = (
  collection: string,
  id: string,
  expected: DocumentStore.ExpectedDocument,
  current: Stored | undefined
): StoreError.DocumentConflict | undefined => DocumentCodec.conflict(collection, id, expected, current?.version)

/** The expected revision that pins the state just read. */
const pin = (state: Latest) =>
  state.revision === undefined ? ExpectedVersion.noStream : ExpectedVersion.exact(state.revision)

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
    operation: "put" | "delete",
    collection: string,
    id: string,
    expected: DocumentStore.ExpectedDocument,
    build: (state: Latest) => { readonly type: string; readonly data: DocumentData } | undefined,
    extra: ReadonlyArray<AppendPlan.AppendPlan>,
    result: (state: Latest, appended: ReadonlyArray<{ readonly nextExpectedVersion: bigint }>) => A
  ): Effect.Effect<A, StoreError.DocumentStoreError> =>
    Effect.gen(function*() {
      for (let attempt = 0;; attempt++) {
        const state = yield* latest(collection, id)
        const conflict = check(collection, id, expected, state.document)
        if (conflict !== undefined) return yield* conflict
        const event = build(state)
        if (event === undefined) return result(state, [])
        const plan: AppendPlan.AppendPlan = {
          request: {
            stream: streamOf(collection, id),
            events: [{ type: event.type, data: event.data }],
            expected: pin(state)
          },
          prepared: [{
            id: Event.makeEventId(),
            type: event.type,
            data: JSON.stringify(event.data),
            metadata: "{}"
          }]
        }
        const outcome = yield* (extra.length === 0
          ? events.appendPlan(plan).pipe(Effect.map((r) => [r]))
          : events.appendPlans(operation, [plan, ...extra])).pipe(
            Effect.map((appended) => ({ _tag: "Done" as const, appended })),
            Effect.catchTag("WrongExpectedVersion", (error) =>
              error.stream === plan.request.stream && attempt < 50
                ? Effect.succeed({ _tag: "Retry" as const })
                : Effect.fail(error))
          )
        if (outcome._tag === "Done") return result(state, outcome.appended.slice(1))
      }
    })

  return { latest, writeDocument }
}
