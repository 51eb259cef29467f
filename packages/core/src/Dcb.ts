/**
 * Dynamic consistency boundaries (dcb.events): a decision's consistency boundary is the set of events
 * a {@link EventStore.Query} selects, not one stream. Events carry tags (`NewEvent.tags`); a decision
 * reads the events its query matches, folds them into a state, decides, and appends with a condition
 * built from what it read (`{ failIfEventsMatch: query, after: last position read }`), so the append
 * fails with `AppendConditionFailed` if any event matching the query was appended since. An
 * invariant that spans entities (a course's capacity and a student's enrolment limit) then needs no
 * "reservation stream".
 *
 * Events still live in streams (versions, stream reads, subscriptions, retention): a decision appends
 * to the streams it chooses, and may combine the condition with stream expected versions.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { Backend, dcbUnsupported } from "./backend/Backend.ts"
import * as Inputs from "./backend/Inputs.ts"
import type { EventMetadata, NewEvent, RecordedEvent } from "./Event.ts"
import type { Decoded, EventCodec } from "./EventCodec.ts"
import {
  type AppendError,
  type AppendRequest,
  type AppendResult,
  EventStore,
  type Query,
  type QueryItem,
  type SubscribeFrom
} from "./EventStore.ts"
import type { AnyEvent } from "./internal/codec/context.ts"
import * as Decode from "./internal/codec/decode.ts"
import * as CodecStore from "./internal/codec/store.ts"
import type {
  AppendConditionFailed,
  EventDecodeError,
  InvalidArgument,
  StoreUnavailable,
  Unsupported
} from "./StoreError.ts"

/**
 * Options of {@link read}.
 *
 * @category models
 * @since 0.1.0
 */
export interface ReadOptions {
  /** First position to read (inclusive). */
  readonly from?: bigint | undefined
  readonly limit?: number | undefined
}

/**
 * The events matching `query`, in position order, gap-free (as `readAll`: paged, and on PostgreSQL
 * never past an append still in flight). Fails with `Unsupported` on a backend without DCB.
 *
 * @example
 * ```ts
 * import { Dcb } from "@strata/core"
 * import { Stream } from "effect"
 *
 * const enrolments = Dcb.read([{ types: ["StudentEnrolled"], tags: ["course:c1"] }]).pipe(Stream.runCollect)
 * ```
 *
 * @category reads
 * @since 0.1.0
 */
export const read = (
  query: Query,
  options?: ReadOptions
): Stream.Stream<RecordedEvent, InvalidArgument | Unsupported | StoreUnavailable, EventStore> =>
  Stream.unwrap(Effect.gen(function*() {
    const store = yield* EventStore
    const backend = yield* Effect.serviceOption(Backend)
    const events: Stream.Stream<RecordedEvent, InvalidArgument | Unsupported | StoreUnavailable> =
      Option.isSome(backend) && !backend.value.capabilities.dcb
        ? Stream.fail(dcbUnsupported(backend.value.name, "readAll({ query })"))
        : store.readAll({ query, from: options?.from, limit: options?.limit })
    return events
  }))

/**
 * Options of {@link subscribe}.
 *
 * @category models
 * @since 0.1.0
 */
export interface SubscribeOptions {
  /** Where to start: `"start"` (default), `"end"`, or `{ after: position }`. */
  readonly from?: SubscribeFrom | undefined
}

/**
 * The events matching `query`, catch-up then live, in position order and gap-free: `subscribeAll`
 * filtered by the query (the database filters by the items' types when every item names some, the
 * tags are matched in process), so it works on every backend with DCB. An empty query matches no
 * event. Fails with `Unsupported` on a backend without DCB and `InvalidArgument` on a bad query.
 *
 * @example
 * ```ts
 * import { Dcb } from "@strata/core"
 * import { Stream } from "effect"
 *
 * const enrolments = Dcb.subscribe([{ types: ["StudentEnrolled"], tags: ["course:c1"] }], { from: "end" }).pipe(
 *   Stream.take(1),
 *   Stream.runCollect
 * )
 * ```
 *
 * @category reads
 * @since 0.1.0
 */
export const subscribe = (
  query: Query,
  options?: SubscribeOptions
): Stream.Stream<RecordedEvent, InvalidArgument | Unsupported | StoreUnavailable, EventStore> =>
  Stream.unwrap(Effect.gen(function*() {
    const store = yield* EventStore
    const backend = yield* Effect.serviceOption(Backend)
    if (Option.isSome(backend) && !backend.value.capabilities.dcb) {
      return Stream.fail(dcbUnsupported(backend.value.name, "Dcb.subscribe"))
    }
    const checked = yield* Inputs.query("Dcb.subscribe", "query", query)
    const types = checked.every((item) => item.types !== undefined)
      ? [...new Set(checked.flatMap((item) => item.types ?? []))]
      : undefined
    const events: Stream.Stream<RecordedEvent, InvalidArgument | Unsupported | StoreUnavailable> = store
      .subscribeAll({ from: options?.from, filter: types === undefined ? undefined : { types } })
      .pipe(Stream.filter((event) => Inputs.matches(checked, event)))
    return events
  }))

