/**
 * Every service a store gives, derived once from a backend's record (`Backend.Backend`), and the
 * decorators in the one order that is right.
 *
 * A backend gives one record; {@link make} builds from it:
 * 1. the EventStore and DocumentStore with spans (`strata.append` and the others, recorded around
 *    each attempt), inside `Retry` (transient failures; a short budget for operations, a long one
 *    for subscriptions), inside `Metrics` (outermost, so it counts what callers see); with
 *    `spans: false`, the tracer disabled for every call;
 * 2. `UnitOfWork` and `Consumer.Checkpoints` from how the backend commits (`Backend.Commit`):
 *    transactional and fenced where it commits atomically, at least once where it cannot; both
 *    bounded by `UnitOfWork.Timeout` (default 30 s) where they are transactions;
 * 3. `Lease.LeaseStore` and `ParkedEvents` (the backend's, or stores that refuse with `Unsupported`);
 * 4. inline projections, installed in the backend's append pipeline, or refused with `Unsupported`.
 *
 * Every backend layer (`MemoryStore.layer()`, `SqliteStore.layer(...)`, `PgStore.layer(...)`,
 * `D1Store.layer(...)`, `KurrentStore.layer(...)`) is {@link layerBackend} over its record, decorated
 * by default; {@link layer} decorates one again with other options, from the same undecorated
 * record, so no undecorated copy is ever left in context and nothing is decorated twice.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as References from "effect/References"
import type * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { Backend, guardDcb } from "../backend/Backend.ts"
import * as LeaseStore from "../backend/LeaseStore.ts"
import type * as Otel from "../backend/Otel.ts"
import * as ParkedEvents from "../backend/ParkedEvents.ts"
import * as Subscription from "../backend/Subscription.ts"
import * as Tracing from "../backend/Tracing.ts"
import { DocumentStore, type DocumentStoreShape } from "../DocumentStore.ts"
import { EventStore, type EventStoreShape } from "../EventStore.ts"
import * as Metrics from "../Metrics.ts"
import * as Checkpoints from "../processing/Checkpoints.ts"
import * as Projection from "../processing/Projection.ts"
import * as Retry from "../Retry.ts"
import { StoreAdmin } from "../StoreAdmin.ts"
import { Unsupported } from "../StoreError.ts"
import * as UnitOfWork from "../UnitOfWork.ts"
import * as NamedStore from "./NamedStore.ts"

/**
 * Which decorators a store applies: each is on by default in every backend layer, and
 * {@link layer} is the one place to choose otherwise.
 *
 * @category models
 * @since 0.1.0
 */
export interface StoreOptions {
  /**
   * Retry `StoreUnavailable`: `true` (default) for `Retry.defaultSchedule` (operations) and
   * `Retry.defaultStreamSchedule` (subscriptions), a Schedule for operations, `RetryOptions` for
   * both, or `false` for none.
   */
  readonly retry?: boolean | Schedule.Schedule<unknown, unknown> | Retry.RetryOptions | undefined
  /** Count and time operations: `true` (default), `MetricsOptions` (extra attributes), or `false`. */
  readonly metrics?: boolean | Metrics.MetricsOptions | undefined
  /** Record spans (default `true`); `false` runs every operation with the tracer disabled. */
  readonly spans?: boolean | undefined
}

const untraced = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.provideService(effect, References.TracerEnabled, false)

const untracedStream = <A, E, R>(stream: Stream.Stream<A, E, R>) =>
  Stream.provideService(stream, References.TracerEnabled, false)

const withoutSpans = (self: EventStoreShape): EventStoreShape => ({
  ...self,
  append: (stream, events, options) => untraced(self.append(stream, events, options)),
  appendMany: (requests) => untraced(self.appendMany(requests)),
  read: (stream, options) => untracedStream(self.read(stream, options)),
  readAll: (options) => untracedStream(self.readAll(options)),
  // Marked, so a handler subscription over it still runs as a feed member (untraced).
  subscribe: (stream, options) => Subscription.untraced(self.subscribe(stream, options)),
  subscribeAll: (options) => Subscription.untraced(self.subscribeAll(options)),
  streamInfo: (stream) => untraced(self.streamInfo(stream)),
  deleteStream: (stream, options) => untraced(self.deleteStream(stream, options)),
  tombstoneStream: (stream, options) => untraced(self.tombstoneStream(stream, options)),
  setRetention: (stream, patch) => untraced(self.setRetention(stream, patch)),
  saveSnapshot: (stream, snapshot) => untraced(self.saveSnapshot(stream, snapshot)),
  loadSnapshot: (stream) => untraced(self.loadSnapshot(stream)),
  saveCheckpoint: (name, position) => untraced(self.saveCheckpoint(name, position)),
  loadCheckpoint: (name) => untraced(self.loadCheckpoint(name))
})

