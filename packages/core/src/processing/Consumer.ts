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
 * {@link make} and {@link layer} run the same loop supervised: each failure logged with the event it
 * failed on and restarted on a Schedule (store outages always), poison events parked after
 * `parkAfter` failures (stored by the backend's `ParkedEvents`; list, replay, discard), a status,
 * `waitFor(position)` / `caughtUp`, lag metrics and catch-up progress logs. Programs find a consumer
 * started with {@link layer} through the {@link Consumers} registry ({@link get}).
 *
 * One running instance per name: two instances with the same name both handle every event.
 *
 * @example
 * const Projections = Consumer.layer("cart-totals", {
 *   filter: EventCodec.filter(CartEvents),
 *   handler: CartEvents.handler((decoded) => updateTotals(decoded.event)),
 *   parkAfter: 5
 * })
 * // in the program:
 * const totals = yield* Consumer.get("cart-totals")
 * yield* totals.waitFor(position)
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Pull from "effect/Pull"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as Inputs from "../backend/Inputs.ts"
import * as ParkedEvents from "../backend/ParkedEvents.ts"
import * as Event from "../Event.ts"
import type { RecordedEvent } from "../Event.ts"
import { establishAll, EventStore } from "../EventStore.ts"
import type { EventFilter, SubscribeFrom } from "../EventStore.ts"
import * as Retry from "../Retry.ts"
import * as StoreError from "../StoreError.ts"
import { InvalidArgument, type StoreUnavailable, Unsupported } from "../StoreError.ts"
import { type CheckpointError, Checkpoints } from "./Checkpoints.ts"
import * as Lease from "./Lease.ts"

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

/**
 * The services a supervised consumer needs besides its handler's: every store layer provides them.
 *
 * @category models
 * @since 0.1.0
 */
export type Requirements = EventStore | Checkpoints | ParkedEvents.ParkedEvents

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

// The one consuming loop `run` and the supervised consumer share: load the checkpoint (through the
// `Checkpoints` in context when the attempt starts, so a fenced store provided around an attempt is
// the one used), subscribe just after it, handle each batch and commit.
interface Loop<E, R> {
  readonly name: string
  readonly operation: string
  readonly filter: EventFilter | undefined
  readonly every: number
  /** Where to start without a checkpoint; "end" is fixed by the first attempt (see {@link run}). */
  readonly initial: { value: SubscribeFrom }
  readonly handle: (event: RecordedEvent) => Effect.Effect<void, E, R>
  readonly onStart?: ((covered: bigint | undefined) => Effect.Effect<void>) | undefined
  readonly onCommit?: ((position: bigint, handled: number) => Effect.Effect<void>) | undefined
}

const consume = <E, R>(loop: Loop<E, R>): Stream.Stream<number, E | CheckpointError, R | EventStore | Checkpoints> =>
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
    const handleBatch = (events: ReadonlyArray<RecordedEvent>) => {
      const position = events[events.length - 1].position
      const committed = checkpoints.commit(
        loop.name,
        position,
        Effect.forEach(events, (event) => Event.causedBy(loop.handle(event), event), { discard: true })
      )
      return loop.onCommit === undefined
        ? committed
        : Effect.tap(committed, () => loop.onCommit!(position, events.length))
    }
    return Stream.mapArrayEffect(established.events, (events) =>
      Effect.gen(function*() {
        for (let i = 0; i < events.length; i += loop.every) {
          yield* handleBatch(events.slice(i, i + loop.every))
        }
        return [events.length] as const
      }))
  }))

