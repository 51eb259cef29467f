/**
 * Named, checkpointed consumers of the global log.
 *
 * {@link run} loads the consumer's checkpoint (the position of the last event it handled),
 * subscribes to the global log just after it, and runs the handler on each event in order (or
 * `handleBatch` on each batch). It commits the new checkpoint once per batch: what the subscription
 * has delivered, at most `checkpointEvery` events (default 1,000) and sized to end within
 * `checkpointInterval` (default 100 ms); a batch never waits for more events, so live events commit
 * at once, and `checkpointEvery: 1` commits after every event. It runs until interrupted, or until
 * the handler fails: then the events before the failed one commit, it fails with the handler's
 * error, and the checkpoint stays just before the failed event, which is handled again on the next
 * run.
 *
 * Delivery comes from the store's {@link Checkpoints} (every store layer provides them, see
 * `Checkpoints.make`): exactly once for the handler's writes through the store where the backend
 * commits in transactions (memory, SQLite, PostgreSQL: the writes and the checkpoint commit
 * together), at least once elsewhere (D1, KurrentDB: the handler's writes, then the checkpoint, so
 * a crash between them handles the event again; an interruption cannot land between them). Make
 * handlers idempotent there.
 *
 * {@link make} and {@link layer} run the same loop supervised: each failure logged with the event it
 * failed on and restarted on a Schedule (store outages always), poison events parked after
 * `parkAfter` failures (stored by the backend's `ParkedEvents`; list, replay, discard), a status,
 * `waitFor(position)` / `caughtUp`, lag metrics and catch-up progress logs. Programs find a consumer
 * started with {@link layer} through the {@link Consumers} registry ({@link get}).
 *
 * One running instance per name: two instances with the same name both handle every event.
 *
 * This module is the public face: options, status, errors, metrics, {@link run}, {@link make},
 * {@link layer}. The machinery lives in `internal/consumer/`, over one small context
 * (`context.ts`): the consuming loop (`loop.ts`), one attempt (`attempt.ts`), its supervisor
 * (`supervisor.ts`), poison events (`parking.ts`), the status and lag (`status.ts`) and the
 * registry (`registry.ts`).
 *
 * @example
 * ```ts
 * import { Consumer, EventCodec } from "@strata/core"
 * import { Effect, Schema } from "effect"
 *
 * const Added = EventCodec.type("Added", { schema: Schema.Struct({ sku: Schema.String, qty: Schema.Int }) })
 * const CartEvents = EventCodec.make([Added])
 * declare const updateTotals: (event: EventCodec.Type<typeof CartEvents>) => Effect.Effect<void>
 *
 * const Projections = Consumer.layer("cart-totals", {
 *   filter: EventCodec.filter(CartEvents),
 *   handler: CartEvents.handler((decoded) => updateTotals(decoded.event)),
 *   parkAfter: 5
 * })
 * // in the program:
 * const program = Effect.gen(function*() {
 *   const { position } = yield* CartEvents.append("cart-1", [Added.make({ sku: "A", qty: 1 })])
 *   const totals = yield* Consumer.get("cart-totals")
 *   yield* totals.waitFor(position)
 * })
 * ```
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as Inputs from "../backend/Inputs.ts"
import type { EventStore } from "../EventStore.ts"
import * as Retry from "../Retry.ts"
import * as StoreError from "../StoreError.ts"
import { InvalidArgument, type Unsupported } from "../StoreError.ts"
import type { CheckpointError, Checkpoints } from "./Checkpoints.ts"
import * as Attempt from "./internal/consumer/attempt.ts"
import * as ConsumerContext from "./internal/consumer/context.ts"
import { checkOptions, consume } from "./internal/consumer/loop.ts"
import {
  type Consumer,
  type ConsumerOptions,
  ConsumerStopped,
  type Requirements,
  type SupervisedOptions
} from "./internal/consumer/model.ts"
import * as Parking from "./internal/consumer/parking.ts"
import { Consumers, layerRegistry, makeRegistry } from "./internal/consumer/registry.ts"
import * as Status from "./internal/consumer/status.ts"
import * as Supervisor from "./internal/consumer/supervisor.ts"

export {
  /**
   * Errors of loading or saving a checkpoint.
   *
   * @category errors
   * @since 0.1.0
   */
  type CheckpointError,
  /**
   * The checkpoint store consumers use; every store layer provides its own (see `Checkpoints.make`).
   *
   * @category services
   * @since 0.1.0
   */
  Checkpoints,
  /**
   * Where consumers keep their checkpoints, and how a checkpoint commits with the handler's work.
   *
   * @category models
   * @since 0.1.0
   */
  type CheckpointStore,
  /**
   * The at-least-once checkpoint store of the EventStore in context, for stores built by hand.
   *
   * @category constructors
   * @since 0.1.0
   */
  storeCheckpoints
} from "./Checkpoints.ts"