/**
 * One part of a {@link Decision}: the events to append to one stream, with an optional stream
 * `expected` version. `E` is `NewEvent` for {@link decide} over recorded events, a codec's typed
 * event for {@link decide} with a codec (encoded with their tags on the way out).
 *
 * @category models
 * @since 0.1.0
 */
export interface DecisionPart<E = NewEvent> extends Omit<AppendRequest, "condition" | "events"> {
  readonly events: ReadonlyArray<E>
}

/**
 * What a decision writes: one or more stream parts (one `append`, or an atomic `appendMany`), each
 * with an optional stream `expected` version. The DCB condition is added to every part.
 *
 * @category models
 * @since 0.1.0
 */
export type Decision<E = NewEvent> = ReadonlyArray<DecisionPart<E>>

/**
 * The outcome of {@link decide}.
 *
 * @category models
 * @since 0.1.0
 */
export interface Decided<S> {
  /** The state folded from the events the last attempt read (before its own events). */
  readonly state: S
  /** The position of the last event read; the condition's `after`. Undefined when none matched. */
  readonly after: bigint | undefined
  /** One result per part of the decision; empty when it decided nothing. */
  readonly results: ReadonlyArray<AppendResult>
  /** How many times it read and decided (1 without a conflict). */
  readonly attempts: number
}

/**
 * The options of {@link decide}.
 *
 * @category models
 * @since 0.1.0
 */
export interface DecideOptions {
  /**
   * When to read and decide again after a conflicting append (`AppendConditionFailed` from this
   * decision's own append); default {@link defaultSchedule}. When it is exhausted, the last conflict fails.
   */
  readonly schedule?: Schedule.Schedule<unknown, AppendConditionFailed> | undefined
}

/**
 * A {@link Query} over a codec's events: each item's `types` are names of the codec's event types, so
 * a misspelt type is a compile error rather than an item that matches nothing. Any `Query` whose types
 * are typed as plain strings needs a cast (at run time, types outside the codec are dropped).
 *
 * @category models
 * @since 0.1.0
 */
export type TypedQuery<E extends { readonly _tag: string }> = ReadonlyArray<
  Omit<QueryItem, "types"> & { readonly types?: ReadonlyArray<E["_tag"]> | undefined }
>

/**
 * What {@link decide} with a codec needs: the codec the query's events decode with and the decided
 * events encode with, a fold of the typed events, and the decision.
 *
 * @category models
 * @since 0.1.0
 */
export interface DecideTypedOptions<S, E extends { readonly _tag: string }, X, R> extends DecideOptions {
  readonly codec: EventCodec<E>
  readonly initial: S
  /** Pure: the state after one event; `decoded` is its envelope (tags, stream, position...). */
  readonly evolve: (state: S, event: E, decoded: Decoded<E>) => S
  /**
   * The typed events to append given the state (an empty decision appends nothing); they are
   * encoded with the codec, tags included. Runs again on every retry, against the state read again.
   */
  readonly decide: (state: S, after: bigint | undefined) => Effect.Effect<Decision<E>, X, R>
  /** Metadata for every appended event (correlation and causation ids, ...). */
  readonly metadata?: EventMetadata | undefined
}

/**
 * Retry after a conflict: up to 5 more attempts, exponential from 5 ms, jittered (as `Aggregate.decide`).
 *
 * @category constants
 * @since 0.1.0
 */
export const defaultSchedule: Schedule.Schedule<unknown, unknown> = Schedule.max([
  Schedule.exponential("5 millis").pipe(Schedule.jittered),
  Schedule.recurs(5)
])

// Marks a conflict on this decision's own append, so an AppendConditionFailed the decision itself
// fails with (from another append it makes) is never mistaken for one and retried.
class OwnConflict {
  readonly error: AppendConditionFailed
  constructor(error: AppendConditionFailed) {
    this.error = error
  }
}

/**
 * Errors {@link decide} fails with, besides the decision's own.
 *
 * @category errors
 * @since 0.1.0
 */
export type DecideError = AppendError | InvalidArgument | Unsupported | StoreUnavailable

