/**
 * The catch-up-then-live loop every backend's subscriptions run on.
 *
 * There is no separate live mode: a subscription keeps reading pages after its cursor, and when it
 * reaches the head it waits for a wake-up (an in-process signal, a PostgreSQL NOTIFY) or the poll
 * interval, then reads again. Catch-up and live are the same query, so there is no seam where an
 * event can be lost or delivered twice, provided the backend's `readPage` only returns events
 * whose position can no longer be overtaken by a later commit (see the PostgreSQL backend).
 *
 * Lost wake-ups cannot happen: the subscriber listens before its first read, and the wake-up queue
 * keeps the latest signal until taken.
 *
 * With a shared reader (`live`, see {@link LiveFeed}) a subscription joins the feed before it reads,
 * catches up with its own reads until a short page, and then takes what the feed hands it (dropping
 * what its own reads already delivered). It waits on nothing else and polls nothing itself. When it
 * falls too far behind, the feed drops it and it catches up with its own reads again.
 *
 * @since 0.1.0
 */
import * as Arr from "effect/Array"
import * as Channel from "effect/Channel"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { RecordedEvent } from "../Event.ts"
import type { SubscribeFrom } from "../EventStore.ts"
import type * as LiveFeed from "./LiveFeed.ts"

/**
 * What a backend supplies to run subscriptions.
 *
 * @category models
 * @since 0.1.0
 */
export interface Source<E> {
  /** Up to `limit` events with a cursor greater than `after`, ascending. */
  readonly readPage: (after: bigint, limit: number) => Effect.Effect<Page, E>
  /** The cursor of the last event now visible (for `from: "end"`); -1 when there is none. */
  readonly head: Effect.Effect<bigint, E>
  /** The cursor of an event: its position, or its version for single-stream subscriptions. */
  readonly cursorOf: (event: RecordedEvent) => bigint
  /** Signals that new events may be visible. Subscribed before the first read. */
  readonly wakeups: Effect.Effect<PubSub.Subscription<void>, never, Scope.Scope>
  /** How long to wait for a wake-up before reading anyway (for writers the signal cannot reach). */
  readonly pollInterval: Duration.Input
  readonly pageSize: number
  /** The store's shared reader: live events come from it instead of this subscription's reads. */
  readonly live?: Live<E> | undefined
  /**
   * Checks the subscription's arguments when it starts, before anything else runs (instead of a
   * `Stream.unwrap` around the subscription, which an idle subscription would hold on to).
   */
  readonly check?: Effect.Effect<unknown, E> | undefined
}

/**
 * How a subscription joins its store's {@link LiveFeed}: the feed, and what it wants of it (the
 * stream it follows, or the filter applied in process to the global log).
 *
 * @category models
 * @since 0.1.0
 */
export interface Live<E> extends LiveFeed.Interest {
  readonly feed: LiveFeed.LiveFeed<E>
}

/**
 * One read of a subscription.
 *
 * @category models
 * @since 0.1.0
 */
export interface Page {
  readonly events: ReadonlyArray<RecordedEvent>
  /**
   * Events may be committed behind an append still in flight (PostgreSQL's horizon). That append
   * wakes subscribers when it commits, but not when it rolls back, so the subscription reads again
   * after a short, growing delay instead of waiting for the poll interval.
   */
  readonly pending?: boolean | undefined
}

/**
 * A signal many subscribers can wait on; publishing never blocks and coalesces.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeSignal: Effect.Effect<PubSub.PubSub<void>> = PubSub.sliding<void>(1)

const firstRetry = Duration.millis(5)

/**
 * Runs a subscription from `from` (`start`, `end`, or after a cursor).
 *
 * @category constructors
 * @since 0.1.0
 */
export const catchUpThenLive = <E>(source: Source<E>, from: SubscribeFrom): Stream.Stream<RecordedEvent, E> =>
  source.live === undefined ? polling(source, from) : fed(source, source.live, from)

const polling = <E>(source: Source<E>, from: SubscribeFrom): Stream.Stream<RecordedEvent, E> =>
  Stream.unwrap(Effect.gen(function*() {
    if (source.check !== undefined) yield* source.check
    const wakeups = yield* source.wakeups
    const start = from === "start" ? -1n : from === "end" ? yield* source.head : from.after
    const poll = Duration.fromInputUnsafe(source.pollInterval)
    const wait = (timeout: Duration.Duration) => PubSub.take(wakeups).pipe(Effect.timeoutOption(timeout), Effect.asVoid)
    // State: the cursor, whether the last read reached the head (then wait before reading again),
    // and how long to wait at most when an append in flight holds events back.
    return Stream.paginate(
      { cursor: start, atHead: false, retry: undefined as Duration.Duration | undefined },
      (state) =>
        Effect.gen(function*() {
          if (state.atHead) yield* wait(state.retry ?? poll)
          const { events, pending } = yield* source.readPage(state.cursor, source.pageSize)
          const cursor = events.length === 0 ? state.cursor : source.cursorOf(events[events.length - 1])
          const atHead = events.length < source.pageSize
          const retry = pending === true && atHead
            ? Duration.min(
              state.retry === undefined || events.length > 0 ? firstRetry : Duration.times(state.retry, 2),
              poll
            )
            : undefined
          return [events, Option.some({ cursor, atHead, retry })] as const
        })
    )
  }))

