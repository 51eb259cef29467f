// The synchronous inline path (SQLite): a single-stream append that inline projections act on, written,
// projected and committed in one synchronous write (`SyncAppend`). The projections run as plain code
// inside the write (`Backend.SyncInlineWork`) over documents read and written by statements on the same
// connection (`syncDocuments.ts`), inside the same BEGIN IMMEDIATE ... COMMIT as the events, where the
// transactional path runs BEGIN, the stream lock, the insert, the stream row, `getMany`, `writeMany`
// and COMMIT each as an Effect statement.
//
// A failure of the work rolls the write back and fails the append as on the transactional path. Work
// that cannot finish synchronously (a projection whose codec or document schema is asynchronous, a
// collection whose indexes are not made yet, a database error in the documents) rolls the write back
// too, and the append runs on the transactional path instead: the same outcome, at the cost of both.
import type { Event, EventStore, StoreError } from "@strata/core"
import type { Backend } from "@strata/core/backend"
import type * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { isSqlError } from "effect/sql/SqlError"
import type { AppendContext, AtomicError, Inline, Plan, SyncAppend } from "./appendContext.ts"
import { inOneStatement, type SettledConflict } from "./appendOne.ts"
import * as SyncDocuments from "./syncDocuments.ts"

// Thrown out of the write to roll it back; what to do instead is kept beside it.
const rollBack = new Error("inline work did not complete: rolled back")

// The events just written, as readers will see them (built from what was written, not read back).
const recorded = (plan: Plan, first: bigint, positions: ReadonlyArray<bigint>, now: number) => {
  const createdAt = new Date(now)
  const { stream } = plan.request
  const events: Array<Event.RecordedEvent> = []
  for (let i = 0; i < plan.prepared.length; i++) {
    const event = plan.prepared[i]
    const recorded: { -readonly [K in keyof Event.RecordedEvent]: Event.RecordedEvent[K] } = {
      id: event.id,
      stream,
      version: first + BigInt(i),
      position: positions[i],
      type: event.type,
      data: event.bytes === undefined ? JSON.parse(event.data) : new Uint8Array(event.bytes),
      metadata: JSON.parse(event.metadata),
      createdAt
    }
    if (event.tags !== undefined) recorded.tags = event.tags
    if (event.contentType !== undefined) recorded.contentType = event.contentType
    events.push(recorded)
  }
  return events
}

// On the append's span: its inline projections ran in the synchronous write (the transactional path
// shows theirs as document spans).
const synchronous = Effect.annotateCurrentSpan("strata.inline", "synchronous")

export const make = (
  ctx: AppendContext,
  sync: SyncAppend,
  inline: Inline,
  transactional: (
    plan: Plan,
    now: number
  ) => Effect.Effect<ReadonlyArray<EventStore.AppendResult>, AtomicError | SettledConflict>
) => {
  const documents = SyncDocuments.make(ctx, ctx.documents, sync.statements)
  // The work over these documents, made once per installed work.
  let installed: Backend.SyncInlineWork | undefined
  let work: ReturnType<Backend.SyncInlineWork> | undefined
  return (plan: Plan, now: number) => {
    if (inline.sync !== installed) {
      installed = inline.sync
      work = installed?.(documents)
    }
    const run = work
    if (run === undefined) return transactional(plan, now)
    let failure: Cause.Cause<StoreError.ProjectionFailed | StoreError.StoreUnavailable> | undefined
    let fellBack = false
    const written = inOneStatement(ctx, (_, input) =>
      sync.append(input, (first, positions) => {
        const exit = run(recorded(plan, first, positions, now))
        if (exit !== undefined && Exit.isSuccess(exit)) return
        if (exit === undefined) fellBack = true
        else failure = exit.cause
        throw rollBack
      }))
    return Effect.catchIf(
      Effect.tap(written(plan, now), synchronous),
      (error) => isSqlError(error) && (fellBack || failure !== undefined),
      () => fellBack ? transactional(plan, now) : Effect.failCause(failure!)
    )
  }
}
