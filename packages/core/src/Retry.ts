/**
 * Retrying transient failures. Only `StoreUnavailable` is retried: a version conflict is a
 * decision for the caller (see `Aggregate.decide`), and retrying it blindly would overwrite a
 * concurrent writer's intent. Appends are safe to retry because event ids are fixed before the
 * first attempt: if an attempt committed but its answer was lost, the retry is recognised as the
 * same append and returns the original result.
 *
 * Two schedules: one-shot operations (append, reads of one value, document writes) keep a short,
 * bounded budget ({@link defaultSchedule}, about 1.5 s), so a caller learns of an outage quickly;
 * subscriptions and reads that are streams ride out an outage ({@link defaultStreamSchedule}:
 * capped exponential backoff for at least a minute) and resume just after the last event they
 * delivered. Every retry is logged at warning level with its reason.
 *
 * **Order rule.** A decorator only sees the calls that go through it. Build the stack with
 * `Store.layer` (see Store.ts), or provide the backend *into* the decorator layers
 * (`Retry.layer().pipe(Layer.provide(backend))`). `Layer.merge(Retry.layer(), backend)` type-checks
 * but hands the program the backend's undecorated service, so nothing is retried.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { DocumentStore, type DocumentStoreShape } from "./DocumentStore.ts"
import * as Event from "./Event.ts"
import type { RecordedEvent } from "./Event.ts"
import {
  type Direction,
  EventStore,
  type EventStoreShape,
  type ReadAllOptions,
  type ReadOptions,
  type SubscribeAllOptions,
  type SubscribeFrom,
  type SubscribeOptions
} from "./EventStore.ts"
import * as DecoratedStream from "./internal/decoratedStream.ts"
import { isRetryable, StoreUnavailable } from "./StoreError.ts"

/**
 * The schedule of one-shot operations: exponential backoff from 50 ms, at most 5 retries (about
 * 1.55 s of waiting in all).
 *
 * @category constants
 * @since 0.1.0
 */
export const defaultSchedule: Schedule.Schedule<unknown> = Schedule.max([
  Schedule.exponential("50 millis"),
  Schedule.recurs(5)
])

/**
 * The longest wait between two attempts of {@link defaultStreamSchedule}.
 *
 * @category constants
 * @since 0.1.0
 */
export const streamBackoffCap: Duration.Duration = Duration.seconds(5)

/**
 * The schedule of subscriptions and streamed reads: exponential backoff from 100 ms, each wait
 * capped at {@link streamBackoffCap}, retrying while less than a minute has passed since the
 * failure began (so an outage of a minute or so is ridden out; longer ones fail the stream with
 * the last `StoreUnavailable`). It restarts once the stream delivers again.
 *
 * @category constants
 * @since 0.1.0
 */
export const defaultStreamSchedule: Schedule.Schedule<unknown> = Schedule.exponential("100 millis").pipe(
  Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, streamBackoffCap))),
  Schedule.upTo({ duration: "60 seconds" })
)

/**
 * Which schedule each kind of operation retries with.
 *
 * @category models
 * @since 0.1.0
 */
export interface RetryOptions {
  /** One-shot operations (appends, streamInfo, snapshots, checkpoints, documents). Default {@link defaultSchedule}. */
  readonly operations?: Schedule.Schedule<unknown, unknown> | undefined
  /** Subscriptions and streamed reads. Default {@link defaultStreamSchedule}. */
  readonly streams?: Schedule.Schedule<unknown, unknown> | undefined
}

/** A schedule alone (the older form) is the operations' schedule. */
const resolve = (options: Schedule.Schedule<unknown, unknown> | RetryOptions | undefined) => {
  const given: RetryOptions = Schedule.isSchedule(options) ? { operations: options } : options ?? {}
  return {
    operations: given.operations ?? defaultSchedule,
    streams: given.streams ?? defaultStreamSchedule
  }
}

const describe = (error: unknown): string =>
  error instanceof Error ? error.message : typeof error === "object" && error !== null && "_tag" in error
    ? String(error._tag)
    : String(error)

// A store whose migrations have not run yet (a migration job may be running) is retried like a
// transient fault, but the log says what it is.
const notMigrated = (error: unknown): boolean =>
  error instanceof StoreUnavailable && error.reason.startsWith("NotMigrated:")

