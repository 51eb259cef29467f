/**
 * What only the KurrentDB backend's shared live reader has (issue 23, many subscribers): one server
 * subscription per store however many subscriptions run, reopened when the connection drops, and
 * KurrentDB's own records (`$` types and streams, tombstones) never delivered. Each test starts its
 * own emulator, whatever KURRENTDB_URL says: it counts the emulator's open server subscriptions.
 */
import { assert, describe, it } from "@effect/vitest"
import { jsonEvent, KurrentDBClient } from "@kurrent/kurrentdb-client"
import { type Event, EventStore, StoreError } from "@strata/core"
import { KurrentStore } from "@strata/kurrentdb"
import { KurrentEmulator } from "@strata/kurrentdb-emulator"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { randomUUID } from "node:crypto"

const emulator = (options?: KurrentEmulator.EmulatorOptions) =>
  Effect.acquireRelease(
    Effect.promise(() => KurrentEmulator.start(options)),
    (e) => Effect.promise(() => e.stop())
  )

// The emulator's catch-up subscriptions now open: each listens for commits, as does the persistent
// subscriptions service (one listener from the start, whatever runs).
const serverSubscriptions = (e: KurrentEmulator.KurrentEmulator) => e.database.events.listenerCount("commit") - 1

// A second store on the same server: its appends reach the first store's subscriptions only through
// the server (no in-process signal), and a poll interval of an hour rules polling out.
const noPolling = { pollInterval: "1 hour" } as const

// A fresh emulator, a store that never polls, and a writer store on the same server.
const readerAndWriter = Effect.gen(function*() {
  const e = yield* emulator()
  const { eventStore: store } = yield* KurrentStore.make({ connectionString: e.connectionString, ...noPolling })
  const { eventStore: writer } = yield* KurrentStore.make({ connectionString: e.connectionString })
  return { e, store, writer }
})

const afterOutage = <A, E>(append: Effect.Effect<A, E>) =>
  Effect.retry(append, { while: StoreError.isRetryable, schedule: Schedule.spaced("50 millis"), times: 40 })

const takeN = <A>(queue: Queue.Queue<A>, n: number) =>
  Effect.forEach(Array.from({ length: n }), () => Queue.take(queue)).pipe(
    Effect.timeoutOrElse({
      duration: "10 seconds",
      orElse: () => Effect.die(new Error(`fewer than ${n} deliveries within 10 s`))
    })
  )

