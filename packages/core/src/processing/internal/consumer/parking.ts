// Poison events: counting a handler's failures in a row on one event, marking the event for parking
// once they reach `parkAfter`, parking it when the next attempt meets it (in that batch's commit),
// and the parked events' `replay` and `discard`.
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Stream from "effect/Stream"
import * as Inputs from "../../../backend/Inputs.ts"
import * as Otel from "../../../backend/Otel.ts"
import * as ParkedEvents from "../../../backend/ParkedEvents.ts"
import * as Event from "../../../Event.ts"
import type { RecordedEvent } from "../../../Event.ts"
import type * as StoreError from "../../../StoreError.ts"
import { InvalidArgument } from "../../../StoreError.ts"
import type { AnyContext, ConsumerContext, Shared } from "./context.ts"
import { describe, failedEvent, HandlerFailure, showEvent } from "./failures.ts"
import type { Handle } from "./loop.ts"
import type { ConsumerFailure } from "./model.ts"

const park = (ctx: AnyContext, event: RecordedEvent, poison: { readonly attempts: number; readonly error: string }) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) =>
    ctx.parkedStore.park({
      consumer: ctx.name,
      position: event.position,
      stream: event.stream,
      version: event.version,
      id: event.id,
      type: event.type,
      error: poison.error,
      attempts: poison.attempts,
      parkedAt: new Date(now)
    }))

// A handler's failure (not an interruption), tagged with the event it failed on for the supervisor.
const tagged = (event: RecordedEvent) => (cause: Cause.Cause<unknown>): Effect.Effect<never, HandlerFailure> =>
  Cause.hasInterruptsOnly(cause)
    ? Effect.failCause(cause as Cause.Cause<never>)
    : Effect.fail(new HandlerFailure(event, cause))

// The handler as an attempt runs it: an event marked for parking is parked instead (in the same
// commit), and a failure is tagged with its event for the supervisor. A batch handler's failure is
// tagged with the batch's first event: the loop then hands the events over one per batch, so a
// failure the supervisor counts toward parking is always a single event's.
export const handle = <X, R>(
  ctx: ConsumerContext<X, R>
): Handle<HandlerFailure | ParkedEvents.ParkedEventsError, R> => {
  const { shared } = ctx
  const chosen = ctx.handle
  if (chosen._tag === "Each") {
    return {
      _tag: "Each",
      handle: (event) => {
        const poison = shared.toPark.size === 0 ? undefined : shared.toPark.get(event.position)
        return poison !== undefined ? park(ctx, event, poison) : Effect.catchCause(chosen.handle(event), tagged(event))
      }
    }
  }
  return {
    _tag: "Batch",
    handle: (events) =>
      Effect.suspend(() => {
        if (shared.toPark.size === 0) return Effect.catchCause(chosen.handle(events), tagged(events[0]))
        const poisoned = events.filter((event) => shared.toPark.has(event.position))
        const rest = events.filter((event) => !shared.toPark.has(event.position))
        return Effect.andThen(
          Effect.forEach(poisoned, (event) => park(ctx, event, shared.toPark.get(event.position)!), { discard: true }),
          rest.length === 0 ? Effect.void : Effect.catchCause(chosen.handle(rest), tagged(rest[0]))
        )
      })
  }
}

// The handler on one event, as `replay` runs it.
const handleOne = <X, R>(ctx: ConsumerContext<X, R>, event: RecordedEvent): Effect.Effect<void, X, R> =>
  ctx.handle._tag === "Each" ? Event.causedBy(ctx.handle.handle(event), event) : ctx.handle.handle([event])

// Counts one more failure of the handler on the event at `position`: the run of failures in a row.
export const countFailure = (shared: Shared, position: bigint): number => {
  shared.failing = shared.failing?.position === position
    ? { position, count: shared.failing.count + 1 }
    : { position, count: 1 }
  return shared.failing.count
}

// Marks the event of a failure for parking when the next attempt meets it, once the handler has
// failed on it `parkAfter` times in a row (outages never count); false when it does not park.
export const markForParking = (ctx: AnyContext, failure: ConsumerFailure): boolean => {
  if (
    ctx.parkAfter === undefined || failure.event === undefined || failure.transient ||
    failure.attempts < ctx.parkAfter
  ) return false
  ctx.shared.toPark.set(failure.event.position, { attempts: failure.attempts, error: failure.message })
  return true
}

