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
 * - Tombstones: a tombstone appends nothing the reader could see, so the reader asks the backend
 *   which of its members' streams are tombstoned ({@link Source.gone}), every `checkInterval`
 *   (default: the poll interval), a chunk of streams per query, whether it was woken meanwhile or not.
 *   A member whose stream is gone is told to read again; its own read then fails with
 *   `StreamDeleted`, as it did when every subscription polled for itself. One path for tombstones
 *   made in this process (inside a unit of work or not) and in others, bounded by the interval.
 * - Failures: when the reader fails (a `StoreUnavailable`), every member fails with the error, as
 *   its own read would have, and the reader stops; the next join starts a new one.
 *
 * @since 0.1.0
 */
import type * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
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
  /**
   * Of these stream names, the ones that can no longer be followed (tombstoned). Without it,
   * members are never told to read again for a tombstone.
   */
  readonly gone?: ((streams: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<string>, E>) | undefined
  /** How often the members' streams are checked with `gone` (default: `pollInterval`). */
  readonly checkInterval?: Duration.Input | undefined
  /**
   * After a wake-up, the reader reads no sooner than this long after its last read began (default:
   * at once), so a burst of appends costs one read instead of one each. On SQLite the woken reader
   * otherwise reads on the one thread between each append and whatever its writer does next (one
   * append + read at a time, 50 appends: 50 reads of the reader between an append and its read; 16
   * with 5 ms). Timed on a real timer, so a test's `TestClock` does not hold the reader; but a test
   * that appends and then moves its `TestClock` expecting the reader to have read already sees the
   * read later.
   */
  readonly coalesce?: Duration.Input | undefined
}

/**
 * What a member wants: the events of `stream` (or, without one, of the whole log) that pass
 * `matches`. `types`, when the filter names event types, lets the feed visit only the members an
 * event's type can interest instead of every member (`matches` still decides).
 *
 * @category models
 * @since 0.1.0
 */
export interface Interest {
  readonly stream?: string | undefined
  readonly types?: ReadonlyArray<string> | undefined
  readonly matches: (event: RecordedEvent) => boolean
}

/**
 * The shared reader of one store.
 *
 * @category models
 * @since 0.1.0
 */
export interface LiveFeed<E> {
  /**
   * Joins: the events the interest selects are handed to the member from {@link Member.position} on.
   * Starts the reader when it is the first member.
   */
  readonly join: (interest: Interest) => Effect.Effect<Member<E>, E>
  /**
   * Joins with a member made by the caller (a subscription that is its own member), from a fresh
   * start: nothing handed, no overflow, no failure. Answers the member, its position set.
   */
  readonly enter: <M extends Member<unknown>>(member: M) => Effect.Effect<M, E>
  /** Members now joined (observability and tests). */
  readonly members: () => number
  /** Whether the reader fiber runs (observability and tests). */
  readonly running: () => boolean
  /** Pages read by the reader so far (observability and tests). */
  readonly reads: () => number
  /** Queries made to {@link Source.gone} so far (observability and tests). */
  readonly checks: () => number
}

/**
 * A subscription joined to a feed: what the feed hands it, held until it takes them.
 *
 * An idle member is this object, its entry in the feed's index and the one suspended callback of
 * its `take`; its effects are made when they are asked for, not held per member. A subscription
 * can extend it and be its own member ({@link LiveFeed.enter}), overriding {@link Member.resume} to
 * wake its own pull instead of a `take` (issue 23, many subscribers: one object per subscription).
 *
 * @category models
 * @since 0.1.0
 */