describe("KurrentStore shared live reader", () => {
  it.live(
    "many subscriptions (stream, $all, filtered, handler form) share ONE server subscription",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const { e, store, writer } = yield* readerAndWriter
        const run = `m${Date.now()}`
        const seen = yield* Queue.unbounded<string>()
        const offer = (label: string) => (event: Event.RecordedEvent) =>
          Queue.offer(seen, `${label}:${event.stream}@${event.version}`)
        const fibers: Array<Fiber.Fiber<void, unknown>> = []
        for (let i = 0; i < 20; i++) {
          fibers.push(yield* Effect.forkChild(Stream.runForEach(store.subscribe(`${run}-${i}`), offer(`s${i}`))))
        }
        fibers.push(yield* Effect.forkChild(Stream.runForEach(store.subscribeAll(), offer("all"))))
        fibers.push(
          yield* Effect.forkChild(
            Stream.runForEach(store.subscribeAll({ filter: { types: ["Odd"] } }), offer("odd"))
          )
        )
        yield* EventStore.subscribeWith(`${run}-0`, (events) => Effect.forEach(events, offer("with"))).pipe(
          Effect.provide(Layer.succeed(EventStore.EventStore)(store))
        )
        // Appended by the other store: delivered through the server subscription's wake-ups.
        for (let i = 0; i < 20; i++) {
          yield* writer.append(`${run}-${i}`, [{ type: i % 2 === 1 ? "Odd" : "Even", data: { i } }])
        }
        const got = yield* takeN(seen, 20 + 20 + 10 + 1)
        assert.strictEqual(got.filter((s) => s.startsWith("all:")).length, 20)
        assert.strictEqual(got.filter((s) => s.startsWith("odd:")).length, 10)
        assert.deepStrictEqual(got.filter((s) => s.startsWith("with:")), [`with:${run}-0@0`])
        for (let i = 0; i < 20; i++) assert.include(got, `s${i}:${run}-${i}@0`)
        assert.strictEqual(serverSubscriptions(e), 1)
        yield* Fiber.interruptAll(fibers)
      })),
    30_000
  )

  it.live(
    "the shared server subscription dropped with the connection is reopened: nothing lost, nothing repeated",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const { e, store, writer } = yield* readerAndWriter
        const stream = `drop-${Date.now()}`
        const seen = yield* Queue.unbounded<string>()
        const fibers = [
          yield* Effect.forkChild(
            Stream.runForEach(store.subscribe(stream), (event) => Queue.offer(seen, `s@${event.version}`))
          ),
          yield* Effect.forkChild(
            Stream.runForEach(
              store.subscribeAll({ filter: { streamPrefixes: [stream] } }),
              (event) => Queue.offer(seen, `a@${event.version}`)
            )
          )
        ]
        const append = (i: number) => afterOutage(writer.append(stream, [{ id: randomUUID(), type: "E", data: { i } }]))
        yield* append(0)
        assert.deepStrictEqual([...(yield* takeN(seen, 2))].sort(), ["a@0", "s@0"])
        assert.strictEqual(serverSubscriptions(e), 1)
        e.unavailable = true
        assert.strictEqual(serverSubscriptions(e), 0)
        yield* Effect.sleep("200 millis")
        e.unavailable = false
        // Appended while the reader's server subscription may still be closed, and after it reopened.
        yield* append(1)
        yield* Effect.sleep("1 second")
        yield* append(2)
        const got = yield* takeN(seen, 4)
        assert.deepStrictEqual(got.filter((s) => s.startsWith("s")), ["s@1", "s@2"])
        assert.deepStrictEqual(got.filter((s) => s.startsWith("a")), ["a@1", "a@2"])
        assert.strictEqual(serverSubscriptions(e), 1)
        yield* Effect.sleep("300 millis")
        assert.strictEqual(yield* Queue.size(seen), 0)
        yield* Fiber.interruptAll(fibers)
      })),
    30_000
  )

  it.live(
    "KurrentDB's and Strata's own records ($ types, $ streams, tombstones) are never delivered, caught up or live",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const e = yield* emulator()
        const { eventStore: store } = yield* KurrentStore.make({ connectionString: e.connectionString })
        const run = `sys${Date.now()}`
        const system = (i: number) =>
          Effect.all([
            store.setRetention(`${run}-kept`, { maxCount: 100 + i }),
            store.saveCheckpoint(`${run}-cp`, BigInt(i)),
            store.saveSnapshot(`${run}-kept`, { version: BigInt(i), state: { i } }),
            store.append(`${run}-gone${i}`, [{ type: "E", data: {} }]),
            store.tombstoneStream(`${run}-gone${i}`)
          ], { discard: true })
        yield* system(0)
        yield* store.append(`${run}-kept`, [{ type: "E", data: { i: 0 } }])
        const seen = yield* Queue.unbounded<string>()
        const fiber = yield* Effect.forkChild(
          Stream.runForEach(store.subscribeAll(), (event) => Queue.offer(seen, `${event.stream}:${event.type}`))
        )
        yield* system(1)
        yield* store.append(`${run}-kept`, [{ type: "E", data: { i: 1 } }])
        const got = yield* takeN(seen, 4)
        assert.deepStrictEqual(got, [`${run}-gone0:E`, `${run}-kept:E`, `${run}-gone1:E`, `${run}-kept:E`])
        yield* Effect.sleep("700 millis")
        assert.strictEqual(yield* Queue.size(seen), 0)
        yield* Fiber.interrupt(fiber)
      })),
    30_000
  )

  it.live(
    "a page that left out `$` types is not taken for the end: the rest of the stream and of `$all` is still read",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const e = yield* emulator()
        const stream = `mixed-${Date.now()}`
        // Another client writes `$` types into a user stream, among user events.
        const client = KurrentDBClient.connectionString(e.connectionString)
        yield* Effect.promise(() =>
          client.appendToStream(
            stream,
            ["E", "$x", "$y", "E", "E", "$z", "E"].map((type, i) => jsonEvent({ type, data: { i } }))
          )
        )
        yield* Effect.promise(() => client.dispose())
        // Pages of 2: the first page of the stream holds one user event.
        const { eventStore: store } = yield* KurrentStore.make({ connectionString: e.connectionString, pageSize: 2 })
        const seen = yield* Queue.unbounded<string>()
        const fibers = [
          yield* Effect.forkChild(
            Stream.runForEach(store.subscribe(stream), (event) => Queue.offer(seen, `s@${event.version}`))
          ),
          yield* Effect.forkChild(
            Stream.runForEach(
              store.subscribeAll({ filter: { streamPrefixes: [stream] } }),
              (event) => Queue.offer(seen, `a@${event.version}`)
            )
          )
        ]
        yield* store.append(stream, [{ type: "E", data: { i: 7 } }])
        const got = yield* takeN(seen, 10)
        assert.deepStrictEqual(got.filter((s) => s.startsWith("s")), ["s@0", "s@3", "s@4", "s@6", "s@7"])
        assert.deepStrictEqual(got.filter((s) => s.startsWith("a")), ["a@0", "a@3", "a@4", "a@6", "a@7"])
        yield* Effect.sleep("700 millis")
        assert.strictEqual(yield* Queue.size(seen), 0)
        yield* Fiber.interruptAll(fibers)
      })),
    30_000
  )

  it.live(
    "each append of another client reaches a subscription through the shared server subscription alone, one by one",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const { store, writer } = yield* readerAndWriter
        const stream = `one-by-one-${Date.now()}`
        const seen = yield* Queue.unbounded<bigint>()
        const fiber = yield* Effect.forkChild(
          Stream.runForEach(store.subscribe(stream), (event) => Queue.offer(seen, event.version))
        )
        // Each delivered before the next append: with polling ruled out, only the server's push
        // (taken from what it pushed, once the reader has read up to it) can deliver it.
        for (let i = 0; i < 10; i++) {
          yield* writer.append(stream, [{ type: "E", data: { i } }])
          assert.deepStrictEqual(yield* takeN(seen, 1), [BigInt(i)])
        }
        yield* Fiber.interrupt(fiber)
      })),
    60_000
  )
})
