/**
 * The EventStore service: one contract, many backends.
 *
 * A program is written against this service and runs on any backend by providing a different
 * Layer (`MemoryEventStore.layer`, `SqliteEventStore.layer`, `PgEventStore.layer`, ...).
 *
 * Conventions every backend honours (the conformance suite pins each one):
 * - Versions count from 0 within a stream; positions are strictly increasing in the global log,
 *   in commit order, possibly with gaps.
 * - Reads and subscriptions are `Stream`s that page under the hood: memory stays flat however
 *   long the stream is.
 * - A subscription delivers every matching event exactly once, in position order, across the
 *   catch-up/live seam.
 * - Soft delete hides a stream's events from stream reads and lets it be written again, with
 *   numbering continuing; tombstone forbids the name forever. Neither rewrites the global log:
 *   `readAll` and `subscribeAll` still carry the events (as in KurrentDB before a scavenge).
 *   As in KurrentDB (`$tb`), a soft delete is recorded as `truncateBefore = last version + 1`, so it
 *   shows in `streamInfo(...).retention`, and clearing that rule makes the old events readable again.
 *   Both kinds of delete drop the stream's snapshot.
 * - Appending event ids that are already stored in the same stream, in the same order, is a replay:
 *   it succeeds with the original result whatever `expected` says (that is what makes a retry after
 *   a lost answer safe). Ids stored anywhere else fail with `DuplicateEvent`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Subscriptions from "./backend/Subscription.ts"
import type { NewEvent, RecordedEvent } from "./Event.ts"
import type { ExpectedVersion } from "./ExpectedVersion.ts"
import type {
  AppendConditionFailed,
  DuplicateEvent,
  InvalidArgument,
  InvalidEvent,
  InvalidStreamName,
  ProjectionFailed,
  StoreUnavailable,
  StreamDeleted,
  Unsupported,
  WrongExpectedVersion
} from "./StoreError.ts"

/**
 * One item of a {@link Query}: events of one of `types` (any type when absent) that carry every one
 * of `tags` (no tag needed when absent). An item with neither matches every event.
 *
 * @category models
 * @since 0.1.0
 */
export interface QueryItem {
  readonly types?: ReadonlyArray<string> | undefined
  readonly tags?: ReadonlyArray<string> | undefined
}

/**
 * A query over the global log (dynamic consistency boundaries, dcb.events): an event matches when it
 * matches any of the items. An empty query matches no event. At most {@link maxQueryItems} items and
 * {@link maxQueryValues} types and tags in all.
 *
 * @example
 * ```ts
 * import type { EventStore } from "@strata/core"
 *
 * // the course's capacity changes and its enrolments, and the student's enrolments
 * const query: EventStore.Query = [
 *   { types: ["CourseDefined", "CapacityChanged", "StudentEnrolled"], tags: ["course:c1"] },
 *   { types: ["StudentEnrolled"], tags: ["student:s7"] }
 * ]
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Query = ReadonlyArray<QueryItem>

/**
 * The most items a {@link Query} may have.
 *
 * @category constants
 * @since 0.1.0
 */
export const maxQueryItems = 16

/**
 * The most types and tags a {@link Query} may name, over all its items.
 *
 * @category constants
 * @since 0.1.0
 */
export const maxQueryValues = 64

/**
 * The condition of a conditional append: it fails with `AppendConditionFailed` (writing nothing) when
 * an event matching `failIfEventsMatch` was appended after position `after` (at any position, when
 * `after` is absent). `after` is the position of the last event the decision read (see `Dcb.decide`).
 *
 * @category models
 * @since 0.1.0
 */
export interface AppendCondition {
  readonly failIfEventsMatch: Query
  readonly after?: bigint | undefined
}

/**
 * @category models
 * @since 0.1.0
 */
export interface AppendOptions {
  /** Defaults to `ExpectedVersion.any`. */
  readonly expected?: ExpectedVersion | undefined
  /**
   * Append only if no event matching the condition's query was appended since the decision's read.
   * Checked atomically with the write and with `expected`. In `appendMany`, every request's
   * condition must hold. Backends without DCB fail with `Unsupported`.
   */
  readonly condition?: AppendCondition | undefined
}

