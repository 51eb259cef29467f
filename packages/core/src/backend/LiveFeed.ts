/**
 * One shared reader per store that fans live events out to its subscriptions.
 *
 * Without it every live subscription reads the database for itself after each wake-up (10,000
 * subscriptions: 10,000 queries per append, and as many polls per poll interval). With it, one
 * reader fiber reads the global log past the last position it published, once per wake-up, and
 * hands each event to the subscriptions it matches (by stream, or by an in-process filter); the
 * subscriptions themselves only catch up with their own reads.
 *
 * - The reader runs while at least one subscription has joined, and stops when the last one leaves.
 * - The seam: a subscription joins before its last catch-up read. {@link LiveFeed.join} answers the
 *   position the feed has published up to; everything after it is handed to the subscription, and
 *   everything at or before it was visible before the join, so the subscription's next read sees
 *   it. The subscription drops what the feed hands it at or below its own cursor (no repeat).
 * - Bounded: each subscription buffers at most `bufferSize` events. A subscription that falls
 *   further behind is told it overflowed: its buffer is dropped, it leaves, and it catches up with
 *   its own reads and joins again. A slow subscription never holds the reader back, and its memory
 *   stays bounded.
 * - Cheap when idle: a member is a small record (its buffer empty, one callback); no fiber, no
 *   PubSub subscription and no timer per subscription.
 * - Failures: when the reader fails (a `StoreUnavailable`), every member fails with the error, as
 *   its own read would have, and the reader stops; the next join starts a new one.
 *
 * @since 0.1.0
 */
import type * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import type { RecordedEvent } from "../Event.ts"
import type { Page } from "./Subscription.ts"

/**
 * What a backend supplies to run the shared reader: unfiltered reads of the global log.
 *
 * @category models
 * @since 0.1.0
 */
export interface Source<E> {
  /** Up to `limit` events of the global log with a position greater than `after`, ascending. */
  readonly readPage: (after: bigint, limit: number) => Effect.Effect<Page, E>
  /** The position of the last event every later read will see (where the reader starts). */
  readonly head: Effect.Effect<bigint, E>
  /** Signals that new events may be visible. */
  readonly wakeups: Effect.Effect<PubSub.Subscription<void>, never, Scope.Scope>
  /** How long to wait for a wake-up before reading anyway (for writers the signal cannot reach). */
  readonly pollInterval: Duration.Input
  readonly pageSize: number
  /** Events a member may hold before it overflows (default: `pageSize`). */
  readonly bufferSize?: number | undefined
}

/**
 * A subscription joined to a feed.
 *
 * @category models
 * @since 0.1.0
 */
export interface Member<E> {
  /** The feed has published every event up to this position; the member gets those after it. */
  readonly position: bigint
  /**
   * The events handed to the member since the last take (waits while there are none), or
   * `"Overflow"` when it fell more than `bufferSize` events behind and has left the feed.
   */
  readonly take: Effect.Effect<ReadonlyArray<RecordedEvent> | "Overflow", E>
  /** Leaves the feed (idempotent). */
  readonly leave: Effect.Effect<void>
}

/**
 * The shared reader of one store.
 *
 * @category models
 * @since 0.1.0
 */
export interface LiveFeed<E> {
  /**
   * Joins: events of `stream` (or, without one, every event) that pass `matches` are handed to the
   * member from {@link Member.position} on. Starts the reader when it is the first member.
   */
  readonly join: (
    stream: string | undefined,
    matches: (event: RecordedEvent) => boolean
  ) => Effect.Effect<Member<E>, E>
  /** Members now joined (observability and tests). */
  readonly members: () => number
  /** Whether the reader fiber runs (observability and tests). */
  readonly running: () => boolean
  /** Pages read by the reader so far (observability and tests). */
  readonly reads: () => number
}

interface Slot<E> {
  readonly stream: string | undefined
  readonly matches: (event: RecordedEvent) => boolean
  buffer: Array<RecordedEvent>
  overflowed: boolean
  failure: Cause.Cause<E> | undefined
  wake: (() => void) | undefined
  joined: boolean
}

const firstRetry = Duration.millis(5)