export class Member<E> {
  /** The feed has published every event up to this position; the member gets those after it. */
  position = -1n
  /** Events handed to the member and not taken yet. */
  buffer: Array<RecordedEvent> | undefined = undefined
  /** It fell more than `bufferSize` events behind, or its stream is gone: it must read for itself. */
  overflowed = false
  /** The reader failed with this cause (one of the feed's errors). */
  failure: Cause.Cause<unknown> | undefined = undefined
  /**
   * The suspended pull, resumed with the effect it continues with when something arrives. Its type
   * is its owner's (a `take`, or a subscription's own pull), erased here.
   */
  waiting: ((effect: Effect.Effect<unknown, unknown>) => void) | undefined = undefined
  /** Leaves the feed it has joined; undefined while it is not joined. */
  exit: ((member: Member<unknown>) => void) | undefined = undefined
  readonly interest: Interest
  constructor(interest: Interest) {
    this.interest = interest
  }
  /**
   * The events handed to the member since the last take (waits while there are none), or
   * `"Overflow"` when it must read for itself again and has left the feed: it fell more than
   * `bufferSize` events behind, or its stream is gone (see {@link Source.gone}).
   */
  get take(): Effect.Effect<ReadonlyArray<RecordedEvent> | "Overflow", E> {
    // Woken, it takes again (from the top: events, an overflow or a failure may be there now). No
    // cancel callback: an interrupted take leaves a resume that nothing wakes any more (a later take
    // replaces it, and leaving removes the member), so the fiber holds no finalizer while it waits.
    return Effect.suspend(() =>
      this.next() ?? Effect.callback<ReadonlyArray<RecordedEvent> | "Overflow", E>((resume) => {
        this.waiting = resume as Member<E>["waiting"]
      })
    )
  }
  /** Leaves the feed (idempotent). */
  get leave(): Effect.Effect<void> {
    return Effect.sync(() => this.leaveNow())
  }
  /** Leaves the feed at once (idempotent). */
  leaveNow(): void {
    const exit = this.exit
    if (exit !== undefined) exit(this)
  }
  /** Called by the feed when something arrives (events, an overflow, a failure). */
  resume(): void {
    const waiting = this.waiting
    if (waiting === undefined) return
    this.waiting = undefined
    waiting(this.take)
  }
  /** @internal */
  hand(event: RecordedEvent, bufferSize: number) {
    if (this.overflowed || !this.interest.matches(event)) return
    if (this.buffer === undefined) this.buffer = [event]
    else if (this.buffer.length >= bufferSize) {
      this.overflowed = true
      this.buffer = undefined
    } else this.buffer.push(event)
    this.resume()
  }
  /** @internal Told to read for itself again (its stream may be gone): the same way out as an overflow. */
  reread() {
    this.overflowed = true
    this.buffer = undefined
    this.resume()
  }
  private next(): Effect.Effect<ReadonlyArray<RecordedEvent> | "Overflow", E> | undefined {
    if (this.buffer !== undefined) {
      const events = this.buffer
      this.buffer = undefined
      return Effect.succeed(events)
    }
    if (this.overflowed) {
      this.leaveNow()
      return Effect.succeed("Overflow")
    }
    if (this.failure !== undefined) return Effect.failCause(this.failure as Cause.Cause<E>)
    return undefined
  }
}

const firstRetry = Duration.millis(5)
const defaultCoalesce = Duration.zero

// A pause on a real timer (not the Clock service: a test's TestClock would hold the reader).
const realSleep = (millis: number): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    const timer = setTimeout(() => resume(Effect.void), millis)
    return Effect.sync(() => clearTimeout(timer))
  })
// Stream names per `gone` query: one bound parameter on every SQL backend, an index lookup each.
const checkChunk = 1000

