/**
 * Metrics for any EventStore, through Effect's `Metric` module (exported by whatever exporter the
 * program installs, for example OpenTelemetry).
 *
 * | metric                            | type              | attributes                     |
 * | --------------------------------- | ----------------- | ------------------------------ |
 * | `strata_appends_total`            | counter           | `backend`, `operation`         |
 * | `strata_events_appended_total`    | counter           | `backend`, `operation`         |
 * | `strata_append_conflicts_total`   | counter           | `backend`, `operation`         |
 * | `strata_append_errors_total`      | counter           | `backend`, `operation`, `error`|
 * | `strata_append_duration`          | timer (ms)        | `backend`, `operation`         |
 * | `strata_events_read_total`        | counter           | `backend`, `operation`         |
 * | `strata_document_operations_total`| counter           | `backend`, `operation`, `outcome` |
 * | `strata_document_duration`        | timer (ms)        | `backend`, `operation`         |
 * | `strata_horizon_held_seconds`     | gauge (s)         | none                           |
 *
 * `operation` is `append` or `appendMany` for the append metrics and `read`, `readAll`,
 * `subscribe` or `subscribeAll` for events read. Appends count committed appends (an `appendMany`
 * is one); conflicts count appends refused with `WrongExpectedVersion`; errors count every failed
 * append by error tag (conflicts included); the duration covers every append, failed or not.
 * Events read are counted per page as the backend hands it over, so a consumer that takes part of
 * a page still counts the whole page: the metric measures read work, not consumption.
 *
 * Document metrics (`withDocumentMetrics`): `operation` is `get`, `getMany`, `put`, `writeMany`,
 * `delete`, `findPage` or `count` (`find` is not timed: it is a stream), `outcome` is `ok` or the error tag.
 * `strata_horizon_held_seconds` (PostgreSQL, set by its readers' horizon, `PgHorizon`): how long
 * global readers have been stopped below positions already handed out, by one append still in
 * flight (a unit of work that idles, say); 0 when nothing holds them.
 * Durations use {@link durationBoundaries}: milliseconds from 0.5 ms to 10 s.
 *
 * These are the store's metrics; consumers, job queues, tenant pools and PostgreSQL replicas define
 * theirs next to their code. docs/observability.md lists every metric Strata emits (name, type,
 * unit, labels, meaning) and how to export them (Prometheus text with `effect/observability`'s
 * `PrometheusMetrics`, or OTLP through `@effect/opentelemetry`); a test keeps that list complete.
 *
 * **Order rule.** Put `withMetrics` outside `Retry.withRetry` to count what callers see (a retried
 * append counts once), inside it to count every attempt. `Store.layer` builds the stack in that
 * order for both services. A decorator only sees calls that go through it:
 * `Layer.merge(Metrics.layer(), backend)` type-checks but gives the program the undecorated store.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Stream from "effect/Stream"
import { DocumentStore, type DocumentStoreShape } from "./DocumentStore.ts"
import type { RecordedEvent } from "./Event.ts"
import { EventStore, type EventStoreShape } from "./EventStore.ts"
import * as DecoratedStream from "./internal/decoratedStream.ts"

/**
 * Histogram buckets for store operations, in milliseconds: 0.5 ms to 10 s (Effect's default
 * timer buckets run to 4e9 ms, which leaves every store operation in the first few).
 *
 * @category metrics
 * @since 0.1.0
 */
export const durationBoundaries: ReadonlyArray<number> = [
  0.5,
  1,
  2,
  5,
  10,
  25,
  50,
  100,
  250,
  500,
  1000,
  2500,
  5000,
  10000
]

/**
 * How long, in seconds, global readers have been held below positions already handed out by an
 * append still in flight (PostgreSQL's horizon; see `PgHorizon`), as last seen by a reader; 0 when
 * nothing holds them.
 *
 * @category metrics
 * @since 0.1.0
 */
export const horizonHeldSeconds: Metric.Gauge<number> = Metric.gauge("strata_horizon_held_seconds", {
  description: "Seconds global readers have been held below positions already handed out by an append in flight"
})

/**
 * Committed appends.
 *
 * @category metrics
 * @since 0.1.0
 */
export const appendsTotal: Metric.Counter<number> = Metric.counter("strata_appends_total", {
  description: "Appends committed (an appendMany counts once)",
  incremental: true
})

/**
 * Events in committed appends.
 *
 * @category metrics
 * @since 0.1.0
 */
export const eventsAppendedTotal: Metric.Counter<number> = Metric.counter("strata_events_appended_total", {
  description: "Events written by committed appends",
  incremental: true
})

/**
 * Appends refused because the stream was not at the expected version.
 *
 * @category metrics
 * @since 0.1.0
 */