const documentsWithoutSpans = (self: DocumentStoreShape): DocumentStoreShape => ({
  ...self,
  get: (collection, id) => untraced(self.get(collection, id)),
  put: (collection, id, value, options) => untraced(self.put(collection, id, value, options)),
  getMany: (collection, ids) => untraced(self.getMany(collection, ids)),
  writeMany: (collection, writes) => untraced(self.writeMany(collection, writes)),
  delete: (collection, id, options) => untraced(self.delete(collection, id, options)),
  find: (collection, query) => untracedStream(self.find(collection, query)),
  findPage: (collection, query) => untraced(self.findPage(collection, query)),
  count: (collection, query) => untraced(self.count(collection, query))
})

const retryOptions = (options: StoreOptions | undefined) =>
  options?.retry === false ? undefined : options?.retry === true || options?.retry === undefined ? {} : options.retry

const metricsOptions = (options: StoreOptions | undefined) =>
  options?.metrics === false
    ? undefined
    : options?.metrics === true || options?.metrics === undefined
    ? {}
    : options.metrics

/**
 * Decorates an undecorated EventStore as store layers do: spans, then retry, then metrics outermost.
 *
 * @category combinators
 * @since 0.1.0
 */
export const decorateEventStore = (
  self: EventStoreShape,
  options?: StoreOptions,
  connection?: Otel.Connection
): EventStoreShape => {
  const retry = retryOptions(options)
  const metrics = metricsOptions(options)
  let store = Tracing.eventStore(self, connection)
  if (retry !== undefined) store = Retry.withRetry(store, retry)
  if (metrics !== undefined) store = Metrics.withMetrics(store, metrics)
  return options?.spans === false ? withoutSpans(store) : store
}

/**
 * Decorates an undecorated DocumentStore as store layers do: spans, then retry, then metrics outermost.
 *
 * @category combinators
 * @since 0.1.0
 */
export const decorateDocumentStore = (
  self: DocumentStoreShape,
  options?: StoreOptions,
  connection?: Otel.Connection
): DocumentStoreShape => {
  const retry = retryOptions(options)
  const metrics = metricsOptions(options)
  let store = Tracing.documentStore(self, connection)
  if (retry !== undefined) store = Retry.withDocumentRetry(store, retry)
  if (metrics !== undefined) store = Metrics.withDocumentMetrics(store, metrics)
  return options?.spans === false ? documentsWithoutSpans(store) : store
}

/**
 * What every backend layer takes besides its own settings: inline projections. (Decorators are
 * chosen in one place, {@link layer}.)
 *
 * @category models
 * @since 0.1.0
 */
export interface LayerOptions {
  /**
   * Inline projections: run inside every append's atomic step, so a failing one fails the append and
   * nothing is written (see `Projection`). Refused with `Unsupported` by backends whose appends cannot
   * run work before they commit (D1, KurrentDB).
   */
  readonly projections?: ReadonlyArray<Projection.Any> | undefined
}

/**
 * Every service a store layer provides. Nothing here has a default elsewhere: a layer that lacked one
 * would not type-check where it is used.
 *
 * @category models
 * @since 0.1.0
 */
export type Services =
  | EventStore
  | DocumentStore
  | StoreAdmin
  | LeaseStore.LeaseStore
  | UnitOfWork.UnitOfWork
  | ParkedEvents.ParkedEvents
  | Checkpoints.Checkpoints
  | Backend

const refusal = (backend: string, detail: string) => ({ backend, detail })

