// The one consuming loop `Consumer.run` and the supervised consumer share: load the checkpoint
// (through the `Checkpoints` in context when the attempt starts, so a fenced store provided around an
// attempt is the one used), subscribe just after it, handle each batch and commit.
//
// Batches: what the subscription has delivered (a page while catching up, the new events when live) is handled in
// batches of at most `pace.size` events, one commit each; a batch never waits for more events. The
// size is `every` at most and follows the pace of the previous batch so a batch ends within
// `interval` (a transaction's position is fixed when it starts, so the bound is kept by sizing, not
// by cutting a batch short). A handler failure inside a batch rolls it back (transactional
// backends); the batch is then isolated so the failure lands on its event as with one commit per
// event: the events before it commit, and the error is the one the event failed with.
//
// Spans: the handling of each event (or each batch, with `handleBatch`) is a root span of kind
// `consumer` named `process $all` with the OpenTelemetry messaging attributes, linked to the span
// that appended the event (its metadata's `traceId` / `spanId`): a consumer's work starts its own
// trace instead of hanging under the consumer's never-ending span.
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import * as Otel from "../../../backend/Otel.ts"
import type { RecordedEvent } from "../../../Event.ts"
import { establishAll, type EventStore } from "../../../EventStore.ts"
import type { EventFilter, SubscribeFrom } from "../../../EventStore.ts"
import * as StoreError from "../../../StoreError.ts"
import { InvalidArgument } from "../../../StoreError.ts"
import { type CheckpointError, Checkpoints } from "../../Checkpoints.ts"
import { forEachCausedBy } from "./causation.ts"
import { HandlerFailure } from "./failures.ts"
import { type ConsumerOptions, defaultCheckpointEvery, defaultCheckpointInterval } from "./model.ts"
import { readAhead } from "./readAhead.ts"

/** How a consumer handles events: one at a time, or a batch at once. */
export type Handle<E, R> =
  | { readonly _tag: "Each"; readonly handle: (event: RecordedEvent) => Effect.Effect<void, E, R> }
  | {
    readonly _tag: "Batch"
    readonly handle: (events: ReadonlyArray<RecordedEvent>) => Effect.Effect<void, E, R>
  }

/** The batch size the next batch uses; kept across attempts, so a restart after a batch too slow to commit starts smaller. */
export interface Pace {
  size: number
}

export interface Loop<E, R> {
  readonly name: string
  readonly operation: string
  readonly filter: EventFilter | undefined
  readonly every: number
  /** The longest a batch should stay open, in nanoseconds. */
  readonly interval: bigint
  readonly pace: Pace
  /** Where to start without a checkpoint; "end" is fixed by the first attempt (see `Consumer.run`). */
  readonly initial: { value: SubscribeFrom }
  readonly handle: Handle<E, R>
  readonly onStart?: ((covered: bigint | undefined) => Effect.Effect<void>) | undefined
  readonly onCommit?: ((position: bigint, handled: number) => Effect.Effect<void>) | undefined
}

/**
 * The consumer group a loop runs for (`ConsumerGroup` sets it around each partition's consumer), for
 * the spans' `messaging.consumer.group.name` and `messaging.destination.partition.id`; by default a
 * consumer is its own group (its instances share its name and its checkpoint).
 */
export const CurrentGroup = Context.Reference<
  { readonly name?: string | undefined; readonly partition?: number | undefined }
>(
  "@strata/core/processing/Consumer/CurrentGroup",
  { defaultValue: () => ({}) }
)

// The span around the handling of one event or one batch (see the module comment). The attributes
// every span of the consumer shares are built once; an event adds its own (a few microseconds per
// event, most of it the span itself).
const processSpans = (base: Otel.Messaging) => {
  const name = Otel.messagingSpanName(base)
  const shared = Otel.messagingAttributes(base)
  return (events: ReadonlyArray<RecordedEvent>) =>
  <A, E, R>(
    effect: Effect.Effect<A, E, R>
  ): Effect.Effect<A, E, R> => {
    const attributes: Record<string, unknown> = { ...shared }
    if (events.length === 1) {
      const event = events[0]
      attributes[Otel.Attr.messagingMessageId] = event.id
      const conversation = event.metadata.correlationId
      if (typeof conversation === "string") attributes[Otel.Attr.messagingMessageConversationId] = conversation
      attributes["strata.stream"] = event.stream
      attributes["strata.event.type"] = event.type
      attributes["strata.event.position"] = String(event.position)
    } else {
      attributes[Otel.Attr.messagingBatchMessageCount] = events.length
    }
    return Effect.withSpan(effect, name, {
      kind: "consumer",
      root: true,
      links: Otel.linksToProducers(events),
      attributes,
      captureStackTrace: false
    })
  }
}