export * from "./internal/consumer/model.ts"

/**
 * Runs a named consumer until it is interrupted or its handler fails (a subscription never ends
 * by itself). Store outages are ridden out (see `ConsumerOptions.retry`). Meant to be forked:
 * `Effect.forkScoped(Consumer.run(...))`, so closing the scope stops it.
 *
 * **When to use**
 *
 * When you supervise the fiber yourself. {@link make} and {@link layer} run the same loop supervised:
 * restarted on failure, poison events parked, observable (status, `waitFor`, lag metrics).
 *
 * @category operations
 * @since 0.1.0
 */
export const run: <X, R>(
  name: string,
  options: ConsumerOptions<X, R>
) => Effect.Effect<void, X | CheckpointError, R | EventStore | Checkpoints> = Effect.fn("Consumer.run")(
  function*<X, R>(name: string, options: ConsumerOptions<X, R>) {
    yield* Effect.annotateCurrentSpan({ "strata.consumer": name })
    const checked = yield* checkOptions("Consumer.run", options)
    const handled = consume({
      name,
      operation: "Consumer.run",
      filter: options.filter,
      every: checked.every,
      interval: checked.interval,
      pace: { size: checked.every },
      initial: { value: options.from ?? "start" },
      handle: checked.handle
    })
    // A transient failure (the store, the checkpoint, or the handler's own StoreUnavailable) restarts
    // the consumer from its last committed checkpoint; the schedule restarts once a batch is handled.
    const schedule = Schedule.while(
      options.retry ?? Retry.defaultStreamSchedule,
      ({ input }) => StoreError.isRetryable(input)
    )
    yield* Stream.runDrain(Stream.retry(handled, Retry.logged(schedule, `consumer ${name}`)))
  }
)

// ---------------------------------------------------------------------------------------------
// Supervised consumers
// ---------------------------------------------------------------------------------------------

/**
 * The default restart schedule: exponential backoff from 200 ms, each wait capped at 30 s, forever.
 *
 * @category constants
 * @since 0.1.0
 */
export const defaultRestartSchedule: Schedule.Schedule<unknown> = Schedule.exponential("200 millis").pipe(
  Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, Duration.seconds(30))))
)

/**
 * The default schedule for store outages: exponential backoff from 100 ms, each wait capped at
 * `Retry.streamBackoffCap` (5 s), forever.
 *
 * @category constants
 * @since 0.1.0
 */
export const defaultOutageSchedule: Schedule.Schedule<unknown> = Schedule.exponential("100 millis").pipe(
  Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, Retry.streamBackoffCap)))
)

/**
 * Positions a consumer is behind the last visible event when it has work pending (0 when it has
 * none). Positions can have gaps and count events its filter skips, so this is an upper bound of the
 * events it still has to handle. Attribute `consumer`.
 *
 * @category metrics
 * @since 0.1.0
 */
export const lagEvents: Metric.Gauge<number> = Metric.gauge("strata_consumer_lag_events", {
  description: "Positions between a consumer's checkpoint and the head, when it has events pending"
})

