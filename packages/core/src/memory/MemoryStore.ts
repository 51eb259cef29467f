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
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Backend from "../backend/Backend.ts"
import * as LeaseStore from "../backend/LeaseStore.ts"
import * as ParkedEvents from "../backend/ParkedEvents.ts"
import * as Event from "../Event.ts"
import * as JobStore from "../jobs/JobStore.ts"
import * as Store from "../store/Store.ts"
import * as Admin from "./internal/admin.ts"
import * as Documents from "./internal/documents.ts"
import * as Events from "./internal/events.ts"
import * as State from "./internal/state.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface MemoryStoreOptions extends Store.LayerOptions {
  /** Largest event (data + metadata as UTF-8 JSON). Default 1 MiB. */
  readonly maxEventBytes?: number | undefined
  /** Events per page for reads and subscriptions. Default 256. */
  readonly pageSize?: number | undefined
}

/**
 * The in-memory backend's record: an EventStore and a DocumentStore sharing one state (so `put` can
 * carry events), units of work under one writer lock, an in-memory lease store, parked-events
 * store and job store that join those units.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = Effect.fnUntraced(function*(options: MemoryStoreOptions = {}) {
  const maxEventBytes = options.maxEventBytes ?? Event.defaultMaxEventBytes
  const settings = { maxEventBytes, pageSize: options.pageSize ?? 256 }
  const state = yield* State.make
  const hooks: { afterWrite: Events.AfterWrite | undefined } = { afterWrite: undefined }
  const events = Events.make(state, settings, hooks)
  return {
    name: "memory",
    eventStore: events.eventStore,
    documentStore: Documents.make(state, events, settings),
    admin: Admin.make(state),
    commit: { _tag: "Transactional", transaction: events.transaction },
    leases: yield* LeaseStore.makeMemory,
    // Jobs that commit and roll back with the store's units of work (`JobQueue.layerStore`).
    jobs: yield* JobStore.makeMemory("memory", {
      current: Effect.map(state.journal, (journal) =>
        journal === undefined ? undefined : {
          onRollback: (undo) => void journal.push(undo),
          onCommit: (step) => void journal.commits.push(step)
        })
    }),
    parkedEvents: ParkedEvents.makeMemory({
      record: (undo) => State.onRollback(state, undo),
      unit: State.unitOfWork(state)
    }),
    beforeCommit: (work) => {
      hooks.afterWrite = work
    },
    capabilities: Backend.capabilities({ maxEventBytes, dcb: true })
  } satisfies Backend.Backend
})

/**
 * The in-memory store: every service of a store (`Store.Services`), decorated (see `Store.layer`).
 *
 * @example
 * ```ts
 * import { MemoryStore } from "@strata/core"
 *
 * const StoreLive = MemoryStore.layer()
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options?: MemoryStoreOptions): Layer.Layer<Store.Services, never> =>
  // Memory runs inline projections, so the derivation never refuses them.
  Store.layerBackend(make(options), options) as Layer.Layer<Store.Services, never>
