/**
 * Where supervised consumers park poison events: an event whose handler failed too often is set
 * aside here, with the error, so the consumer can move on; it stays until it is replayed or discarded
 * (`Consumer.make(...).replay` / `.discard`).
 *
 * The algorithm (counting failures, parking, replaying) lives once in `Consumer`; this module is only
 * the storage, a small service in the shape of effect's `PersistedQueueStore`: {@link makeMemory} here,
 * a table on the SQL backends (`@strata/sql`, the `strata_parked_events` table), which every backend
 * layer provides. Where a backend keeps none, its layer provides {@link unsupported}, so a consumer
 * configured to park refuses to start instead of losing events.
 *
 * An entry names the event (stream, version, position, id, type); its data stays in the log, where
 * a replay reads it back.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import { identity } from "effect/Function"
import { InvalidArgument, type StoreUnavailable, Unsupported } from "../StoreError.ts"

/**
 * One parked event of one consumer.
 *
 * @category models
 * @since 0.1.0
 */
export interface ParkedEvent {
  readonly consumer: string
  readonly position: bigint
  readonly stream: string
  readonly version: bigint
  /** The event's id and type, named as on `RecordedEvent`. */
  readonly id: string
  readonly type: string
  /** The last failure, as text (its message, or its tag). */
  readonly error: string
  /** How many times the handler failed on it (replays included). */
  readonly attempts: number
  readonly parkedAt: Date
}

/**
 * Errors of the parked-events store.
 *
 * @category errors
 * @since 0.1.0
 */
export type ParkedEventsError = InvalidArgument | StoreUnavailable | Unsupported

/**
 * The storage of parked events.
 *
 * @category models
 * @since 0.1.0
 */
export interface ParkedEventStore {
  /** Parks an event, or replaces the entry at the same `(consumer, position)`. */
  readonly park: (entry: ParkedEvent) => Effect.Effect<void, ParkedEventsError>
  /** A consumer's parked events, by position. */
  readonly list: (consumer: string) => Effect.Effect<ReadonlyArray<ParkedEvent>, ParkedEventsError>
  readonly count: (consumer: string) => Effect.Effect<number, ParkedEventsError>
  /** Removes an entry; false when there was none. */
  readonly remove: (consumer: string, position: bigint) => Effect.Effect<boolean, ParkedEventsError>
  /**
   * Runs `work` (the handler replaying the event) and removes the entry, in one transaction where the
   * backend has them (so a replayed projection write and the removal commit together), else one after
   * the other. Fails with `InvalidArgument` when nothing is parked there.
   */
  readonly settle: <A, X, R>(
    consumer: string,
    position: bigint,
    work: Effect.Effect<A, X, R>
  ) => Effect.Effect<A, X | ParkedEventsError, R>
}

/**
 * A store that refuses every operation with `Unsupported`: the default, for backends that keep no
 * parked events.
 *
 * @category constructors
 * @since 0.1.0
 */
export const unsupported = (backend: string, detail = "this backend keeps no parked events"): ParkedEventStore => {
  const refuse = (operation: string) =>
    Effect.fail(
      new Unsupported({
        operation: `ParkedEvents.${operation}`,
        backend,
        detail: `${detail}; run the consumer without parkAfter, or provide a ParkedEvents store`
      })
    )
  return {
    park: () => refuse("park"),
    list: () => refuse("list"),
    count: () => refuse("count"),
    remove: () => refuse("remove"),
    settle: () => refuse("settle")
  }
}

/**
 * The parked-events store consumers use. Every store layer provides one: its backend's storage, or
 * {@link unsupported} where the backend keeps none.
 *
 * @category services
 * @since 0.1.0
 */
export class ParkedEvents extends Context.Service<ParkedEvents, ParkedEventStore>()("@strata/core/ParkedEvents") {}

/**
 * The error a store returns when `settle` finds nothing parked.
 *
 * @category constructors
 * @since 0.1.0
 */
export const notParked = (consumer: string, position: bigint): InvalidArgument =>
  new InvalidArgument({
    operation: "ParkedEvents.settle",
    detail: `consumer ${JSON.stringify(consumer)} has no parked event at position ${position}`
  })

/**
 * How an in-memory parked-events store joins a unit of work of the store beside it: `record` notes
 * how to undo a write if the current unit rolls back, `unit` runs an effect as one unit of work.
 *
 * @category models
 * @since 0.1.0
 */
export interface MemoryUnits {
  readonly record: (undo: () => void) => Effect.Effect<void>
  readonly unit: <A, E, R>(work: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

/**
 * An in-memory store. Given the units of work of a `MemoryStore` (its layer passes them), its writes
 * inside a unit (a consumer batch) are undone with the batch, as on the SQL backends; without, each
 * write stands on its own.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeMemory = (units?: MemoryUnits): ParkedEventStore => {
  const entries = new Map<string, Map<bigint, ParkedEvent>>()
  const of = (consumer: string) => {
    let map = entries.get(consumer)
    if (map === undefined) entries.set(consumer, map = new Map())
    return map
  }
  // Records how to undo a write when it runs inside a memory unit of work.
  const write = (consumer: string, position: bigint, next: ParkedEvent | undefined) =>
    Effect.suspend(() => {
      const map = of(consumer)
      const before = map.get(position)
      if (next === undefined) map.delete(position)
      else map.set(position, next)
      const undo = () => {
        if (before === undefined) map.delete(position)
        else map.set(position, before)
      }
      return Effect.as(units?.record(undo) ?? Effect.void, before !== undefined)
    })
  return {
    park: (entry) => Effect.asVoid(write(entry.consumer, entry.position, entry)),
    list: (consumer) =>
      Effect.sync(() => [...of(consumer).values()].sort((a, b) => (a.position < b.position ? -1 : 1))),
    count: (consumer) => Effect.sync(() => of(consumer).size),
    remove: (consumer, position) => write(consumer, position, undefined),
    settle: <A, X, R>(consumer: string, position: bigint, work: Effect.Effect<A, X, R>) =>
      (units?.unit ?? identity)(
        Effect.suspend((): Effect.Effect<A, X | InvalidArgument, R> =>
          of(consumer).has(position)
            ? Effect.tap(work, () => write(consumer, position, undefined))
            : Effect.fail(notParked(consumer, position))
        )
      )
  }
}