/**
 * A schedule that logs each retry it allows at warning level: what failed, why, which attempt, how
 * long until the next, and where a stream resumes.
 *
 * Put every condition that can stop the retries inside `schedule` (e.g. `Schedule.while`): a
 * condition applied outside, such as `Effect.retry`'s `while` option, is checked after this
 * schedule has stepped, so a retry it then refuses would already have been logged.
 *
 * @category combinators
 * @since 0.1.0
 */
export const logged = (
  schedule: Schedule.Schedule<unknown, unknown>,
  operation: string,
  resumeAt?: () => string
): Schedule.Schedule<unknown, unknown> =>
  Schedule.tap(schedule, (meta) =>
    Effect.logWarning(
      `Strata: ${operation} ${
        notMigrated(meta.input) ? "found the store unmigrated" : "failed transiently"
      }, retry ${meta.attempt} in ${Duration.format(meta.duration)}${
        resumeAt === undefined ? "" : ` (resuming ${resumeAt()})`
      }: ${describe(meta.input)}`
    ).pipe(Effect.annotateLogs({ "strata.operation": operation, "strata.retry.attempt": meta.attempt })))

/**
 * Retries an operation's transient failures on `schedule`, logged per operation; the first attempt
 * runs bare (no retry machinery on the success path), and its failure is handed to the schedule as
 * if `Effect.retry` had run it, so attempts, delays and logs are the same. Only a retry that happens
 * is logged: a non-retryable failure stops the schedule before the log (a transient failure followed
 * by a final one logs the one retry made, not a second that is never made).
 */
const retrying = (schedule: Schedule.Schedule<unknown, unknown>) => {
  const transient = Schedule.while(schedule, ({ input }) => isRetryable(input))
  const schedules = new Map<string, Schedule.Schedule<unknown, unknown>>()
  return (operation: string) => {
    let operationSchedule = schedules.get(operation)
    if (operationSchedule === undefined) schedules.set(operation, operationSchedule = logged(transient, operation))
    const logSchedule = operationSchedule
    return <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
      Effect.catchIf(effect, isRetryable, (first) => {
        let replay = true
        const attempt = Effect.suspend(() => {
          if (!replay) return effect
          replay = false
          return Effect.fail(first as E)
        })
        return Effect.retry(attempt, logSchedule)
      })
  }
}

// The options of a stream given none (one object for all: a subscription holds its options).
const noOptions = {}

// Ids fixed once, before the first attempt, make a retried append idempotent.
const withIds = <A extends { readonly events: ReadonlyArray<Event.NewEvent> }>(request: A): A =>
  Array.isArray(request.events)
    ? {
      ...request,
      events: request.events.map((event) => Event.withId(event))
    }
    : request

/**
 * Retries an EventStore's operations that fail with `StoreUnavailable`: one-shot operations with
 * `options.operations`, streams with `options.streams` (a Schedule alone sets `operations`).
 *
 * @category combinators
 * @since 0.1.0
 */