const checkEvery = (operation: string, every: number) =>
  Number.isSafeInteger(every) && every >= 1
    ? Effect.succeed(every)
    : Effect.fail(
      new InvalidArgument({ operation, detail: `checkpointEvery must be an integer >= 1, got ${String(every)}` })
    )

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
    const every = yield* checkEvery("Consumer.run", options.checkpointEvery ?? 1)
    const handled = consume({
      name,
      operation: "Consumer.run",
      filter: options.filter,
      every,
      initial: { value: options.from ?? "start" },
      handle: options.handler
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
 * What a supervised consumer is doing:
 *
 * - `starting`: built, its first attempt not yet subscribed;
 * - `catching-up`: handling what was in the log when the attempt started;
 * - `live`: it has handled everything that was there, and handles new events as they come;
 * - `restarting`: an attempt failed; it waits for its restart schedule (see `failure`);
 * - `failed`: the restart schedule gave up; it handles nothing more (see `failure`);
 * - `standby`: `exclusive`, and another instance holds the consumer's lease; it takes over when
 *   that lease expires or is released;
 * - `stopped`: its scope closed.
 *
 * @category models
 * @since 0.1.0
 */
export type ConsumerState =
  | "starting"
  | "standby"
  | "catching-up"
  | "live"
  | "restarting"
  | "failed"
  | "stopped"

/**
 * The event a failure happened on.
 *
 * @category models
 * @since 0.1.0
 */
export interface FailedEvent {
  readonly stream: string
  readonly version: bigint
  readonly position: bigint
  readonly type: string
  readonly id: string
}

/**
 * One failure of a supervised consumer.
 *
 * @category models
 * @since 0.1.0
 */
export interface ConsumerFailure {
  /** The error (a defect's value for a defect). */
  readonly error: unknown
  readonly message: string
  /** The event the handler failed on; absent when the store or the checkpoint failed. */
  readonly event: FailedEvent | undefined
  /** Consecutive failures on this event (1 when there is no event). */
  readonly attempts: number
  /** A store outage (`StoreUnavailable`): always retried, never counted toward parking. */
  readonly transient: boolean
}

/**
 * A supervised consumer's status.
 *
 * @category models
 * @since 0.1.0
 */
export interface ConsumerStatus {
  readonly name: string
  readonly state: ConsumerState
  /**
   * The position the consumer has got past: its committed checkpoint, or where it started (`from`)
   * when it has none yet; absent before its first attempt subscribes, or when it starts from the
   * beginning and has committed nothing.
   */
  readonly position: bigint | undefined
  /** Events parked for this consumer (kept up to date while it parks, replays and discards). */
  readonly parked: number
  /** Attempts that failed and were restarted since the consumer started. */
  readonly restarts: number
  /** The last failure, until the consumer next commits. */
  readonly failure: ConsumerFailure | undefined
}

/**
 * `waitFor` or `caughtUp` on a consumer that failed for good or was stopped.
 *
 * @category errors
 * @since 0.1.0
 */
export class ConsumerStopped extends Schema.TaggedError<ConsumerStopped>("@strata/core/Consumer/ConsumerStopped")(
  "ConsumerStopped",
  {
    consumer: Schema.String,
    state: Schema.Literals(["failed", "stopped"]),
    detail: Schema.String
  }
) {
  get isRetryable(): boolean {
    return false
  }
  override get message(): string {
    return this.state === "failed"
      ? `Consumer ${JSON.stringify(this.consumer)} failed and gave up restarting: ${this.detail}`
      : `Consumer ${JSON.stringify(this.consumer)} was stopped (its scope closed)`
  }
}

/**
 * Errors of `waitFor` / `caughtUp`.
 *
 * @category errors
 * @since 0.1.0
 */
export type WaitError = ConsumerStopped | InvalidArgument | StoreUnavailable

/**
 * A running supervised consumer.
 *
 * @category models
 * @since 0.1.0
 */
export interface Consumer<X = unknown> {
  readonly name: string
  readonly status: Effect.Effect<ConsumerStatus>
  /** The current status, then every change. */
  readonly statusChanges: Stream.Stream<ConsumerStatus>
  /**
   * Waits until the consumer has got past `position` (for example an append's `position`): every
   * event up to it that the consumer's filter selects is handled (or parked) and committed. Events
   * its filter skips count as passed. Fails with `ConsumerStopped` if the consumer fails for good or
   * stops first; keeps waiting through restarts.
   */
  readonly waitFor: (position: bigint) => Effect.Effect<void, WaitError>
  /** Waits until the consumer has handled everything in the log when this is called. */
  readonly caughtUp: Effect.Effect<void, WaitError>
  /** Its parked events, by position. */
  readonly parked: Effect.Effect<ReadonlyArray<ParkedEvents.ParkedEvent>, ParkedEvents.ParkedEventsError>
  /**
   * Runs the handler again on a parked event (read back from the log) and removes it, in one
   * transaction where the backend has them. On failure the event stays parked, with the new error.
   */
  readonly replay: (
    position: bigint
  ) => Effect.Effect<void, X | ParkedEvents.ParkedEventsError | StoreError.EventStoreError>
  /** Removes a parked event without handling it. */
  readonly discard: (position: bigint) => Effect.Effect<void, ParkedEvents.ParkedEventsError>
}

/**
 * Options of a supervised consumer ({@link make}, {@link layer}).
 *
 * @category models
 * @since 0.1.0
 */
export interface SupervisedOptions<X, R> extends Omit<ConsumerOptions<X, R>, "retry"> {
  /**
   * When to restart after a failure of the handler (or of anything but a store outage): the schedule
   * gets the error; when it ends, the consumer is `failed`. Default {@link defaultRestartSchedule}
   * (forever). It starts over once the consumer commits again.
   */
  readonly restart?: Schedule.Schedule<unknown, unknown> | undefined
  /**
   * Store outages (`StoreUnavailable`, also from the handler) are always retried, with this schedule
   * while it lasts and then with its last delay. Default {@link defaultOutageSchedule}.
   */
  readonly outage?: Schedule.Schedule<unknown, unknown> | undefined
  /**
   * Park an event once the handler has failed on it this many times in a row, and move on. Default:
   * never park (the consumer restarts on the event until the restart schedule ends). Needs a
   * `ParkedEvents` store (every backend but KurrentDB provides one).
   */
  readonly parkAfter?: number | undefined
  /**
   * How often lag is measured (the `strata_consumer_lag_*` gauges) and, while catching up, progress
   * is logged. Default 10 seconds.
   */
  readonly monitorInterval?: Duration.Input | undefined
  /**
   * One active instance per name across processes: each attempt first takes the lease
   * `consumer/<name>` from the store's `Lease.LeaseStore` (standing by while another instance holds
   * it), renews it while it runs, and commits checkpoints fenced by its token, so an instance that
   * stalled past its lease cannot commit after another took over. `true` for the default TTL (15 s:
   * the longest a standby waits after the holder dies), or `Lease.HoldingOptions`. Default: off
   * (every instance handles every event).
   */
  readonly exclusive?: boolean | Lease.HoldingOptions | undefined
}

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

// A handler's failure, tagged with the event it failed on.
class HandlerFailure {
  readonly event: RecordedEvent
  readonly cause: Cause.Cause<unknown>
  constructor(event: RecordedEvent, cause: Cause.Cause<unknown>) {
    this.event = event
    this.cause = cause
  }
}

const describe = (error: unknown): string =>
  error instanceof Error && error.message !== ""
    ? error.message
    : typeof error === "object" && error !== null && "_tag" in error
    ? String(error._tag)
    : typeof error === "string"
    ? error
    : String(error)

const tagOf = (error: unknown): string =>
  typeof error === "object" && error !== null && "_tag" in error && typeof error._tag === "string"
    ? error._tag
    : error instanceof Error
    ? error.name
    : "Unknown"

const failedEvent = (event: RecordedEvent): FailedEvent => ({
  stream: event.stream,
  version: event.version,
  position: event.position,
  type: event.type,
  id: event.id
})

const eventAnnotations = (event: FailedEvent | undefined) =>
  event === undefined ? {} : {
    "strata.event.stream": event.stream,
    "strata.event.version": String(event.version),
    "strata.event.position": String(event.position),
    "strata.event.type": event.type
  }

const showEvent = (event: FailedEvent) =>
  `event ${event.type} ${JSON.stringify(event.stream)}@${event.version} (position ${event.position})`

// Steps a schedule by hand: the delay before the next attempt, or none when it has ended.
const stepper = (schedule: Schedule.Schedule<unknown, unknown>) =>
  Effect.map(
    Schedule.toStep(schedule),
    (step) => (input: unknown) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        step(now, input).pipe(
          Effect.map(([, delay]) => Option.some(delay)),
          Pull.catchDone(() => Effect.succeed(Option.none<Duration.Duration>()))
        ))
  )

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
 * const totals = yield* Consumer.make("cart-totals", {
 *   filter: EventCodec.filter(CartEvents),
 *   handler: CartEvents.handler((decoded) => updateTotals(decoded.event)),
 *   parkAfter: 5
 * })
 * const { position } = yield* CartEvents.append("cart-1", [Added.make({ sku: "A", qty: 1 })])
 * yield* totals.waitFor(position)
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
    const every = yield* checkEvery("Consumer.make", options.checkpointEvery ?? 1)
    const parkAfter = options.parkAfter
    if (parkAfter !== undefined && !(Number.isSafeInteger(parkAfter) && parkAfter >= 1)) {
      return yield* new InvalidArgument({
        operation: "Consumer.make",
        detail: `parkAfter must be an integer >= 1, got ${String(parkAfter)}`
      })
    }
    yield* Inputs.filter("Consumer.make", options.filter)
    const monitorInterval = Duration.fromInputUnsafe(options.monitorInterval ?? "10 seconds")
    const store = yield* EventStore
    const parkedStore = yield* ParkedEvents.ParkedEvents
    const context = yield* Effect.context<R | Requirements>()
    const attributes = { consumer: name }
    const annotate = Effect.annotateLogs({ "strata.consumer": name })

    // Refuse to start when parking is asked for and cannot be done; an outage only delays the count.
    let initialParked = 0
    if (parkAfter !== undefined) {
      initialParked = yield* parkedStore.count(name).pipe(
        Effect.catchTag("StoreUnavailable", () => Effect.succeed(0))
      )
    }
    const ref = yield* SubscriptionRef.make<ConsumerStatus>({
      name,
      state: "starting",
      position: undefined,
      parked: initialParked,
      restarts: 0,
      failure: undefined
    })
    const update = (f: (status: ConsumerStatus) => ConsumerStatus) => SubscriptionRef.update(ref, f)

    // Events to park when next met (position -> failures), and the run of failures on one event.
    const toPark = new Map<bigint, { readonly attempts: number; readonly error: string }>()
    let failing: { readonly position: bigint; readonly count: number } | undefined
    let progressed = false

    const lastVisible = Stream.runHead(store.readAll({ direction: "backwards", limit: 1 }))
    const lastMatching = (at: bigint) =>
      Stream.runHead(store.readAll({ from: at, direction: "backwards", limit: 1, filter: options.filter }))

    const terminal = (status: ConsumerStatus) => status.state === "failed" || status.state === "stopped"
    const stoppedError = (status: ConsumerStatus) =>
      new ConsumerStopped({
        consumer: name,
        state: status.state === "failed" ? "failed" : "stopped",
        detail: status.failure?.message ?? status.state
      })
    const passed = (target: bigint) => (status: ConsumerStatus) =>
      status.position !== undefined && status.position >= target
    // Waits until the status passes `target`; fails if the consumer ends first.
    const awaitPassed = (target: bigint) =>
      SubscriptionRef.changes(ref).pipe(
        Stream.filter((status) => passed(target)(status) || terminal(status)),
        Stream.runHead,
        Effect.flatMap((status) =>
          status._tag === "Some" && !passed(target)(status.value)
            ? Effect.fail(stoppedError(status.value))
            : Effect.void
        )
      )
    // The last event up to `target` the consumer must handle, once `target` is visible (PostgreSQL's
    // horizon may hold a just-committed position back for a moment).
    const mustHandle = (target: bigint) =>
      Effect.gen(function*() {
        let delay = Duration.millis(5)
        while (true) {
          const head = yield* lastVisible
          if (head._tag === "Some" && head.value.position >= target) break
          const status = yield* SubscriptionRef.get(ref)
          if (terminal(status)) return yield* stoppedError(status)
          yield* Effect.sleep(delay)
          delay = Duration.min(Duration.times(delay, 2), Duration.millis(250))
        }
        return yield* lastMatching(target)
      })

    const waitFor = (position: bigint): Effect.Effect<void, WaitError> =>
      Effect.gen(function*() {
        const target = yield* Inputs.bigint("Consumer.waitFor", "position", position)
        const last = yield* mustHandle(target)
        if (last._tag === "Some") yield* awaitPassed(last.value.position)
      }).pipe(Effect.withSpan("Consumer.waitFor", { attributes: { "strata.consumer": name } }))

    const caughtUp: Effect.Effect<void, WaitError> = Effect.gen(function*() {
      const head = yield* lastVisible
      if (head._tag === "Some") yield* waitFor(head.value.position)
    }).pipe(Effect.withSpan("Consumer.caughtUp", { attributes: { "strata.consumer": name } }))

    const handle = (event: RecordedEvent): Effect.Effect<void, HandlerFailure | ParkedEvents.ParkedEventsError, R> =>
      Effect.suspend((): Effect.Effect<void, HandlerFailure | ParkedEvents.ParkedEventsError, R> => {
        const poison = toPark.get(event.position)
        if (poison !== undefined) {
          return Effect.flatMap(Clock.currentTimeMillis, (now) =>
            parkedStore.park({
              consumer: name,
              position: event.position,
              stream: event.stream,
              version: event.version,
              eventId: event.id,
              eventType: event.type,
              error: poison.error,
              attempts: poison.attempts,
              parkedAt: new Date(now)
            }))
        }
        return options.handler(event).pipe(
          Effect.catchCause((cause): Effect.Effect<never, HandlerFailure> =>
            Cause.hasInterruptsOnly(cause)
              ? Effect.failCause(cause as Cause.Cause<never>)
              : Effect.fail(new HandlerFailure(event, cause))
          )
        )
      })

    const onStart = (covered: bigint | undefined) =>
      update((status) => ({
        ...status,
        state: "catching-up",
        position: covered === undefined ? status.position : covered
      })).pipe(
        Effect.andThen(Effect.logInfo(
          `Strata: consumer ${name} subscribed ${
            covered === undefined ? "from the start" : `after position ${covered}`
          }`
        )),
        annotate
      )

    const onCommit = (position: bigint, handled: number) =>
      Effect.gen(function*() {
        let parked = 0
        for (const at of toPark.keys()) {
          if (at <= position) {
            toPark.delete(at)
            parked++
          }
        }
        if (failing !== undefined && failing.position <= position) failing = undefined
        progressed = true
        yield* update((status) => ({
          ...status,
          position: status.position === undefined || position > status.position ? position : status.position,
          parked: status.parked + parked,
          failure: undefined
        }))
        yield* Metric.update(Metric.withAttributes(eventsHandledTotal, attributes), handled - parked)
        if (parked > 0) {
          yield* Metric.update(Metric.withAttributes(parkedTotal, attributes), parked)
          yield* Effect.logWarning(`Strata: consumer ${name} parked ${parked} event(s) up to position ${position}`)
            .pipe(
              annotate
            )
        }
      })

    // Marks the consumer live once it has passed what was in the log when the attempt started.
    const watchCatchUp = Effect.gen(function*() {
      const started = yield* Clock.currentTimeMillis
      const head = yield* lastVisible
      const last = head._tag === "Some" ? yield* lastMatching(head.value.position) : Option.none()
      if (last._tag === "Some") yield* awaitPassed(last.value.position)
      const now = yield* Clock.currentTimeMillis
      const status = yield* SubscriptionRef.get(ref)
      if (status.state !== "catching-up" && status.state !== "starting") return
      yield* Effect.logInfo(
        `Strata: consumer ${name} caught up at position ${status.position ?? "start"} in ${
          Duration.format(Duration.millis(now - started))
        }`
      ).pipe(annotate)
      yield* Metric.update(Metric.withAttributes(lagEvents, attributes), 0)
      yield* Metric.update(Metric.withAttributes(lagSeconds, attributes), 0)
      yield* update((s) => ({ ...s, state: "live" }))
    }).pipe(Effect.ignore)

    const initial = { value: options.from ?? ("start" as SubscribeFrom) }
    // One attempt: the inner run. It never succeeds (a subscription does not end).
    const unguarded = Effect.scoped(Effect.gen(function*() {
      if (parkAfter !== undefined) {
        const parked = yield* parkedStore.count(name)
        yield* update((status) => ({ ...status, parked }))
      }
      yield* Effect.forkScoped(watchCatchUp)
      yield* Stream.runDrain(consume({
        name,
        operation: "Consumer.make",
        filter: options.filter,
        every,
        initial,
        handle,
        onStart,
        onCommit
      }))
      // A subscription never ends by itself; if one does, it is a failure like any other.
      return yield* Effect.die(new Error("the subscription ended"))
    }))

    // With `exclusive`, an attempt runs only while this instance holds the consumer's lease, with
    // fenced checkpoints; losing the lease fails the attempt (LeaseLost), which stands by again.
    // The holder id is fixed per instance, so a restarted attempt gets its own lease back at once.
    const exclusive = options.exclusive === undefined || options.exclusive === false
      ? undefined
      : {
        ...(options.exclusive === true ? {} : options.exclusive),
        holder: (options.exclusive === true ? undefined : options.exclusive.holder) ?? crypto.randomUUID()
      }
    const leases = exclusive === undefined ? undefined : yield* Effect.serviceOption(Lease.LeaseStore)
    if (exclusive !== undefined) {
      yield* Lease.checkOptions("Consumer.make", exclusive)
      if (leases === undefined || leases._tag === "None") {
        return yield* new Unsupported({
          operation: "Consumer.make",
          backend: "unknown",
          detail:
            `consumer ${name} is exclusive, but no Lease.LeaseStore is provided (every Strata backend layer provides one)`
        })
      }
    }
    const attempt = exclusive === undefined || leases === undefined || leases._tag === "None"
      ? unguarded
      : Effect.gen(function*() {
        const leaseStore = leases.value
        yield* update((status) => ({ ...status, state: "standby" }))
        const lease = yield* Lease.acquireWaiting(leaseStore, `consumer/${name}`, exclusive)
        yield* update((status) => status.state === "standby" ? { ...status, state: "starting" } : status)
        return yield* Lease.hold(
          leaseStore,
          lease,
          exclusive,
          (held) => Lease.withFencing(held)(unguarded).pipe(Effect.provideService(Lease.LeaseStore, leaseStore))
        )
      })

    const classify = (cause: Cause.Cause<unknown>): ConsumerFailure => {
      const found = Cause.findErrorOption(cause)
      if (found._tag === "Some" && found.value instanceof HandlerFailure) {
        const error = Cause.squash(found.value.cause)
        const event = failedEvent(found.value.event)
        const transient = StoreError.isRetryable(error)
        if (!transient) {
          failing = failing?.position === event.position
            ? { position: event.position, count: failing.count + 1 }
            : { position: event.position, count: 1 }
        }
        return { error, message: describe(error), event, attempts: transient ? 1 : failing!.count, transient }
      }
      const error = Cause.squash(cause)
      return {
        error,
        message: describe(error),
        event: undefined,
        attempts: 1,
        // A lost lease (exclusive) is like an outage: stand by for it again, never give up.
        transient: StoreError.isRetryable(error) || (error instanceof StoreError.LeaseLost)
      }
    }

    // The supervisor: runs attempts, restarting failed ones on their schedule, parking poison events.
    const supervise = Effect.gen(function*() {
      // What the checkpoints promise, so the log says whether a batch's writes land exactly once.
      const delivery = (yield* Checkpoints).delivery ?? "at-least-once"
      yield* Effect.logInfo(`Strata: consumer ${name} started`).pipe(
        annotate,
        Effect.annotateLogs({ "strata.consumer.delivery": delivery })
      )
      let restart = yield* stepper(options.restart ?? defaultRestartSchedule)
      let outage = yield* stepper(options.outage ?? defaultOutageSchedule)
      let lastOutageDelay = Duration.millis(100)
      while (true) {
        progressed = false
        const exit = yield* Effect.exit(attempt)
        if (exit._tag === "Success") continue // unreachable: an attempt only ends by failing
        if (progressed) {
          restart = yield* stepper(options.restart ?? defaultRestartSchedule)
          outage = yield* stepper(options.outage ?? defaultOutageSchedule)
        }
        const failure = classify(exit.cause)
        yield* Metric.update(Metric.withAttributes(failuresTotal, { ...attributes, error: tagOf(failure.error) }), 1)
        const where = failure.event === undefined ? "" : ` on ${showEvent(failure.event)}`
        const logFailure = (message: string) =>
          Effect.logWarning(message).pipe(
            Effect.annotateLogs({ ...eventAnnotations(failure.event), "strata.consumer.attempts": failure.attempts }),
            annotate
          )
        if (
          parkAfter !== undefined && failure.event !== undefined && !failure.transient &&
          failure.attempts >= parkAfter
        ) {
          toPark.set(failure.event.position, { attempts: failure.attempts, error: failure.message })
          yield* update((status) => ({ ...status, state: "restarting", restarts: status.restarts + 1, failure }))
          yield* logFailure(
            `Strata: consumer ${name} failed${where} ${failure.attempts} times, parking it: ${failure.message}`
          )
          continue
        }
        let delay: Option.Option<Duration.Duration>
        if (failure.transient) {
          delay = yield* outage(failure.error)
          // Outages are always retried: past the schedule's end, with its last delay.
          if (delay._tag === "Some") lastOutageDelay = delay.value
          else delay = Option.some(lastOutageDelay)
        } else {
          delay = yield* restart(failure.error)
        }
        if (delay._tag === "None") {
          yield* update((status) => ({ ...status, state: "failed", failure }))
          yield* Effect.logError(
            `Strata: consumer ${name} failed${where} and its restart schedule has ended; it handles nothing more: ${failure.message}`
          ).pipe(Effect.annotateLogs(eventAnnotations(failure.event)), annotate)
          return
        }
        yield* update((status) => ({ ...status, state: "restarting", restarts: status.restarts + 1, failure }))
        yield* logFailure(
          `Strata: consumer ${name} failed${where}${
            failure.event !== undefined && !failure.transient ? ` (attempt ${failure.attempts})` : ""
          }, restarting in ${Duration.format(delay.value)}: ${failure.message}`
        )
        yield* Effect.sleep(delay.value)
      }
    })

    // Lag gauges, and progress logs while catching up.
    const monitor = Effect.gen(function*() {
      let previous: { readonly at: number; readonly position: bigint | undefined } | undefined
      while (true) {
        yield* Effect.sleep(monitorInterval)
        const status = yield* SubscriptionRef.get(ref)
        if (terminal(status)) continue
        const head = yield* lastVisible
        const next = yield* Stream.runHead(store.readAll({
          from: status.position === undefined ? undefined : status.position + 1n,
          filter: options.filter,
          limit: 1
        }))
        const now = yield* Clock.currentTimeMillis
        const pending = head._tag === "Some" && next._tag === "Some" && next.value.position <= head.value.position
        const behind = pending ? Number(head.value.position - (status.position ?? 0n)) : 0
        const age = pending ? Math.max(0, (now - next.value.createdAt.getTime()) / 1000) : 0
        yield* Metric.update(Metric.withAttributes(lagEvents, attributes), behind)
        yield* Metric.update(Metric.withAttributes(lagSeconds, attributes), age)
        if (status.state === "catching-up" && pending) {
          const rate = previous === undefined || now <= previous.at
            ? ""
            : `, ${
              Math.round(
                Number((status.position ?? 0n) - (previous.position ?? 0n)) / ((now - previous.at) / 1000)
              )
            } positions/s`
          yield* Effect.logInfo(
            `Strata: consumer ${name} catching up: at position ${status.position ?? "start"} of ${
              head._tag === "Some" ? head.value.position : "?"
            } (${behind} behind, oldest pending ${age.toFixed(1)} s old${rate})`
          ).pipe(annotate)
        }
        previous = { at: now, position: status.position }
      }
    }).pipe(
      // A failed measurement (an outage) is skipped: the next tick measures again.
      Effect.catchCause(() => Effect.void),
      Effect.forever
    )

    // Finalizers run in reverse: this one after both fibers are interrupted.
    yield* Effect.addFinalizer(() =>
      update((status) => ({ ...status, state: "stopped" })).pipe(
        Effect.andThen(Effect.logInfo(`Strata: consumer ${name} stopped`)),
        annotate
      )
    )
    yield* Effect.forkScoped(monitor)
    yield* Effect.forkScoped(
      supervise.pipe(Effect.withSpan("Consumer.supervise", { attributes: { "strata.consumer": name } }))
    )

    const refreshParked = Effect.flatMap(parkedStore.count(name), (parked) => update((s) => ({ ...s, parked })))

    const replay = (position: bigint) =>
      Effect.gen(function*() {
        const at = yield* Inputs.bigint("Consumer.replay", "position", position)
        const entries = yield* parkedStore.list(name)
        const entry = entries.find((e) => e.position === at)
        if (entry === undefined) return yield* ParkedEvents.notParked(name, at)
        const found = yield* Stream.runHead(store.readAll({ from: at, limit: 1 }))
        if (found._tag === "None" || found.value.position !== at || found.value.id !== entry.eventId) {
          return yield* new InvalidArgument({
            operation: "Consumer.replay",
            detail: `parked event ${entry.eventId} at position ${at} is no longer in the log; discard it`
          })
        }
        const event = found.value
        yield* parkedStore.settle(name, at, Event.causedBy(options.handler(event), event)).pipe(
          Effect.tapError((error) =>
            parkedStore.park({ ...entry, error: describe(error), attempts: entry.attempts + 1 }).pipe(Effect.ignore)
          )
        )
        yield* refreshParked.pipe(Effect.ignore)
        yield* Effect.logInfo(`Strata: consumer ${name} replayed parked ${showEvent(failedEvent(event))}`).pipe(
          annotate
        )
      }).pipe(
        Effect.provide(context),
        Effect.withSpan("Consumer.replay", { attributes: { "strata.consumer": name } })
      ) as Effect.Effect<void, X | ParkedEvents.ParkedEventsError | StoreError.EventStoreError>

    const discard = (position: bigint) =>
      Effect.gen(function*() {
        const at = yield* Inputs.bigint("Consumer.discard", "position", position)
        const removed = yield* parkedStore.remove(name, at)
        if (!removed) return yield* ParkedEvents.notParked(name, at)
        yield* refreshParked.pipe(Effect.ignore)
        yield* Effect.logInfo(`Strata: consumer ${name} discarded the parked event at position ${at}`).pipe(annotate)
      }).pipe(Effect.withSpan("Consumer.discard", { attributes: { "strata.consumer": name } }))

    return {
      name,
      status: SubscriptionRef.get(ref),
      statusChanges: SubscriptionRef.changes(ref),
      waitFor,
      caughtUp,
      parked: parkedStore.list(name),
      replay,
      discard
    } satisfies Consumer<X>
  })

