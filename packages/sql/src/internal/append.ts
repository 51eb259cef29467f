// The append pipeline. The dialect's write strategy is read once, here: a transaction (with the
// dialect's one-round-trip path for single-stream appends where it has one) or one atomic batch.
// A failed append is then examined for an idempotent replay (core's Replay rule) before its error
// is reported.
import { type Event, type EventStore, ExpectedVersion, StoreError, StreamName } from "@strata/core"
import { AppendPlan, DocumentCodec, Replay } from "@strata/core/backend"
import type { NonEmptyReadonlyArray } from "effect/Array"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { SqlError } from "effect/sql/SqlError"
import type { AppendBatchInput, AppendOneInput, Batched, DocumentWrite, Transactional } from "../Dialect.ts"
import * as Rows from "../Rows.ts"
import * as StreamGuard from "../StreamGuard.ts"
import type { StoreContext } from "./context.ts"
import type { DocumentWrites } from "./documentWrites.ts"
import type { StreamRows } from "./streams.ts"

type Plan = AppendPlan.AppendPlan

/**
 * Work that must commit with an append, run inside its transaction once its events are written and
 * given them as recorded (inline projections). When set, every append takes the transactional path.
 */
export type BeforeCommit = (
  events: ReadonlyArray<Event.RecordedEvent>
) => Effect.Effect<void, StoreError.ProjectionFailed | StoreError.StoreUnavailable>

/** What an atomic append (and its optional document write) gives back. */
export interface Written {
  readonly results: ReadonlyArray<EventStore.AppendResult>
  readonly documentVersion: bigint | undefined
}

type AtomicError =
  | StoreError.ProjectionFailed
  | StoreError.WrongExpectedVersion
  | StoreError.StreamDeleted
  | StoreError.StoreUnavailable
  | StoreError.DocumentConflict
  | SqlError

const decodeStreams = Rows.decodeAll(Rows.StreamRow)
const decodeStored = Rows.decodeAll(
  Schema.Struct({ event_id: Schema.String, stream: Schema.String, version: Rows.Int64, position: Rows.Int64 })
)

// Splits rows so no INSERT binds more parameters than the dialect allows.
const chunks = <A>(rows: ReadonlyArray<A>, perRow: number, maxParams: number) => {
  const size = Math.max(1, Math.floor(maxParams / perRow))
  const out: Array<NonEmptyReadonlyArray<A>> = []
  for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size) as unknown as NonEmptyReadonlyArray<A>)
  return out
}

// A conflict the one-round-trip path has shown is no replay (none of its event ids is stored): it
// goes to the caller as it is, without the replay check's extra round trip.
class SettledConflict {
  readonly conflict: StoreError.WrongExpectedVersion
  constructor(conflict: StoreError.WrongExpectedVersion) {
    this.conflict = conflict
  }
}

const input = (ctx: StoreContext, plan: Plan, now: number): AppendOneInput => ({
  stream: plan.request.stream,
  category: StreamName.category(plan.request.stream),
  expected: plan.request.expected ?? ExpectedVersion.any,
  events: plan.prepared,
  createdAt: ctx.dialect.time(now)
})