/**
 * What an append returns.
 *
 * @category models
 * @since 0.1.0
 */
export interface AppendResult {
  readonly stream: string
  /** The version of the last event written: pass `ExpectedVersion.exact(nextExpectedVersion)` next. */
  readonly nextExpectedVersion: bigint
  /** The global position of the last event written. */
  readonly position: bigint
}

/**
 * One stream's part of an atomic multi-stream append.
 *
 * @category models
 * @since 0.1.0
 */
export interface AppendRequest extends AppendOptions {
  readonly stream: string
  readonly events: ReadonlyArray<NewEvent>
}

/**
 * @category models
 * @since 0.1.0
 */
export type Direction = "forwards" | "backwards"

/**
 * @category models
 * @since 0.1.0
 */
export interface ReadOptions {
  /** First version to return (inclusive). Defaults to the start (forwards) or the end (backwards). */
  readonly from?: bigint | undefined
  readonly direction?: Direction | undefined
  /** Most events to return. */
  readonly limit?: number | undefined
}

/**
 * Selects events in the global log. Each present field must match; inside a field any value matches.
 *
 * @category models
 * @since 0.1.0
 */
export interface EventFilter {
  readonly types?: ReadonlyArray<string> | undefined
  /** Stream categories: the part of the stream name before the first `-`. */
  readonly categories?: ReadonlyArray<string> | undefined
  readonly streamPrefixes?: ReadonlyArray<string> | undefined
  /**
   * One of `count` partitions of the log: events whose stream name's 32-bit FNV-1a hash modulo
   * `count` is `index` (the same split as `ConsumerGroup.partitionOf`). `count` is 1 to 1024, `index`
   * 0 to `count - 1`. SQL backends store the hash with each event and filter in the database.
   */
  readonly partition?: { readonly count: number; readonly index: number } | undefined
}

/**
 * @category models
 * @since 0.1.0
 */
export interface ReadAllOptions {
  /** First position to return (inclusive). Defaults to the start (forwards) or the end (backwards). */
  readonly from?: bigint | undefined
  readonly direction?: Direction | undefined
  readonly limit?: number | undefined
  readonly filter?: EventFilter | undefined
  /**
   * Reads the events matching a DCB {@link Query} instead (not with `filter`), gap-free as every
   * `readAll`. Backends without DCB fail with `InvalidArgument` (`Dcb.read` says `Unsupported`).
   */
  readonly query?: Query | undefined
}

/**
 * Where a subscription starts: the beginning, the current end (only events appended from now on),
 * or just after a checkpoint (a stream version for `subscribe`, a global position for `subscribeAll`).
 *
 * **Gotchas**
 *
 * A Stream is lazy: `"end"` is resolved when the stream starts running, not when `subscribe` is
 * called, so events appended between forking a fiber that runs it and that fiber's first read are
 * not delivered. To fix the start first, use {@link establish} / {@link establishAll}: they resolve
 * `"end"` to a checkpoint before returning the stream.
 *
 * @category models
 * @since 0.1.0
 */
export type SubscribeFrom = "start" | "end" | { readonly after: bigint }

/**
 * @category models
 * @since 0.1.0
 */
export interface SubscribeOptions {
  readonly from?: SubscribeFrom | undefined
}

/**
 * @category models
 * @since 0.1.0
 */
export interface SubscribeAllOptions {
  readonly from?: SubscribeFrom | undefined
  readonly filter?: EventFilter | undefined
}

/**
 * Rules that hide a stream's older events from stream reads.
 *
 * @category models
 * @since 0.1.0
 */
export interface StreamRetention {
  /** Events with a lower version are hidden. */
  readonly truncateBefore?: bigint | undefined
  /** Only the last `maxCount` events are visible. */
  readonly maxCount?: number | undefined
  /** Events older than this are hidden. */
  readonly maxAge?: Duration.Duration | undefined
}

