/**
 * Named, checkpointed consumers of the global log.
 *
 * {@link run} loads the consumer's checkpoint (the position of the last event it handled),
 * subscribes to the global log just after it, and runs the handler on each event in order. After
 * each handled event, or each batch with `checkpointEvery`, it commits the new checkpoint. It runs
 * until interrupted, or until the handler fails: then it fails with the handler's error, and the
 * checkpoint stays before the failed event, which is handled again on the next run.
 *
 * Delivery is at-least-once with the default checkpoint store: the handler and the checkpoint
 * save are two writes, so a crash between them handles the event again on restart (an interruption
 * cannot land between them: once the handler has succeeded, the save runs uninterruptibly). Make
 * handlers idempotent, or provide a transactional {@link Checkpoints} store (see there) for
 * exactly-once.
 *
 * One running instance per name: two instances with the same name both handle every event.
 *
 * @example
 * const projector = Consumer.run("cart-totals", {
 *   filter: EventCodec.filter(CartEvents),
 *   handler: CartEvents.handler((decoded) => updateTotals(decoded.event))
 * })
 * yield* Effect.forkScoped(projector)
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import type { RecordedEvent } from "./Event.ts"
import { establishAll, EventStore } from "./EventStore.ts"
import type { EventFilter, SubscribeFrom } from "./EventStore.ts"
import * as Retry from "./Retry.ts"
import * as StoreError from "./StoreError.ts"
import { InvalidArgument, type LeaseLost, type StoreUnavailable } from "./StoreError.ts"

/**
 * Errors of loading or saving a checkpoint.
 *
 * @category errors
 * @since 0.1.0
 */
export type CheckpointError = InvalidArgument | StoreUnavailable | LeaseLost

/**
 * Where consumers keep their checkpoints, and how a checkpoint commits with the handler's work.
 *
 * `commit(name, position, work)` runs `work` (the handler for one batch of events, ending at
 * `position`) and records `position` as the consumer's checkpoint. The default runs the work and
 * then `EventStore.saveCheckpoint`, with the save uninterruptible once the work has succeeded.
 *
 * **The exactly-once seam.** A SQL backend replaces `commit` with one that runs the work and the
 * checkpoint write in one transaction (for example
 * `sql.withTransaction(Effect.tap(work, () => saveCheckpoint(name, position)))`), so handlers that
 * write through the same `SqlClient` commit or roll back together with the checkpoint: a crash or
 * interruption anywhere leaves both unchanged, and the batch is handled again. Provide it for a
 * whole program with `Layer.succeed(Consumer.Checkpoints, ...)`, or around one consumer with
 * `Effect.provideService(Consumer.Checkpoints, ...)`.
 *
 * @category models
 * @since 0.1.0
 */
export interface CheckpointStore {
  readonly load: (name: string) => Effect.Effect<Option.Option<bigint>, CheckpointError, EventStore>
  readonly commit: <A, X, R>(
    name: string,
    position: bigint,
    work: Effect.Effect<A, X, R>
  ) => Effect.Effect<A, X | CheckpointError, R | EventStore>
}

/**
 * The default checkpoint store: `EventStore.loadCheckpoint` / `saveCheckpoint`, the save right
 * after the work.
 *
 * @category constructors
 * @since 0.1.0
 */
export const storeCheckpoints: CheckpointStore = {
  load: (name) => Effect.flatMap(EventStore, (store) => store.loadCheckpoint(name)),
  commit: (name, position, work) =>
    Effect.uninterruptibleMask((restore) =>
      Effect.tap(
        restore(work),
        () => Effect.flatMap(EventStore, (store) => store.saveCheckpoint(name, position))
      )
    )
}

/**
 * The checkpoint store consumers use; {@link storeCheckpoints} unless a backend or the program
 * provides another.
 *
 * @category services
 * @since 0.1.0
 */
export const Checkpoints: Context.Reference<CheckpointStore> = Context.Reference<CheckpointStore>(
  "@strata/core/Consumer/Checkpoints",
  { defaultValue: () => storeCheckpoints }
)