/**
 * Age in seconds of the oldest event a consumer has not handled yet (0 when it has none). Attribute
 * `consumer`.
 *
 * @category metrics
 * @since 0.1.0
 */
export const lagSeconds: Metric.Gauge<number> = Metric.gauge("strata_consumer_lag_seconds", {
  description: "Age of the oldest event a consumer has not handled yet, in seconds"
})

/**
 * Events handled (committed) by supervised consumers. Attribute `consumer`.
 *
 * @category metrics
 * @since 0.1.0
 */
export const eventsHandledTotal: Metric.Counter<number> = Metric.counter("strata_consumer_events_handled_total", {
  description: "Events handled and committed by supervised consumers",
  incremental: true
})

/**
 * Failed attempts of supervised consumers. Attributes `consumer`, `error` (the error's tag).
 *
 * @category metrics
 * @since 0.1.0
 */
export const failuresTotal: Metric.Counter<number> = Metric.counter("strata_consumer_failures_total", {
  description: "Failed attempts of supervised consumers, by error tag",
  incremental: true
})

/**
 * Events parked by supervised consumers. Attribute `consumer`.
 *
 * @category metrics
 * @since 0.1.0
 */
export const parkedTotal: Metric.Counter<number> = Metric.counter("strata_consumer_parked_total", {
  description: "Events parked by supervised consumers",
  incremental: true
})

/**
 * Starts a supervised consumer in the current scope and returns its handle; closing the scope stops it.
 *
 * **Details**
 *
 * The consumer runs in a fiber of the scope: each attempt loads the checkpoint and handles events
 * as {@link run} does. A failed attempt is logged (with the event it failed on: stream, version,
 * position, type) and restarted after its schedule's delay: `restart` for handler failures,
 * `outage` (always) for `StoreUnavailable`. With `parkAfter`, the event the handler failed on that
 * many times in a row is parked (in the batch's checkpoint commit, so in the same transaction on
 * SQL) and the consumer moves on. Start, stop, caught-up, each failure and catch-up progress are
 * logged; lag is measured every `monitorInterval`.
 *
 * Fails at once with `InvalidArgument` for a bad name or option, or `Unsupported` when `parkAfter`
 * is set and no `ParkedEvents` store is provided.
 *
 * @example
 * ```ts
 * import { Consumer, EventCodec } from "@strata/core"
 * import { Effect, Schema } from "effect"
 *
 * const Added = EventCodec.type("Added", { schema: Schema.Struct({ sku: Schema.String, qty: Schema.Int }) })
 * const CartEvents = EventCodec.make([Added])
 * declare const updateTotals: (event: EventCodec.Type<typeof CartEvents>) => Effect.Effect<void>
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const totals = yield* Consumer.make("cart-totals", {
 *     filter: EventCodec.filter(CartEvents),
 *     handler: CartEvents.handler((decoded) => updateTotals(decoded.event)),
 *     parkAfter: 5
 *   })
 *   const { position } = yield* CartEvents.append("cart-1", [Added.make({ sku: "A", qty: 1 })])
 *   yield* totals.waitFor(position)
 * }))
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <X, R>(
  name: string,
  options: SupervisedOptions<X, R>
): Effect.Effect<Consumer<X>, InvalidArgument | Unsupported, Scope.Scope | Requirements | R> =>
  Effect.gen(function*() {
    yield* Inputs.checkpointName("Consumer.make", name)
    const checked = yield* checkOptions("Consumer.make", options)
    const parkAfter = options.parkAfter
    if (parkAfter !== undefined && !(Number.isSafeInteger(parkAfter) && parkAfter >= 1)) {
      return yield* new InvalidArgument({
        operation: "Consumer.make",
        detail: `parkAfter must be an integer >= 1, got ${String(parkAfter)}`
      })
    }
    yield* Inputs.filter("Consumer.make", options.filter)
    const ctx = yield* ConsumerContext.make<X, R>({
      name,
      options,
      every: checked.every,
      interval: checked.interval,
      handle: checked.handle,
      parkAfter,
      monitorInterval: Duration.fromInputUnsafe(options.monitorInterval ?? "10 seconds"),
      restart: options.restart ?? defaultRestartSchedule,
      outage: options.outage ?? defaultOutageSchedule,
      metrics: { lagEvents, lagSeconds, eventsHandledTotal, failuresTotal, parkedTotal },
      stopped: (status) =>
        new ConsumerStopped({
          consumer: name,
          state: status.state === "failed" ? "failed" : "stopped",
          detail: status.failure?.message ?? status.state
        })
    })
    const attempt = yield* Attempt.make(ctx)

    // Finalizers run in reverse: this one after both fibers are interrupted.
    yield* Effect.addFinalizer(() =>
      ctx.update((status) => ({ ...status, state: "stopped" })).pipe(
        Effect.andThen(Effect.logInfo(`Strata: consumer ${name} stopped`)),
        ctx.annotate
      )
    )
    yield* Effect.forkScoped(Status.monitor(ctx))
    yield* Effect.forkScoped(
      Supervisor.supervise(ctx, attempt).pipe(
        Effect.withSpan("Consumer.supervise", { attributes: { "strata.consumer": name } })
      )
    )

    return {
      name,
      status: SubscriptionRef.get(ctx.ref),
      statusChanges: SubscriptionRef.changes(ctx.ref),
      waitFor: Status.waitFor(ctx),
      caughtUp: Status.caughtUp(ctx),
      parked: ctx.parkedStore.list(name),
      replay: Parking.replay(ctx),
      discard: Parking.discard(ctx)
    } satisfies Consumer<X>
  })

export {
  /**
   * The consumers a program started with {@link layer}, by name; {@link get} finds one.
   *
   * @category services
   * @since 0.1.0
   */
  Consumers,
  /**
   * The registry layer every {@link layer} provides (one value, so it is built once per program).
   *
   * @category layers
   * @since 0.1.0
   */
  layerRegistry,
  /**
   * An empty registry.
   *
   * @category constructors
   * @since 0.1.0
   */
  makeRegistry
}