export const withRetry: {
  (options?: Schedule.Schedule<unknown, unknown> | RetryOptions): (self: EventStoreShape) => EventStoreShape
  (self: EventStoreShape, options?: Schedule.Schedule<unknown, unknown> | RetryOptions): EventStoreShape
} = dual(
  (args) => typeof args[0] === "object" && args[0] !== null && "append" in args[0],
  (self: EventStoreShape, options?: Schedule.Schedule<unknown, unknown> | RetryOptions): EventStoreShape => {
    const schedules = resolve(options)
    const retryAs = retrying(schedules.operations)
    // A stream is resumed after the last event it delivered, never replayed from its start.
    // Run in the stream's own pull (with Tracing's span and Metrics' count when they decorate it
    // too; internal/decoratedStream) instead of Stream.retry's machinery: an idle wrapped
    // subscription is then the attempt's pull and a few fields; the schedule's stepper and log are
    // made only when an attempt fails, and what an operation resumes with is made once per store
    // (issue 23, many subscribers). As with Stream.retry, each attempt runs in its own scope (closed
    // before the next one opens), and the schedule starts over once an attempt delivers. Chunks
    // pass through whole (a consumer commits per delivered batch): the state advances once per
    // chunk, past its last event.
    const resumes = <S>(
      operation: string,
      // The state to resume from after `last`; undefined when nothing is left to read (a backwards
      // read past version or position 0, a limit reached), so a retry ends the stream at once.
      advance: (state: S, last: RecordedEvent, count: number) => S | undefined,
      describe: (state: S) => string
    ): DecoratedStream.RetryPlan<S, RecordedEvent> => ({
      schedule: (resumeAt) => logged(schedules.streams, operation, resumeAt),
      advance,
      describe
    })
    const step = (direction: Direction | undefined) => direction === "backwards" ? -1n : 1n
    const fewer = (limit: number | undefined, count: number) => limit === undefined ? undefined : limit - count
    // Where a read resumes after an event at `at`; undefined past the start (backwards) or the limit.
    const resumeAt = <O extends { readonly from?: bigint | undefined; readonly limit?: number | undefined }>(
      o: O & { readonly direction?: Direction | undefined },
      at: bigint,
      count: number
    ): O | undefined => {
      const from = at + step(o.direction)
      const limit = fewer(o.limit, count)
      return from < 0n || (limit !== undefined && limit <= 0) ? undefined : { ...o, from, limit }
    }
    const reads = resumes<ReadOptions>(
      "read",
      (o, event, count) => resumeAt(o, event.version, count),
      (o) => `from version ${o.from ?? "start"}`
    )
    const readsAll = resumes<ReadAllOptions>(
      "readAll",
      (o, event, count) => resumeAt(o, event.position, count),
      (o) => `from position ${o.from ?? "start"}`
    )
    // A subscription's state carries its stream, so the stream opens through one function made
    // here rather than a closure over the stream per subscription (issue 23, many subscribers).
    const subscribes = resumes<StreamAt>(
      "subscribe",
      (at, event) => ({ stream: at.stream, options: { ...at.options, from: { after: event.version } } }),
      (at) => describeFrom(at.options.from, "version")
    )
    const subscribeFrom = (at: StreamAt) => self.subscribe(at.stream, at.options)
    const subscribesAll = resumes<SubscribeAllOptions>(
      "subscribeAll",
      (o, event) => ({ ...o, from: { after: event.position } }),
      (o) => describeFrom(o.from, "position")
    )
    const readAllFrom = (o: ReadAllOptions) => self.readAll(o)
    const subscribeAllFrom = (o: SubscribeAllOptions) => self.subscribeAll(o)
    return {
      ...self,
      append: (stream, events, options) =>
        Effect.suspend(() => {
          const fixed = withIds({ events }).events
          return retryAs("append")(self.append(stream, fixed, options))
        }),
      appendMany: (requests) =>
        Effect.suspend(() => {
          const fixed = Array.isArray(requests) ? requests.map(withIds) : requests
          return retryAs("appendMany")(self.appendMany(fixed))
        }),
      read: (stream, options) => DecoratedStream.resuming(options ?? noOptions, (o) => self.read(stream, o), reads),
      readAll: (options) => DecoratedStream.resuming(options ?? noOptions, readAllFrom, readsAll),
      subscribe: (stream, options) =>
        DecoratedStream.resuming({ stream, options: options ?? noOptions }, subscribeFrom, subscribes),
      subscribeAll: (options) => DecoratedStream.resuming(options ?? noOptions, subscribeAllFrom, subscribesAll),
      streamInfo: (stream) => retryAs("streamInfo")(self.streamInfo(stream)),
      deleteStream: (stream, options) => retryAs("deleteStream")(self.deleteStream(stream, options)),
      tombstoneStream: (stream, options) => retryAs("tombstoneStream")(self.tombstoneStream(stream, options)),
      setRetention: (stream, patch) => retryAs("setRetention")(self.setRetention(stream, patch)),
      saveSnapshot: (stream, snapshot) => retryAs("saveSnapshot")(self.saveSnapshot(stream, snapshot)),
      loadSnapshot: (stream) => retryAs("loadSnapshot")(self.loadSnapshot(stream)),
      saveCheckpoint: (name, position) => retryAs("saveCheckpoint")(self.saveCheckpoint(name, position)),
      loadCheckpoint: (name) => retryAs("loadCheckpoint")(self.loadCheckpoint(name))
    }
  }
)

// Where a subscription to one stream resumes: the stream, and the options it resumes with.
interface StreamAt {
  readonly stream: string
  readonly options: SubscribeOptions
}

