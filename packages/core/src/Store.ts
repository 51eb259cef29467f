/**
 * One assembled layer: a backend's `EventStore` and `DocumentStore`, both wrapped with the same
 * decorators in the one order that is right.
 *
 * Every backend layer gives both services (`MemoryStore.layer()`, `SqliteStore.layer(...)`,
 * `PgStore.layer(...)`, `D1Store.layer(...)`); `Store.layer(backend)` gives them back decorated:
 *
 * 1. the backend (its spans, `strata.append` and the others, are recorded around each attempt),
 * 2. `Retry` (transient failures; a short budget for operations, a long one for subscriptions),
 * 3. `Metrics` outermost, so it counts what callers see (a retried append counts once),
 * 4. with `spans: false`, the tracer disabled for every call.
 *
 * **Gotchas**
 *
 * A decorator only sees the calls that go through it. `Layer.merge(Retry.layer(), backend)` (or
 * `provideMerge` in the wrong direction) type-checks and hands the program the bare backend, so
 * nothing is retried or counted. `Store.layer` provides the backend *into* the decorators and
 * replaces both services in what the backend outputs, so no undecorated copy is left to pick.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as References from "effect/References"
import type * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { DocumentStore, type DocumentStoreShape } from "./DocumentStore.ts"
import { EventStore, type EventStoreShape } from "./EventStore.ts"
import * as Metrics from "./Metrics.ts"
import * as Retry from "./Retry.ts"

/**
 * Which decorators `Store.layer` applies. Each is on by default.
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
  subscribe: (stream, options) => untracedStream(self.subscribe(stream, options)),
  subscribeAll: (options) => untracedStream(self.subscribeAll(options)),
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
 * Decorates an EventStore as `Store.layer` does: retry inside, metrics outside, spans as asked.
 *
 * @category combinators
 * @since 0.1.0
 */
export const decorateEventStore = (self: EventStoreShape, options?: StoreOptions): EventStoreShape => {
  const retry = retryOptions(options)
  const metrics = metricsOptions(options)
  let store = self
  if (retry !== undefined) store = Retry.withRetry(store, retry)
  if (metrics !== undefined) store = Metrics.withMetrics(store, metrics)
  return options?.spans === false ? withoutSpans(store) : store
}

/**
 * Decorates a DocumentStore as `Store.layer` does: retry inside, metrics outside, spans as asked.
 *
 * @category combinators
 * @since 0.1.0
 */
export const decorateDocumentStore = (self: DocumentStoreShape, options?: StoreOptions): DocumentStoreShape => {
  const retry = retryOptions(options)
  const metrics = metricsOptions(options)
  let store = self
  if (retry !== undefined) store = Retry.withDocumentRetry(store, retry)
  if (metrics !== undefined) store = Metrics.withDocumentMetrics(store, metrics)
  return options?.spans === false ? documentsWithoutSpans(store) : store
}

/**
 * A backend's EventStore and DocumentStore with retry, metrics and spans on both (each optional).
 * Whatever else the backend layer outputs (a `SqlClient`, a `PgClient`) passes through.
 *
 * @example
 * const StoreLive = Store.layer(SqliteStore.layer({ filename: "app.db" }))
 * const Quiet = Store.layer(MemoryStore.layer(), { retry: false, metrics: false })
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = <L extends Layer.Layer<EventStore | DocumentStore, any, any>>(
  backend: L,
  options?: StoreOptions
): Layer.Layer<Layer.Success<L>, Layer.Error<L>, Layer.Services<L>> =>
  Layer.effectContext(
    Effect.gen(function*() {
      const context = yield* Effect.context<EventStore | DocumentStore>()
      return context.pipe(
        Context.add(EventStore, EventStore.of(decorateEventStore(Context.get(context, EventStore), options))),
        Context.add(
          DocumentStore,
          DocumentStore.of(decorateDocumentStore(Context.get(context, DocumentStore), options))
        )
      )
    })
  ).pipe(Layer.provide(backend)) as never