/**
 * The consumers a program started with {@link layer}, by name.
 *
 * **Details**
 *
 * Every `Consumer.layer` provides the one registry ({@link layerRegistry} is memoized like any layer,
 * so the consumer layers of one program share it) and registers itself for as long as it runs.
 *
 * @example
 * const program = Effect.gen(function*() {
 *   const { position } = yield* store.append("cart-1", [event])
 *   const totals = yield* Consumer.get("cart-totals")
 *   yield* totals.waitFor(position)
 * })
 *
 * @category services
 * @since 0.1.0
 */
export class Consumers extends Context.Service<Consumers, {
  /** The running consumer of that name; `InvalidArgument` when there is none. */
  readonly get: (name: string) => Effect.Effect<Consumer, InvalidArgument>
  readonly all: Effect.Effect<ReadonlyArray<Consumer>>
  /** Registers a consumer until the scope closes; `InvalidArgument` when the name is taken. */
  readonly register: (consumer: Consumer<any>) => Effect.Effect<void, InvalidArgument, Scope.Scope>
}>()("@strata/core/Consumer/Consumers") {}

/**
 * An empty registry.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeRegistry: Effect.Effect<Consumers["Service"]> = Effect.sync(() => {
  const running = new Map<string, Consumer>()
  return Consumers.of({
    get: (name) =>
      Effect.suspend(() => {
        const consumer = running.get(name)
        return consumer === undefined
          ? Effect.fail(
            new InvalidArgument({
              operation: "Consumers.get",
              detail: `no consumer named ${JSON.stringify(name)} is running (running: ${
                [...running.keys()].join(", ") || "none"
              })`
            })
          )
          : Effect.succeed(consumer)
      }),
    all: Effect.sync(() => [...running.values()]),
    register: (consumer) =>
      Effect.suspend(() =>
        running.has(consumer.name)
          ? Effect.fail(
            new InvalidArgument({
              operation: "Consumer.layer",
              detail: `a consumer named ${JSON.stringify(consumer.name)} is already running in this program`
            })
          )
          : Effect.acquireRelease(
            Effect.sync(() => void running.set(consumer.name, consumer)),
            () => Effect.sync(() => void running.delete(consumer.name))
          )
      )
  })
})

/**
 * The registry layer every {@link layer} provides (one value, so it is built once per program).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerRegistry: Layer.Layer<Consumers> = Layer.effect(Consumers, makeRegistry)

/**
 * Runs a supervised consumer (see {@link make}) for the lifetime of the layer, and registers it in
 * {@link Consumers}: `Consumer.get(name)` finds it. Building the layer fails for bad options (or
 * `Unsupported` parking); the consumer itself never fails the layer, it restarts (see
 * `SupervisedOptions.restart`).
 *
 * @example
 * const Projections = Layer.mergeAll(
 *   Consumer.layer("cart-totals", { handler: updateTotals }),
 *   Consumer.layer("mailer", { handler: sendMail, parkAfter: 5 })
 * )
 * const AppLive = Projections.pipe(Layer.provideMerge(Store.layer(SqliteStore.layer({ filename: "app.db" }))))
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
