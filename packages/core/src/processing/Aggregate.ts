/**
 * Aggregates: fold a stream's typed events into state, decide new events from that state, and
 * append them with an exact expected version, deciding again on a concurrent write.
 *
 * - {@link make} defines an aggregate once: its stream category (instances live in
 *   `<category>-<id>`), codec, fold, command handler (given the command, the state, the load and
 *   the instance id) and snapshot policy. `Account.load(id)`,
 *   `Account.decide(id, command)` and the consumer filter (`Account.filter`, `Account.consumer(...)`)
 *   all come from that one definition, so stream names, event types and the fold cannot drift.
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
 * ```ts
 * import { Aggregate, EventCodec } from "@strata/core"
 * import { Data, Effect, Schema } from "effect"
 *
 * const Deposited = EventCodec.type("Deposited", { schema: Schema.Struct({ amount: Schema.Number }) })
 * const Withdrawn = EventCodec.type("Withdrawn", { schema: Schema.Struct({ amount: Schema.Number }) })
 * const AccountEvents = EventCodec.make([Deposited, Withdrawn])
 * const AccountState = Schema.Struct({ balance: Schema.Number })
 * class InsufficientFunds extends Data.TaggedError("InsufficientFunds")<{ readonly account: string }> {}
 * type Withdraw = { readonly amount: number }
 *
 * const Account = Aggregate.make({
 *   category: "account",
 *   codec: AccountEvents,
 *   initial: { balance: 0 },
 *   evolve: (state, event) =>
 *     event._tag === "Deposited" ? { balance: state.balance + event.amount } : { balance: state.balance - event.amount },
 *   // `id` (after the load's `Loaded`) is the instance's id, for a rejection to name it.
 *   decide: (command: Withdraw, state, _loaded, id) =>
 *     state.balance >= command.amount
 *       ? [Withdrawn.make({ amount: command.amount })]
 *       : Effect.fail(new InsufficientFunds({ account: id })),
 *   snapshot: { schema: AccountState, version: 1, every: 100 }
 * })
 * const program = Effect.gen(function*() {
 *   const { state } = yield* Account.decide("1", { amount: 30 }) // stream "account-1"
 *   return state.balance
 * })
 * ```
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type { EventMetadata, RecordedEvent } from "../Event.ts"
import type { Decoded, EventCodec } from "../EventCodec.ts"
import { type AppendError, type EventFilter, EventStore, type EventStoreShape, type ReadError } from "../EventStore.ts"
import * as ExpectedVersion from "../ExpectedVersion.ts"
import {
  type EventDecodeError,
  InvalidStreamName,
  type StoreUnavailable,
  type WrongExpectedVersion
} from "../StoreError.ts"
import * as StreamName from "../StreamName.ts"

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
  /**
   * The version the caller saw (an HTTP `If-Match`): the loaded stream must match it or the decision
   * fails with `WrongExpectedVersion` before deciding, and a concurrent write is then not retried
   * under it (the stream no longer matches). Absent: decide on whatever version is loaded.
   */
  readonly expected?: ExpectedVersion.ExpectedVersion | undefined
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
      if (options.expected !== undefined) {
        const conflict = ExpectedVersion.check(stream, options.expected, {
          lastVersion: loaded.version,
          deleted: false
        })
        if (conflict !== undefined) return yield* Effect.fail(conflict)
      }
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

// ---------------------------------------------------------------------------------------------
// Aggregate definitions
// ---------------------------------------------------------------------------------------------

/**
 * @category type IDs
 * @since 0.1.0
 */
export const TypeId: TypeId = "~@strata/core/Aggregate"

/**
 * @category type IDs
 * @since 0.1.0
 */
export type TypeId = "~@strata/core/Aggregate"

/**
 * What a command handler decides: the events to append, as an Effect (to fail with a business
 * error, or to ask a service) or as a plain array (a pure decision).
 *
 * @category models
 * @since 0.1.0
 */
export type Decision<E, X, R> = Effect.Effect<ReadonlyArray<E>, X, R> | ReadonlyArray<E>

/**
 * Per-call options of {@link Aggregate.decide}.
 *
 * @category models
 * @since 0.1.0
 */
export interface DecideCallOptions {
  /** Metadata for the appended events; keys set here win over the ones filled from the context. */
  readonly metadata?: EventMetadata | undefined
  /** Overrides the definition's retry schedule for this call. */
  readonly schedule?: Schedule.Schedule<unknown, WrongExpectedVersion> | undefined
  /** The version the caller saw (an HTTP `If-Match`); see {@link DecideOptions.expected}. */
  readonly expected?: ExpectedVersion.ExpectedVersion | undefined
}

