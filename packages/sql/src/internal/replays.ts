// Replay judgement, on the failure path only: after a failed append, which parts were already stored
// by an earlier, identical append (core's Replay rule)? Replays give back their original results, the
// fresh parts are appended again (once), and anything else is reported as the error it is. A failed
// put with events is judged the same way, its document as one more part (`judgePut`).
import { type EventStore, StoreError } from "@strata/core"
import { Replay } from "@strata/core/backend"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { DocumentWrite } from "../Dialect.ts"
import * as Rows from "../Rows.ts"
import type { AtomicError, Plan, Written } from "./appendContext.ts"
import { SettledConflict } from "./appendOne.ts"
import type { StoreContext } from "./context.ts"
import type { DocumentWrites } from "./documentWrites.ts"

/** What an append may fail with, once its error has been judged. */
export type CommitError =
  | StoreError.WrongExpectedVersion
  | StoreError.AppendConditionFailed
  | StoreError.StreamDeleted
  | StoreError.DuplicateEvent
  | StoreError.ProjectionFailed
  | StoreError.StoreUnavailable

type Commit = Effect.Effect<ReadonlyArray<EventStore.AppendResult>, CommitError>

const decodeStored = Rows.decodeAll(
  Schema.Struct({ event_id: Schema.String, stream: Schema.String, version: Rows.Int64, position: Rows.Int64 })
)

const decodeTombstoned = Rows.decodeAll(Schema.Struct({ stream: Schema.String }))

// Before answering with what an earlier attempt stored: as durable as our own commit would be (a
// commit whose wait for a synchronous standby was cancelled is visible here but not replicated).
const durable = (ctx: StoreContext, operation: string): Effect.Effect<void, StoreError.StoreUnavailable> =>
  ctx.dialect.durable === undefined
    ? Effect.void
    : ctx.dialect.durable(ctx.sql).pipe(Effect.catchTag("SqlError", ctx.unavailable(operation)))

// After a failed append: which parts were already stored by an earlier, identical append?
export const classify = (ctx: StoreContext, plans: ReadonlyArray<Plan>) =>
  Effect.gen(function*() {
    const { dialect, sql } = ctx
    const ids = plans.flatMap((plan) => plan.prepared.map((event) => event.id))
    const found = new Map<string, Replay.StoredId>()
    const size = Math.min(500, dialect.maxParams)
    for (let i = 0; i < ids.length; i += size) {
      const stored = yield* decodeStored(
        sql`SELECT event_id, stream, version, position FROM strata_events WHERE ${
          sql.in("event_id", ids.slice(i, i + size))
        }`
      )
      for (const row of stored) found.set(row.event_id, row)
    }
    return plans.map((plan) => Replay.classifyPlan(plan, (id) => found.get(id)))
  })

/**
 * What a failed append of `plans` gives the caller. `retry` appends the fresh parts again; it is
 * undefined when this append is itself that retry.
 */
export const judge = (
  ctx: StoreContext,
  plans: ReadonlyArray<Plan>,
  error: AtomicError | SettledConflict,
  retry: ((fresh: ReadonlyArray<Plan>) => Commit) | undefined
): Commit =>
  Effect.gen(function*() {
    if (error instanceof SettledConflict) return yield* error.conflict
    if (error._tag === "StreamDeleted" || error._tag === "StoreUnavailable" || error._tag === "ProjectionFailed") {
      return yield* error
    }
    // A condition fails when an earlier attempt of this very append committed (its events match):
    // judged as a conflict below, so that attempt's result is returned.
    // Only a document write can conflict, and plain appends carry none.
    if (error._tag === "DocumentConflict") return yield* Effect.die(error)
    if (error._tag === "SqlError" && !ctx.dialect.isUniqueViolation(error)) {
      return yield* ctx.unavailable("append")(error)
    }
    const outcomes = yield* classify(ctx, plans).pipe(Effect.catchTag("SqlError", ctx.unavailable("append")))
    const duplicate = outcomes.find((outcome) => outcome._tag === "Duplicate")
    if (duplicate !== undefined) {
      const plan = plans[outcomes.indexOf(duplicate)]
      return yield* new StoreError.DuplicateEvent({ stream: plan.request.stream, eventId: duplicate.eventId })
    }
    // A tombstone is final: a replayed part to a tombstoned stream is StreamDeleted, as a single
    // append of its stored ids is, whichever part of the request the database reached first.
    const replayed = plans.filter((_, i) => outcomes[i]._tag === "Replay").map((plan) => plan.request.stream)
    if (replayed.length > 0) {
      const tombstoned = yield* decodeTombstoned(
        ctx.sql`SELECT stream FROM strata_streams WHERE tombstoned AND ${ctx.sql.in("stream", replayed)}`
      ).pipe(Effect.catchTag("SqlError", ctx.unavailable("append")))
      const deleted = new Set(tombstoned.map((row) => row.stream))
      const first = replayed.find((stream) => deleted.has(stream))
      if (first !== undefined) return yield* new StoreError.StreamDeleted({ stream: first, tombstoned: true })
    }
    const fresh = plans.filter((_, i) => outcomes[i]._tag === "New")
    if (fresh.length === plans.length) {
      // Nothing was a replay: a real conflict, or (unique violation) a concurrent writer won a
      // race the row locks should have prevented; the latter is safe to retry.
      if (error._tag === "WrongExpectedVersion" || error._tag === "AppendConditionFailed") return yield* error
      return yield* new StoreError.StoreUnavailable({
        operation: "append",
        reason: "ConcurrentWrite",
        cause: error
      })
    }
    if (error._tag === "WrongExpectedVersion" && fresh.some((plan) => plan.request.stream === error.stream)) {
      return yield* error
    }
    // A condition covers the whole append: with any part still to write, it stands.
    if (error._tag === "AppendConditionFailed" && fresh.length > 0) return yield* error
    if (retry === undefined) {
      return yield* new StoreError.StoreUnavailable({ operation: "append", reason: "ConcurrentWrite" })
    }
    yield* durable(ctx, "append")
    const written = fresh.length === 0 ? [] : yield* retry(fresh)
    let next = 0
    return outcomes.map((outcome) => outcome._tag === "Replay" ? outcome.result : written[next++])
  })