// Members by a key (a stream name, an event type): one member alone, a set once there are more.
type Entry<E> = Member<E> | Set<Member<E>>
const addTo = <E>(index: Map<string, Entry<E>>, key: string, slot: Member<E>) => {
  const entry = index.get(key)
  if (entry === undefined) index.set(key, slot)
  else if (entry === slot) return
  else if (entry instanceof Set) entry.add(slot)
  else index.set(key, new Set([entry, slot]))
}
const removeFrom = <E>(index: Map<string, Entry<E>>, key: string, slot: Member<E>) => {
  const entry = index.get(key)
  if (entry === slot) index.delete(key)
  else if (entry instanceof Set) {
    entry.delete(slot)
    if (entry.size === 0) index.delete(key)
    else if (entry.size === 1) index.set(key, entry.values().next().value!)
  }
}
const handTo = <E>(entry: Entry<E> | undefined, event: RecordedEvent, bufferSize: number) => {
  if (entry === undefined) return
  if (entry instanceof Set) { for (const slot of entry) slot.hand(event, bufferSize) }
  else entry.hand(event, bufferSize)
}
const slotsOf = <E>(entry: Entry<E>): ReadonlyArray<Member<E>> => entry instanceof Set ? [...entry] : [entry]

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
  const coalesce = Duration.toMillis(Duration.fromInputUnsafe(source.coalesce ?? defaultCoalesce))
  const checkEvery = Duration.toMillis(Duration.fromInputUnsafe(source.checkInterval ?? source.pollInterval))
  const gone = source.gone
  // Members by stream and by event type; the rest are visited for every event.
  const byStream = new Map<string, Entry<unknown>>()
  const byType = new Map<string, Entry<unknown>>()
  const scan = new Set<Member<unknown>>()
  let count = 0
  let reads = 0
  let checks = 0
  // One generation per reader run: a stopped reader's late steps see a newer generation and do nothing.
  let generation = 0
  let fiber: Fiber.Fiber<void> | undefined
  let position: bigint | undefined
  let started: Deferred.Deferred<bigint, E> | undefined

  const remove = (slot: Member<unknown>) => {
    if (slot.exit !== remove) return
    slot.exit = undefined
    count--
    const { stream, types } = slot.interest
    if (stream !== undefined) removeFrom(byStream, stream, slot)
    else if (types !== undefined) { for (const type of types) removeFrom(byType, type, slot) }
    else scan.delete(slot)
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

  // Synchronous: a join sees either all of a page or none of it, with `position` to match.
  const publish = (gen: number, events: ReadonlyArray<RecordedEvent>) => {
    if (gen !== generation || events.length === 0) return
    position = events[events.length - 1].position
    for (const event of events) {
      handTo(byStream.get(event.stream), event, bufferSize)
      handTo(byType.get(event.type), event, bufferSize)
      for (const slot of scan) slot.hand(event, bufferSize)
    }
  }

  const failAll = (gen: number, cause: Cause.Cause<E>) => {
    if (gen !== generation) return
    const all = new Set([...scan, ...[...byStream.values(), ...byType.values()].flatMap(slotsOf)])
    for (const slot of all) {
      slot.failure = cause
      remove(slot)
      slot.resume()
    }
  }

  // The members' streams, a chunk per query; members of a gone stream read again (and fail there).
  const check = (gen: number): Effect.Effect<void, E> =>
    Effect.suspend(() => {
      if (gone === undefined) return Effect.void
      const streams = [...byStream.keys()]
      const chunks: Array<Array<string>> = []
      for (let at = 0; at < streams.length; at += checkChunk) chunks.push(streams.slice(at, at + checkChunk))
      return Effect.forEach(chunks, (chunk) =>
        Effect.map(gone(chunk), (found) => {
          checks++
          if (gen !== generation) return
          for (const stream of found) {
            const own = byStream.get(stream)
            if (own !== undefined) { for (const slot of slotsOf(own)) slot.reread() }
          }
        }), { discard: true })
    })

  const reader = (gen: number, ready: Deferred.Deferred<bigint, E>): Effect.Effect<void> =>
    Effect.scoped(Effect.gen(function*() {
      const wakeups = yield* source.wakeups
      const head = yield* source.head
      if (gen !== generation) return
      position = head
      Deferred.doneUnsafe(ready, Effect.succeed(head))
      let retry: Duration.Duration | undefined
      let lastRead = 0
      let checked = yield* Clock.currentTimeMillis
      while (gen === generation) {
        reads++
        lastRead = performance.now()
        // Its own root span: the read serves every member, not the subscription that started the reader.
        const { events, pending } = yield* Effect.withSpan(
          source.readPage(position, source.pageSize),
          "strata.liveFeed.read",
          { root: true, captureStackTrace: false, attributes: { "strata.live.members": count } }
        )
        publish(gen, events)
        let now = yield* Clock.currentTimeMillis
        if (gone !== undefined && now - checked >= checkEvery) {
          yield* Effect.withSpan(check(gen), "strata.liveFeed.check", {
            root: true,
            captureStackTrace: false,
            attributes: { "strata.live.members": count }
          })
          checked = now = yield* Clock.currentTimeMillis
        }
        if (events.length < source.pageSize) {
          // An append in flight holds events back (PostgreSQL): read again soon, then less often.
          retry = pending === true
            ? Duration.min(retry === undefined || events.length > 0 ? firstRetry : Duration.times(retry, 2), poll)
            : undefined
          let wait = retry ?? poll
          if (gone !== undefined) wait = Duration.min(wait, Duration.millis(Math.max(0, checked + checkEvery - now)))
          const woken = yield* PubSub.take(wakeups).pipe(Effect.timeoutOption(wait))
          const since = performance.now() - lastRead
          if (coalesce > 0 && woken._tag === "Some" && since < coalesce) yield* realSleep(coalesce - since)
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

  const enter = <M extends Member<unknown>>(slot: M): Effect.Effect<M, E> =>
    Effect.suspend(() => {
      if (slot.exit !== undefined) slot.exit(slot)
      slot.buffer = undefined
      slot.overflowed = false
      slot.failure = undefined
      slot.exit = remove
      count++
      const interest = slot.interest
      if (interest.stream !== undefined) addTo(byStream, interest.stream, slot)
      else if (interest.types !== undefined) { for (const type of interest.types) addTo(byType, type, slot) }
      else scan.add(slot)
      if (position !== undefined) {
        slot.position = position
        return Effect.succeed(slot)
      }
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
        Effect.map((at) => {
          slot.position = at
          return slot
        }),
        Effect.onError(() => slot.leave)
      )
    })

  return {
    join: (interest) => enter(new Member<E>(interest)),
    enter,
    members: () => count,
    running: () => fiber !== undefined,
    reads: () => reads,
    checks: () => checks
  }
}
