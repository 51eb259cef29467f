/**
 * Aggregates: fold a stream's typed events into state, decide new events from that state, and
 * append them with an exact expected version, deciding again on a concurrent write.
 *
 * - {@link load} folds a stream (from its latest snapshot when one is configured and usable).
 * - {@link decide} loads, runs the decision, appends with the version it loaded (`noStream` for
 *   a fresh stream) and, when another writer got there first (`WrongExpectedVersion`), loads and
 *   decides again following a Schedule. No other error is retried: a decision's own failure is a
 *   business answer, and transient store failures belong to `Retry.withRetry`.
 *
 * Snapshots are a cache: the state is encoded with a user-given Schema and saved with a snapshot
 * `version`. A snapshot saved with another version, or one that does not decode, is ignored and
 * the stream is folded from its start. Saving a snapshot never fails a decision: the events are
 * committed by then, so a failed save is logged and skipped.
 *
 * @example
 * const account = {
 *   codec: AccountEvents,
 *   initial: { balance: 0 },
 *   evolve: (state, event) => event._tag === "Deposited" ? { balance: state.balance + event.amount } : ...,
 *   snapshot: { schema: AccountState, version: 1, every: 100 }
 * }
 * const { state } = yield* Aggregate.decide("account-1", {
 *   ...account,
 *   decide: (state) => state.balance >= 30
 *     ? Effect.succeed([Withdrawn.make({ amount: 30 })])
 *     : Effect.fail(new InsufficientFunds())
 * })
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type { EventMetadata } from "./Event.ts"
import type { EventCodec } from "./EventCodec.ts"
import { type AppendError, EventStore, type EventStoreShape, type ReadError } from "./EventStore.ts"
import * as ExpectedVersion from "./ExpectedVersion.ts"
import type { EventDecodeError, InvalidStreamName, StoreUnavailable, WrongExpectedVersion } from "./StoreError.ts"

/**
 * How to snapshot an aggregate's state.
 *
 * @category models
 * @since 0.1.0
 */
export interface SnapshotOptions<S> {
  /** Encodes the state to plain JSON and back. */
  readonly schema: Schema.Codec<S, any, never, never>
  /**
   * The version of the state's shape (default 1). Change it whenever the state or its schema
   * changes: snapshots saved with another version are ignored.
   */
  readonly version?: number | undefined
  /**
   * `decide` saves a snapshot once at least this many events were appended since the snapshot the
   * load started from (or since the start of the stream). Absent: `decide` saves none.
   */
  readonly every?: number | undefined
}

/**
 * What folding a stream needs.
 *
 * @category models
 * @since 0.1.0
 */
export interface LoadOptions<S, E extends { readonly _tag: string }> {
  readonly codec: EventCodec<E>
  readonly initial: S
  /** Pure: the state after one event. */
  readonly evolve: (state: S, event: E) => S
  readonly snapshot?: SnapshotOptions<S> | undefined
}

/**
 * A folded stream.
 *
 * @category models
 * @since 0.1.0
 */
export interface Loaded<S> {
  readonly state: S
  /** Version of the last event folded in; undefined when the stream has no events (and no snapshot). */
  readonly version: bigint | undefined
  /** Version of the snapshot the fold started from, if one was used. */
  readonly snapshotVersion: bigint | undefined
}

/**
 * What deciding needs: a fold, a decision, and how to retry on a concurrent write.
 *
 * @category models
 * @since 0.1.0
 */
export interface DecideOptions<S, E extends { readonly _tag: string }, X, R> extends LoadOptions<S, E> {
  /**
   * The events to append given the current state (none is fine: nothing is appended). Runs again
   * on every retry, against the freshly loaded state.
   */
  readonly decide: (state: S, loaded: Loaded<S>) => Effect.Effect<ReadonlyArray<E>, X, R>
  /**
   * When to decide again after a concurrent write; default {@link defaultSchedule}. Only
   * `WrongExpectedVersion` from this decision's own append is retried.
   */
  readonly schedule?: Schedule.Schedule<unknown, WrongExpectedVersion> | undefined
  /** Metadata for the appended events (correlation and causation ids, ...). */
  readonly metadata?: EventMetadata | undefined
}

