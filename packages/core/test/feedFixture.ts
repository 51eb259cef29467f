/**
 * The fixture the fed-subscription tests share (Subscription.test.ts, SubscribeWith.test.ts): a global
 * log in memory, a LiveFeed over it, and fed subscriptions to it filtered by stream, as a backend makes
 * them (its own reads filtered to `want` matching events, its live interest on the feed).
 */
import type { Event } from "@strata/core"
import { StoreError } from "@strata/core"
import { LiveFeed, Subscription } from "@strata/core/backend"
import * as Effect from "effect/Effect"
import * as PubSub from "effect/PubSub"

/** A recorded event at `position` (version `position - 1`) of `stream`. */
export const event = (position: number, stream = "s-1", type = "E"): Event.RecordedEvent =>
  ({
    id: `id-${position}`,
    stream,
    type,
    version: BigInt(position - 1),
    position: BigInt(position),
    data: { position },
    metadata: undefined,
    createdAt: new Date(0)
  }) as unknown as Event.RecordedEvent

/**
 * A log, its feed, `append` (wakes the feed), `subscribe(stream?)` (the whole log without a stream),
 * and `control`: `fail` makes every read fail with StoreUnavailable, `ownReads` counts the
 * subscriptions' own reads.
 */
export const fixture = (options?: { readonly pageSize?: number; readonly bufferSize?: number }) =>
  Effect.gen(function*() {
    const signal = yield* Subscription.makeSignal
    const log: Array<Event.RecordedEvent> = []
    const control = { fail: false, ownReads: 0 }
    const pageSize = options?.pageSize ?? 10
    const unavailable = new StoreError.StoreUnavailable({ operation: "test", reason: "ConnectionError" })
    const readLog = (after: bigint, want: number) =>
      Effect.suspend(() =>
        control.fail
          ? Effect.fail(unavailable)
          : Effect.succeed({ events: log.slice(Math.max(0, Number(after)), Math.max(0, Number(after)) + want) })
      )
    const feed = LiveFeed.make<StoreError.StoreUnavailable>({
      readPage: readLog,
      head: Effect.sync(() => BigInt(log.length)),
      wakeups: PubSub.subscribe(signal),
      pollInterval: "1 hour",
      pageSize,
      bufferSize: options?.bufferSize
    })
    const append = (stream = "s-1", count = 1) =>
      Effect.andThen(
        Effect.sync(() => {
          for (let i = 0; i < count; i++) log.push(event(log.length + 1, stream))
        }),
        PubSub.publish(signal, undefined)
      )
    const subscribe = (stream?: string) =>
      Subscription.catchUpThenLive<StoreError.StoreUnavailable>({
        readPage: (after, want) =>
          Effect.map(
            Effect.tap(readLog(after, want * 100), () => Effect.sync(() => control.ownReads++)),
            ({ events }) => {
              // Filtered like a backend's own read: up to `want` matching events after `after`.
              const mine = events.filter((e) => stream === undefined || e.stream === stream)
              return { events: mine.slice(0, want) }
            }
          ),
        head: Effect.sync(() => BigInt(log.length)),
        cursorOf: (e) => e.position,
        wakeups: PubSub.subscribe(signal),
        pollInterval: "1 hour",
        pageSize,
        live: { feed, stream, matches: (e) => stream === undefined || e.stream === stream }
      }, "start")
    return { feed, append, control, subscribe, log }
  })