/**
 * Reads the events `query` matches, folds them with `evolve` from `initial`, asks `decide` what to
 * append, and appends it with the condition `{ failIfEventsMatch: query, after }` (`after` the last
 * position read), atomically across the decision's streams. When another writer appended a matching
 * event in between, it reads and decides again, following `schedule`; every other error fails at once.
 *
 * **With a codec** (`Dcb.decide(query, { codec, initial, evolve, decide })`, the shape of
 * `Aggregate.decide`): the events read are decoded (one that does not decode fails the decision with
 * `EventDecodeError`), `evolve` folds the typed events, and `decide` returns typed events, encoded
 * with the codec: each carries the tags of its event type's `tags` function (`EventCodec.type`). The
 * query is restricted to the codec's types, as `codec.readAll({ query })` does (an item without
 * types selects all of them), for the read and the condition alike: the decision's boundary is the
 * events it can decode. The query's types are checked against the codec's at compile time
 * ({@link TypedQuery}).
 *
 * The read is the backend's one-array query read where it has one (`Backend.readQuery`: the SQL
 * backends, one statement per 500 events, plus the read horizon on PostgreSQL), in a span
 * `Dcb.read`; elsewhere it is {@link read}. Either way it is gap-free. The query read does not pass
 * through the EventStore's decorators (a retry layer retries the decision's append, not its read).
 *
 * @example
 * ```ts
 * import { Dcb, Event } from "@strata/core"
 * import { Effect } from "effect"
 *
 * // A student joins a course with 10 seats, at most 3 courses per student.
 * const enrol = (course: string, student: string) =>
 *   Dcb.decide(
 *     [{ types: ["StudentEnrolled"], tags: [`course:${course}`] }, { types: ["StudentEnrolled"], tags: [`student:${student}`] }],
 *     { seats: 0, courses: 0 },
 *     (state, event) => ({
 *       seats: state.seats + (event.tags?.includes(`course:${course}`) ? 1 : 0),
 *       courses: state.courses + (event.tags?.includes(`student:${student}`) ? 1 : 0)
 *     }),
 *     (state) =>
 *       state.seats >= 10 || state.courses >= 3
 *         ? Effect.fail("full" as const)
 *         : Effect.succeed([{
 *           stream: `enrolment-${course}-${student}`,
 *           events: [{ ...Event.make("StudentEnrolled", { course, student }), tags: [`course:${course}`, `student:${student}`] }]
 *         }])
 *   )
 * ```
 *
 * @example
 * ```ts
 * import { Dcb, EventCodec } from "@strata/core"
 * import { Effect, Schema } from "effect"
 *
 * // The same with typed events: the event type puts the tags on.
 * const StudentEnrolled = EventCodec.type("StudentEnrolled", {
 *   schema: Schema.Struct({ course: Schema.String, student: Schema.String }),
 *   tags: (event) => [`course:${event.course}`, `student:${event.student}`]
 * })
 * const Enrolments = EventCodec.make([StudentEnrolled])
 *
 * const enrol = (course: string, student: string) =>
 *   Dcb.decide([{ tags: [`course:${course}`] }, { tags: [`student:${student}`] }], {
 *     codec: Enrolments,
 *     initial: { seats: 0, courses: 0 },
 *     evolve: (state, event) => ({
 *       seats: state.seats + (event.course === course ? 1 : 0),
 *       courses: state.courses + (event.student === student ? 1 : 0)
 *     }),
 *     decide: (state) =>
 *       state.seats >= 10 || state.courses >= 3
 *         ? Effect.fail("full" as const)
 *         : Effect.succeed([{ stream: `enrolment-${course}-${student}`, events: [StudentEnrolled.make({ course, student })] }])
 *   })
 * ```
 *
 * @category operations
 * @since 0.1.0
 */