/**
 * The outcome of a decision.
 *
 * @category models
 * @since 0.1.0
 */
export interface Decided<S, E> extends Loaded<S> {
  /** The events appended (empty when the decision produced none). */
  readonly events: ReadonlyArray<E>
  /** Global position of the last appended event; undefined when nothing was appended. */
  readonly position: bigint | undefined
}

/**
 * Errors loading can fail with.
 *
 * @category errors
 * @since 0.1.0
 */
export type LoadError = ReadError | EventDecodeError

/**
 * Errors deciding can fail with, besides the decision's own.
 *
 * @category errors
 * @since 0.1.0
 */
export type DecideError = LoadError | AppendError

/**
 * Up to 5 decisions again after a concurrent write, after a short, jittered, growing pause.
 *
 * @category constants
 * @since 0.1.0
 */
export const defaultSchedule: Schedule.Schedule<unknown, unknown> = Schedule.max([
  Schedule.exponential("5 millis").pipe(Schedule.jittered),
  Schedule.recurs(5)
])

const loadSnapshot = <S>(
  store: EventStoreShape,
  stream: string,
  options: SnapshotOptions<S>
): Effect.Effect<
  Option.Option<{ readonly state: S; readonly version: bigint }>,
  InvalidStreamName | StoreUnavailable
> =>
  Effect.gen(function*() {
    const found = yield* store.loadSnapshot(stream)
    if (Option.isNone(found)) return Option.none()
    const snapshot = found.value
    const version = options.version ?? 1
    if (snapshot.schemaVersion !== version) {
      yield* Effect.logDebug(
        `Ignoring the snapshot of ${stream}: saved with state version ${snapshot.schemaVersion}, expected ${version}`
      )
      return Option.none()
    }
    const decoded = yield* Effect.result(Schema.decodeUnknownEffect(options.schema)(snapshot.state))
    if (Result.isFailure(decoded)) {
      yield* Effect.logWarning(`Ignoring the snapshot of ${stream}: it does not decode: ${decoded.failure.message}`)
      return Option.none()
    }
    return Option.some({ state: decoded.success, version: snapshot.version })
  })

const fold = <S, E extends { readonly _tag: string }>(
  store: EventStoreShape,
  stream: string,
  options: LoadOptions<S, E>
): Effect.Effect<Loaded<S>, LoadError> =>
  Effect.gen(function*() {
    const snapshot = options.snapshot === undefined
      ? Option.none()
      : yield* loadSnapshot(store, stream, options.snapshot)
    const start: Loaded<S> = Option.match(snapshot, {
      onNone: () => ({ state: options.initial, version: undefined, snapshotVersion: undefined }),
      onSome: ({ state, version }) => ({ state, version, snapshotVersion: version })
    })
    const events = store.read(stream, start.version === undefined ? undefined : { from: start.version + 1n })
    // Never skip: an aggregate folded without one of its events would decide on a wrong state.
    return yield* Stream.runFold(
      events.pipe(options.codec.decodeStream()),
      () => start,
      (loaded, decoded): Loaded<S> => ({
        state: options.evolve(loaded.state, decoded.event),
        version: decoded.version,
        snapshotVersion: loaded.snapshotVersion
      })
    )
  })

/**
 * Folds a stream into its current state and version, starting from the latest snapshot when
 * `snapshot` is configured and a snapshot with the same version exists.
 *
 * **Gotchas**
 *
 * Deleting a stream does not delete its snapshot: when a stream is soft-deleted and written again,
 * configure a new snapshot version or stream name, or the old snapshot is folded on.
 *
 * @category operations
 * @since 0.1.0
 */
export const load: <S, E extends { readonly _tag: string }>(
  stream: string,
  options: LoadOptions<S, E>
) => Effect.Effect<Loaded<S>, LoadError, EventStore> = Effect.fn("Aggregate.load")(
  function*<S, E extends { readonly _tag: string }>(stream: string, options: LoadOptions<S, E>) {
    yield* Effect.annotateCurrentSpan({ "strata.stream": stream })
    const store = yield* EventStore
    return yield* fold(store, stream, options)
  }
)

