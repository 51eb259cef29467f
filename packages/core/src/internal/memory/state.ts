// The one state the in-memory backend's events and documents share, so a `put` can carry events.
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as PubSub from "effect/PubSub"
import type { RecordedEvent } from "../../Event.ts"
import * as Subscription from "../../Subscription.ts"

export interface StreamRecord {
  readonly name: string
  readonly events: Array<RecordedEvent>
  deleted: boolean
  tombstoned: boolean
  truncateBefore: bigint | undefined
  maxCount: number | undefined
  maxAgeMillis: number | undefined
}

export interface StoredDocument {
  readonly version: bigint
  readonly json: string
  readonly encoded: unknown
}

export interface StoredSnapshot {
  readonly version: bigint
  readonly state: string
  readonly schemaVersion: number
  readonly createdAt: Date
}

export interface State {
  readonly streams: Map<string, StreamRecord>
  readonly log: Array<RecordedEvent>
  readonly eventIds: Map<string, RecordedEvent>
  readonly snapshots: Map<string, StoredSnapshot>
  readonly checkpoints: Map<string, bigint>
  readonly documents: Map<string, Map<string, StoredDocument>>
  /** Wakes subscriptions after every write that stored events. */
  readonly signal: PubSub.PubSub<void>
}

export const make: Effect.Effect<State> = Effect.map(Subscription.makeSignal, (signal) => ({
  streams: new Map(),
  log: [],
  eventIds: new Map(),
  snapshots: new Map(),
  checkpoints: new Map(),
  documents: new Map(),
  signal
}))

export const lastVersionOf = (record: StreamRecord | undefined): bigint | undefined =>
  record === undefined || record.events.length === 0 ? undefined : BigInt(record.events.length - 1)

/**
 * The undo journal of the unit of work the current fiber runs in (a consumer's batch and its
 * checkpoint): document writes push their undo here, and a failed or interrupted unit runs them in
 * reverse. Outside a unit of work there is none.
 */
export const Journal = Context.Reference<Array<() => void> | undefined>("@strata/core/MemoryStore/Journal", {
  defaultValue: () => undefined
})

/** Runs `work` as a unit of work: its document writes are undone if it fails or is interrupted. */
export const unitOfWork = <A, E, R>(work: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.suspend(() => {
    const journal: Array<() => void> = []
    return work.pipe(
      Effect.provideService(Journal, journal),
      Effect.onError(() => Effect.sync(() => journal.reverse().forEach((undo) => undo())))
    )
  })