/** What a put with events may fail with, once its error has been judged. */
export type PutError = CommitError | StoreError.DocumentConflict

/**
 * What a failed put of `document` with the events of `plans` gives the caller (core's Replay rule
 * for a put): its original result when it is a repeat of the same write (every event part a replay,
 * the document stored as that put left it), a `DuplicateEvent` when its ids belong to another write,
 * and when only some parts are replays, the others appended again (once) with the document by `retry`.
 */
export const judgePut = (
  ctx: StoreContext,
  documents: DocumentWrites,
  plans: ReadonlyArray<Plan>,
  document: DocumentWrite,
  error: AtomicError,
  retry: (fresh: ReadonlyArray<Plan>) => Effect.Effect<Written, AtomicError>
): Effect.Effect<Written, PutError> =>
  Effect.gen(function*() {
    const unavailable = ctx.unavailable("put")
    if (error._tag === "StreamDeleted" || error._tag === "StoreUnavailable" || error._tag === "ProjectionFailed") {
      return yield* error
    }
    if (error._tag === "SqlError" && !ctx.dialect.isUniqueViolation(error)) return yield* unavailable(error)
    // Ids Strata generated for this call cannot be stored yet: only caller-supplied ids can replay.
    const supplied = plans.some((plan) => plan.request.events.some((event) => event?.id !== undefined))
    const outcome = supplied
      ? Replay.classifyPut(
        Replay.partsOf(plans),
        yield* classify(ctx, plans).pipe(Effect.catchTag("SqlError", unavailable))
      )
      : { _tag: "New" as const }
    switch (outcome._tag) {
      case "Duplicate":
        return yield* new StoreError.DuplicateEvent({ stream: outcome.stream, eventId: outcome.eventId })
      case "New":
        // A real conflict, or (unique violation) a concurrent writer won a race; the latter is safe to retry.
        return yield* error._tag === "SqlError"
          ? new StoreError.StoreUnavailable({ operation: "put", reason: "ConcurrentWrite", cause: error })
          : error
      case "Stored": {
        const row = yield* documents.documentRow(document.collection, document.id).pipe(
          Effect.catchTag("SqlError", unavailable)
        )
        const version = Replay.sameDocument(
          document,
          row === undefined ? undefined : { version: row.version, encoded: ctx.dialect.decodeJson(row.data) }
        )
        if (version === undefined) return yield* Replay.notTheSameWrite(Replay.partsOf(plans))
        yield* durable(ctx, "put")
        return { results: outcome.results, documentVersion: version }
      }
      case "Partial": {
        const fresh = plans.filter((_, i) => outcome.results[i] === undefined)
        if (error._tag === "WrongExpectedVersion" && fresh.some((plan) => plan.request.stream === error.stream)) {
          return yield* error
        }
        yield* durable(ctx, "put")
        const written = yield* retry(fresh).pipe(
          Effect.catch((again): Effect.Effect<never, PutError> =>
            again._tag !== "SqlError"
              ? Effect.fail(again)
              : ctx.dialect.isUniqueViolation(again)
              ? Effect.fail(
                new StoreError.StoreUnavailable({ operation: "put", reason: "ConcurrentWrite", cause: again })
              )
              : unavailable(again)
          )
        )
        let next = 0
        return {
          results: outcome.results.map((result) => result ?? written.results[next++]),
          documentVersion: written.documentVersion
        }
      }
    }
  })
