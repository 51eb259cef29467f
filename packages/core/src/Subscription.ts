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
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { RecordedEvent } from "./Event.ts"
import type { SubscribeFrom } from "./EventStore.ts"

/**
 * What a backend supplies to run subscriptions.
 *
 * @category models
 * @since 0.1.0
 */
export interface Source<E> {
  /** Up to `limit` events with a cursor greater than `after`, ascending. */
  readonly readPage: (after: bigint, limit: number) => Effect.Effect<ReadonlyArray<RecordedEvent>, E>
  /** The cursor of the last event now visible (for `from: "end"`); -1 when there is none. */
  readonly head: Effect.Effect<bigint, E>
  /** The cursor of an event: its position, or its version for single-stream subscriptions. */
  readonly cursorOf: (event: RecordedEvent) => bigint
  /** Signals that new events may be visible. Subscribed before the first read. */
  readonly wakeups: Effect.Effect<PubSub.Subscription<void>, never, Scope.Scope>
  /** How long to wait for a wake-up before reading anyway (for writers the signal cannot reach). */
  readonly pollInterval: Duration.Input
  readonly pageSize: number
}

/**
 * A signal many subscribers can wait on; publishing never blocks and coalesces.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeSignal: Effect.Effect<PubSub.PubSub<void>> = PubSub.sliding<void>(1)

/**
 * Runs a subscription from `from` (`start`, `end`, or after a cursor).
 *
 * @category constructors
 * @since 0.1.0
 */
export const catchUpThenLive = <E>(source: Source<E>, from: SubscribeFrom): Stream.Stream<RecordedEvent, E> =>
  Stream.unwrap(Effect.gen(function*() {
    const wakeups = yield* source.wakeups
    const start = from === "start" ? -1n : from === "end" ? yield* source.head : from.after
    const wait = PubSub.take(wakeups).pipe(Effect.timeoutOption(source.pollInterval), Effect.asVoid)
    // State: the cursor, and whether the last read reached the head (then wait before reading again).
    return Stream.paginate(
      { cursor: start, atHead: false },
      (state) =>
        Effect.gen(function*() {
          if (state.atHead) yield* wait
          const page = yield* source.readPage(state.cursor, source.pageSize)
          const cursor = page.length === 0 ? state.cursor : source.cursorOf(page[page.length - 1])
          return [page, Option.some({ cursor, atHead: page.length < source.pageSize })] as const
        })
    )
  }))

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