export const appendConflictsTotal: Metric.Counter<number> = Metric.counter("strata_append_conflicts_total", {
  description: "Appends refused with WrongExpectedVersion",
  incremental: true
})

/**
 * Failed appends, by error tag (in the `error` attribute).
 *
 * @category metrics
 * @since 0.1.0
 */
export const appendErrorsTotal: Metric.Counter<number> = Metric.counter("strata_append_errors_total", {
  description: "Appends that failed, by error tag",
  incremental: true
})

/**
 * How long appends take, in milliseconds, failed ones included.
 *
 * @category metrics
 * @since 0.1.0
 */
export const appendDuration: Metric.Histogram<Duration.Duration> = Metric.timer("strata_append_duration", {
  description: "Append latency in milliseconds",
  boundaries: durationBoundaries
})

/**
 * Events read by reads and subscriptions, counted per page as the backend hands it over.
 *
 * @category metrics
 * @since 0.1.0
 */
export const eventsReadTotal: Metric.Counter<number> = Metric.counter("strata_events_read_total", {
  description: "Events read by reads and subscriptions",
  incremental: true
})

/**
 * DocumentStore operations, by `operation` and `outcome` (`ok` or the error tag).
 *
 * @category metrics
 * @since 0.1.0
 */
export const documentOperationsTotal: Metric.Counter<number> = Metric.counter("strata_document_operations_total", {
  description: "DocumentStore operations, by outcome",
  incremental: true
})

/**
 * DocumentStore operation latency.
 *
 * @category metrics
 * @since 0.1.0
 */
export const documentDuration: Metric.Histogram<Duration.Duration> = Metric.timer("strata_document_duration", {
  description: "DocumentStore operation latency in milliseconds",
  boundaries: durationBoundaries
})

const hasTag = (error: unknown): error is { readonly _tag: string } =>
  typeof error === "object" && error !== null && "_tag" in error && typeof error._tag === "string"

/**
 * @category models
 * @since 0.1.0
 */
export interface MetricsOptions {
  /** Attributes added to every series (a service or tenant name, ...). */
  readonly attributes?: Readonly<Record<string, string>> | undefined
}

/**
 * Records metrics for an EventStore's appends and reads, with a `backend` attribute taken from
 * the store.
 *
 * @example
 * ```ts
 * import { type EventStore, Metrics } from "@strata/core"
 *
 * declare const eventStore: EventStore.EventStore["Service"] // an EventStore built by hand
 * const store = Metrics.withMetrics(eventStore, { attributes: { service: "billing" } })
 * ```
 *
 * @category combinators
 * @since 0.1.0
 */
export const withMetrics: {
  (options?: MetricsOptions): (self: EventStoreShape) => EventStoreShape
  (self: EventStoreShape, options?: MetricsOptions): EventStoreShape
} = dual(
  (args) => typeof args[0] === "object" && args[0] !== null && "append" in args[0],
  (self: EventStoreShape, options?: MetricsOptions): EventStoreShape => {
    const base = { ...options?.attributes, backend: self.backend }
    const appendMetrics = (operation: "append" | "appendMany") => {
      const attributes = { ...base, operation }
      return {
        appends: Metric.withAttributes(appendsTotal, attributes),
        events: Metric.withAttributes(eventsAppendedTotal, attributes),
        conflicts: Metric.withAttributes(appendConflictsTotal, attributes),
        errors: (error: string) => Metric.withAttributes(appendErrorsTotal, { ...attributes, error }),
        duration: Metric.withAttributes(appendDuration, attributes)
      }
    }
    // One synchronous step at the end instead of a chain of effects: on the success path an append
    // pays two clock reads and three registry updates.
    const measure = <A, E, R>(
      metrics: ReturnType<typeof appendMetrics>,
      count: () => number,
      effect: Effect.Effect<A, E, R>
    ): Effect.Effect<A, E, R> =>
      Effect.contextWith((context: Context.Context<never>) => {
        const clock = Context.get(context, Clock.Clock)
        const start = clock.currentTimeNanosUnsafe()
        return Effect.flatMap(Effect.exit(effect), (exit) => {
          if (exit._tag === "Success") {
            metrics.appends.updateUnsafe(1, context)
            metrics.events.updateUnsafe(count(), context)
          } else {
            const failure = Cause.findErrorOption(exit.cause)
            if (failure._tag === "Some") {
              const tag = hasTag(failure.value) ? failure.value._tag : "Unknown"
              if (tag === "WrongExpectedVersion") metrics.conflicts.updateUnsafe(1, context)
              metrics.errors(tag).updateUnsafe(1, context)
            }
          }
          metrics.duration.updateUnsafe(Duration.nanos(clock.currentTimeNanosUnsafe() - start), context)
          return exit
        })
      })
    const single = appendMetrics("append")
    const many = appendMetrics("appendMany")
    const countRead = (operation: string) => {
      const counter = Metric.withAttributes(eventsReadTotal, { ...base, operation })
      // Counted in the stream's own pull (with Tracing's span and Retry's resumption when they
      // decorate it too): no stage of its own (issue 23, many subscribers).
      return <E, R>(stream: Stream.Stream<RecordedEvent, E, R>): Stream.Stream<RecordedEvent, E, R> =>
        DecoratedStream.withCounter(stream, counter)
    }
    const read = countRead("read")
    const readAll = countRead("readAll")
    const subscribe = countRead("subscribe")
    const subscribeAll = countRead("subscribeAll")
    return {
      ...self,
      append: (stream, events, options) => measure(single, () => events.length, self.append(stream, events, options)),
      appendMany: (requests) =>
        measure(
          many,
          () => requests.reduce((n, request) => n + request.events.length, 0),
          self.appendMany(requests)
        ),
      read: (stream, options) => read(self.read(stream, options)),
      readAll: (options) => readAll(self.readAll(options)),
      subscribe: (stream, options) => subscribe(self.subscribe(stream, options)),
      subscribeAll: (options) => subscribeAll(self.subscribeAll(options))
    }
  }
)