/**
 * Derives every service of a store from its backend record (see the module documentation).
 * Fails with `Unsupported` when inline projections are asked of a backend that cannot run them.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  backend: Backend,
  options: LayerOptions & StoreOptions = {}
): Effect.Effect<Context.Context<Services>, Unsupported> =>
  Effect.suspend(() => {
    const projections = options.projections ?? []
    if (projections.length > 0) {
      if (backend.beforeCommit === undefined) {
        return Effect.fail(
          new Unsupported({
            operation: "inline projections",
            ...refusal(
              backend.name,
              "inline projections run inside the append's transaction, and this backend has none (a batch cannot read the documents it would update): run them asynchronously with Projection.run"
            )
          })
        )
      }
      // The projections write through the undecorated documents (with spans): inside the append's
      // atomic step a retry would be wrong.
      backend.beforeCommit(
        Projection.applyInline(projections, Tracing.documentStore(backend.documentStore, backend.connection)),
        new Set(projections.flatMap((projection) => projection.types)),
        Projection.applyInlineSync(projections)
      )
    }
    // Units of work and consumer batches share the backend's transaction, bounded once here by
    // UnitOfWork.Timeout: an idle one holds readers (and, on memory and SQLite, writers) back.
    const commit: Backend["commit"] = backend.commit._tag === "Transactional"
      ? { ...backend.commit, transaction: UnitOfWork.bounded(backend.commit.transaction) }
      : backend.commit
    const leases = backend.leases ?? LeaseStore.unsupported(
      backend.name,
      "leases and consumer groups need a lease store; run them on a backend that has one (memory, SQLite, PostgreSQL, D1) beside this one"
    )
    const unitOfWork: UnitOfWork.UnitOfWorkShape = commit._tag === "Transactional"
      ? { backend: backend.name, interactive: true, transaction: commit.transaction }
      : UnitOfWork.unsupported(backend.name, commit.detail)
    return Effect.succeed(
      Context.make(EventStore, EventStore.of(decorateEventStore(guardDcb(backend), options, backend.connection))).pipe(
        Context.add(
          DocumentStore,
          DocumentStore.of(decorateDocumentStore(backend.documentStore, options, backend.connection))
        ),
        Context.add(StoreAdmin, StoreAdmin.of(backend.admin)),
        Context.add(LeaseStore.LeaseStore, LeaseStore.LeaseStore.of(leases)),
        Context.add(UnitOfWork.UnitOfWork, UnitOfWork.UnitOfWork.of(unitOfWork)),
        Context.add(
          ParkedEvents.ParkedEvents,
          ParkedEvents.ParkedEvents.of(backend.parkedEvents ?? ParkedEvents.unsupported(backend.name))
        ),
        Context.add(
          Checkpoints.Checkpoints,
          Checkpoints.Checkpoints.of(
            Checkpoints.make({ commit, events: Tracing.eventStore(guardDcb(backend), backend.connection), leases })
          )
        ),
        Context.add(Backend, backend)
      )
    )
  })

/**
 * A store layer from a backend's record: every service {@link make} derives, decorated as `options`
 * say (all on by default). This is what every backend layer is; a backend author passes the
 * layer's `projections` through, and users choose decorators with {@link layer}.
 *
 * @example
 * ```ts
 * import { Store } from "@strata/core"
 * import type { Backend } from "@strata/core/backend"
 * import { Effect } from "effect"
 *
 * declare const makeMine: Effect.Effect<Backend.Backend>
 * const MineLive = Store.layerBackend(makeMine, { metrics: false })
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layerBackend = <E, R>(
  backend: Effect.Effect<Backend, E, R>,
  options?: LayerOptions & StoreOptions
): Layer.Layer<Services, E | Unsupported, Exclude<R, Scope.Scope>> =>
  Layer.effectContext(Effect.flatMap(backend, (record) => make(record, options)))

/**
 * A store layer with the decorators `options` choose (the one place to choose them), applied to the
 * undecorated record the layer was built from, so nothing is decorated twice and no undecorated copy
 * is left in context. Whatever else the layer outputs (a `SqlClient`, a `PgClient`) passes through.
 *
 * @example
 * ```ts
 * import { MemoryStore, Store } from "@strata/core"
 *
 * const Quiet = Store.layer(MemoryStore.layer(), { retry: false, metrics: false })
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = <L extends Layer.Layer<Services, any, any>>(
  backend: L,
  options?: StoreOptions
): Layer.Layer<Layer.Success<L>, Layer.Error<L>, Layer.Services<L>> =>
  Layer.effectContext(
    Effect.gen(function*() {
      const context = yield* Effect.context<Services>()
      const record = Context.get(context, Backend)
      return context.pipe(
        Context.add(EventStore, EventStore.of(decorateEventStore(guardDcb(record), options, record.connection))),
        Context.add(
          DocumentStore,
          DocumentStore.of(decorateDocumentStore(record.documentStore, options, record.connection))
        )
      )
    })
  ).pipe(Layer.provide(backend)) as never

/**
 * Declares a store under a name, with services of its own (`NamedStore.make`): `Store.tag("orders")`
 * gives `Orders.EventStore`, `Orders.DocumentStore`, ..., provided by `Orders.layer(anyStoreLayer)`.
 * The name is checked when the program compiles (`NamedStore.CheckName`); a name known only at run
 * time goes through `NamedStore.fromString`, which fails with a typed `StoreNameError`.
 *
 * @example
 * ```ts
 * import { MemoryStore, Store } from "@strata/core"
 *
 * const Orders = Store.tag("orders")
 * const OrdersLive = Orders.layer(MemoryStore.layer())
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const tag = <const Name extends string>(
  name: Name & NamedStore.CheckName<Name>
): NamedStore.NamedStore<Name> => NamedStore.make<Name>(name)