// Marks a conflict on this decision's own append, so a WrongExpectedVersion that the decision
// itself fails with (say from appending elsewhere) is never mistaken for one and retried.
class OwnConflict {
  readonly error: WrongExpectedVersion
  constructor(error: WrongExpectedVersion) {
    this.error = error
  }
}

/**
 * Loads a stream, decides new events from its state and appends them with the exact version it
 * loaded (`noStream` for a stream without events). On a conflict with a concurrent writer it
 * loads and decides again, following `schedule`; when the schedule is exhausted it fails with the
 * last `WrongExpectedVersion`. Every other error (the decision's, a decode error, a store error)
 * fails at once.
 *
 * Returns the new state (the loaded state evolved with the appended events), its version and the
 * events appended. With `snapshot.every`, saves a snapshot of the new state once enough events
 * have accumulated since the last one.
 *
 * @category operations
 * @since 0.1.0
 */
export const decide: <S, E extends { readonly _tag: string }, X, R>(
  stream: string,
  options: DecideOptions<S, E, X, R>
) => Effect.Effect<Decided<S, E>, X | DecideError, R | EventStore> = Effect.fn("Aggregate.decide")(
  function*<S, E extends { readonly _tag: string }, X, R>(stream: string, options: DecideOptions<S, E, X, R>) {
    yield* Effect.annotateCurrentSpan({ "strata.stream": stream })
    const store = yield* EventStore
    let attempts = 0

    const attempt = Effect.gen(function*() {
      attempts++
      const loaded = yield* fold(store, stream, options)
      const events = yield* options.decide(loaded.state, loaded)
      if (events.length === 0) return { ...loaded, events, position: undefined } satisfies Decided<S, E>
      const encoded = yield* options.codec.encodeAll(stream, events, options.metadata)
      const expected = loaded.version === undefined ? ExpectedVersion.noStream : ExpectedVersion.exact(loaded.version)
      const appended = yield* store.append(stream, encoded, { expected }).pipe(
        Effect.catchTag("WrongExpectedVersion", (error) => Effect.fail(new OwnConflict(error)))
      )
      // The state after the append, folded locally: the events are the ones just decided.
      const state = events.reduce((current, event) => options.evolve(current, event), loaded.state)
      const decided: Decided<S, E> = {
        state,
        version: appended.nextExpectedVersion,
        snapshotVersion: loaded.snapshotVersion,
        events,
        position: appended.position
      }
      yield* saveSnapshotIfDue(store, stream, options.snapshot, decided)
      return decided
    })

    // Only this decision's own conflicts stay in the error channel, so only they are retried.
    const once = attempt.pipe(
      Effect.map((decided) => Result.succeed(decided)),
      Effect.catch((error) =>
        error instanceof OwnConflict ? Effect.fail(error.error) : Effect.succeed(Result.fail(error))
      )
    )
    const outcome = yield* Effect.retry(once, options.schedule ?? defaultSchedule).pipe(
      Effect.ensuring(Effect.suspend(() => Effect.annotateCurrentSpan({ "strata.attempts": attempts })))
    )
    return yield* Result.match(outcome, {
      onSuccess: (decided) => Effect.succeed(decided),
      onFailure: (error) => Effect.fail(error)
    })
  }
)

const saveSnapshotIfDue = <S>(
  store: EventStoreShape,
  stream: string,
  options: SnapshotOptions<S> | undefined,
  decided: Decided<S, unknown>
): Effect.Effect<void> => {
  const version = decided.version
  if (options?.every === undefined || version === undefined) return Effect.void
  if (version - (decided.snapshotVersion ?? -1n) < BigInt(options.every)) return Effect.void
  return Schema.encodeEffect(options.schema)(decided.state).pipe(
    Effect.flatMap((state) => store.saveSnapshot(stream, { version, state, schemaVersion: options.version ?? 1 })),
    Effect.catch((error) => Effect.logWarning(`Could not save a snapshot of ${stream}: ${error.message}`))
  )
}