/**
 * A change to a stream's retention: a present field replaces the current one, `null` clears it.
 *
 * @category models
 * @since 0.1.0
 */
export interface RetentionPatch {
  readonly truncateBefore?: bigint | null | undefined
  readonly maxCount?: number | null | undefined
  readonly maxAge?: Duration.Input | null | undefined
}

/**
 * @category models
 * @since 0.1.0
 */
export type StreamStatus = "missing" | "active" | "deleted" | "tombstoned"

/**
 * @category models
 * @since 0.1.0
 */
export interface StreamInfo {
  readonly stream: string
  readonly status: StreamStatus
  /** Version of the last event ever written (also after a soft delete); absent when none was. */
  readonly lastVersion: bigint | undefined
  readonly retention: StreamRetention
}

/**
 * A snapshot of a stream's folded state at a version.
 *
 * @category models
 * @since 0.1.0
 */
export interface Snapshot {
  readonly stream: string
  readonly version: bigint
  readonly state: unknown
  /** Version of the state's schema, so a changed state shape can ignore old snapshots. */
  readonly schemaVersion: number
  readonly createdAt: Date
}

/**
 * @category models
 * @since 0.1.0
 */
export interface SnapshotInput {
  readonly version: bigint
  readonly state: unknown
  readonly schemaVersion?: number | undefined
}

/**
 * @category errors
 * @since 0.1.0
 */
export type AppendError =
  | WrongExpectedVersion
  | AppendConditionFailed
  | Unsupported
  | InvalidArgument
  | StreamDeleted
  | DuplicateEvent
  | InvalidEvent
  | InvalidStreamName
  | ProjectionFailed
  | StoreUnavailable

/**
 * @category errors
 * @since 0.1.0
 */
export type ReadError = StreamDeleted | InvalidStreamName | InvalidArgument | StoreUnavailable

/**
 * @category models
 * @since 0.1.0
 */
export interface EventStoreShape {
  /** Short backend name, used in spans, metrics and `Unsupported` errors. */
  readonly backend: string

  /** Appends events to one stream, atomically, after checking the expected version. */
  readonly append: (
    stream: string,
    events: ReadonlyArray<NewEvent>,
    options?: AppendOptions
  ) => Effect.Effect<AppendResult, AppendError>

  /** Appends to several streams in one atomic step: every expected version holds and all are written, or nothing is. */
  readonly appendMany: (
    requests: ReadonlyArray<AppendRequest>
  ) => Effect.Effect<ReadonlyArray<AppendResult>, AppendError | InvalidArgument>

  /** Reads one stream. A missing or soft-deleted stream reads as empty; a tombstoned one fails. */
  readonly read: (stream: string, options?: ReadOptions) => Stream.Stream<RecordedEvent, ReadError>

  /** Reads the global log in position order. */
  readonly readAll: (options?: ReadAllOptions) => Stream.Stream<RecordedEvent, InvalidArgument | StoreUnavailable>

  /** Catch-up then live subscription to one stream; `after` is a stream version. Never ends by itself. */
  readonly subscribe: (stream: string, options?: SubscribeOptions) => Stream.Stream<RecordedEvent, ReadError>

  /** Catch-up then live subscription to the global log; `after` is a position. Never ends by itself. */
  readonly subscribeAll: (
    options?: SubscribeAllOptions
  ) => Stream.Stream<RecordedEvent, InvalidArgument | StoreUnavailable>

  readonly streamInfo: (stream: string) => Effect.Effect<StreamInfo, InvalidStreamName | StoreUnavailable>

  /** Soft delete: hides the events; a later append resumes numbering after the last version. */
  readonly deleteStream: (
    stream: string,
    options?: AppendOptions
  ) => Effect.Effect<void, WrongExpectedVersion | StreamDeleted | InvalidStreamName | StoreUnavailable>

  /** Permanent delete: every later append, read or delete of the name fails with `StreamDeleted`. */
  readonly tombstoneStream: (
    stream: string,
    options?: AppendOptions
  ) => Effect.Effect<void, WrongExpectedVersion | StreamDeleted | InvalidStreamName | StoreUnavailable>