export const decide: {
  <S, X, R>(
    query: Query,
    initial: S,
    evolve: (state: S, event: RecordedEvent) => S,
    decide: (state: S, after: bigint | undefined) => Effect.Effect<Decision, X, R>,
    options?: DecideOptions
  ): Effect.Effect<Decided<S>, X | DecideError, R | EventStore>
  <S, E extends { readonly _tag: string }, X, R>(
    query: TypedQuery<NoInfer<E>>,
    options: DecideTypedOptions<S, E, X, R>
  ): Effect.Effect<Decided<S>, X | DecideError | EventDecodeError, R | EventStore>
} = Effect.fn("Dcb.decide")(
  function*(
    query: Query,
    initialOrOptions: unknown,
    evolve?: (state: unknown, event: RecordedEvent) => unknown,
    decideEvents?: (state: unknown, after: bigint | undefined) => Effect.Effect<Decision, unknown, unknown>,
    options?: DecideOptions
  ) {
    // The positional form always has its `evolve`; the typed form is (query, options).
    if (evolve !== undefined && decideEvents !== undefined) {
      return yield* run(
        query,
        (events) => Effect.succeed(events.reduce((state, event) => evolve(state, event), initialOrOptions)),
        decideEvents,
        options?.schedule
      )
    }
    const typed = initialOrOptions as DecideTypedOptions<unknown, AnyEvent, unknown, unknown>
    const { codec } = typed
    const decodeExit = Decode.exitOf(codec)
    // Never skip: a decision folded without one of its events would decide on a wrong state. A codec
    // from EventCodec.make decodes in a plain loop (no Effect per event); any other through `decode`.
    const fold = (events: ReadonlyArray<RecordedEvent>): Effect.Effect<unknown, EventDecodeError> =>
      decodeExit === undefined
        ? Effect.reduce(
          events,
          () => typed.initial,
          (state, event) => Effect.map(codec.decode(event), (decoded) => typed.evolve(state, decoded.event, decoded))
        )
        : Effect.suspend(() => {
          let state = typed.initial
          for (const event of events) {
            const decoded = decodeExit(event)
            if (Exit.isFailure(decoded)) return decoded
            state = typed.evolve(state, decoded.value.event, decoded.value)
          }
          return Effect.succeed(state)
        })
    return yield* run(
      CodecStore.restrictQuery(codec.types, query),
      fold,
      (state, after) =>
        Effect.flatMap(typed.decide(state, after), (decision) =>
          Effect.forEach(decision, (part) =>
            Effect.map(
              codec.encodeAll(part.stream, part.events, typed.metadata),
              (events): DecisionPart => ({ ...part, events })
            ))),
      typed.schedule
    )
  }
) as typeof decide

// The decision loop both forms share: read the query's events, fold them, decide, append with the
// condition; on this decision's own conflict, again.
const run = <S, F, X, R>(
  query: Query,
  fold: (events: ReadonlyArray<RecordedEvent>) => Effect.Effect<S, F>,
  decideEvents: (state: S, after: bigint | undefined) => Effect.Effect<Decision, X, R>,
  schedule: Schedule.Schedule<unknown, AppendConditionFailed> | undefined
): Effect.Effect<Decided<S>, F | X | DecideError, R | EventStore> =>
  Effect.gen(function*() {
    const store = yield* EventStore
    const backend = yield* Effect.serviceOption(Backend)
    // One array from the backend where it reads a query that way (SQL: one statement per page, no
    // Stream), else the readAll Stream.
    const readQuery = Option.isSome(backend) && backend.value.capabilities.dcb ? backend.value.readQuery : undefined
    const events: Effect.Effect<
      ReadonlyArray<RecordedEvent>,
      InvalidArgument | Unsupported | StoreUnavailable,
      EventStore
    > = readQuery !== undefined
      ? Effect.withSpan(readQuery(query), "Dcb.read", { kind: "client", captureStackTrace: false })
      : Stream.runCollect(read(query))
    let attempts = 0

    const attempt = Effect.gen(function*() {
      attempts++
      const read = yield* events
      const state = yield* fold(read)
      const after = read.at(-1)?.position
      const decision = yield* decideEvents(state, after)
      if (decision.length === 0) return { state, after, results: [], attempts } satisfies Decided<S>
      const condition = { failIfEventsMatch: query, after }
      const own = (error: AppendConditionFailed) => Effect.fail(new OwnConflict(error))
      const results = decision.length === 1
        ? [
          yield* store.append(decision[0].stream, decision[0].events, {
            expected: decision[0].expected,
            condition
          }).pipe(Effect.catchTag("AppendConditionFailed", own))
        ]
        : yield* store.appendMany(decision.map((part) => ({ ...part, condition }))).pipe(
          Effect.catchTag("AppendConditionFailed", own)
        )
      return { state, after, results, attempts } satisfies Decided<S>
    })

    // Only this decision's own conflicts stay in the error channel, so only they are retried.
    const once = attempt.pipe(
      Effect.map((decided) => Result.succeed(decided)),
      Effect.catch((error) =>
        error instanceof OwnConflict ? Effect.fail(error.error) : Effect.succeed(Result.fail(error))
      )
    )
    const outcome = yield* Effect.retry(once, schedule ?? defaultSchedule).pipe(
      Effect.ensuring(Effect.suspend(() => Effect.annotateCurrentSpan({ "strata.attempts": attempts })))
    )
    return yield* Result.match(outcome, {
      onSuccess: (decided) => Effect.succeed(decided),
      onFailure: (error) => Effect.fail(error)
    })
  })