/**
 * Runs a supervised consumer (see {@link make}) for the lifetime of the layer, and registers it in
 * {@link Consumers}: `Consumer.get(name)` finds it. Building the layer fails for bad options (or
 * `Unsupported` parking); the consumer itself never fails the layer, it restarts (see
 * `SupervisedOptions.restart`).
 *
 * @example
 * ```ts
 * import { Consumer, type Event, Store } from "@strata/core"
 * import { SqliteStore } from "@strata/sqlite"
 * import { type Effect, Layer } from "effect"
 *
 * declare const updateTotals: (event: Event.RecordedEvent) => Effect.Effect<void>
 * declare const sendMail: (event: Event.RecordedEvent) => Effect.Effect<void>
 *
 * const Projections = Layer.mergeAll(
 *   Consumer.layer("cart-totals", { handler: updateTotals }),
 *   Consumer.layer("mailer", { handler: sendMail, parkAfter: 5 })
 * )
 * const AppLive = Projections.pipe(Layer.provideMerge(Store.layer(SqliteStore.layer({ filename: "app.db" }))))
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = <X, R>(
  name: string,
  options: SupervisedOptions<X, R>
): Layer.Layer<Consumers, InvalidArgument | Unsupported, Requirements | Exclude<R, Scope.Scope>> =>
  Layer.effectDiscard(Effect.gen(function*() {
    const registry = yield* Consumers
    const consumer = yield* make(name, options)
    yield* registry.register(consumer)
  })).pipe(Layer.provideMerge(layerRegistry))

/**
 * The running consumer of that name, from the {@link Consumers} registry.
 *
 * @category accessors
 * @since 0.1.0
 */
export const get = (name: string): Effect.Effect<Consumer, InvalidArgument, Consumers> =>
  Effect.flatMap(Consumers, (registry) => registry.get(name))