export const make = (
  ctx: StoreContext,
  rows: StreamRows,
  documents: DocumentWrites,
  beforeCommit?: { readonly current: BeforeCommit | undefined }
) => {
  const { dialect, sql } = ctx

  // The events just inserted, as readers will see them (only when work must run before the commit).
  const readBack = (ids: ReadonlyArray<string>) =>
    Effect.gen(function*() {
      const found: Array<Event.RecordedEvent> = []
      const size = Math.min(500, dialect.maxParams)
      for (let i = 0; i < ids.length; i += size) {
        found.push(
          ...yield* ctx.events(
            sql`SELECT ${sql.literal(Rows.eventColumns)} FROM strata_events WHERE ${
              sql.in("event_id", ids.slice(i, i + size))
            }`
          )
        )
      }
      return found.sort((a, b) => a.position < b.position ? -1 : a.position > b.position ? 1 : 0)
    })

  // ---- transactional: lock, check, insert, move the stream rows, commit ----

  const inTransaction = (write: Transactional) =>
  (
    plans: ReadonlyArray<Plan>,
    now: number,
    document?: DocumentWrite
  ): Effect.Effect<Written, AtomicError> =>
    ctx.transaction(
      "append",
      Effect.gen(function*() {
        const locked = yield* decodeStreams(write.lockStreams(sql, plans.map((plan) => plan.request.stream)))
        const byName = new Map(locked.map((row) => [row.stream, row]))
        const writes: Array<{ plan: Plan; first: bigint }> = []
        for (const plan of plans) {
          const { stream } = plan.request
          const row = byName.get(stream)
          if (StreamGuard.tombstoned(row)) return yield* new StoreError.StreamDeleted({ stream, tombstoned: true })
          const state = StreamGuard.state(row)
          const conflict = ExpectedVersion.check(stream, plan.request.expected, state)
          if (conflict !== undefined) return yield* conflict
          writes.push({ plan, first: (state.lastVersion ?? -1n) + 1n })
        }
        yield* write.beforeInsert(sql)
        const createdAt = dialect.time(now)
        const eventRows = writes.flatMap(({ first, plan }) =>
          plan.prepared.map((event, i) => ({
            event_id: event.id,
            stream: plan.request.stream,
            version: first + BigInt(i),
            category: StreamName.category(plan.request.stream),
            type: event.type,
            data: event.data,
            metadata: event.metadata,
            created_at: createdAt
          }))
        )
        const positions = new Map<string, bigint>()
        for (const chunk of chunks(eventRows, 8, dialect.maxParams)) {
          const inserted = yield* sql<{ stream: string; position: bigint | number }>`INSERT INTO strata_events ${
            sql.insert(chunk)
          } RETURNING stream, position`
          for (const row of inserted) {
            const position = BigInt(row.position)
            if (position > (positions.get(row.stream) ?? -1n)) positions.set(row.stream, position)
          }
        }
        const streamRows = writes.map(({ first, plan }) => ({
          stream: plan.request.stream,
          last_version: first + BigInt(plan.prepared.length) - 1n,
          deleted: false
        }))
        for (const chunk of chunks(streamRows, 3, dialect.maxParams)) {
          yield* sql`INSERT INTO strata_streams ${
            sql.insert(chunk)
          } ON CONFLICT (stream) DO UPDATE SET last_version = excluded.last_version, deleted = excluded.deleted`
        }
        const documentVersion = document === undefined
          ? undefined
          : yield* documents.writeDocument(document.collection, document.id, document.json, document.expected)
        const hook = beforeCommit?.current
        if (hook !== undefined) yield* hook(yield* readBack(eventRows.map((row) => row.event_id)))
        // Subscribers in this process wake once the outermost transaction has committed.
        yield* sql.afterCommit(ctx.wake)
        const results = writes.map(({ first, plan }): EventStore.AppendResult => ({
          stream: plan.request.stream,
          nextExpectedVersion: first + BigInt(plan.prepared.length) - 1n,
          position: positions.get(plan.request.stream)!
        }))
        return { results, documentVersion }
      })
    )

  // ---- one round trip: the hot path of every single-stream append (plain combinators, no generator) ----

  const wakeAfterCommit = sql.afterCommit(ctx.wake)
  const inOneStatement = (appendOne: NonNullable<Transactional["appendOne"]>) => (plan: Plan, now: number) => {
    const one = input(ctx, plan, now)
    return Effect.flatMap(
      appendOne(sql, one),
      (outcome): Effect.Effect<
        ReadonlyArray<EventStore.AppendResult>,
        StoreError.StreamDeleted | StoreError.WrongExpectedVersion | StoreError.StoreUnavailable | SettledConflict
      > => {
        switch (outcome._tag) {
          case "Raced":
            return Effect.fail(new StoreError.StoreUnavailable({ operation: "append", reason: "ConcurrentWrite" }))
          case "Tombstoned":
            return Effect.fail(new StoreError.StreamDeleted({ stream: one.stream, tombstoned: true }))
          case "Conflict": {
            const conflict = new StoreError.WrongExpectedVersion({
              stream: one.stream,
              expected: ExpectedVersion.format(one.expected),
              actual: outcome.actual
            })
            return Effect.fail(outcome.replay === false ? new SettledConflict(conflict) : conflict)
          }
          case "Ok":
            return Effect.as(wakeAfterCommit, [{
              stream: one.stream,
              nextExpectedVersion: outcome.lastVersion,
              position: outcome.position
            }])
        }
      }
    )
  }

  // ---- batched (no transactions): the batch's own statements enforce every check ----

  const inBatch = (write: Batched) =>
  (
    plans: ReadonlyArray<Plan>,
    now: number,
    document?: DocumentWrite
  ): Effect.Effect<Written, AtomicError> =>
    Effect.gen(function*() {
      const batch: AppendBatchInput = { appends: plans.map((plan) => input(ctx, plan, now)), document }
      const outcome = yield* write.appendBatch(sql, batch)
      if (outcome._tag === "Ok") {
        yield* ctx.wake
        return {
          results: outcome.results.map((result) => ({
            stream: result.stream,
            nextExpectedVersion: result.lastVersion,
            position: result.position
          })),
          documentVersion: outcome.documentVersion
        }
      }
      // A guard failed and nothing was written: find the first part that explains it.
      for (const append of batch.appends) {
        const problem = yield* rows.diagnose(append.stream, append.expected)
        if (problem !== undefined) return yield* problem
      }
      if (document !== undefined) {
        const row = yield* documents.documentRow(document.collection, document.id)
        const conflict = DocumentCodec.conflict(document.collection, document.id, document.expected, row?.version)
        if (conflict !== undefined) return yield* conflict
      }
      // The state moved on between the batch and the re-read; the caller may simply try again.
      return yield* new StoreError.StoreUnavailable({ operation: "append", reason: "ConcurrentWrite" })
    })

  const write = dialect.write
  /** Appends atomically, with an optional document write in the same transaction or batch. */
  const atomically = write._tag === "Batched" ? inBatch(write) : inTransaction(write)
  const viaAtomically = (plan: Plan, now: number) => Effect.map(atomically([plan], now), ({ results }) => results)
  // The one-statement path only when nothing else must commit with the append: not with inline work
  // registered, and not inside a caller's transaction (a failed statement there would abort it; the
  // transactional path runs in a savepoint).
  const single: (
    plan: Plan,
    now: number
  ) => Effect.Effect<ReadonlyArray<EventStore.AppendResult>, AtomicError | SettledConflict> =
    write._tag === "Transactional" && write.appendOne !== undefined
      ? ((fast) =>
      (plan: Plan, now: number): Effect.Effect<ReadonlyArray<EventStore.AppendResult>, AtomicError | SettledConflict> =>
        beforeCommit?.current !== undefined
          ? viaAtomically(plan, now)
          : Effect.flatMap(
            Effect.serviceOption(sql.transactionService),
            (open): Effect.Effect<ReadonlyArray<EventStore.AppendResult>, AtomicError | SettledConflict> =>
              open._tag === "Some" ? viaAtomically(plan, now) : fast(plan, now)
          ))(inOneStatement(write.appendOne))
      : viaAtomically

  // ---- replays ----

  // After a failed append: which parts were already stored by an earlier, identical append?
  const classify = (plans: ReadonlyArray<Plan>) =>
    Effect.gen(function*() {
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

  const commit = (
    plans: ReadonlyArray<Plan>,
    now: number,
    retried = false
  ): Effect.Effect<
    ReadonlyArray<EventStore.AppendResult>,
    | StoreError.WrongExpectedVersion
    | StoreError.StreamDeleted
    | StoreError.DuplicateEvent
    | StoreError.ProjectionFailed
    | StoreError.StoreUnavailable
  > =>
    (plans.length === 1 ? single(plans[0], now) : Effect.map(atomically(plans, now), ({ results }) => results)).pipe(
      Effect.catch((error) =>
        Effect.gen(function*() {
          if (error instanceof SettledConflict) return yield* error.conflict
          if (
            error._tag === "StreamDeleted" || error._tag === "StoreUnavailable" || error._tag === "ProjectionFailed"
          ) {
            return yield* error
          }
          // Only a document write can conflict, and plain appends carry none.
          if (error._tag === "DocumentConflict") return yield* Effect.die(error)
          if (error._tag === "SqlError" && !dialect.isUniqueViolation(error)) {
            return yield* ctx.unavailable("append")(error)
          }
          const outcomes = yield* classify(plans).pipe(Effect.catchTag("SqlError", ctx.unavailable("append")))
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
          if (retried) {
            return yield* new StoreError.StoreUnavailable({ operation: "append", reason: "ConcurrentWrite" })
          }
          const written = fresh.length === 0 ? [] : yield* commit(fresh, now, true)
          let next = 0
          return outcomes.map((outcome) => outcome._tag === "Replay" ? outcome.result : written[next++])
        })
      )
    )

  const append: EventStore.EventStoreShape["append"] = (stream, events, appendOptions) =>
    Effect.suspend(() =>
      Effect.flatMap(
        AppendPlan.one({ stream, events, expected: appendOptions?.expected }, ctx.maxEventBytes),
        (plan) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.map(commit([plan], now), ([result]) => result))
      )
    )

  const appendMany: EventStore.EventStoreShape["appendMany"] = (requests) =>
    Effect.gen(function*() {
      const plans = yield* AppendPlan.many("appendMany", requests, ctx.maxEventBytes)
      return yield* commit(plans, yield* Clock.currentTimeMillis)
    })

  return { append, appendMany, atomically, classify }
}

export type Appender = ReturnType<typeof make>