/**
 * @category models
 * @since 0.1.0
 */
export interface ConsumerOptions<X, R> {
  /** Handles one event. A failure stops the consumer, before the event's checkpoint. */
  readonly handler: (event: RecordedEvent) => Effect.Effect<void, X, R>
  /** Which events of the global log to handle; the checkpoint moves only on handled events. */
  readonly filter?: EventFilter | undefined
  /**
   * Where to begin when the consumer has no checkpoint yet: `"start"` (default), `"end"` (only
   * events appended from now on) or after a position. Ignored once a checkpoint exists.
   */
  readonly from?: SubscribeFrom | undefined
  /**
   * Most events handled per checkpoint commit (default 1: commit after every event). A commit also
   * happens at the end of every batch the subscription delivers, so a quiet log never leaves
   * handled events uncommitted. Larger values mean fewer checkpoint writes, and more events handled
   * again after a crash (unless the checkpoint store is transactional).
   */
  readonly checkpointEvery?: number | undefined
  /**
   * How long to keep restarting after transient failures (`StoreUnavailable`) before the consumer
   * fails: default `Retry.defaultStreamSchedule` (capped exponential backoff, at least a minute).
   * Each restart is logged and resumes after the last committed checkpoint.
   */
  readonly retry?: Schedule.Schedule<unknown, unknown> | undefined
}

/**
 * Runs a named consumer until it is interrupted or its handler fails (a subscription never ends
 * by itself). Store outages are ridden out (see `ConsumerOptions.retry`). Meant to be forked: `Effect.forkScoped(Consumer.run(...))`, so closing the scope
 * stops it.
 *
 * @category operations
 * @since 0.1.0
 */
export const run: <X, R>(
  name: string,
  options: ConsumerOptions<X, R>
) => Effect.Effect<void, X | CheckpointError, R | EventStore> = Effect.fn("Consumer.run")(
  function*<X, R>(name: string, options: ConsumerOptions<X, R>) {
    yield* Effect.annotateCurrentSpan({ "strata.consumer": name })
    const every = options.checkpointEvery ?? 1
    if (!Number.isSafeInteger(every) || every < 1) {
      return yield* new InvalidArgument({
        operation: "Consumer.run",
        detail: `checkpointEvery must be an integer >= 1, got ${String(every)}`
      })
    }
    const checkpoints = yield* Checkpoints
    // "end" is resolved once, on the first attempt, so a restart before the first commit does not
    // skip what was appended during the outage.
    let initial: SubscribeFrom = options.from ?? "start"
    const subscription = Stream.unwrap(Effect.gen(function*() {
      const checkpoint = yield* checkpoints.load(name)
      const from: SubscribeFrom = checkpoint._tag === "Some" ? { after: checkpoint.value } : initial
      const established = yield* establishAll({ from, filter: options.filter })
      if (checkpoint._tag === "None") initial = established.start
      yield* Effect.annotateCurrentSpan({
        "strata.consumer.from": typeof established.start === "object" ? `after ${established.start.after}` : "start"
      })
      return established.events
    }))
    const handleBatch = (events: ReadonlyArray<RecordedEvent>) =>
      checkpoints.commit(
        name,
        events[events.length - 1].position,
        Effect.forEach(events, options.handler, { discard: true })
      )
    const handled = Stream.mapArrayEffect(subscription, (events) =>
      Effect.gen(function*() {
        for (let start = 0; start < events.length; start += every) {
          yield* handleBatch(events.slice(start, start + every))
        }
        return [events.length] as const
      }))
    // A transient failure (the store, the checkpoint, or the handler's own StoreUnavailable) restarts
    // the consumer from its last committed checkpoint; the schedule restarts once a batch is handled.
    const schedule = Schedule.while(
      options.retry ?? Retry.defaultStreamSchedule,
      ({ input }) => StoreError.isRetryable(input)
    )
    yield* Stream.runDrain(Stream.retry(handled, Retry.logged(schedule, `consumer ${name}`)))
  }
)