// A store outage (also from the handler, or tagged by the supervised handler) is retried as it is:
// restarting re-delivers the whole batch.
const transient = (cause: Cause.Cause<unknown>): boolean => {
  const error = Cause.squash(cause)
  return StoreError.isRetryable(error instanceof HandlerFailure ? Cause.squash(error.cause) : error)
}

// The size of the next batch: as many events as the last batch's pace fits in `interval`.
export const nextSize = (every: number, interval: bigint, handled: number, elapsed: bigint): number => {
  if (elapsed <= 0n) return every
  const fits = Number((BigInt(handled) * interval) / elapsed)
  return Math.max(1, Math.min(every, fits))
}

// Emits how many events each delivered batch held, once they are all handled and committed.
export const consume = <E, R>(
  loop: Loop<E, R>
): Stream.Stream<number, E | CheckpointError, R | EventStore | Checkpoints> =>
  Stream.unwrap(Effect.gen(function*() {
    const checkpoints = yield* Checkpoints
    const checkpoint = yield* checkpoints.load(loop.name)
    const from: SubscribeFrom = checkpoint._tag === "Some" ? { after: checkpoint.value } : loop.initial.value
    const established = yield* establishAll({ from, filter: loop.filter })
    // "end" is resolved once, on the first attempt, so a restart before the first commit does not
    // skip what was appended during the outage.
    if (checkpoint._tag === "None") loop.initial.value = established.start
    const start = typeof established.start === "object" ? established.start.after : undefined
    yield* Effect.annotateCurrentSpan({
      "strata.consumer.from": start === undefined ? "start" : `after ${start}`
    })
    if (loop.onStart !== undefined) yield* loop.onStart(start)
    const { handle, onCommit, pace } = loop
    const group = yield* CurrentGroup
    // Per-event spans only where a tracing backend would see them: Effect's default tracer exports
    // nothing, and a span per event costs ~4-5 us of client CPU (the consume loop's own cost is ~1 us).
    const traced = (yield* Effect.tracer) !== Tracer.nativeTracer
    const processSpan = processSpans({
      operationType: "process",
      destination: Otel.allDestination,
      subscription: group.name ?? loop.name,
      group: group.name ?? loop.name,
      partition: group.partition
    })

    // Handles `events` and commits them with their checkpoint; on a handler failure, isolates it.
    const commitBatch = (
      events: ReadonlyArray<RecordedEvent>
    ): Effect.Effect<void, E | CheckpointError, R | EventStore> =>
      Effect.suspend(() => {
        const position = events[events.length - 1].position
        // Where the handler stands: the index of the event being handled, and whether it got through.
        const state = { at: 0, handled: false }
        const work = handle._tag === "Each"
          ? forEachCausedBy(events, (event, i) => {
            state.at = i
            const handled = handle.handle(event)
            return traced ? processSpan([event])(handled) : handled
          })
          : traced
          ? processSpan(events)(handle.handle(events))
          : handle.handle(events)
        const committed = checkpoints.commit(
          loop.name,
          position,
          Effect.map(work, () => {
            state.handled = true
          })
        )
        return Effect.catchCause(
          onCommit === undefined ? committed : Effect.andThen(committed, onCommit(position, events.length)),
          (cause) => {
            // The checkpoint's own failure, an interruption, an outage or a lone event: as it is.
            if (state.handled || events.length === 1 || Cause.hasInterruptsOnly(cause) || transient(cause)) {
              return Effect.failCause(cause)
            }
            // One event at a time: commit the events before the failed one, then fail with its error.
            if (handle._tag === "Each") {
              return state.at === 0
                ? Effect.failCause(cause)
                : Effect.andThen(commitBatch(events.slice(0, state.at)), Effect.failCause(cause))
            }
            // A batch at once: hand the events over one per commit; the first to fail fails alone.
            return Effect.forEach(events, (event) => commitBatch([event]), { discard: true })
          }
        )
      })

    // One batch, timed: its pace sizes the next one (a failed batch's too). One event per batch
    // needs no pace. The clock is read directly, twice per batch (a TestClock in tests).
    const clock = yield* Clock.Clock
    const timed = loop.every === 1 ? commitBatch : (events: ReadonlyArray<RecordedEvent>) =>
      Effect.suspend(() => {
        const started = clock.currentTimeNanosUnsafe()
        return Effect.onExit(commitBatch(events), () =>
          Effect.sync(() => {
            pace.size = nextSize(loop.every, loop.interval, events.length, clock.currentTimeNanosUnsafe() - started)
          }))
      })

    // What the subscription has delivered meanwhile joins the next batch (without waiting for more):
    // a backend that delivers one event at a time (KurrentDB) still commits in batches, and the next
    // page is read while this batch commits (where the backend has a second connection for it).
    const delivered = loop.every === 1
      ? established.events
      : readAhead(established.events, loop.every)
    // Not an `Effect.gen` per delivered array: on SQLite a generator there kept every event of a run
    // alive through each scavenge (16-17 MB promoted per 40 MB allocated, the heap growing until a
    // full collection; 4-8 ms of GC per 1,000 events), where these plain steps promote ~nothing.
    return Stream.mapArrayEffect(delivered, (events) => {
      const done = [events.length] as const
      // The reader's turn before the next batch: on a backend with one connection (SQLite) it
      // waits for the connection while a batch commits, so the next batch would otherwise be the
      // one page it read since (500 events, twice the commits); after the yield, the buffer holds
      // what it could read meanwhile, up to `every`.
      const end = loop.every > 1 ? Effect.as(Effect.yieldNow, done) : Effect.succeed(done)
      const from = (i: number): Effect.Effect<readonly [number], E | CheckpointError, R | EventStore> => {
        if (i >= events.length) return end
        const batch = i === 0 && events.length <= pace.size ? events : events.slice(i, i + pace.size)
        return Effect.flatMap(timed(batch), () => from(i + batch.length))
      }
      return from(0)
    })
  }))

