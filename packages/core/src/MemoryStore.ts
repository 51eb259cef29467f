/**
 * The in-memory backend: a complete implementation of the EventStore and DocumentStore contract,
 * for tests and for programs that need no durability.
 *
 * Writes that must commit together run as a unit of work under one writer lock, with an undo
 * journal: a failed or interrupted unit (a `UnitOfWork.transaction`, a consumer's batch, an append
 * whose inline projection fails) is rolled back, events and documents alike, and readers see a
 * unit's events only once it commits. A plain append while no unit is open (and no inline projection
 * is registered) checks and writes in one synchronous step instead, atomic without the lock
 * (JavaScript runs one fiber at a time between suspensions): concurrent fibers appending to one
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
import * as Projection from "./Projection.ts"
import { StoreAdmin } from "./StoreAdmin.ts"
import * as UnitOfWork from "./UnitOfWork.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface MemoryStoreOptions {
  /** Largest event (data + metadata as UTF-8 JSON). Default 1 MiB. */
  readonly maxEventBytes?: number | undefined
  /** Events per page for reads and subscriptions. Default 256. */
  readonly pageSize?: number | undefined
  /** Inline projections: run inside every append's unit of work (see `Projection`). */
  readonly projections?: ReadonlyArray<Projection.Any> | undefined
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
  const hooks: { afterWrite: Events.AfterWrite | undefined } = { afterWrite: undefined }
  const events = Events.make(state, settings, hooks)
  const documentStore = Documents.make(state, events, settings)
  const projections = options.projections ?? []
  if (projections.length > 0) hooks.afterWrite = Projection.applyInline(projections, documentStore)
  const unitOfWork: UnitOfWork.UnitOfWorkShape = {
    backend: "memory",
    interactive: true,
    transaction: events.transaction
  }
  const parkedEvents = ParkedEvents.makeMemory({
    record: (undo) => State.onRollback(state, undo),
    unit: State.unitOfWork(state)
  })
  return { eventStore: events.eventStore, documentStore, unitOfWork, parkedEvents, admin: Admin.make(state) }
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
      ({ admin, documentStore, eventStore, parkedEvents, unitOfWork }, leases) =>
        Context.make(EventStore, eventStore).pipe(
          Context.add(DocumentStore, documentStore),
          Context.add(UnitOfWork.UnitOfWork, unitOfWork),
          Context.add(StoreAdmin, admin),
          Context.add(Consumer.Checkpoints, {
            load: Consumer.storeCheckpoints.load,
            commit: (name, position, work) =>
              unitOfWork.transaction(Consumer.storeCheckpoints.commit(name, position, work))
          } as Consumer.CheckpointStore),
          Context.add(ParkedEvents.ParkedEvents, parkedEvents),
          Context.add(Lease.LeaseStore, leases)
        )
    )
  )

/**
 * Consumer checkpoints that commit with the handler's work as one unit of work of the store in
 * context (`UnitOfWork`): a handler's document writes, the events it appends and the checkpoint commit
 * together, and a batch whose handler fails (or is interrupted) leaves none of them. {@link layer}
 * provides the same for its own store; where the store in context has no interactive units of work,
 * this is `Consumer.storeCheckpoints`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const checkpoints: Consumer.CheckpointStore = {
  load: Consumer.storeCheckpoints.load,
  commit: (name, position, work) =>
    Effect.flatMap(UnitOfWork.UnitOfWork, (unit) =>
      unit.interactive
        // Interactive units never fail with Unsupported.
        ? (unit.transaction(Consumer.storeCheckpoints.commit(name, position, work)) as Effect.Effect<any, any, any>)
        : Consumer.storeCheckpoints.commit(name, position, work))
}