  /** Changes the retention rules of a stream (which need not exist yet). */
  readonly setRetention: (
    stream: string,
    patch: RetentionPatch
  ) => Effect.Effect<StreamRetention, StreamDeleted | InvalidStreamName | InvalidArgument | StoreUnavailable>

  /** Saves a snapshot, replacing an older one for the same stream. */
  readonly saveSnapshot: (
    stream: string,
    snapshot: SnapshotInput
  ) => Effect.Effect<void, InvalidStreamName | InvalidArgument | StoreUnavailable>

  readonly loadSnapshot: (
    stream: string
  ) => Effect.Effect<Option.Option<Snapshot>, InvalidStreamName | StoreUnavailable>

  /** Stores the position a named consumer has processed up to. */
  readonly saveCheckpoint: (name: string, position: bigint) => Effect.Effect<void, InvalidArgument | StoreUnavailable>

  readonly loadCheckpoint: (name: string) => Effect.Effect<Option.Option<bigint>, InvalidArgument | StoreUnavailable>
}

/**
 * The EventStore service.
 *
 * @category services
 * @since 0.1.0
 */
export class EventStore extends Context.Service<EventStore, EventStoreShape>()("@strata/core/EventStore") {}

/**
 * A subscription whose start point is fixed: `start` is where it resumes (`"start"` or just after
 * a checkpoint, never `"end"`), `events` delivers every event after it.
 *
 * @category models
 * @since 0.1.0
 */
export interface Established<E> {
  readonly start: "start" | { readonly after: bigint }
  readonly events: Stream.Stream<RecordedEvent, E>
}

/**
 * Subscribes to the global log with its start fixed now: `from: "end"` is resolved to the position
 * of the last event visible when this Effect runs, so every event appended after it succeeds is
 * delivered, however late the returned stream is first pulled.
 *
 * **When to use**
 *
 * Whenever the subscription runs in another fiber than the appends it must see (fork, then append):
 * `subscribeAll({ from: "end" })` resolves the end on the first pull and may miss them.
 *
 * @example
 * ```ts
 * import { Event, EventStore } from "@strata/core"
 * import { Effect, Stream } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* EventStore.EventStore
 *   const { events, start } = yield* EventStore.establishAll({ from: "end" })
 *   yield* Effect.forkScoped(Stream.runForEach(events, (event) => Effect.log(event.type)))
 *   yield* store.append("cart-1", [Event.make("CartOpened", {})]) // delivered
 *   return start
 * })
 * ```
 *
 * @category combinators
 * @since 0.1.0
 */
export const establishAll = (
  options?: SubscribeAllOptions
): Effect.Effect<Established<InvalidArgument | StoreUnavailable>, InvalidArgument | StoreUnavailable, EventStore> =>
  Effect.gen(function*() {
    const store = yield* EventStore
    const from = options?.from ?? "start"
    if (from !== "end") return { start: from, events: store.subscribeAll(options) }
    // The backend's readAll stops where its subscriptions do (PostgreSQL's horizon), so nothing still
    // in flight below the last visible event is skipped.
    const last = yield* Stream.runHead(store.readAll({ direction: "backwards", limit: 1 }))
    const start = Option.match(last, {
      onNone: () => "start" as const,
      onSome: (event) => ({ after: event.position })
    })
    return { start, events: store.subscribeAll({ ...options, from: start }) }
  })

/**
 * Subscribes to one stream with its start fixed now: `from: "end"` is resolved to the stream's
 * last version when this Effect runs (see {@link establishAll}).
 *
 * @category combinators
 * @since 0.1.0
 */
export const establish = (
  stream: string,
  options?: SubscribeOptions
): Effect.Effect<Established<ReadError>, InvalidStreamName | StoreUnavailable, EventStore> =>
  Effect.gen(function*() {
    const store = yield* EventStore
    const from = options?.from ?? "start"
    if (from !== "end") return { start: from, events: store.subscribe(stream, options) }
    const { lastVersion } = yield* store.streamInfo(stream)
    const start = lastVersion === undefined ? "start" as const : { after: lastVersion }
    return { start, events: store.subscribe(stream, { ...options, from: start }) }
  })

