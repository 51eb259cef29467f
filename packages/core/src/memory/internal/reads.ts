// Stream reads, global reads and both subscriptions, paged over the shared Subscription loop. Every
// page is cut at the current fiber's read horizon, so a reader outside a unit of work never sees the
// unit's uncommitted events, and stream pages apply the retention rules as they are at that page.
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as PubSub from "effect/PubSub"
import * as Stream from "effect/Stream"
import * as Inputs from "../../backend/Inputs.ts"
import * as LiveFeed from "../../backend/LiveFeed.ts"
import * as Subscription from "../../backend/Subscription.ts"
import type { RecordedEvent } from "../../Event.ts"
import type { EventStoreShape, ReadError } from "../../EventStore.ts"
import type { InvalidArgument, StoreUnavailable } from "../../StoreError.ts"
import * as StreamName from "../../StreamName.ts"
import { type MemoryContext, stored, visibleFrom } from "./context.ts"
import { visibleCount } from "./state.ts"

export const make = (ctx: MemoryContext) => {
  const { horizon, openStream, pageSize, state } = ctx
  const { log, signal, streams } = state

  const read: EventStoreShape["read"] = (stream, readOptions) =>
    Stream.unwrap(Effect.gen(function*() {
      const { direction, from, limit } = yield* Inputs.readOptions("read", readOptions)
      const record = yield* openStream(stream)
      if (record === undefined) return Stream.empty
      const forwards = direction === "forwards"
      const last = BigInt(visibleCount(record, yield* horizon) - 1)
      // Backwards from past the end starts at the last event (stepping down one by one would hang).
      const start = forwards ? from ?? 0n : from === undefined || from > last ? last : from
      return Subscription.paged({
        initial: start,
        pageSize,
        limit,
        readPage: (cursor: bigint, want: number) =>
          Effect.gen(function*() {
            // Retention is evaluated per page so a long read sees rules as they are now.
            const h = yield* horizon
            const { first, minTime } = visibleFrom(record, yield* Clock.currentTimeMillis, h)
            const page: Array<RecordedEvent> = []
            let at = forwards ? (cursor < first ? first : cursor) : cursor
            const end = BigInt(visibleCount(record, h))
            while (page.length < want && (forwards ? at < end : at >= first && at >= 0n)) {
              const event = record.events[Number(at)]
              if (event !== undefined && event.createdAt.getTime() >= minTime) page.push(event)
              at = forwards ? at + 1n : at - 1n
            }
            return [page, at] as const
          })
      })
    }))

  const readAll: EventStoreShape["readAll"] = (readOptions) =>
    Stream.unwrap(Effect.gen(function*() {
      const { direction, from, limit, query } = yield* Inputs.readOptions("readAll", readOptions)
      const forwards = direction === "forwards"
      const filter = readOptions?.filter
      const passes = query === undefined
        ? (event: RecordedEvent) => Inputs.passes(filter, event.stream, event.type)
        : (event: RecordedEvent) => Inputs.matches(query, event)
      const start = yield* horizon
      return Subscription.paged({
        // Cursor: an index into the log.
        initial: forwards ? Number(from ?? 1n) - 1 : Math.min(Number(from ?? BigInt(start)), start) - 1,
        pageSize,
        limit,
        readPage: (index: number, want: number) =>
          Effect.map(horizon, (h) => {
            const page: Array<RecordedEvent> = []
            let at = Math.max(index, forwards ? 0 : -1)
            while (page.length < want && (forwards ? at < h : at >= 0)) {
              const event = log[at]
              if (passes(event)) page.push(event)
              at += forwards ? 1 : -1
            }
            return [page, at] as const
          })
      })
    }))

  const wakeups = PubSub.subscribe(signal)
  // Appends in another store cannot happen in memory: the poll only guards against a bug, slowly.
  const pollInterval = Duration.seconds(5)
  // The shared live reader reads committed events only (`visible`, not a fiber's horizon: it runs
  // outside every unit of work).
  const feed = LiveFeed.make({
    readPage: (after, want) =>
      Effect.sync(() => ({
        events: log.slice(Math.max(0, Number(after)), Math.min(state.visible, Number(after) + want))
      })),
    head: Effect.sync(() => BigInt(state.visible)),
    wakeups,
    pollInterval,
    pageSize,
    // A tombstone appends nothing the feed sees: its members' streams are looked up (a map lookup
    // each) four times a second, and the members of a tombstoned one read again, failing there.
    gone: (names) => Effect.sync(() => names.filter((name) => streams.get(name)?.tombstoned === true)),
    checkInterval: Duration.millis(250)
  })
  const always = () => true
  const byVersion = (event: RecordedEvent) => event.version
  const byPosition = (event: RecordedEvent) => event.position

  const subscribe: EventStoreShape["subscribe"] = (stream, subscribeOptions) => {
    const from = subscribeOptions?.from ?? "start"
    return Subscription.catchUpThenLive<ReadError>({
      check: typeof from === "object"
        ? Effect.andThen(StreamName.make(stream), Inputs.bigint("subscribe", "from.after", from.after, -1n))
        : StreamName.make(stream),
      readPage: (after, want) =>
        Effect.gen(function*() {
          const record = yield* openStream(stream)
          if (record === undefined) return { events: [] }
          const h = yield* horizon
          const { first, minTime } = visibleFrom(record, yield* Clock.currentTimeMillis, h)
          // Skip expired events instead of returning a short page: a short page means "at the head",
          // and a page of only expired events would never move the cursor past them.
          const page: Array<RecordedEvent> = []
          const end = visibleCount(record, h)
          for (let at = Number(after + 1n > first ? after + 1n : first); at < end && page.length < want; at++) {
            if (record.events[at].createdAt.getTime() >= minTime) page.push(record.events[at])
          }
          return { events: page }
        }),
      head: Effect.map(horizon, (h) => stored(streams.get(stream), h)?.lastVersion ?? -1n),
      cursorOf: byVersion,
      wakeups,
      pollInterval,
      pageSize,
      live: { feed, stream, matches: always }
    }, from)
  }

  const subscribeAll: EventStoreShape["subscribeAll"] = (subscribeOptions) => {
    const from = subscribeOptions?.from ?? "start"
    const filter = subscribeOptions?.filter
    return Subscription.catchUpThenLive<InvalidArgument | StoreUnavailable>({
      check: Inputs.subscribeAllOptions("subscribeAll", subscribeOptions),
      readPage: (after, want) =>
        Effect.map(horizon, (h) => {
          const page: Array<RecordedEvent> = []
          for (let at = Math.max(0, Number(after)); at < h && page.length < want; at++) {
            const event = log[at]
            if (Inputs.passes(filter, event.stream, event.type)) page.push(event)
          }
          return { events: page }
        }),
      head: Effect.map(horizon, BigInt),
      cursorOf: byPosition,
      wakeups,
      pollInterval,
      pageSize,
      live: { feed, types: filter?.types, matches: (event) => Inputs.passes(filter, event.stream, event.type) }
    }, from)
  }

  return { read, readAll, subscribe, subscribeAll }
}
