// What the paths of the append pipeline share: the store's context together with the stream rows and
// document statements they write and diagnose with, the work that must commit with an append, and
// what an atomic write takes and gives back.
import { type Event, type EventStore, ExpectedVersion, type StoreError, StreamName } from "@strata/core"
import type { AppendPlan, Backend } from "@strata/core/backend"
import type * as Effect from "effect/Effect"
import type { SqlError } from "effect/sql/SqlError"
import type { AppendOneInput, AppendOneOutcome, DocumentWrite } from "../Dialect.ts"
import type { StoreContext } from "./context.ts"
import type { DocumentWrites } from "./documentWrites.ts"
import type { StreamRows } from "./streams.ts"

export type Plan = AppendPlan.AppendPlan

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

export type AtomicError =
  | StoreError.ProjectionFailed
  | StoreError.AppendConditionFailed
  | StoreError.WrongExpectedVersion
  | StoreError.StreamDeleted
  | StoreError.StoreUnavailable
  | StoreError.DocumentConflict
  | SqlError

/** Appends atomically, with an optional document write in the same transaction or batch. */
export type Atomically = (
  plans: ReadonlyArray<Plan>,
  now: number,
  document?: DocumentWrite
) => Effect.Effect<Written, AtomicError>

export interface AppendContext extends StoreContext {
  readonly rows: StreamRows
  readonly documents: DocumentWrites
  /** Read at each append, as core fills it in once the store has inline projections. */
  readonly beforeCommit: Inline | undefined
  /** The backend's synchronous append, which runs inline work in the same write (SQLite). */
  readonly syncAppend: SyncAppend | undefined
}

/** The inline work of a store (its projections) and the event types it acts on. */
export interface Inline {
  current: BeforeCommit | undefined
  types: ReadonlySet<string>
  /** The same work run synchronously (`Backend.SyncInlineWork`), for the synchronous path. */
  sync: Backend.SyncInlineWork | undefined
}

/**
 * Statements run synchronously on the connection of a {@link SyncAppend}, only from inside its
 * `then`: the rows a statement gives (none for one without RETURNING), integers as `bigint`s. A
 * database error is thrown.
 */
export interface SyncStatements {
  readonly all: (sql: string, params: ReadonlyArray<string | bigint | number | null>) => Array<Record<string, unknown>>
}

/**
 * A single-stream append as one synchronous write with more work in it, before it commits (SQLite's
 * `SqliteAppend.appendSync`): the same checks and outcome as the dialect's `appendOne`; once the events
 * and the stream row are written, `then` runs with the version of the first event and each event's
 * position, and may use `statements`. A throw from `then` rolls the whole write back and fails it.
 */
export interface SyncAppend {
  readonly statements: SyncStatements
  readonly append: (
    input: AppendOneInput,
    then: (first: bigint, positions: ReadonlyArray<bigint>) => void
  ) => Effect.Effect<AppendOneOutcome, SqlError>
}

/** One plan as the dialect's single-stream statement (or one part of a batch) takes it. */
export const input = (ctx: StoreContext, plan: Plan, now: number): AppendOneInput => ({
  stream: plan.request.stream,
  category: StreamName.category(plan.request.stream),
  expected: plan.request.expected ?? ExpectedVersion.any,
  events: plan.prepared,
  createdAt: ctx.dialect.time(now)
})
