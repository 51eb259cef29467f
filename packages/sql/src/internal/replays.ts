// Replay judgement, on the failure path only: after a failed append, which parts were already stored
// by an earlier, identical append (core's Replay rule)? Replays give back their original results, the
// fresh parts are appended again (once), and anything else is reported as the error it is.
import { type EventStore, StoreError } from "@strata/core"
import { Replay } from "@strata/core/backend"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Rows from "../Rows.ts"
import type { AtomicError, Plan } from "./appendContext.ts"
import { SettledConflict } from "./appendOne.ts"
import type { StoreContext } from "./context.ts"

/** What an append may fail with, once its error has been judged. */
export type CommitError =
  | StoreError.WrongExpectedVersion
  | StoreError.StreamDeleted
  | StoreError.DuplicateEvent
  | StoreError.ProjectionFailed
  | StoreError.StoreUnavailable

type Commit = Effect.Effect<ReadonlyArray<EventStore.AppendResult>, CommitError>

const decodeStored = Rows.decodeAll(
  Schema.Struct({ event_id: Schema.String, stream: Schema.String, version: Rows.Int64, position: Rows.Int64 })
)

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
    const fresh = plans.filter((_, i) => outcomes[i]._tag === "New")
    if (fresh.length === plans.length) {
      // Nothing was a replay: a real conflict, or (unique violation) a concurrent writer won a
      // race the row locks should have prevented; the latter is safe to retry.
      if (error._tag === "WrongExpectedVersion") return yield* error
      return yield* new StoreError.StoreUnavailable({
        operation: "append",
        reason: "ConcurrentWrite",
        cause: error
      })
    }
    if (error._tag === "WrongExpectedVersion" && fresh.some((plan) => plan.request.stream === error.stream)) {
      return yield* error
    }
    if (retry === undefined) {
      return yield* new StoreError.StoreUnavailable({ operation: "append", reason: "ConcurrentWrite" })
    }
    const written = fresh.length === 0 ? [] : yield* retry(fresh)
    let next = 0
    return outcomes.map((outcome) => outcome._tag === "Replay" ? outcome.result : written[next++])
  })