/**
 * An aggregate definition: one place that names its streams (`<category>-<id>`) and binds its
 * codec, fold, decision and snapshot policy. Loading, deciding and the consumer filter all come
 * from it, so the stream name, the event types and the fold cannot drift apart.
 *
 * @category models
 * @since 0.1.0
 */
export interface Aggregate<S, E extends { readonly _tag: string }, C, X = never, R = never> {
  readonly [TypeId]: TypeId
  /** The stream category: every instance lives in the stream `<category>-<id>`. */
  readonly category: string
  readonly codec: EventCodec<E>
  readonly initial: S
  readonly evolve: (state: S, event: E) => S
  readonly snapshot: SnapshotOptions<S> | undefined
  /** The consumer filter of this aggregate's events: its category and its codec's types. */
  readonly filter: EventFilter
  /** The stream of instance `id`: `<category>-<id>`. */
  readonly streamName: (id: string) => string
  /** The instance id of one of this aggregate's streams; undefined for a stream of another category. */
  readonly idOf: (stream: string) => string | undefined
  /** Folds instance `id` (from its latest usable snapshot, when configured). */
  readonly load: (id: string) => Effect.Effect<Loaded<S>, LoadError, EventStore>
  /**
   * Runs `command` against instance `id`: loads it, decides, appends with the version it loaded,
   * and decides again on a concurrent write (see {@link decide}).
   */
  readonly decide: (
    id: string,
    command: C,
    options?: DecideCallOptions
  ) => Effect.Effect<Decided<S, E>, X | DecideError, R | EventStore>
  /**
   * A consumer's `filter` and `handler` for this aggregate's events, from the same definition: the
   * handler decodes each event with the codec and passes the instance id. Spread it into
   * `Consumer.run(name, { ...Account.consumer(handle) })`.
   */
  readonly consumer: <X2, R2>(
    handle: (event: Decoded<E>, id: string) => Effect.Effect<void, X2, R2>
  ) => {
    readonly filter: EventFilter
    readonly handler: (recorded: RecordedEvent) => Effect.Effect<void, X2 | EventDecodeError, R2>
  }
}

/**
 * The parts of an aggregate definition.
 *
 * @category models
 * @since 0.1.0
 */
export interface AggregateOptions<S, E extends { readonly _tag: string }, C, D extends Decision<E, any, any>>
  extends LoadOptions<S, E>
{
  /** The stream category: a valid stream name without `-` (the category ends at the first `-`). */
  readonly category: string
  /**
   * The events a command produces from the current state (none is fine), as an array or an Effect;
   * runs again on every retry. The errors of every branch make up the aggregate's rejections.
   * `id` is the instance the command runs against (the `id` given to `Aggregate.decide`), so an
   * error can name it; a decision that does not need it simply leaves the parameter out.
   */
  readonly decide: (command: C, state: S, loaded: Loaded<S>, id: string) => D
  /** When to decide again after a concurrent write; default {@link defaultSchedule}. */
  readonly schedule?: Schedule.Schedule<unknown, WrongExpectedVersion> | undefined
}

/**
 * The error a decision can fail with: the union over every Effect it may return.
 *
 * @category models
 * @since 0.1.0
 */
export type DecisionError<D> = D extends Effect.Effect<any, infer X, any> ? X : never

/**
 * The services a decision needs: the union over every Effect it may return.
 *
 * @category models
 * @since 0.1.0
 */
export type DecisionServices<D> = D extends Effect.Effect<any, any, infer R> ? R : never

/**
 * The state of an aggregate definition.
 *
 * @category models
 * @since 0.1.0
 */
export type State<A> = A extends Aggregate<infer S, any, any, any, any> ? S : never

/**
 * The command type of an aggregate definition.
 *
 * @category models
 * @since 0.1.0
 */
export type Command<A> = A extends Aggregate<any, any, infer C, any, any> ? C : never

/**
 * The event type of an aggregate definition.
 *
 * @category models
 * @since 0.1.0
 */
export type EventOf<A> = A extends Aggregate<any, infer E, any, any, any> ? E : never

/**
 * The errors an aggregate definition's decisions fail with (besides the store's).
 *
 * @category models
 * @since 0.1.0
 */
export type Rejection<A> = A extends Aggregate<any, any, any, infer X, any> ? X : never

/**
 * True for an {@link Aggregate} definition.
 *
 * @category guards
 * @since 0.1.0
 */