/**
 * A running subscription whose events a handler takes ({@link subscribeWith}, {@link subscribeAllWith},
 * {@link follow}). It runs until its scope closes or a failure ends it; `await` waits for that and
 * fails with the failure (the handler's, or a read's the store's retry did not take).
 *
 * @category models
 * @since 0.1.0
 */
export interface Subscription<E> extends Subscriptions.Handled<E> {}

/**
 * Runs a subscription's events (any store's `subscribe` or `subscribeAll`, also a named or tenant
 * store's) through `handler`, one delivered batch at a time, in order, in the current Scope. See
 * {@link subscribeWith}: this is it for a stream already made.
 *
 * @category combinators
 * @since 0.1.0
 */
export const follow: <E, E2, R>(
  events: Stream.Stream<RecordedEvent, E>,
  handler: (events: ReadonlyArray<RecordedEvent>) => Effect.Effect<void, E2, R>
) => Effect.Effect<Subscription<E | E2>, never, R | Scope.Scope> = Subscriptions.handle

/**
 * Subscribes to one stream with a handler instead of a `Stream`: catch-up then live, the same
 * deliveries as {@link EventStoreShape.subscribe} (every event once, in order, across the
 * catch-up/live seam), handed to `handler` one batch at a time. It runs until the Scope closes
 * (a handler running then is interrupted, and none runs after) or a failure ends it: the
 * handler's failure, or a read's that the store's retry does not take; {@link Subscription.await}
 * fails with it. `from: "end"` is fixed when this Effect runs (as {@link establish} does).
 *
 * **When to use**
 *
 * Many long-lived subscriptions (a subscription per user, per aggregate, per socket): every backend
 * (memory, SQLite, PostgreSQL, D1, KurrentDB) has a shared reader, so an idle one holds no fiber of
 * its own, a fraction of a `Stream.runForEach(store.subscribe(...))` fiber's memory (issue 23:
 * ~0.8-1.3 KB against ~2.7 KB). A fiber runs only while it catches up or hands events to the handler. A stream a wrapper
 * mapped runs in a fiber: the same deliveries, not the same size.
 *
 * @example
 * ```ts
 * import { Event, EventStore } from "@strata/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const store = yield* EventStore.EventStore
 *   const subscription = yield* EventStore.subscribeWith("cart-1", (events) =>
 *     Effect.forEach(events, (event) => Effect.log(event.type, event.version), { discard: true }))
 *   yield* store.append("cart-1", [Event.make("CartOpened", {})]) // handed to the handler
 *   return subscription
 * }))
 * ```
 *
 * @category combinators
 * @since 0.1.0
 */
export const subscribeWith = <E = never, R = never>(
  stream: string,
  handler: (events: ReadonlyArray<RecordedEvent>) => Effect.Effect<void, E, R>,
  options?: SubscribeOptions
): Effect.Effect<
  Subscription<ReadError | E>,
  InvalidStreamName | StoreUnavailable,
  EventStore | R | Scope.Scope
> => Effect.flatMap(establish(stream, options), ({ events }) => Subscriptions.handle(events, handler))

/**
 * Subscribes to the global log with a handler instead of a `Stream` ({@link subscribeWith} for
 * `subscribeAll`): `filter` and `from` as `subscribeAll` takes them (`after` a position), `"end"`
 * fixed when this Effect runs (as {@link establishAll} does).
 *
 * @category combinators
 * @since 0.1.0
 */
export const subscribeAllWith = <E = never, R = never>(
  handler: (events: ReadonlyArray<RecordedEvent>) => Effect.Effect<void, E, R>,
  options?: SubscribeAllOptions
): Effect.Effect<
  Subscription<InvalidArgument | StoreUnavailable | E>,
  InvalidArgument | StoreUnavailable,
  EventStore | R | Scope.Scope
> => Effect.flatMap(establishAll(options), ({ events }) => Subscriptions.handle(events, handler))
