// What the paths of the append pipeline share: the store's context together with the stream rows and
// document statements they write and diagnose with, the work that must commit with an append, and
// what an atomic write takes and gives back.
import { type Event, type EventStore, ExpectedVersion, type StoreError, StreamName } from "@strata/core"
import type { AppendPlan } from "@strata/core/backend"
import type * as Effect from "effect/Effect"
import type { SqlError } from "effect/sql/SqlError"
import type { AppendOneInput, DocumentWrite } from "../Dialect.ts"
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
}

/** The inline work of a store (its projections) and the event types it acts on. */
export interface Inline {
  current: BeforeCommit | undefined
  types: ReadonlySet<string>
}

/** One plan as the dialect's single-stream statement (or one part of a batch) takes it. */
export const input = (ctx: StoreContext, plan: Plan, now: number): AppendOneInput => ({
  stream: plan.request.stream,
  category: StreamName.category(plan.request.stream),
  expected: plan.request.expected ?? ExpectedVersion.any,
  events: plan.prepared,
  createdAt: ctx.dialect.time(now)
})