/**
 * Makes a store's feed. Nothing runs until the first subscription joins. The reader runs detached
 * from every subscriber, with the services of the one that started it: a backend whose reads
 * would see a transaction in those services must step outside it in `readPage` and `head`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <E>(source: Source<E>): LiveFeed<E> => {
  const bufferSize = source.bufferSize ?? source.pageSize
  const poll = Duration.fromInputUnsafe(source.pollInterval)
  const byStream = new Map<string, Set<Slot<E>>>()
  const global = new Set<Slot<E>>()
  let count = 0
  let reads = 0
  // One generation per reader run: a stopped reader's late steps see a newer generation and do nothing.
  let generation = 0
  let fiber: Fiber.Fiber<void> | undefined
  let position: bigint | undefined
  let started: Deferred.Deferred<bigint, E> | undefined

  const wakeSlot = (slot: Slot<E>) => {
    const wake = slot.wake
    slot.wake = undefined
    wake?.()
  }

  const remove = (slot: Slot<E>) => {
    if (!slot.joined) return
    slot.joined = false
    count--
    if (slot.stream === undefined) global.delete(slot)
    else {
      const set = byStream.get(slot.stream)
      set?.delete(slot)
      if (set?.size === 0) byStream.delete(slot.stream)
    }
    if (count === 0) stop()
  }

  const stop = () => {
    generation++
    const running = fiber
    fiber = undefined
    position = undefined
    started = undefined
    if (running !== undefined) Effect.runFork(Fiber.interrupt(running))
  }

  const hand = (slot: Slot<E>, event: RecordedEvent) => {
    if (slot.overflowed || !slot.matches(event)) return
    if (slot.buffer.length >= bufferSize) {
      slot.overflowed = true
      slot.buffer = []
    } else slot.buffer.push(event)
    if (slot.wake !== undefined) wakeSlot(slot)
  }

  // Synchronous: a join sees either all of a page or none of it, with `position` to match.
  const publish = (gen: number, events: ReadonlyArray<RecordedEvent>) => {
    if (gen !== generation || events.length === 0) return
    position = events[events.length - 1].position
    for (const event of events) {
      const own = byStream.get(event.stream)
      if (own !== undefined) { for (const slot of own) hand(slot, event) }
      for (const slot of global) hand(slot, event)
    }
  }

  const failAll = (gen: number, cause: Cause.Cause<E>) => {
    if (gen !== generation) return
    const all = [...global, ...[...byStream.values()].flatMap((set) => [...set])]
    for (const slot of all) {
      slot.failure = cause
      remove(slot)
      wakeSlot(slot)
    }
  }

  const reader = (gen: number, ready: Deferred.Deferred<bigint, E>): Effect.Effect<void> =>
    Effect.scoped(Effect.gen(function*() {
      const wakeups = yield* source.wakeups
      const head = yield* source.head
      if (gen !== generation) return
      position = head
      Deferred.doneUnsafe(ready, Effect.succeed(head))
      let retry: Duration.Duration | undefined
      while (gen === generation) {
        reads++
        const { events, pending } = yield* source.readPage(position, source.pageSize)
        publish(gen, events)
        if (events.length < source.pageSize) {
          // An append in flight holds events back (PostgreSQL): read again soon, then less often.
          retry = pending === true
            ? Duration.min(retry === undefined || events.length > 0 ? firstRetry : Duration.times(retry, 2), poll)
            : undefined
          yield* PubSub.take(wakeups).pipe(Effect.timeoutOption(retry ?? poll))
        }
      }
    })).pipe(
      Effect.onError((cause) =>
        Effect.sync(() => {
          Deferred.doneUnsafe(ready, Effect.failCause(cause))
          failAll(gen, cause)
        })
      ),
      Effect.ignoreCause
    )

  const join = (stream: string | undefined, matches: (event: RecordedEvent) => boolean) =>
    Effect.suspend(() => {
      const slot: Slot<E> = {
        stream,
        matches,
        buffer: [],
        overflowed: false,
        failure: undefined,
        wake: undefined,
        joined: true
      }
      count++
      if (stream === undefined) global.add(slot)
      else {
        let set = byStream.get(stream)
        if (set === undefined) byStream.set(stream, set = new Set())
        set.add(slot)
      }
      const leave = Effect.sync(() => remove(slot))
      const take: Member<E>["take"] = Effect.suspend(() => {
        if (slot.buffer.length > 0) {
          const events = slot.buffer
          slot.buffer = []
          return Effect.succeed(events)
        }
        if (slot.overflowed) {
          remove(slot)
          return Effect.succeed("Overflow" as const)
        }
        if (slot.failure !== undefined) return Effect.failCause(slot.failure)
        return Effect.andThen(
          Effect.callback<void>((resume) => {
            slot.wake = () => resume(Effect.void)
            return Effect.sync(() => {
              slot.wake = undefined
            })
          }),
          take
        )
      })
      const member = (at: bigint): Member<E> => ({ position: at, take, leave })
      if (position !== undefined) return Effect.succeed(member(position))
      let start: Effect.Effect<void> = Effect.void
      if (started === undefined) {
        const ready = Deferred.makeUnsafe<bigint, E>()
        const gen = generation
        started = ready
        // Detached: the reader outlives the subscription that started it; it runs with that
        // subscription's services (logger, metrics, references).
        start = Effect.map(Effect.forkDetach(reader(gen, ready)), (forked) => {
          if (gen === generation) fiber = forked
          else Effect.runFork(Fiber.interrupt(forked))
        })
      }
      const ready = started
      return start.pipe(
        Effect.andThen(Deferred.await(ready)),
        Effect.map(member),
        Effect.onError(() => leave)
      )
    })

  return {
    join,
    members: () => count,
    running: () => fiber !== undefined,
    reads: () => reads
  }
}
