/**
 * The in-memory backend: a complete implementation of the EventStore and DocumentStore contract,
 * for tests and for programs that need no durability.
 *
 * Every write runs as one synchronous step (JavaScript runs one fiber at a time between
 * suspensions), so checks and writes are atomic without locks: concurrent fibers appending to one
 * stream can never produce duplicate or missing versions.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Consumer from "./Consumer.ts"
import { DocumentStore } from "./DocumentStore.ts"
import * as Event from "./Event.ts"
import { EventStore } from "./EventStore.ts"
import * as Admin from "./internal/memory/admin.ts"
import * as Documents from "./internal/memory/documents.ts"
import * as Events from "./internal/memory/events.ts"
import * as State from "./internal/memory/state.ts"
import * as Lease from "./Lease.ts"
import * as ParkedEvents from "./ParkedEvents.ts"
import { StoreAdmin } from "./StoreAdmin.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface MemoryStoreOptions {
  /** Largest event (data + metadata as UTF-8 JSON). Default 1 MiB. */
  readonly maxEventBytes?: number | undefined
  /** Events per page for reads and subscriptions. Default 256. */
  readonly pageSize?: number | undefined
}

/**
 * Builds an in-memory EventStore and DocumentStore sharing one state (so `put` can carry events).
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = Effect.fnUntraced(function*(options: MemoryStoreOptions = {}) {
  const settings = {
    maxEventBytes: options.maxEventBytes ?? Event.defaultMaxEventBytes,
    pageSize: options.pageSize ?? 256
  }
  const state = yield* State.make
  const { commit, eventStore } = Events.make(state, settings)
  return { eventStore, documentStore: Documents.make(state, commit, settings), admin: Admin.make(state) }
})

/**
 * An in-memory EventStore and DocumentStore, sharing one state, with transactional consumer
 * checkpoints, a parked-events store, an in-memory `Lease.LeaseStore` and their StoreAdmin.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  options?: MemoryStoreOptions
): Layer.Layer<EventStore | DocumentStore | StoreAdmin | Lease.LeaseStore> =>
  Layer.effectContext(
    Effect.zipWith(
      make(options),
      Lease.makeMemory,
      ({ admin, documentStore, eventStore }, leases) =>
        Context.make(EventStore, eventStore).pipe(
          Context.add(DocumentStore, documentStore),
          Context.add(StoreAdmin, admin),
          Context.add(Consumer.Checkpoints, checkpoints),
          Context.add(ParkedEvents.ParkedEvents, ParkedEvents.makeMemory()),
          Context.add(Lease.LeaseStore, leases)
        )
    )
  )

/**
 * Consumer checkpoints for the in-memory backend, with the transactional semantics of the SQL
 * backends: a handler's document writes and the checkpoint commit together, and a batch whose
 * handler fails (or is interrupted) leaves neither. Events a handler appends are not undone
 * (they may already have been delivered to subscribers). {@link layer} provides it.
 *
 * @category constructors
 * @since 0.1.0
 */
export const checkpoints: Consumer.CheckpointStore = {
  load: Consumer.storeCheckpoints.load,
  commit: (name, position, work) => State.unitOfWork(Consumer.storeCheckpoints.commit(name, position, work))
}