export const isAggregate = (
  u: unknown
): u is Aggregate<unknown, { readonly _tag: string }, unknown, unknown, unknown> =>
  typeof u === "object" && u !== null && TypeId in u

/**
 * Defines an aggregate. Throws on an invalid category: definitions are checked once, at startup.
 *
 * @example
 * import { Aggregate, EventCodec } from "@strata/core"
 * import { Data, Effect, Schema } from "effect"
 *
 * const Deposited = EventCodec.type("Deposited", { schema: Schema.Struct({ amount: Schema.Finite }) })
 * const Withdrawn = EventCodec.type("Withdrawn", { schema: Schema.Struct({ amount: Schema.Finite }) })
 * class InsufficientFunds extends Data.TaggedError("InsufficientFunds")<{
 *   readonly account: string
 *   readonly balance: number
 * }> {}
 * type AccountCommand =
 *   | { readonly _tag: "Deposit"; readonly amount: number }
 *   | { readonly _tag: "Withdraw"; readonly amount: number }
 *
 * const Account = Aggregate.make({
 *   category: "account",
 *   codec: EventCodec.make([Deposited, Withdrawn]),
 *   initial: { balance: 0 },
 *   evolve: (state, event) => ({
 *     balance: state.balance + (event._tag === "Deposited" ? event.amount : -event.amount)
 *   }),
 *   // The instance id comes last (`_loaded` is the load's version information), for errors to name it.
 *   decide: (command: AccountCommand, state, _loaded, id) =>
 *     command._tag === "Deposit"
 *       ? [Deposited.make({ amount: command.amount })]
 *       : state.balance < command.amount
 *       ? Effect.fail(new InsufficientFunds({ account: id, balance: state.balance }))
 *       : [Withdrawn.make({ amount: command.amount })]
 * })
 *
 * // Appends to "account-1", retried on a concurrent write.
 * const withdraw = Account.decide("1", { _tag: "Withdraw", amount: 30 })
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <S, E extends { readonly _tag: string }, C, D extends Decision<E, any, any>>(
  options: AggregateOptions<S, E, C, D>
): Aggregate<S, E, C, DecisionError<D>, DecisionServices<D>> => {
  type X = DecisionError<D>
  type R = DecisionServices<D>
  const { category } = options
  const problem = StreamName.problem(category)
  if (problem !== undefined) {
    throw new Error(`Aggregate.make: category ${JSON.stringify(category)} is not valid: ${problem}`)
  }
  if (category.includes("-")) {
    throw new Error(
      `Aggregate.make: category ${JSON.stringify(category)} contains "-"; a stream's category ends at its first "-"`
    )
  }
  const prefix = `${category}-`
  const streamName = (id: string) => `${prefix}${id}`
  // The stream name's own rules are checked by the store; an empty id would name the category alone.
  const checkId = (id: string): Effect.Effect<string, InvalidStreamName> =>
    typeof id === "string" && id.length > 0
      ? Effect.succeed(streamName(id))
      : Effect.fail(
        new InvalidStreamName({ stream: prefix, detail: `the ${category} id must be a non-empty string` })
      )
  const loadOptions: LoadOptions<S, E> = {
    codec: options.codec,
    initial: options.initial,
    evolve: options.evolve,
    snapshot: options.snapshot
  }
  const filter: EventFilter = { categories: [category], types: options.codec.types }
  return {
    [TypeId]: TypeId,
    category,
    codec: options.codec,
    initial: options.initial,
    evolve: options.evolve,
    snapshot: options.snapshot,
    filter,
    streamName,
    idOf: (stream) =>
      stream.startsWith(prefix) && stream.length > prefix.length ? stream.slice(prefix.length) : undefined,
    load: (id) => Effect.flatMap(checkId(id), (stream) => load(stream, loadOptions)),
    decide: (id, command, callOptions) =>
      Effect.flatMap(checkId(id), (stream) =>
        decide(stream, {
          ...loadOptions,
          decide: (state, loaded) => {
            const decision = options.decide(command, state, loaded, id)
            return (Effect.isEffect(decision) ? decision : Effect.succeed(decision)) as Effect.Effect<
              ReadonlyArray<E>,
              X,
              R
            >
          },
          schedule: callOptions?.schedule ?? options.schedule,
          metadata: callOptions?.metadata,
          expected: callOptions?.expected
        })),
    consumer: (handle) => ({
      filter,
      handler: options.codec.handler((decoded) => handle(decoded, decoded.stream.slice(prefix.length)))
    })
  }
}
