/**
 * What a recorded event carries: ids, data, metadata and timestamps, the same through every read.
 *
 * @since 0.1.0
 */
import { assert, describe } from "@effect/vitest"
import { Event, EventStore } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { assertRecent, failsWith, names, readAll, readStream, uuid, uuidPattern, within } from "./internal/fixtures.ts"
import { type ConformanceIt, resolve, type SuiteOptions } from "./SuiteOptions.ts"

/**
 * Registers the recorded-event tests.
 *
 * @category suites
 * @since 0.1.0
 */
export const eventSuite = (it: ConformanceIt, options?: SuiteOptions): void => {
  const { deliveryTimeout } = resolve(options)

  describe("recorded events", () => {
    it.effect("a recorded event carries its stream, version, position, type, data and id", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        const id = uuid()
        const result = yield* store.append(stream, [{ id, type: n.type("Opened"), data: { cart: 42, items: [] } }])
        const [event] = yield* readStream(stream)
        assert.strictEqual(event.id, id)
        assert.strictEqual(event.stream, stream)
        assert.strictEqual(event.version, 0n)
        assert.strictEqual(event.position, result.position)
        assert.strictEqual(event.type, n.type("Opened"))
        assert.deepStrictEqual(event.data, { cart: 42, items: [] })
        assert.strictEqual(typeof event.position, "bigint")
        assert.strictEqual(typeof event.version, "bigint")
      }))

    it.effect("metadata round-trips correlationId, causationId and custom keys", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        const metadata = {
          correlationId: uuid(),
          causationId: uuid(),
          traceId: "0af7651916cd43dd8448eb211c80319c",
          tenant: "acme",
          nested: { user: { id: 7, roles: ["admin", "ops"] }, flag: false, none: null }
        }
        yield* store.append(stream, [{ type: n.type("E"), data: {}, metadata }])
        const [event] = yield* readStream(stream)
        assert.deepStrictEqual(event.metadata, metadata)
      }))

    it.effect("an event appended without metadata reads back with empty metadata", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, [{ type: n.type("E"), data: { a: 1 } }])
        const [event] = yield* readStream(stream)
        assert.deepStrictEqual(event.metadata, {})
      }))

    it.effect("createdAt is a Date within a minute of now", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, [{ type: n.type("E"), data: {} }])
        const [event] = yield* readStream(stream)
        assertRecent(event.createdAt, "createdAt")
        const [fromAll] = yield* readAll({ filter: { categories: [n.category] } })
        assertRecent(fromAll.createdAt, "createdAt from readAll")
      }))

    it.effect("createdAt never goes backwards along a stream", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        for (let i = 0; i < 5; i++) {
          yield* store.append(stream, [{ type: n.type("E"), data: { i } }])
        }
        const read = yield* readStream(stream)
        for (let i = 1; i < read.length; i++) {
          assert.isAtLeast(read[i].createdAt.getTime(), read[i - 1].createdAt.getTime())
        }
      }))

    it.effect("generated event ids are distinct lowercase UUIDs", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, Array.from({ length: 20 }, () => ({ type: n.type("E"), data: {} })))
        const ids = (yield* readStream(stream)).map((e) => e.id)
        for (const id of ids) assert.match(id, uuidPattern)
        assert.strictEqual(new Set(ids).size, 20)
      }))

    it.effect("supplied event ids are kept, lowercased", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        const lower = uuid()
        const upper = uuid().toUpperCase()
        const made = Event.make(n.type("E"), { x: 1 })
        yield* store.append(stream, [
          { id: lower, type: n.type("E"), data: {} },
          { id: upper, type: n.type("E"), data: {} },
          made
        ])
        const ids = (yield* readStream(stream)).map((e) => e.id)
        assert.deepStrictEqual(ids, [lower, upper.toLowerCase(), made.id.toLowerCase()])
      }))

    it.effect("data of every JSON shape round-trips exactly", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        const data = {
          nothing: null,
          yes: true,
          no: false,
          zero: 0,
          negative: -17,
          fraction: 0.1,
          big: 9007199254740991,
          tiny: 5e-324,
          exponent: 1.5e300,
          empty: "",
          text: "hello",
          list: [1, "two", null, false, [3], { four: 4 }],
          emptyList: [],
          emptyObject: {},
          deep: { a: { b: { c: { d: { e: [{ f: "g" }] } } } } }
        }
        yield* store.append(stream, [{ type: n.type("E"), data }])
        const [event] = yield* readStream(stream)
        assert.deepStrictEqual(event.data, data)
      }))

    it.effect("top-level null, string, number, boolean and array data round-trip", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        const values = [null, "text", 12.5, true, [1, 2, 3]]
        yield* store.append(stream, values.map((data) => ({ type: n.type("E"), data })))
        assert.deepStrictEqual((yield* readStream(stream)).map((e) => e.data), values)
      }))

    it.effect("object key order and keys that look special survive a round trip", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        const data = JSON.parse(
          "{\"z\":1,\"a\":2,\"\":3,\"__proto__\":{\"polluted\":true},\"$ref\":\"#\",\"a.b\":4,\"it's\":5,\"\\\"q\\\"\":6}"
        )
        yield* store.append(stream, [{ type: n.type("E"), data }])
        const [event] = yield* readStream(stream)
        assert.deepStrictEqual(event.data, data)
        assert.deepStrictEqual(Object.keys(event.data as object).sort(), Object.keys(data).sort())
        assert.isUndefined(({} as Record<string, unknown>).polluted)
      }))

    it.effect("an event reads back the same through read, readAll and subscribe", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, [{ type: n.type("E"), data: { v: [1, { w: "x" }] }, metadata: { m: "n" } }])
        const [fromRead] = yield* readStream(stream)
        const [fromAll] = yield* readAll({ filter: { categories: [n.category] } })
        const [fromSubscribe] = yield* Stream.runCollect(Stream.take(store.subscribe(stream), 1)).pipe(
          within(deliveryTimeout, "subscribe delivers the stored event")
        )
        const [fromSubscribeAll] = yield* Stream.runCollect(
          Stream.take(store.subscribeAll({ filter: { categories: [n.category] } }), 1)
        ).pipe(within(deliveryTimeout, "subscribeAll delivers the stored event"))
        for (const other of [fromAll, fromSubscribe, fromSubscribeAll]) {
          assert.strictEqual(other.id, fromRead.id)
          assert.strictEqual(other.stream, fromRead.stream)
          assert.strictEqual(other.version, fromRead.version)
          assert.strictEqual(other.position, fromRead.position)
          assert.strictEqual(other.type, fromRead.type)
          assert.deepStrictEqual(other.data, fromRead.data)
          assert.deepStrictEqual(other.metadata, fromRead.metadata)
          assert.strictEqual(other.createdAt.getTime(), fromRead.createdAt.getTime())
        }
      }))

    it.effect("event types are stored exactly, case and punctuation included", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        const types = [n.type("CartOpened"), n.type("cartopened"), `${n.type("v2")}:item-added/ünï 🎉`]
        yield* store.append(stream, types.map((type) => ({ type, data: {} })))
        assert.deepStrictEqual((yield* readStream(stream)).map((e) => e.type), types)
        const byType = yield* readAll({ filter: { types: [n.type("cartopened")] } })
        assert.deepStrictEqual(byType.map((e) => e.type), [n.type("cartopened")])
      }))

    it.effect("an event id that is not a UUID fails with InvalidEvent InvalidId", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        for (const id of ["not-a-uuid", "", "123", `${uuid()}x`, "g0000000-0000-0000-0000-000000000000"]) {
          const error = yield* failsWith("InvalidEvent")(store.append(stream, [{ id, type: n.type("E"), data: {} }]))
          assert.strictEqual(error.reason, "InvalidId", `id ${JSON.stringify(id)}`)
          assert.strictEqual(error.index, 0)
        }
        assert.strictEqual((yield* store.streamInfo(stream)).status, "missing")
      }))
  })
}
