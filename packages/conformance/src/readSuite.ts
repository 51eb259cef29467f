/**
 * Reading one stream and the global log: directions, starting points, limits, paging, filters.
 *
 * @since 0.1.0
 */
import { assert, describe } from "@effect/vitest"
import { ConsumerGroup, EventStore } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import {
  assertIncreasing,
  events,
  failsWith,
  names,
  readAll,
  readStream,
  streamFailsWith,
  versions
} from "./internal/fixtures.ts"
import { type ConformanceIt, resolve, type SuiteOptions } from "./SuiteOptions.ts"

/** Appends `count` events (data `{ i }`) to a fresh stream; returns its name. */
const tenEvents = (count = 10) =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    const n = names()
    const stream = n.stream()
    yield* store.append(stream, events(n.type("E"), count))
    return { stream, n }
  })

/**
 * Registers the stream-read tests.
 *
 * @category suites
 * @since 0.1.0
 */
export const readSuite = (it: ConformanceIt, options?: SuiteOptions): void => {
  const { longStreamLength } = resolve(options)

  describe("read", () => {
    it.effect("read forwards returns every event in version order", () =>
      Effect.gen(function*() {
        const { stream } = yield* tenEvents()
        const read = yield* readStream(stream)
        assert.deepStrictEqual(read.map((e) => e.version), versions(10))
        assert.deepStrictEqual(read.map((e) => e.data), versions(10).map((v) => ({ i: Number(v) })))
        assertIncreasing(read.map((e) => e.position), "positions")
      }))

    it.effect("read backwards returns every event from the last to the first", () =>
      Effect.gen(function*() {
        const { stream } = yield* tenEvents()
        const read = yield* readStream(stream, { direction: "backwards" })
        assert.deepStrictEqual(read.map((e) => e.version), versions(10).reverse())
      }))

    it.effect("read forwards from n starts at version n inclusive", () =>
      Effect.gen(function*() {
        const { stream } = yield* tenEvents()
        const read = yield* readStream(stream, { from: 7n })
        assert.deepStrictEqual(read.map((e) => e.version), [7n, 8n, 9n])
      }))

    it.effect("read backwards from n returns n down to 0", () =>
      Effect.gen(function*() {
        const { stream } = yield* tenEvents()
        const read = yield* readStream(stream, { from: 3n, direction: "backwards" })
        assert.deepStrictEqual(read.map((e) => e.version), [3n, 2n, 1n, 0n])
      }))

    it.effect("read forwards with a limit returns the first events", () =>
      Effect.gen(function*() {
        const { stream } = yield* tenEvents()
        const read = yield* readStream(stream, { limit: 4 })
        assert.deepStrictEqual(read.map((e) => e.version), [0n, 1n, 2n, 3n])
      }))

    it.effect("read backwards with a limit returns the last events, newest first", () =>
      Effect.gen(function*() {
        const { stream } = yield* tenEvents()
        const read = yield* readStream(stream, { limit: 3, direction: "backwards" })
        assert.deepStrictEqual(read.map((e) => e.version), [9n, 8n, 7n])
      }))

    it.effect("read with from and limit returns that window", () =>
      Effect.gen(function*() {
        const { stream } = yield* tenEvents()
        assert.deepStrictEqual((yield* readStream(stream, { from: 2n, limit: 3 })).map((e) => e.version), [
          2n,
          3n,
          4n
        ])
        assert.deepStrictEqual(
          (yield* readStream(stream, { from: 5n, limit: 2, direction: "backwards" })).map((e) => e.version),
          [5n, 4n]
        )
      }))

    it.effect("a limit larger than the stream returns the whole stream", () =>
      Effect.gen(function*() {
        const { stream } = yield* tenEvents(5)
        assert.strictEqual((yield* readStream(stream, { limit: 1000 })).length, 5)
      }))

    it.effect("read with limit 0 returns nothing", () =>
      Effect.gen(function*() {
        const { stream } = yield* tenEvents(3)
        assert.deepStrictEqual(yield* readStream(stream, { limit: 0 }), [])
      }))

    it.effect("reading a missing stream returns no events, forwards and backwards", () =>
      Effect.gen(function*() {
        const n = names()
        assert.deepStrictEqual(yield* readStream(n.stream()), [])
        assert.deepStrictEqual(yield* readStream(n.stream(), { direction: "backwards" }), [])
        assert.deepStrictEqual(yield* readStream(n.stream(), { from: 5n }), [])
      }))

    it.effect("read forwards from past the end returns nothing", () =>
      Effect.gen(function*() {
        const { stream } = yield* tenEvents(3)
        assert.deepStrictEqual(yield* readStream(stream, { from: 3n }), [])
        assert.deepStrictEqual(yield* readStream(stream, { from: 1_000_000_000_000n }), [])
      }))

    it.effect("read backwards from past the end starts at the last event", () =>
      Effect.gen(function*() {
        const { stream } = yield* tenEvents(3)
        const read = yield* readStream(stream, { from: 1_000_000_000_000_000n, direction: "backwards" })
        assert.deepStrictEqual(read.map((e) => e.version), [2n, 1n, 0n])
      }))

    it.effect("a stream is not confused with streams whose names extend it", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        yield* store.append(n.stream("1"), events(n.type("One"), 2))
        yield* store.append(n.stream("10"), events(n.type("Ten"), 3))
        yield* store.append(n.stream("1-0"), events(n.type("OneZero"), 1))
        const read = yield* readStream(n.stream("1"))
        assert.deepStrictEqual(read.map((e) => e.type), [n.type("One"), n.type("One")])
        assert.isTrue(read.every((e) => e.stream === n.stream("1")))
      }))

    it.effect(`a stream of ${longStreamLength} events (longer than a page) reads completely in order`, () =>
      Effect.gen(function*() {
        const { stream } = yield* tenEvents(longStreamLength)
        const read = yield* readStream(stream)
        assert.strictEqual(read.length, longStreamLength)
        assert.deepStrictEqual(read.map((e) => e.version), versions(longStreamLength))
        assert.deepStrictEqual(read.map((e) => (e.data as { i: number }).i), versions(longStreamLength).map(Number))
        assertIncreasing(read.map((e) => e.position), "positions")
      }))

    it.effect(`a stream of ${longStreamLength} events reads completely backwards`, () =>
      Effect.gen(function*() {
        const { stream } = yield* tenEvents(longStreamLength)
        const read = yield* readStream(stream, { direction: "backwards" })
        assert.deepStrictEqual(read.map((e) => e.version), versions(longStreamLength).reverse())
      }))

    it.effect("a window that crosses page boundaries returns exactly the window", () =>
      Effect.gen(function*() {
        const { stream } = yield* tenEvents(longStreamLength)
        const from = Math.floor(longStreamLength / 2) - 10
        const forwards = yield* readStream(stream, { from: BigInt(from), limit: longStreamLength - from - 5 })
        assert.deepStrictEqual(forwards.map((e) => e.version), versions(longStreamLength - from - 5, from))
        const back = Math.floor(longStreamLength / 2)
        const backwards = yield* readStream(stream, {
          from: BigInt(longStreamLength - 3),
          limit: back,
          direction: "backwards"
        })
        assert.deepStrictEqual(backwards.map((e) => e.version), versions(back, longStreamLength - 2 - back).reverse())
      }))

    it.effect("taking only the first events of a long read stops early and still returns them in order", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const { stream } = yield* tenEvents(longStreamLength)
        const first = yield* Stream.runCollect(Stream.take(store.read(stream), 5))
        assert.deepStrictEqual(first.map((e) => e.version), versions(5))
      }))

    it.effect("a negative limit fails with InvalidArgument", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const { stream } = yield* tenEvents(1)
        const error = yield* streamFailsWith("InvalidArgument")(store.read(stream, { limit: -1 }))
        assert.strictEqual(error.operation, "read")
      }))

    it.effect("a fractional limit fails with InvalidArgument", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const { stream } = yield* tenEvents(1)
        yield* streamFailsWith("InvalidArgument")(store.read(stream, { limit: 1.5 }))
      }))

    it.effect("a negative from fails with InvalidArgument", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const { stream } = yield* tenEvents(1)
        yield* streamFailsWith("InvalidArgument")(store.read(stream, { from: -1n }))
      }))

    it.effect("an unknown direction fails with InvalidArgument", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const { stream } = yield* tenEvents(1)
        yield* streamFailsWith("InvalidArgument")(store.read(stream, { direction: "sideways" as "forwards" }))
      }))
  })

  describe("readAll", () => {
    it.effect("readAll returns events in strictly increasing positions, in append order", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const appended: Array<string> = []
        for (let i = 0; i < 9; i++) {
          const stream = n.stream(`s${i % 3}`)
          yield* store.append(stream, events(n.type("E"), 1, i))
          appended.push(`${stream}@${Math.floor(i / 3)}`)
        }
        const global = yield* readAll({ filter: { categories: [n.category] } })
        assertIncreasing(global.map((e) => e.position), "positions")
        assert.deepStrictEqual(global.map((e) => `${e.stream}@${e.version}`), appended)
      }))

    it.effect("readAll backwards returns the same events newest first", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        for (let i = 0; i < 5; i++) yield* store.append(n.stream(`s${i % 2}`), events(n.type("E"), 2, i * 2))
        const forwards = yield* readAll({ filter: { categories: [n.category] } })
        const backwards = yield* readAll({ filter: { categories: [n.category] }, direction: "backwards" })
        assert.strictEqual(forwards.length, 10)
        assert.deepStrictEqual(backwards.map((e) => e.id), forwards.map((e) => e.id).reverse())
      }))

    it.effect("readAll from a position starts at that position inclusive", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        yield* store.append(n.stream(), events(n.type("E"), 6))
        const filter = { categories: [n.category] }
        const all = yield* readAll({ filter })
        const from = yield* readAll({ filter, from: all[2].position })
        assert.deepStrictEqual(from.map((e) => e.id), all.slice(2).map((e) => e.id))
      }))

    it.effect("readAll backwards from a position returns it and everything before", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        yield* store.append(n.stream(), events(n.type("E"), 6))
        const filter = { categories: [n.category] }
        const all = yield* readAll({ filter })
        const back = yield* readAll({ filter, from: all[3].position, direction: "backwards" })
        assert.deepStrictEqual(back.map((e) => e.id), all.slice(0, 4).map((e) => e.id).reverse())
      }))

    it.effect("readAll with a limit returns only that many matching events", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        yield* store.append(n.stream(), events(n.type("E"), 6))
        const filter = { categories: [n.category] }
        const all = yield* readAll({ filter })
        assert.deepStrictEqual(
          (yield* readAll({ filter, limit: 2 })).map((e) => e.id),
          all.slice(0, 2).map((e) => e.id)
        )
        assert.deepStrictEqual(
          (yield* readAll({ filter, limit: 2, direction: "backwards" })).map((e) => e.id),
          all.slice(4).map((e) => e.id).reverse()
        )
        assert.deepStrictEqual(yield* readAll({ filter, limit: 0 }), [])
      }))

    it.effect("readAll from past the end returns nothing", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const result = yield* store.append(n.stream(), events(n.type("E"), 2))
        assert.deepStrictEqual(yield* readAll({ from: result.position + 1_000_000_000n }), [])
      }))

    it.effect("readAll backwards from past the end starts at the newest event", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const result = yield* store.append(n.stream(), events(n.type("E"), 3))
        const filter = { categories: [n.category] }
        const back = yield* readAll({ filter, from: result.position + 1_000_000_000n, direction: "backwards" })
        assert.deepStrictEqual(back.map((e) => e.version), [2n, 1n, 0n])
      }))

    it.effect("readAll filtered by types returns only those types", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, [
          { type: n.type("A"), data: { i: 0 } },
          { type: n.type("B"), data: { i: 1 } },
          { type: n.type("C"), data: { i: 2 } },
          { type: n.type("A"), data: { i: 3 } }
        ])
        const onlyA = yield* readAll({ filter: { types: [n.type("A")] } })
        assert.deepStrictEqual(onlyA.map((e) => e.data), [{ i: 0 }, { i: 3 }])
        const aOrC = yield* readAll({ filter: { types: [n.type("A"), n.type("C")] } })
        assert.deepStrictEqual(aOrC.map((e) => e.data), [{ i: 0 }, { i: 2 }, { i: 3 }])
      }))

    it.effect("readAll filtered by categories returns only streams of those categories", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const x = names()
        const y = names()
        const z = names()
        yield* store.append(x.stream("1"), events(x.type("E"), 2))
        yield* store.append(y.stream("1"), events(y.type("E"), 3))
        yield* store.append(z.stream("1"), events(z.type("E"), 1))
        yield* store.append(`${x.category}`, events(x.type("Bare"), 1))
        yield* store.append(`${x.category}x-1`, events(x.type("Longer"), 1))
        const onlyX = yield* readAll({ filter: { categories: [x.category] } })
        assert.deepStrictEqual(onlyX.map((e) => e.type), [x.type("E"), x.type("E"), x.type("Bare")])
        const xOrZ = yield* readAll({ filter: { categories: [x.category, z.category] } })
        assert.strictEqual(xOrZ.length, 4)
        assert.isTrue(xOrZ.every((e) => e.stream.startsWith(x.category) || e.stream.startsWith(z.category)))
      }))

    it.effect("readAll filtered by stream prefixes returns only matching streams", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        yield* store.append(n.stream("order-1"), events(n.type("E"), 1, 0))
        yield* store.append(n.stream("order-2"), events(n.type("E"), 1, 1))
        yield* store.append(n.stream("invoice-1"), events(n.type("E"), 1, 2))
        yield* store.append(n.stream("ordering"), events(n.type("E"), 1, 3))
        const orders = yield* readAll({ filter: { streamPrefixes: [n.stream("order-")] } })
        assert.deepStrictEqual(orders.map((e) => e.stream), [n.stream("order-1"), n.stream("order-2")])
        const both = yield* readAll({ filter: { streamPrefixes: [n.stream("order-"), n.stream("invoice")] } })
        assert.deepStrictEqual(both.map((e) => e.data), [{ i: 0 }, { i: 1 }, { i: 2 }])
      }))

    it.effect("a stream prefix is matched literally, not as a LIKE or glob pattern", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        yield* store.append(n.stream("a_b%c*-1"), events(n.type("E"), 1, 0))
        yield* store.append(n.stream("axbyc-1"), events(n.type("E"), 1, 1))
        yield* store.append(n.stream("aXb%c*-1"), events(n.type("E"), 1, 2))
        const literal = yield* readAll({ filter: { streamPrefixes: [n.stream("a_b%c*")] } })
        assert.deepStrictEqual(literal.map((e) => e.stream), [n.stream("a_b%c*-1")])
        const pattern = yield* readAll({ filter: { streamPrefixes: [n.stream("a%")] } })
        assert.deepStrictEqual(pattern, [])
      }))

    it.effect("every filter field present must match", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const x = names()
        const y = names()
        yield* store.append(x.stream("1"), [{ type: x.type("A"), data: 1 }, { type: x.type("B"), data: 2 }])
        yield* store.append(y.stream("1"), [{ type: x.type("A"), data: 3 }])
        const both = yield* readAll({ filter: { types: [x.type("A")], categories: [x.category] } })
        assert.deepStrictEqual(both.map((e) => e.data), [1])
        const prefixed = yield* readAll({
          filter: { types: [x.type("A")], streamPrefixes: [y.category] }
        })
        assert.deepStrictEqual(prefixed.map((e) => e.data), [3])
      }))

    it.effect(`readAll of ${longStreamLength} matching events spread over streams returns them all in order`, () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const per = Math.ceil(longStreamLength / 6)
        for (let s = 0; s < 6; s++) yield* store.append(n.stream(`s${s}`), events(n.type("E"), per, s * per))
        const global = yield* readAll({ filter: { categories: [n.category] } })
        assert.strictEqual(global.length, per * 6)
        assert.deepStrictEqual(global.map((e) => (e.data as { i: number }).i), versions(per * 6).map(Number))
        assertIncreasing(global.map((e) => e.position), "positions")
        const backwards = yield* readAll({ filter: { categories: [n.category] }, direction: "backwards" })
        assert.deepStrictEqual(backwards.map((e) => e.id), global.map((e) => e.id).reverse())
      }))

    it.effect("readAll by partition: each event in exactly one partition, the union is the log", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        // Multi-byte names: the hash is over UTF-8 bytes on every backend.
        const streams = [
          ...Array.from({ length: 14 }, (_, i) => n.stream(`s${i}`)),
          n.stream("ünïcödé-7"),
          n.stream("日本")
        ]
        for (const [s, stream] of streams.entries()) {
          yield* store.append(stream, [{ type: n.type(s % 2 === 0 ? "A" : "B"), data: { s } }, {
            type: n.type("A"),
            data: { s }
          }])
        }
        const filters: ReadonlyArray<EventStore.EventFilter> = [
          { categories: [n.category] },
          { categories: [n.category], types: [n.type("B")] },
          { streamPrefixes: [n.stream("s1"), n.stream("ü")] }
        ]
        for (const filter of filters) {
          const whole = yield* readAll({ filter })
          assert.isAbove(whole.length, 0)
          for (const count of [1, 3, 4]) {
            const parts: Array<EventStore.EventFilter> = Array.from({ length: count }, (_, index) => ({
              ...filter,
              partition: { count, index }
            }))
            const union: Array<(typeof whole)[number]> = []
            for (const [index, part] of parts.entries()) {
              const got = yield* readAll({ filter: part })
              assertIncreasing(got.map((e) => e.position), `positions of partition ${index}/${count}`)
              for (const event of got) assert.strictEqual(ConsumerGroup.partitionOf(event.stream, count), index)
              const backwards = yield* readAll({ filter: part, direction: "backwards" })
              assert.deepStrictEqual(backwards.map((e) => e.id), got.map((e) => e.id).reverse())
              union.push(...got)
            }
            union.sort((a, b) => (a.position < b.position ? -1 : a.position > b.position ? 1 : 0))
            assert.deepStrictEqual(union.map((e) => e.id), whole.map((e) => e.id), `${count} partitions`)
          }
        }
      }))

    it.effect("a partition filter with a bad count or index fails with InvalidArgument", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const bad = [
          { count: 0, index: 0 },
          { count: 1025, index: 0 },
          { count: 2.5, index: 0 },
          { count: 4, index: 4 },
          { count: 4, index: -1 },
          { count: 4, index: 1.5 },
          { count: Number.NaN, index: 0 },
          null
        ]
        for (const partition of bad) {
          const error = yield* streamFailsWith("InvalidArgument")(
            store.readAll({ filter: { partition: partition as never } })
          )
          assert.strictEqual(error.operation, "readAll")
        }
      }))

    it.effect("an empty string in a filter fails with InvalidArgument", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        for (const filter of [{ types: [""] }, { categories: [""] }, { streamPrefixes: [""] }]) {
          const error = yield* streamFailsWith("InvalidArgument")(store.readAll({ filter }))
          assert.strictEqual(error.operation, "readAll")
        }
      }))

    it.effect("readAll with a negative limit or from fails with InvalidArgument", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        yield* streamFailsWith("InvalidArgument")(store.readAll({ limit: -5 }))
        yield* streamFailsWith("InvalidArgument")(store.readAll({ from: -1n }))
        yield* failsWith("InvalidArgument")(
          Stream.runCollect(store.readAll({ direction: "up" as "forwards" }))
        )
      }))
  })
}