/** What `Consumer.run` and `Consumer.make` check alike and resolve from their options. */
export interface Checked<X, R> {
  readonly every: number
  readonly interval: bigint
  readonly handle: Handle<X, R>
}

// `handler` / `handleBatch`, `checkpointEvery` and `checkpointInterval`, checked for `run` and `make`.
export const checkOptions = <X, R>(
  operation: string,
  options: ConsumerOptions<X, R>
): Effect.Effect<Checked<X, R>, InvalidArgument> => {
  const invalid = (detail: string) => Effect.fail(new InvalidArgument({ operation, detail }))
  const { checkpointEvery, checkpointInterval, handleBatch, handler } = options
  const every = checkpointEvery ?? defaultCheckpointEvery
  if (!(Number.isSafeInteger(every) && every >= 1)) {
    return invalid(`checkpointEvery must be an integer >= 1, got ${String(every)}`)
  }
  const interval = checkpointInterval === undefined
    ? defaultCheckpointInterval
    : Duration.fromInput(checkpointInterval)._tag === "Some"
    ? Duration.fromInputUnsafe(checkpointInterval)
    : undefined
  if (interval === undefined || !Duration.isFinite(interval) || Duration.toMillis(interval) <= 0) {
    return invalid(`checkpointInterval must be a finite duration above zero, got ${String(checkpointInterval)}`)
  }
  const isHandler = typeof handler === "function"
  const isBatch = typeof handleBatch === "function"
  if (isHandler === isBatch) {
    return invalid(
      isHandler
        ? "give either handler or handleBatch, not both"
        : "a consumer needs a handler (one event) or a handleBatch (a batch of events) function"
    )
  }
  return Effect.succeed({
    every,
    interval: Duration.toNanosUnsafe(interval),
    handle: isHandler ? { _tag: "Each", handle: handler! } : { _tag: "Batch", handle: handleBatch! }
  })
}
