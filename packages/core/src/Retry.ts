/**
 * Retrying transient failures. Only `StoreUnavailable` is retried: a version conflict is a
 * decision for the caller (see `Aggregate.decide`), and retrying it blindly would overwrite a
 * concurrent writer's intent. Appends are safe to retry because event ids are fixed before the
 * first attempt: if an attempt committed but its answer was lost, the retry is recognised as the
 * same append and returns the original result.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as Event from "./Event.ts"
import type { RecordedEvent } from "./Event.ts"
import { type Direction, EventStore, type EventStoreShape } from "./EventStore.ts"
import { isRetryable } from "./StoreError.ts"

/**
 * A schedule: exponential backoff from 50 ms, at most 5 retries.
 *
 * @category constants
 * @since 0.1.0
 */
export const defaultSchedule: Schedule.Schedule<unknown> = Schedule.max([
  Schedule.exponential("50 millis"),
  Schedule.recurs(5)
])

// Ids fixed once, before the first attempt, make a retried append idempotent.
const withIds = <A extends { readonly events: ReadonlyArray<Event.NewEvent> }>(request: A): A =>
  Array.isArray(request.events)
    ? {
      ...request,
      events: request.events.map((event) => event?.id === undefined ? { ...event, id: Event.makeEventId() } : event)
    }
    : request

/**
 * Retries an EventStore's operations that fail with `StoreUnavailable`, following `schedule`.
 *
 * @category combinators
 * @since 0.1.0
 */
export const withRetry: {
  (schedule?: Schedule.Schedule<unknown, unknown>): (self: EventStoreShape) => EventStoreShape
  (self: EventStoreShape, schedule?: Schedule.Schedule<unknown, unknown>): EventStoreShape
} = dual(
  (args) => typeof args[0] === "object" && args[0] !== null && "append" in args[0],
  (self: EventStoreShape, schedule: Schedule.Schedule<unknown, unknown> = defaultSchedule): EventStoreShape => {
    const retry = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.retry(effect, { schedule, while: isRetryable })
    // A stream is resumed after the last event it delivered, never replayed from its start.
    const resume = <S, E>(
      initial: S,
      open: (state: S) => Stream.Stream<RecordedEvent, E>,
      advance: (state: S, event: RecordedEvent) => S
    ): Stream.Stream<RecordedEvent, E> =>
      Stream.suspend(() => {
        let state = initial
        type Item = { readonly event: RecordedEvent } | { readonly failure: E }
        const attempt: Stream.Stream<Item, E> = Stream.suspend(() => open(state)).pipe(
          Stream.map((event): Item => {
            state = advance(state, event)
            return { event }
          }),
          // Final errors leave the retry loop as items, so only transient ones are retried.
          Stream.catchIf((error: E) => !isRetryable(error), (failure) => Stream.succeed<Item>({ failure }))
        )
        return attempt.pipe(
          Stream.retry(schedule),
          Stream.flatMap((item) => "event" in item ? Stream.succeed(item.event) : Stream.fail(item.failure))
        )
      })
    const step = (direction: Direction | undefined) => direction === "backwards" ? -1n : 1n
    const fewer = (limit: number | undefined) => limit === undefined ? undefined : limit - 1
    return {
      ...self,
      append: (stream, events, options) =>
        Effect.suspend(() => {
          const fixed = withIds({ events }).events
          return retry(self.append(stream, fixed, options))
        }),
      appendMany: (requests) =>
        Effect.suspend(() => {
          const fixed = Array.isArray(requests) ? requests.map(withIds) : requests
          return retry(self.appendMany(fixed))
        }),
      read: (stream, options) =>
        resume(options ?? {}, (o) => self.read(stream, o), (o, event) => ({
          ...o,
          from: event.version + step(o.direction),
          limit: fewer(o.limit)
        })),
      readAll: (options) =>
        resume(options ?? {}, (o) => self.readAll(o), (o, event) => ({
          ...o,
          from: event.position + step(o.direction),
          limit: fewer(o.limit)
        })),
      subscribe: (stream, options) =>
        resume(
          options ?? {},
          (o) => self.subscribe(stream, o),
          (o, event) => ({ ...o, from: { after: event.version } })
        ),
      subscribeAll: (options) =>
        resume(options ?? {}, (o) => self.subscribeAll(o), (o, event) => ({ ...o, from: { after: event.position } })),
      streamInfo: (stream) => retry(self.streamInfo(stream)),
      deleteStream: (stream, options) => retry(self.deleteStream(stream, options)),
      tombstoneStream: (stream, options) => retry(self.tombstoneStream(stream, options)),
      setRetention: (stream, patch) => retry(self.setRetention(stream, patch)),
      saveSnapshot: (stream, snapshot) => retry(self.saveSnapshot(stream, snapshot)),
      loadSnapshot: (stream) => retry(self.loadSnapshot(stream)),
      saveCheckpoint: (name, position) => retry(self.saveCheckpoint(name, position)),
      loadCheckpoint: (name) => retry(self.loadCheckpoint(name))
    }
  }
)

/**
 * A Layer that wraps the EventStore below it with {@link withRetry}.
 *
 * @example
 * Retry.layer().pipe(Layer.provide(SqliteStore.layer({ filename: "app.db" })))
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (schedule?: Schedule.Schedule<unknown, unknown>): Layer.Layer<EventStore, never, EventStore> =>
  Layer.effect(EventStore, Effect.map(EventStore, (store) => EventStore.of(withRetry(store, schedule))))
