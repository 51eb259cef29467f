// The one state the in-memory backend's events and documents share, so a `put` can carry events.
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as PubSub from "effect/PubSub"
import * as Semaphore from "effect/Semaphore"
import * as Subscription from "../../backend/Subscription.ts"
import type { RecordedEvent } from "../../Event.ts"

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
  /** Wakes subscriptions after every commit that stored events. */
  readonly signal: PubSub.PubSub<void>
  /** The writer lock: one unit of work (a plain append is one too) writes at a time. */
  readonly lock: Semaphore.Semaphore
  /**
   * The read horizon: readers see `log[0 .. visible)`. Events of the open unit of work lie above it
   * (writers are serialised, so they are the log's tail) until it commits.
   */
  visible: number
  /** True while a unit of work holds the writer lock (so a plain append may not skip it). */
  busy: boolean
  /** Where a unit of work keeps its undo journal (one key per store); read it through `journal`. */
  readonly journalRef: Context.Reference<Journal | undefined>
  /**
   * The undo journal of the open unit of work the current fiber runs in, if any. A fiber that
   * outlives its unit (forked inside, still running after) is outside any unit again.
   */
  readonly journal: Effect.Effect<Journal | undefined>
}

/**
 * Undo steps of a unit of work, run in reverse on rollback; `open` until the unit ends. `commits`
 * run when the outermost unit commits (a job enqueued in the unit becomes visible to workers then).
 */
export type Journal = Array<() => void> & { open: boolean; readonly commits: Array<() => void> }

const newJournal = (): Journal => Object.assign([] as Array<() => void>, { open: true, commits: [] })

let stores = 0

export const make: Effect.Effect<State> = Effect.map(Subscription.makeSignal, (signal) => {
  const journalRef = Context.Reference<Journal | undefined>(`@strata/core/MemoryStore/Journal/${++stores}`, {
    defaultValue: () => undefined
  })
  return {
    streams: new Map(),
    log: [],
    eventIds: new Map(),
    snapshots: new Map(),
    checkpoints: new Map(),
    documents: new Map(),
    signal,
    lock: Semaphore.makeUnsafe(1),
    visible: 0,
    busy: false,
    journalRef,
    journal: Effect.map(journalRef, (journal) => journal?.open === true ? journal : undefined)
  }
})

export const lastVersionOf = (record: StreamRecord | undefined): bigint | undefined =>
  record === undefined || record.events.length === 0 ? undefined : BigInt(record.events.length - 1)

/**
 * The read horizon of the current fiber: inside a unit of work of this store it sees the unit's own
 * writes (the whole log: the lock holder is the only writer), outside only what is committed.
 */
export const horizon = (state: State): Effect.Effect<number> =>
  Effect.map(state.journal, (journal) => journal === undefined ? state.visible : state.log.length)

/** The number of a stream's events at or below `horizon` (its uncommitted ones are its tail). */
export const visibleCount = (record: StreamRecord, horizon: number): number => {
  let n = record.events.length
  while (n > 0 && Number(record.events[n - 1].position) > horizon) n--
  return n
}

/** Records an undo step in the current unit of work (there is always one around a write). */
export const onRollback = (state: State, undo: () => void): Effect.Effect<void> =>
  Effect.map(state.journal, (journal) => {
    journal?.push(undo)
  })

/**
 * Runs `work` as a unit of work of this store: under the writer lock, with an undo journal; on
 * success the read horizon moves past its events and subscribers are woken, on failure or
 * interruption its writes are undone in reverse. Inside another unit of work of the same store it is
 * a savepoint: its own writes are undone on failure, and join the outer unit on success.
 */
export const unitOfWork = (state: State) => <A, E, R>(work: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.flatMap(state.journal, (outer) => {
    const undo = (journal: Journal) =>
      Effect.sync(() => {
        journal.open = false
        journal.reverse().forEach((step) => step())
      })
    if (outer !== undefined) {
      return Effect.suspend(() => {
        const journal = newJournal()
        return work.pipe(
          Effect.provideService(state.journalRef, journal),
          Effect.onExit((exit) =>
            exit._tag === "Success"
              ? Effect.sync(() => {
                journal.open = false
                outer.push(...journal)
                outer.commits.push(...journal.commits)
              })
              : undo(journal)
          )
        )
      })
    }
    return state.lock.withPermits(1)(Effect.suspend(() => {
      const journal = newJournal()
      state.busy = true
      return work.pipe(
        Effect.provideService(state.journalRef, journal),
        Effect.onExit((exit) => {
          state.busy = false
          if (exit._tag === "Failure") return undo(journal)
          return Effect.sync(() => {
            journal.open = false
            journal.commits.forEach((step) => step())
            const grew = state.log.length > state.visible
            state.visible = state.log.length
            if (grew) PubSub.publishUnsafe(state.signal, undefined)
          })
        })
      )
    }))
  })