/**
 * A Layer that wraps the EventStore below it with {@link withMetrics}, for an EventStore built by
 * hand: store layers are decorated already, and `Store.layer` chooses their decorators.
 *
 * @example
 * ```ts
 * import { EventStore, Metrics, Retry } from "@strata/core"
 * import { Layer } from "effect"
 *
 * declare const myEventStore: EventStore.EventStore["Service"] // an EventStore built by hand
 * const StoreLive = Metrics.layer().pipe(
 *   Layer.provide(Retry.layer()),
 *   Layer.provide(Layer.succeed(EventStore.EventStore, myEventStore))
 * )
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options?: MetricsOptions): Layer.Layer<EventStore, never, EventStore> =>
  Layer.effect(EventStore, Effect.map(EventStore, (store) => EventStore.of(withMetrics(store, options))))

/**
 * Counts and times a DocumentStore's operations (see the table above).
 *
 * @category combinators
 * @since 0.1.0
 */
export const withDocumentMetrics: {
  (options?: MetricsOptions): (self: DocumentStoreShape) => DocumentStoreShape
  (self: DocumentStoreShape, options?: MetricsOptions): DocumentStoreShape
} = dual(
  (args) => typeof args[0] === "object" && args[0] !== null && "findPage" in args[0],
  (self: DocumentStoreShape, options?: MetricsOptions): DocumentStoreShape => {
    const base = { ...options?.attributes, backend: self.backend }
    const measure = (operation: string) => {
      const attributes = { ...base, operation }
      const duration = Metric.withAttributes(documentDuration, attributes)
      const outcome = (tag: string) => Metric.withAttributes(documentOperationsTotal, { ...attributes, outcome: tag })
      return <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
        Effect.flatMap(Clock.currentTimeNanos, (start) =>
          effect.pipe(
            Effect.tap(() => Metric.update(outcome("ok"), 1)),
            Effect.tapError((error) => Metric.update(outcome(hasTag(error) ? error._tag : "Unknown"), 1)),
            Effect.ensuring(
              Effect.flatMap(Clock.currentTimeNanos, (end) => Metric.update(duration, Duration.nanos(end - start)))
            )
          ))
    }
    const get = measure("get")
    const put = measure("put")
    const getMany = measure("getMany")
    const writeMany = measure("writeMany")
    const remove = measure("delete")
    const findPage = measure("findPage")
    const count = measure("count")
    return {
      ...self,
      get: (collection, id) => get(self.get(collection, id)),
      put: (collection, id, value, putOptions) => put(self.put(collection, id, value, putOptions)),
      getMany: (collection, ids) => getMany(self.getMany(collection, ids)),
      writeMany: (collection, writes) => writeMany(self.writeMany(collection, writes)),
      delete: (collection, id, deleteOptions) => remove(self.delete(collection, id, deleteOptions)),
      findPage: (collection, query) => findPage(self.findPage(collection, query)),
      count: (collection, query) => count(self.count(collection, query))
    }
  }
)

/**
 * A Layer that wraps the DocumentStore below it with {@link withDocumentMetrics}.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerDocuments = (options?: MetricsOptions): Layer.Layer<DocumentStore, never, DocumentStore> =>
  Layer.effect(
    DocumentStore,
    Effect.map(DocumentStore, (store) => DocumentStore.of(withDocumentMetrics(store, options)))
  )