// After each commit: the marked events up to it were parked in it, the run of failures ends, the
// status moves on and the supervisor's schedules start over.
export const onCommit = (ctx: AnyContext) => (position: bigint, handled: number) =>
  Effect.gen(function*() {
    const { attributes, metrics, shared } = ctx
    let parked = 0
    for (const at of shared.toPark.keys()) {
      if (at <= position) {
        shared.toPark.delete(at)
        parked++
      }
    }
    if (shared.failing !== undefined && shared.failing.position <= position) shared.failing = undefined
    shared.progressed = true
    // Metrics and logs before the status: whoever waits on the status (`waitFor`) then sees them.
    yield* Metric.update(Metric.withAttributes(metrics.eventsHandledTotal, attributes), handled - parked)
    if (parked > 0) {
      yield* Metric.update(Metric.withAttributes(metrics.parkedTotal, attributes), parked)
      yield* Effect.logWarning(`Strata: consumer ${ctx.name} parked ${parked} event(s) up to position ${position}`)
        .pipe(ctx.annotate)
    }
    yield* ctx.update((status) => ({
      ...status,
      position: status.position === undefined || position > status.position ? position : status.position,
      parked: status.parked + parked,
      failure: undefined
    }))
  })

// The status's count of parked events, read again from the store.
export const refreshParked = (ctx: AnyContext) =>
  Effect.flatMap(ctx.parkedStore.count(ctx.name), (parked) => ctx.update((s) => ({ ...s, parked })))

export const replay = <X, R>(ctx: ConsumerContext<X, R>) => (position: bigint) =>
  Effect.gen(function*() {
    const { name, parkedStore } = ctx
    const at = yield* Inputs.bigint("Consumer.replay", "position", position)
    const entries = yield* parkedStore.list(name)
    const entry = entries.find((e) => e.position === at)
    if (entry === undefined) return yield* ParkedEvents.notParked(name, at)
    const found = yield* Stream.runHead(ctx.store.readAll({ from: at, limit: 1 }))
    if (found._tag === "None" || found.value.position !== at || found.value.id !== entry.id) {
      return yield* new InvalidArgument({
        operation: "Consumer.replay",
        detail: `parked event ${entry.id} at position ${at} is no longer in the log; discard it`
      })
    }
    const event = found.value
    // The replayed handling is a consumer span under the operator's Consumer.replay, linked to the
    // span that appended the event, as the consumer's own handling is.
    const handled = Effect.withSpan(
      handleOne(ctx, event),
      Otel.messagingSpanName({ operationType: "process", destination: Otel.allDestination }),
      {
        kind: "consumer",
        links: Otel.linksToProducers([event]),
        attributes: {
          ...Otel.messagingAttributes({
            operationType: "process",
            destination: Otel.allDestination,
            subscription: name,
            group: name,
            messageId: event.id
          }),
          "strata.stream": event.stream,
          "strata.event.type": event.type,
          "strata.event.position": String(event.position),
          "strata.replay": true
        },
        captureStackTrace: false
      }
    )
    yield* parkedStore.settle(name, at, handled).pipe(
      Effect.tapError((error) =>
        parkedStore.park({ ...entry, error: describe(error), attempts: entry.attempts + 1 }).pipe(Effect.ignore)
      )
    )
    yield* refreshParked(ctx).pipe(Effect.ignore)
    yield* Effect.logInfo(`Strata: consumer ${name} replayed parked ${showEvent(failedEvent(event))}`).pipe(
      ctx.annotate
    )
  }).pipe(
    Effect.provide(ctx.context),
    Effect.withSpan("Consumer.replay", { attributes: { "strata.consumer": ctx.name } })
  ) as Effect.Effect<void, X | ParkedEvents.ParkedEventsError | StoreError.EventStoreError>

export const discard = (ctx: AnyContext) => (position: bigint) =>
  Effect.gen(function*() {
    const at = yield* Inputs.bigint("Consumer.discard", "position", position)
    const removed = yield* ctx.parkedStore.remove(ctx.name, at)
    if (!removed) return yield* ParkedEvents.notParked(ctx.name, at)
    yield* refreshParked(ctx).pipe(Effect.ignore)
    yield* Effect.logInfo(`Strata: consumer ${ctx.name} discarded the parked event at position ${at}`).pipe(
      ctx.annotate
    )
  }).pipe(Effect.withSpan("Consumer.discard", { attributes: { "strata.consumer": ctx.name } }))
