// The models of consumers (options, status, failures, the handle `make` returns, the error of a
// stopped consumer): their own module, so the internal modules and the face (Consumer.ts, which
// re-exports every one of them) both stand on it.
import * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Stream from "effect/Stream"
import type * as ParkedEvents from "../../../backend/ParkedEvents.ts"
import type { RecordedEvent } from "../../../Event.ts"
import type { EventFilter, EventStore, SubscribeFrom } from "../../../EventStore.ts"
import type * as StoreError from "../../../StoreError.ts"
import type { InvalidArgument, StoreUnavailable } from "../../../StoreError.ts"
import type { Checkpoints } from "../../Checkpoints.ts"
import type * as Lease from "../../Lease.ts"

/**
 * The services a supervised consumer needs besides its handler's: every store layer provides them.
 *
 * @category models
 * @since 0.1.0
 */
export type Requirements = EventStore | Checkpoints | ParkedEvents.ParkedEvents

/**
 * The default most events per checkpoint commit: large enough that a commit costs little beside the
 * events it holds (about 1 % on PostgreSQL), small enough that a batch stays a short transaction.
 *
 * @category constants
 * @since 0.1.0
 */
export const defaultCheckpointEvery = 1000

/**
 * The default longest time a batch stays open: a commit then costs about 1-2 % of the batch on
 * PostgreSQL, and the transaction is short enough that other writers (SQLite has one writer at a
 * time) barely wait for it.
 *
 * @category constants
 * @since 0.1.0
 */
export const defaultCheckpointInterval: Duration.Duration = Duration.millis(100)

/**
 * @category models
 * @since 0.1.0
 */
export interface ConsumerOptions<X, R> {
  /**
   * Handles one event. A failure stops the consumer, before the event's checkpoint. What it succeeds
   * with is ignored, so a statement's effect can be returned as it is (an `Effect.asVoid` around it
   * is one more step per event). Give exactly one of `handler` and `handleBatch`.
   */
  readonly handler?: ((event: RecordedEvent) => Effect.Effect<void, X, R>) | undefined
  /**
   * Handles a batch of events at once (in log order), inside the batch's commit: one document read
   * and one write per batch, say. A batch is what one commit holds (see `checkpointEvery`); after a
   * failure, the events of the failed batch are handed over one per batch and commit, so the event
   * that fails is known and the events before it commit. Appends it makes carry no causation of
   * their own (wrap them in `Event.causedBy(event)`). Give exactly one of `handler` and
   * `handleBatch`.
   */
  readonly handleBatch?: ((events: ReadonlyArray<RecordedEvent>) => Effect.Effect<void, X, R>) | undefined
  /** Which events of the global log to handle; the checkpoint moves only on handled events. */
  readonly filter?: EventFilter | undefined
  /**
   * Where to begin when the consumer has no checkpoint yet: `"start"` (default), `"end"` (only
   * events appended from now on) or after a position. Ignored once a checkpoint exists.
   */
  readonly from?: SubscribeFrom | undefined
  /**
   * Most events handled per checkpoint commit (default {@link defaultCheckpointEvery}, 1000). A batch
   * never waits for events: it is at most what the subscription has delivered (a page while catching
   * up, the few new events when live), so a live event commits as soon as it is handled. `1` commits
   * after every event (one transaction per event: the choice when each event's handling must be
   * visible on its own before the next starts, or when the handler's side effects outside the store
   * must not be repeated after a failure of a later event in the same batch).
   */
  readonly checkpointEvery?: number | undefined
  /**
   * How long a batch may stay open (default {@link defaultCheckpointInterval}, 100 ms): batches are
   * sized from the pace of the previous one so they end within it, which keeps each transaction
   * short (readers, writers and `UnitOfWork.Timeout`, which rolls back longer ones). The first batch
   * of a run has no pace yet (up to `checkpointEvery` events); a failed batch's pace counts too, so
   * a batch rolled back for taking too long shrinks the next attempt's.
   */
  readonly checkpointInterval?: Duration.Input | undefined
  /**
   * How long to keep restarting after transient failures (`StoreUnavailable`) before the consumer
   * fails: default `Retry.defaultStreamSchedule` (capped exponential backoff, at least a minute).
   * Each restart is logged and resumes after the last committed checkpoint.
   */
  readonly retry?: Schedule.Schedule<unknown, unknown> | undefined
}

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
   * the longest a standby waits after the holder dies), or `Lease.HoldingOptions`. Default: on
   * wherever the store keeps leases (memory, SQLite, PostgreSQL, D1), since two instances of one
   * durable checkpoint would both handle every event; `false` opts out explicitly (every instance
   * handles every event). KurrentDB keeps no leases: there every instance handles every event.
   */
  readonly exclusive?: boolean | Lease.HoldingOptions | undefined
}