// Join, read until a short page, then take from the feed; on overflow, join again and read again.
// The join comes before the reads, so whatever the feed published before it is visible to them.
// A class rather than paginate and generators, holding only what the loop needs after its start
// (not the source: its `check`, `head` and `wakeups` are garbage once started). An idle
// subscription is then this object, its feed member and one suspended `take` (see LiveFeed on
// memory per subscription).
class Fed<E> {
  cursor = -1n
  caughtUp = false
  member: LiveFeed.Member<E> | undefined = undefined
  // The setup (check, finalizer, start cursor) runs in the first pull, so the channel's transform
  // returns at once and the consumer's fiber does not hold the setup's effects while it waits.
  setup: Source<E> | undefined
  readonly readPage: Source<E>["readPage"]
  readonly cursorOf: Source<E>["cursorOf"]
  readonly pageSize: number
  readonly live: Live<E>
  readonly from: SubscribeFrom
  readonly scope: Scope.Scope
  constructor(source: Source<E>, live: Live<E>, from: SubscribeFrom, scope: Scope.Scope) {
    this.setup = source
    this.readPage = source.readPage
    this.cursorOf = source.cursorOf
    this.pageSize = source.pageSize
    this.live = live
    this.from = from
    this.scope = scope
  }
  readonly pull: Effect.Effect<Arr.NonEmptyReadonlyArray<RecordedEvent>, E> = Effect.suspend(() => this.step())
  // One continuation for every step: what the value is follows from the state it was asked in.
  readonly continue = (value: LiveFeed.Member<E> | Page | ReadonlyArray<RecordedEvent> | "Overflow") => {
    if (this.member === undefined) {
      this.member = value as LiveFeed.Member<E>
      return this.pull
    }
    if (!this.caughtUp) {
      const { events } = value as Page
      this.caughtUp = events.length < this.pageSize
      return this.deliver(events)
    }
    if (value !== "Overflow") {
      return this.deliver((value as ReadonlyArray<RecordedEvent>).filter((event) => this.cursorOf(event) > this.cursor))
    }
    this.member = undefined
    this.caughtUp = false
    return this.pull
  }
  readonly leave = (): Effect.Effect<void> => this.member === undefined ? Effect.void : this.member.leave
  step(): Effect.Effect<Arr.NonEmptyReadonlyArray<RecordedEvent>, E> {
    if (this.setup !== undefined) return this.start(this.setup)
    if (this.member === undefined) return Effect.flatMap(this.live.feed.join(this.live), this.continue)
    if (!this.caughtUp) return Effect.flatMap(this.readPage(this.cursor, this.pageSize), this.continue)
    return Effect.flatMap(this.member.take, this.continue)
  }
  start(source: Source<E>): Effect.Effect<Arr.NonEmptyReadonlyArray<RecordedEvent>, E> {
    const from = this.from
    return (source.check ?? Effect.void).pipe(
      Effect.andThen(Scope.addFinalizerExit(this.scope, this.leave)),
      Effect.andThen(
        from === "start" ? Effect.succeed(-1n) : from === "end" ? source.head : Effect.succeed(from.after)
      ),
      Effect.flatMap((at) => {
        this.cursor = at
        this.setup = undefined
        return this.pull
      })
    )
  }
  deliver(events: ReadonlyArray<RecordedEvent>): Effect.Effect<Arr.NonEmptyReadonlyArray<RecordedEvent>, E> {
    if (!Arr.isReadonlyArrayNonEmpty(events)) return this.pull
    this.cursor = this.cursorOf(events[events.length - 1])
    return Effect.succeed(events)
  }
}

const fed = <E>(source: Source<E>, live: Live<E>, from: SubscribeFrom): Stream.Stream<RecordedEvent, E> =>
  Stream.fromChannel(
    Channel.fromTransform((_, scope: Scope.Scope) => Effect.succeed(new Fed(source, live, from, scope).pull))
  )

/**
 * Pages through a finite read: `readPage(state)` returns a page and the state for the next one,
 * stopping at a short page or at `limit` events.
 *
 * @category constructors
 * @since 0.1.0
 */
export const paged = <S, E>(options: {
  readonly initial: S
  readonly pageSize: number
  readonly limit?: number | undefined
  readonly readPage: (state: S, limit: number) => Effect.Effect<readonly [ReadonlyArray<RecordedEvent>, S], E>
}): Stream.Stream<RecordedEvent, E> =>
  Stream.paginate(
    { state: options.initial, remaining: options.limit ?? Number.POSITIVE_INFINITY },
    ({ remaining, state }) => {
      const want = Math.min(options.pageSize, remaining)
      return options.readPage(state, want).pipe(
        Effect.map(([page, next]) => {
          const left = remaining - page.length
          return [page, page.length < want || left <= 0 ? Option.none() : Option.some({ state: next, remaining: left })]
        })
      )
    }
  )
