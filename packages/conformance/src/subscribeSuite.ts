/**
 * Subscriptions to one stream and to the global log: catch-up then live, from the start, the end
 * or a checkpoint, while other fibers append. Every event exactly once, in order. Many
 * subscriptions at once (backends may share one live reader among them, see
 * `@strata/core/backend` LiveFeed): each gets exactly its own events across the catch-up/live seam,
 * and a subscriber that stops pulling neither delays the others nor misses anything.
 *
 * @since 0.1.0
 */
import { assert, describe } from "@effect/vitest"
import type { Event, StoreError } from "@strata/core"
import { EventStore } from "@strata/core"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import {
  assertIncreasing,
  awaitLive,
  collect,
  type Collector,
  events,
  failsWith,
  names,
  readAll,
  streamFailsWith,
  uuid,
  versions,
  within
} from "./internal/fixtures.ts"
import { type ConformanceIt, resolve, type SuiteOptions } from "./SuiteOptions.ts"

const ids = (list: ReadonlyArray<Event.RecordedEvent>) => list.map((e) => e.id)

/**
 * Registers the subscription tests.
 *
 * @category suites
 * @since 0.1.0
 */
export const subscribeSuite = (it: ConformanceIt, options?: SuiteOptions): void => {
  const { appendsPerWriter, deliveryTimeout, longStreamLength, pollInterval, supportsAppendMany, writers } = resolve(
    options
  )
  const total = writers * appendsPerWriter
  // More than a shared live reader buffers for one subscription (four of the backend's pages).
  const burst = longStreamLength * 4

  /** Pauses so a subscription that should deliver nothing more has had the chance to. */
  // Past the poll interval: a repeat that only a later poll would deliver must have shown up.
  const settle = Effect.sleep(Duration.sum(Duration.fromInputUnsafe(pollInterval), Duration.millis(150)))

  describe("subscribe (one stream)", () => {
    it.effect("subscribe from start delivers stored events then live ones, each once, in version order", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("E"), 3))
        const sub = yield* collect(store.subscribe(stream, { from: "start" }), deliveryTimeout)
        const stored = yield* sub.take(3)
        assert.deepStrictEqual(stored.map((e) => e.version), [0n, 1n, 2n])
        yield* store.append(stream, events(n.type("E"), 2, 3))
        yield* store.append(stream, events(n.type("E"), 1, 5))
        const live = yield* sub.take(3)
        assert.deepStrictEqual(live.map((e) => e.version), [3n, 4n, 5n])
        assert.deepStrictEqual(live.map((e) => e.data), [{ i: 3 }, { i: 4 }, { i: 5 }])
        yield* settle
        assert.deepStrictEqual(yield* sub.drain, [])
      }))

    it.effect("subscribe defaults to from start", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("E"), 2))
        const got = yield* Stream.runCollect(Stream.take(store.subscribe(stream), 2)).pipe(
          within(deliveryTimeout, "subscribe delivers the stored events")
        )
        assert.deepStrictEqual(got.map((e) => e.version), [0n, 1n])
      }))

    it.effect("subscribe from end replays nothing and delivers every event appended once it is live", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("Old"), 5))
        const sub = yield* collect(store.subscribe(stream, { from: "end" }), deliveryTimeout)
        const probes = yield* awaitLive(sub, stream, n.type("Probe"), deliveryTimeout)
        assert.isTrue(probes.every((e) => e.version >= 5n))
        yield* store.append(stream, events(n.type("New"), 3))
        const live = yield* sub.take(3)
        assert.deepStrictEqual(live.map((e) => e.type), [n.type("New"), n.type("New"), n.type("New")])
        assertIncreasing([...probes, ...live].map((e) => e.version), "versions")
        const last = probes[probes.length - 1].version
        assert.deepStrictEqual(live.map((e) => e.version), [last + 1n, last + 2n, last + 3n])
        yield* settle
        assert.deepStrictEqual(yield* sub.drain, [])
      }))

    it.effect("subscribe after version n delivers versions n+1 onwards", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("E"), 5))
        const sub = yield* collect(store.subscribe(stream, { from: { after: 2n } }), deliveryTimeout)
        assert.deepStrictEqual((yield* sub.take(2)).map((e) => e.version), [3n, 4n])
        yield* store.append(stream, events(n.type("E"), 1, 5))
        assert.deepStrictEqual((yield* sub.take(1)).map((e) => e.version), [5n])
      }))

    // Version 0 is a real cursor, not "from the start": a backend mapping 0 to its start (or to an
    // inclusive revision) would deliver version 0 again.
    it.effect("subscribe after version 0 delivers version 1 onwards, never version 0", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("E"), 2))
        const sub = yield* collect(store.subscribe(stream, { from: { after: 0n } }), deliveryTimeout)
        assert.deepStrictEqual((yield* sub.take(1)).map((e) => e.version), [1n])
        yield* store.append(stream, events(n.type("E"), 1, 2))
        assert.deepStrictEqual((yield* sub.take(1)).map((e) => e.version), [2n])
        yield* settle
        assert.deepStrictEqual(yield* sub.drain, [])
      }))

    it.effect("subscribe after version 0 of a one-event stream delivers only what comes next", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("E"), 1))
        const sub = yield* collect(store.subscribe(stream, { from: { after: 0n } }), deliveryTimeout)
        yield* settle
        assert.deepStrictEqual(yield* sub.drain, [])
        yield* store.append(stream, events(n.type("E"), 1, 1))
        assert.deepStrictEqual((yield* sub.take(1)).map((e) => e.version), [1n])
      }))

    it.effect("subscribe to a missing stream delivers its first events once written", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        const sub = yield* collect(store.subscribe(stream), deliveryTimeout)
        yield* settle
        assert.deepStrictEqual(yield* sub.drain, [])
        yield* store.append(stream, events(n.type("E"), 2))
        assert.deepStrictEqual((yield* sub.take(2)).map((e) => e.version), [0n, 1n])
      }))

    it.effect("subscribe never delivers events of other streams", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const sub = yield* collect(store.subscribe(n.stream("a")), deliveryTimeout)
        yield* store.append(n.stream("ab"), events(n.type("E"), 2))
        yield* store.append(n.stream("b"), events(n.type("E"), 2))
        yield* store.append(n.stream("a"), events(n.type("Mine"), 1))
        const [only] = yield* sub.take(1)
        assert.strictEqual(only.stream, n.stream("a"))
        assert.strictEqual(only.type, n.type("Mine"))
        yield* settle
        assert.deepStrictEqual(yield* sub.drain, [])
      }))

    it.effect(`subscribe while ${writers} fibers append to the stream delivers every version exactly once, in order`, () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        const sub = yield* collect(store.subscribe(stream, { from: "start" }), deliveryTimeout)
        const appended = new Set<string>()
        yield* Effect.forEach(
          versions(writers).map(Number),
          (w) =>
            Effect.gen(function*() {
              for (let i = 0; i < appendsPerWriter; i++) {
                const id = uuid()
                appended.add(id)
                yield* store.append(stream, [{ id, type: n.type("E"), data: { w, i } }])
                yield* Effect.yieldNow
              }
            }),
          { concurrency: "unbounded", discard: true }
        )
        const got = yield* sub.take(total)
        assert.deepStrictEqual(got.map((e) => e.version), versions(total))
        assert.deepStrictEqual(new Set(ids(got)), appended)
        yield* settle
        assert.deepStrictEqual(yield* sub.drain, [])
      }))

    it.effect(`subscribe from start over ${longStreamLength} stored events delivers them all, then live ones`, () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("E"), longStreamLength))
        const sub = yield* collect(store.subscribe(stream), deliveryTimeout)
        const stored = yield* sub.take(longStreamLength)
        assert.deepStrictEqual(stored.map((e) => e.version), versions(longStreamLength))
        yield* store.append(stream, events(n.type("E"), 2))
        assert.deepStrictEqual((yield* sub.take(2)).map((e) => e.version), [
          BigInt(longStreamLength),
          BigInt(longStreamLength + 1)
        ])
      }))

    it.effect("a subscription resumed after its last delivered version continues with no gap or repeat", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("E"), 6))
        const first = yield* Stream.runCollect(Stream.take(store.subscribe(stream), 4)).pipe(
          within(deliveryTimeout, "the first subscription delivers 4 events")
        )
        yield* store.append(stream, events(n.type("E"), 2, 6))
        const checkpoint = first[first.length - 1].version
        const rest = yield* Stream.runCollect(Stream.take(store.subscribe(stream, { from: { after: checkpoint } }), 4))
          .pipe(within(deliveryTimeout, "the resumed subscription delivers the remaining 4 events"))
        assert.deepStrictEqual([...first, ...rest].map((e) => e.version), versions(8))
      }))

    it.effect("subscribe to a tombstoned stream fails with StreamDeleted { tombstoned: true }", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("E"), 2))
        yield* store.tombstoneStream(stream)
        const error = yield* streamFailsWith("StreamDeleted")(store.subscribe(stream)).pipe(
          within(deliveryTimeout, "subscribing to a tombstoned stream fails")
        )
        assert.strictEqual(error.stream, stream)
        assert.isTrue(error.tombstoned)
      }))

    // A live subscription takes its events from wherever the backend gets live events (a shared
    // reader, a server subscription): a tombstone appends nothing there, yet must still end it.
    it.effect("a live subscription fails with StreamDeleted { tombstoned: true } once its stream is tombstoned", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("E"), 2))
        const outcome = yield* Deferred.make<Event.RecordedEvent[] | StoreError.StreamDeleted>()
        const got: Array<Event.RecordedEvent> = []
        yield* Stream.runForEach(store.subscribe(stream), (event) => Effect.sync(() => got.push(event))).pipe(
          Effect.map(() => [...got]),
          Effect.catchTag("StreamDeleted", (error) => Effect.succeed(error)),
          Effect.orDie,
          Effect.flatMap((result) => Deferred.succeed(outcome, result)),
          Effect.forkScoped
        )
        // Live: the catch-up is over once an event appended now is delivered.
        yield* store.append(stream, events(n.type("E"), 1, 2))
        yield* Effect.gen(function*() {
          while (got.length < 3) yield* Effect.sleep("10 millis")
        }).pipe(within(deliveryTimeout, "the subscription delivers the stored and the live event"))
        yield* store.tombstoneStream(stream)
        const result = yield* Deferred.await(outcome).pipe(
          within(deliveryTimeout, "the live subscription fails once its stream is tombstoned")
        )
        assert.isFalse(Array.isArray(result), "the subscription failed instead of ending")
        const error = result as StoreError.StreamDeleted
        assert.strictEqual(error._tag, "StreamDeleted")
        assert.strictEqual(error.stream, stream)
        assert.isTrue(error.tombstoned)
        assert.deepStrictEqual(got.map((e) => e.version), versions(3))
      }))

    it.effect("a live subscription goes on after a soft delete, delivering what is appended after it", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("E"), 2))
        const subscription = yield* collect(store.subscribe(stream), deliveryTimeout)
        yield* subscription.take(2)
        yield* store.deleteStream(stream)
        yield* settle
        yield* store.append(stream, events(n.type("E"), 1, 2))
        const [next] = yield* subscription.take(1)
        assert.strictEqual(next.version, 2n, "re-append resumes numbering")
        yield* settle
        assert.deepStrictEqual(yield* subscription.drain, [], "nothing else is delivered")
      }))

    it.effect("subscribe from after -2 fails with InvalidArgument", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        yield* streamFailsWith("InvalidArgument")(store.subscribe(n.stream(), { from: { after: -2n } })).pipe(
          within(deliveryTimeout, "an invalid subscription fails")
        )
      }))
  })

  describe("subscribeAll", () => {
    it.effect("subscribeAll from start delivers stored then live events, each once, in position order", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        yield* store.append(n.stream("a"), events(n.type("E"), 2, 0))
        yield* store.append(n.stream("b"), events(n.type("E"), 2, 2))
        const sub = yield* collect(
          store.subscribeAll({ from: "start", filter: { categories: [n.category] } }),
          deliveryTimeout
        )
        const stored = yield* sub.take(4)
        yield* store.append(n.stream("a"), events(n.type("E"), 1, 4))
        yield* store.append(n.stream("c"), events(n.type("E"), 2, 5))
        const live = yield* sub.take(3)
        const all = [...stored, ...live]
        assert.deepStrictEqual(all.map((e) => e.data), versions(7).map((v) => ({ i: Number(v) })))
        assertIncreasing(all.map((e) => e.position), "positions")
        assert.deepStrictEqual(ids(all), ids(yield* readAll({ filter: { categories: [n.category] } })))
        yield* settle
        assert.deepStrictEqual(yield* sub.drain, [])
      }))

    it.effect("subscribeAll from end replays nothing and delivers every event appended once it is live", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        yield* store.append(n.stream("old"), events(n.type("Old"), 4))
        const sub = yield* collect(
          store.subscribeAll({ from: "end", filter: { categories: [n.category] } }),
          deliveryTimeout
        )
        const probes = yield* awaitLive(sub, n.stream("probe"), n.type("Probe"), deliveryTimeout)
        yield* store.append(n.stream("new"), events(n.type("New"), 3))
        yield* store.append(n.stream("old"), events(n.type("New"), 1))
        const live = yield* sub.take(4)
        assert.isTrue(live.every((e) => e.type === n.type("New")))
        assert.deepStrictEqual(live.map((e) => e.version), [0n, 1n, 2n, 4n])
        assertIncreasing([...probes, ...live].map((e) => e.position), "positions")
        yield* settle
        assert.deepStrictEqual(yield* sub.drain, [])
      }))

    it.effect("subscribeAll after a position delivers only later events", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        yield* store.append(n.stream("a"), events(n.type("E"), 5))
        const stored = yield* readAll({ filter: { categories: [n.category] } })
        const sub = yield* collect(
          store.subscribeAll({ from: { after: stored[1].position }, filter: { categories: [n.category] } }),
          deliveryTimeout
        )
        assert.deepStrictEqual(ids(yield* sub.take(3)), ids(stored.slice(2)))
        yield* store.append(n.stream("b"), events(n.type("E"), 1, 5))
        assert.deepStrictEqual((yield* sub.take(1)).map((e) => e.data), [{ i: 5 }])
      }))

    it.effect(
      `subscribeAll while ${writers} fibers x ${appendsPerWriter} appends run delivers all ${total} events exactly once`,
      () =>
        Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          const n = names()
          const sub = yield* collect(
            store.subscribeAll({ from: "start", filter: { categories: [n.category] } }),
            deliveryTimeout
          )
          const appended = new Set<string>()
          yield* Effect.forEach(
            versions(writers).map(Number),
            (w) =>
              Effect.gen(function*() {
                for (let i = 0; i < appendsPerWriter; i++) {
                  const id = uuid()
                  appended.add(id)
                  yield* store.append(n.stream(`w${w}`), [{ id, type: n.type("E"), data: { w, i } }])
                  yield* Effect.yieldNow
                }
              }),
            { concurrency: "unbounded", discard: true }
          )
          const got = yield* sub.take(total)
          assert.strictEqual(new Set(ids(got)).size, total, "duplicates delivered")
          assert.deepStrictEqual(new Set(ids(got)), appended)
          assertIncreasing(got.map((e) => e.position), "positions")
          for (let w = 0; w < writers; w++) {
            const mine = got.filter((e) => e.stream === n.stream(`w${w}`))
            assert.deepStrictEqual(mine.map((e) => e.version), versions(appendsPerWriter))
            assert.deepStrictEqual(mine.map((e) => (e.data as { i: number }).i), versions(appendsPerWriter).map(Number))
          }
          assert.deepStrictEqual(ids(got), ids(yield* readAll({ filter: { categories: [n.category] } })))
          yield* settle
          assert.deepStrictEqual(yield* sub.drain, [])
        })
    )

    it.effect("subscribeAll filtered by types delivers only those types", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const sub = yield* collect(
          store.subscribeAll({ filter: { types: [n.type("A"), n.type("C")] } }),
          deliveryTimeout
        )
        yield* store.append(n.stream(), [
          { type: n.type("A"), data: 1 },
          { type: n.type("B"), data: 2 },
          { type: n.type("C"), data: 3 }
        ])
        yield* store.append(n.stream(), [{ type: n.type("B"), data: 4 }, { type: n.type("A"), data: 5 }])
        assert.deepStrictEqual((yield* sub.take(3)).map((e) => e.data), [1, 3, 5])
        yield* settle
        assert.deepStrictEqual(yield* sub.drain, [])
      }))

    it.effect("subscribeAll filtered by stream prefixes delivers only matching streams", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const sub = yield* collect(
          store.subscribeAll({ filter: { streamPrefixes: [n.stream("order-")] } }),
          deliveryTimeout
        )
        yield* store.append(n.stream("invoice-1"), [{ type: n.type("E"), data: 1 }])
        yield* store.append(n.stream("order-1"), [{ type: n.type("E"), data: 2 }])
        yield* store.append(n.stream("orders"), [{ type: n.type("E"), data: 3 }])
        yield* store.append(n.stream("order-2"), [{ type: n.type("E"), data: 4 }])
        assert.deepStrictEqual((yield* sub.take(2)).map((e) => e.data), [2, 4])
        yield* settle
        assert.deepStrictEqual(yield* sub.drain, [])
      }))

    it.effect("two subscribers with the same filter see the same events in the same order", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const filter = { categories: [n.category] }
        const one = yield* collect(store.subscribeAll({ filter }), deliveryTimeout)
        yield* store.append(n.stream("a"), events(n.type("E"), 3))
        const two = yield* collect(store.subscribeAll({ filter }), deliveryTimeout)
        yield* Effect.forEach(["b", "c", "d"], (s) => store.append(n.stream(s), events(n.type("E"), 2)), {
          concurrency: "unbounded",
          discard: true
        })
        const a = yield* one.take(9)
        const b = yield* two.take(9)
        assert.deepStrictEqual(ids(a), ids(b))
        assertIncreasing(a.map((e) => e.position), "positions")
      }))

    it.effect("a subscribeAll resumed from its last delivered position continues with no gap or repeat", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const filter = { categories: [n.category] }
        yield* store.append(n.stream("a"), events(n.type("E"), 5, 0))
        const first = yield* Stream.runCollect(Stream.take(store.subscribeAll({ filter }), 3)).pipe(
          within(deliveryTimeout, "the first subscription delivers 3 events")
        )
        yield* store.append(n.stream("b"), events(n.type("E"), 3, 5))
        const checkpoint = first[first.length - 1].position
        const rest = yield* Stream.runCollect(
          Stream.take(store.subscribeAll({ from: { after: checkpoint }, filter }), 5)
        ).pipe(within(deliveryTimeout, "the resumed subscription delivers the remaining 5 events"))
        assert.deepStrictEqual([...first, ...rest].map((e) => e.data), versions(8).map((v) => ({ i: Number(v) })))
      }))

    it.effect(`subscribeAll catches up over ${longStreamLength} stored events, then continues live`, () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        yield* store.append(n.stream("a"), events(n.type("E"), longStreamLength))
        const sub = yield* collect(store.subscribeAll({ filter: { categories: [n.category] } }), deliveryTimeout)
        const stored = yield* sub.take(longStreamLength)
        assert.deepStrictEqual(stored.map((e) => e.version), versions(longStreamLength))
        yield* store.append(n.stream("b"), events(n.type("E"), 1))
        const [live] = yield* sub.take(1)
        assert.strictEqual(live.stream, n.stream("b"))
        assert.isTrue(live.position > stored[stored.length - 1].position)
      }))

    if (supportsAppendMany) {
      it.effect("subscribeAll delivers the events of an appendMany, each once", () =>
        Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          const n = names()
          const sub = yield* collect(store.subscribeAll({ filter: { categories: [n.category] } }), deliveryTimeout)
          yield* store.appendMany([
            { stream: n.stream("a"), events: events(n.type("E"), 2) },
            { stream: n.stream("b"), events: events(n.type("E"), 3) }
          ])
          const got = yield* sub.take(5)
          assert.deepStrictEqual(ids(got), ids(yield* readAll({ filter: { categories: [n.category] } })))
          yield* settle
          assert.deepStrictEqual(yield* sub.drain, [])
        }))
    }

    it.effect("subscribeAll with an invalid filter or a negative checkpoint fails with InvalidArgument", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        yield* streamFailsWith("InvalidArgument")(store.subscribeAll({ filter: { types: [""] } })).pipe(
          within(deliveryTimeout, "an invalid filter fails")
        )
        yield* streamFailsWith("InvalidArgument")(store.subscribeAll({ from: { after: -1n } })).pipe(
          within(deliveryTimeout, "a negative checkpoint fails")
        )
      }))
  })
  describe("many subscriptions at once", () => {
    it.effect("200 subscriptions of mixed streams and filters, started while appends run, each get exactly their events in order", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const streams = Array.from({ length: 8 }, (_, i) => n.stream(`s${i}`))
        const [a, b] = [n.type("A"), n.type("B")]
        const appendOne = (i: number) =>
          store.append(streams[(i * 5) % streams.length], [{ type: i % 3 === 0 ? b : a, data: { i } }])
        yield* Effect.forEach(versions(16).map(Number), appendOne, { discard: true })
        // Appends keep running while the subscriptions start, so some join the live side mid-flight.
        const appending = yield* Effect.forkChild(
          Effect.forEach(versions(64, 16).map(Number), (i) => Effect.andThen(appendOne(i), Effect.yieldNow), {
            discard: true
          })
        )
        const subscriptions: Array<{ readonly kind: string; readonly sub: Collector<Event.RecordedEvent> }> = []
        const collectOne = (i: number) =>
          collect(
            i % 4 === 0
              ? store.subscribeAll({ filter: { categories: [n.category] } })
              : i % 4 === 1
              ? store.subscribeAll({ filter: { types: [b] } })
              : store.subscribe(streams[i % streams.length]),
            deliveryTimeout
          )
        for (let i = 0; i < 200; i++) {
          subscriptions.push({ kind: String(i), sub: yield* collectOne(i) })
          if (i % 20 === 0) yield* Effect.yieldNow
        }
        yield* Fiber.join(appending)
        const all = yield* readAll({ filter: { categories: [n.category] } })
        assert.strictEqual(all.length, 80)
        yield* Effect.forEach(subscriptions, ({ kind, sub }) =>
          Effect.gen(function*() {
            const i = Number(kind)
            const expected = i % 4 === 0
              ? all
              : i % 4 === 1
              ? all.filter((e) => e.type === b)
              : all.filter((e) => e.stream === streams[i % streams.length])
            const got = yield* sub.take(expected.length)
            assert.deepStrictEqual(ids(got), ids(expected), `subscription ${i}`)
          }), { concurrency: 20, discard: true })
        yield* settle
        for (const { kind, sub } of subscriptions) {
          assert.deepStrictEqual(yield* sub.drain, [], `subscription ${kind} delivered more`)
        }
      }))

    it.effect("subscriptions started one after another during appends each deliver every event once, in order", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        const filter = { categories: [n.category] }
        const subs = []
        for (let i = 0; i < 10; i++) {
          // The start and the appends race: some join before an append commits, some after.
          const [sub] = yield* Effect.all([
            collect(store.subscribeAll({ filter }), deliveryTimeout),
            store.append(stream, events(n.type("E"), 2, 2 * i))
          ], { concurrency: "unbounded" })
          const one = yield* collect(store.subscribe(stream), deliveryTimeout)
          subs.push(sub, one)
        }
        yield* store.append(stream, events(n.type("E"), 2, 20))
        for (const sub of subs) {
          assert.deepStrictEqual((yield* sub.take(22)).map((e) => e.version), versions(22))
        }
        yield* settle
        for (const sub of subs) assert.deepStrictEqual(yield* sub.drain, [])
      }))

    it.effect(`a subscriber that stops pulling does not hold back another, and gets all ${burst} events once it resumes`, () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const filter = { categories: [n.category] }
        const fast = yield* collect(store.subscribeAll({ filter }), deliveryTimeout)
        const resume = yield* Deferred.make<void>()
        const slowGot: Array<Event.RecordedEvent> = []
        yield* store.subscribeAll({ filter }).pipe(
          Stream.runForEach((event) => Effect.andThen(Deferred.await(resume), Effect.sync(() => slowGot.push(event)))),
          Effect.forkScoped
        )
        // The slow one is live and stuck on its first event before the rest arrives.
        yield* store.append(n.stream("a"), events(n.type("E"), 1))
        yield* fast.take(1)
        const batch = 100
        for (let i = 1; i < burst; i += batch) {
          yield* store.append(n.stream("a"), events(n.type("E"), Math.min(batch, burst - i), i))
        }
        const got = yield* fast.take(burst - 1)
        assert.strictEqual(
          got[got.length - 1].data && (got[got.length - 1].data as { i: number }).i,
          burst - 1
        )
        yield* Deferred.succeed(resume, undefined)
        yield* Effect.gen(function*() {
          while (slowGot.length < burst) yield* Effect.sleep("20 millis")
        }).pipe(within(deliveryTimeout, "the slow subscriber catches up"))
        assert.deepStrictEqual(slowGot.map((e) => e.version), versions(burst))
        yield* settle
        assert.strictEqual(slowGot.length, burst, "no repeats after catching up")
      }))

    it.effect("a subscription whose filter matches nothing stays idle while others deliver", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const idle = yield* Effect.forEach(
          versions(50).map(Number),
          (i) => collect(store.subscribeAll({ filter: { types: [n.type(`Never${i}`)] } }), deliveryTimeout)
        )
        const busy = yield* collect(store.subscribeAll({ filter: { categories: [n.category] } }), deliveryTimeout)
        yield* Effect.forEach(
          versions(10).map(Number),
          (i) => store.append(n.stream(`s${i}`), events(n.type("E"), 1)),
          {
            discard: true
          }
        )
        assert.strictEqual((yield* busy.take(10)).length, 10)
        yield* settle
        for (const sub of idle) assert.deepStrictEqual(yield* sub.drain, [])
      }))
  })
  describe("a start fixed before the stream runs (establish, establishAll)", () => {
    it.effect("establishAll from end: events appended before the stream is first pulled are delivered", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        yield* store.append(n.stream("old"), events(n.type("Old"), 3))
        const [old] = yield* readAll({ direction: "backwards", limit: 1, filter: { categories: [n.category] } })
        const established = yield* EventStore.establishAll({ from: "end", filter: { categories: [n.category] } })
        const start = established.start
        assert.isTrue(typeof start === "object" && start.after >= old.position, `start ${String(start)}`)
        // Appended after establishing and before anything pulls the stream.
        yield* store.append(n.stream("new"), events(n.type("New"), 2))
        const sub = yield* collect(established.events, deliveryTimeout)
        yield* store.append(n.stream("new"), events(n.type("New"), 2, 2))
        const got = yield* sub.take(4)
        assert.deepStrictEqual(got.map((e) => e.data), [{ i: 0 }, { i: 1 }, { i: 2 }, { i: 3 }])
        yield* settle
        assert.deepStrictEqual(yield* sub.drain, [])
      }))

    it.effect("establishAll from end, forked, then appended to at once: every event is delivered", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        yield* store.append(n.stream("old"), events(n.type("Old"), 2))
        const { events: live } = yield* EventStore.establishAll({ from: "end", filter: { types: [n.type("New")] } })
        const sub = yield* collect(live, deliveryTimeout)
        const appended = []
        for (let i = 0; i < 5; i++) appended.push(yield* store.append(n.stream(`s${i}`), events(n.type("New"), 1, i)))
        const got = yield* sub.take(5)
        assert.deepStrictEqual(got.map((e) => e.position), appended.map((r) => r.position))
        yield* settle
        assert.deepStrictEqual(yield* sub.drain, [])
      }))

    it.effect("establish from end fixes the stream's last version, and delivers what follows it", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("Old"), 4))
        const established = yield* EventStore.establish(stream, { from: "end" })
        assert.deepStrictEqual(established.start, { after: 3n })
        yield* store.append(stream, events(n.type("New"), 2))
        const sub = yield* collect(established.events, deliveryTimeout)
        yield* store.append(stream, events(n.type("New"), 1, 2))
        assert.deepStrictEqual((yield* sub.take(3)).map((e) => e.version), [4n, 5n, 6n])
        yield* settle
        assert.deepStrictEqual(yield* sub.drain, [])
      }))

    it.effect("establish from end on a missing stream starts at its first event; other starts pass through", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        const established = yield* EventStore.establish(stream, { from: "end" })
        assert.strictEqual(established.start, "start")
        yield* store.append(stream, events(n.type("E"), 2))
        const sub = yield* collect(established.events, deliveryTimeout)
        assert.deepStrictEqual((yield* sub.take(2)).map((e) => e.version), [0n, 1n])
        assert.deepStrictEqual((yield* EventStore.establish(stream, { from: { after: 0n } })).start, { after: 0n })
        assert.strictEqual((yield* EventStore.establishAll()).start, "start")
        yield* failsWith("InvalidStreamName")(EventStore.establish("", { from: "end" }))
      }))
  })
}
