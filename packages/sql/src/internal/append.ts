// The append pipeline. The dialect's write strategy is read once, here: a transaction (with the
// dialect's one-round-trip path for single-stream appends where it has one) or one atomic batch.
// A failed append is then examined for an idempotent replay (core's Replay rule) before its error
// is reported.
//
// The paths live in their own modules over one small context (`appendContext.ts`): the
// transactional path (`appendTransaction.ts`), the one-round-trip path (`appendOne.ts`), the batched
// path (`appendBatch.ts`) and the replay judgement (`replays.ts`).
import type { EventStore } from "@strata/core"
import { AppendPlan } from "@strata/core/backend"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import { inBatch } from "./appendBatch.ts"
import type { AppendContext, Atomically, AtomicError, Inline, Plan, SyncAppend } from "./appendContext.ts"
import * as AppendInline from "./appendInline.ts"
import { inOneStatement, type SettledConflict } from "./appendOne.ts"
import { inTransaction } from "./appendTransaction.ts"
import type { StoreContext } from "./context.ts"
import type { DocumentWrites } from "./documentWrites.ts"
import { type CommitError, judge } from "./replays.ts"
import type { StreamRows } from "./streams.ts"

export type { BeforeCommit, Inline, SyncAppend, SyncStatements, Written } from "./appendContext.ts"

type Single = (
  plan: Plan,
  now: number,
  inTransaction: boolean
) => Effect.Effect<ReadonlyArray<EventStore.AppendResult>, AtomicError | SettledConflict>

// A single-stream append takes the one-statement path only when nothing else must commit with it:
// not when it carries tags or a DCB condition (their locks, check and tag rows need the transaction),
// not when inline work acts on one of its event types, and not inside a caller's transaction (a
// failed statement there would abort it; the transactional path runs in a savepoint). Nor when it
// carries a binary event, unless the dialect's one statement writes them (`appendOneBinary`; with
// tags or a DCB condition as well only where it says so, `appendOneBinaryDcb`: SQLite).
// Where the backend has a synchronous append (`SyncAppend`: SQLite), an append that inline work acts
// on takes it instead of the transactional path, on the same terms (`appendInline.ts`).
const singlePath = (ctx: AppendContext, atomically: Atomically): Single => {
  const write = ctx.dialect.write
  const viaAtomically = (plan: Plan, now: number) => Effect.map(atomically([plan], now), ({ results }) => results)
  if (write._tag !== "Transactional" || write.appendOne === undefined) return viaAtomically
  const fast = inOneStatement(ctx, write.appendOne)
  const inline = ctx.beforeCommit
  const inlineFast = ctx.syncAppend === undefined || inline === undefined
    ? undefined
    : AppendInline.make(ctx, ctx.syncAppend, inline, viaAtomically)
  return (plan, now, inTransaction) => {
    if (inTransaction) return viaAtomically(plan, now)
    const projected = inlineWork(inline, plan)
    return (projected && inlineFast === undefined) ||
        (AppendPlan.usesDcb([plan]) && write.appendOneDcb?.(plan.condition) !== true) ||
        (AppendPlan.hasBinary(plan) &&
          (write.appendOneBinary !== true || (write.appendOneBinaryDcb !== true && AppendPlan.usesDcb([plan]))))
      ? viaAtomically(plan, now)
      : projected
      ? inlineFast!(plan, now)
      : fast(plan, now)
  }
}

const inlineWork = (inline: Inline | undefined, plan: Plan) =>
  inline?.current !== undefined && plan.prepared.some((event) => inline.types.has(event.type))

const first = <A>(results: ReadonlyArray<A>): A => results[0]

export const make = (
  ctx: StoreContext,
  rows: StreamRows,
  documents: DocumentWrites,
  beforeCommit?: Inline,
  syncAppend?: SyncAppend
) => {
  const context: AppendContext = { ...ctx, rows, documents, beforeCommit, syncAppend }
  const write = ctx.dialect.write
  /** Appends atomically, with an optional document write in the same transaction or batch. */
  const atomically = write._tag === "Batched" ? inBatch(context, write) : inTransaction(context, write)
  const single = singlePath(context, atomically)

  // `inTransaction`: whether the caller's context holds an open transaction (only a single-stream
  // append asks: the others always take the transactional path).
  const commit = (
    plans: ReadonlyArray<Plan>,
    now: number,
    inTransaction: boolean,
    retried = false
  ): Effect.Effect<ReadonlyArray<EventStore.AppendResult>, CommitError> =>
    Effect.catch(
      plans.length === 1
        ? single(plans[0], now, inTransaction)
        : Effect.map(atomically(plans, now), ({ results }) => results),
      (error) => judge(ctx, plans, error, retried ? undefined : (fresh) => commit(fresh, now, inTransaction, true))
    )

  const { transactionService } = ctx.sql
  // The clock and the caller's transaction are read from the fiber in the step that plans the append
  // (no step of their own on the hot path); planning runs when the effect runs.
  const planned = <A, E, R>(
    f: (now: number, inTransaction: boolean) => Effect.Effect<A, E, R>
  ): Effect.Effect<A, E, R> =>
    Effect.withFiber((fiber) =>
      f(
        Context.get(fiber.context, Clock.Clock).currentTimeMillisUnsafe(),
        Context.getOrUndefined(fiber.context, transactionService) !== undefined
      )
    )

  const append: EventStore.EventStoreShape["append"] = (stream, events, appendOptions) =>
    planned((now, inTransaction) =>
      Effect.flatMap(
        AppendPlan.one(
          appendOptions?.condition === undefined
            ? { stream, events, expected: appendOptions?.expected }
            : { stream, events, expected: appendOptions.expected, condition: appendOptions.condition },
          ctx.maxEventBytes,
          ctx.bigintInput
        ),
        (plan) => Effect.map(commit([plan], now, inTransaction), first)
      )
    )

  const appendMany: EventStore.EventStoreShape["appendMany"] = (requests) =>
    planned((now, inTransaction) =>
      Effect.flatMap(
        AppendPlan.many("appendMany", requests, ctx.maxEventBytes, ctx.bigintInput),
        (plans) => commit(plans, now, inTransaction)
      )
    )

  return { append, appendMany, atomically }
}

export type Appender = ReturnType<typeof make>