const describeFrom = (from: SubscribeFrom | undefined, unit: string): string =>
  from === undefined || from === "start"
    ? "from the start"
    : from === "end"
    ? "from the end"
    : `after ${unit} ${from.after}`

/**
 * Retries a DocumentStore's operations that fail with `StoreUnavailable`, with `options.operations`.
 *
 * **Gotchas**
 *
 * A put whose first attempt committed but whose answer was lost is written again by the retry: with
 * `expected: "any"` the document gets one extra version (same value); with `"missing"` or a version
 * the retry fails with `DocumentConflict` (so does a `writeMany`, write by write). Events carried by a put get their ids fixed before the
 * first attempt, so they are never appended twice. `find` is retried only until its first document
 * (a stream cannot be resumed without a cursor; use `findPage` to resume by hand).
 *
 * @category combinators
 * @since 0.1.0
 */
export const withDocumentRetry: {
  (options?: Schedule.Schedule<unknown, unknown> | RetryOptions): (self: DocumentStoreShape) => DocumentStoreShape
  (self: DocumentStoreShape, options?: Schedule.Schedule<unknown, unknown> | RetryOptions): DocumentStoreShape
} = dual(
  (args) => typeof args[0] === "object" && args[0] !== null && "findPage" in args[0],
  (self: DocumentStoreShape, options?: Schedule.Schedule<unknown, unknown> | RetryOptions): DocumentStoreShape => {
    const schedules = resolve(options)
    const retryAs = retrying(schedules.operations)
    return {
      ...self,
      get: (collection, id) => retryAs("document.get")(self.get(collection, id)),
      put: (collection, id, value, putOptions) =>
        Effect.suspend(() => {
          const events = putOptions?.events
          const fixed = putOptions === undefined || !Array.isArray(events)
            ? putOptions
            : { ...putOptions, events: events.map(withIds) }
          return retryAs("document.put")(self.put(collection, id, value, fixed))
        }),
      getMany: (collection, ids) => retryAs("document.getMany")(self.getMany(collection, ids)),
      // All or nothing: a failed attempt wrote nothing (a lost answer: as for put, below).
      writeMany: (collection, writes) => retryAs("document.writeMany")(self.writeMany(collection, writes)),
      delete: (collection, id, deleteOptions) => retryAs("document.delete")(self.delete(collection, id, deleteOptions)),
      find: (collection, query) =>
        Stream.suspend(() => {
          let started = false
          const schedule = Schedule.while(schedules.streams, ({ input }) => !started && isRetryable(input))
          return self.find(collection, query).pipe(
            Stream.tap(() => Effect.sync(() => (started = true))),
            Stream.retry(logged(schedule, "document.find"))
          )
        }),
      findPage: (collection, query) => retryAs("document.findPage")(self.findPage(collection, query)),
      count: (collection, query) => retryAs("document.count")(self.count(collection, query))
    }
  }
)

/**
 * A Layer that wraps the EventStore below it with {@link withRetry}.
 *
 * For an EventStore built by hand: store layers are decorated already, and `Store.layer` chooses
 * their decorators. Provide the store into it (`Retry.layer().pipe(Layer.provide(store))`), never
 * merge it beside the store.
 *
 * @example
 * ```ts
 * import { EventStore, Retry } from "@strata/core"
 * import { Layer } from "effect"
 *
 * declare const myEventStore: EventStore.EventStore["Service"] // an EventStore built by hand
 * const StoreLive = Retry.layer().pipe(Layer.provide(Layer.succeed(EventStore.EventStore, myEventStore)))
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  options?: Schedule.Schedule<unknown, unknown> | RetryOptions
): Layer.Layer<EventStore, never, EventStore> =>
  Layer.effect(EventStore, Effect.map(EventStore, (store) => EventStore.of(withRetry(store, options))))

/**
 * A Layer that wraps the DocumentStore below it with {@link withDocumentRetry}.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerDocuments = (
  options?: Schedule.Schedule<unknown, unknown> | RetryOptions
): Layer.Layer<DocumentStore, never, DocumentStore> =>
  Layer.effect(
    DocumentStore,
    Effect.map(DocumentStore, (store) => DocumentStore.of(withDocumentRetry(store, options)))
  )
