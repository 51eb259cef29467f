/**
 * DocumentStore writes: get/put/delete, versions and optimistic concurrency, typed collections,
 * bad input, and puts that carry events atomically.
 *
 * @since 0.1.0
 */
import { assert, describe } from "@effect/vitest"
import { DocumentStore, EventStore, ExpectedVersion, UnitOfWork } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { hostileStrings } from "./inputSuite.ts"
import {
  events,
  failsWith,
  names,
  readAll,
  readStream,
  show,
  streamFailsWith,
  uuid,
  versions
} from "./internal/fixtures.ts"
import { type ConformanceIt, resolve, type SuiteOptions } from "./SuiteOptions.ts"

/** A collection of any JSON value. */
const json = (name: string) => DocumentStore.collection(name, Schema.Unknown)

/**
 * The hostile strings a document may hold: all but those with U+0000, which documents refuse
 * (PostgreSQL's jsonb cannot store it; see `DocumentCodec.encode`).
 */
const documentStrings = hostileStrings.filter((text) => !text.includes("\u0000"))

const Order = Schema.Struct({
  placedAt: Schema.DateFromString,
  total: Schema.NumberFromString,
  status: Schema.Literals(["open", "paid"]),
  note: Schema.optional(Schema.String)
})

/**
 * Registers the document write tests.
 *
 * @category suites
 * @since 0.1.0
 */
export const documentSuite = (it: ConformanceIt, options?: SuiteOptions): void => {
  const { maxDocumentBytes, rejectsReusedEventIds, supportsAppendMany, unitsOfWork, writers } = resolve(options)
  // Registered as skipped (visibly) where the backend's capabilities say it does not refuse reused ids
  // (`rejectsReusedEventIds: false`): KurrentDB checks ids per stream and by position, so an id reused in
  // another stream, or out of order, is accepted there (packages/kurrentdb/README.md has the figures).
  const ids = rejectsReusedEventIds ? it : { effect: it.effect.skip }

  describe("documents", () => {
    it.effect("get of a document never written gives Option.none", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        assert.isTrue(Option.isNone(yield* docs.get(json(n.collection()), "nope")))
      }))

    it.effect("a put document reads back with version 1 and its value", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const carts = json(n.collection())
        const value = { customer: "c-1", lines: [{ sku: "A", qty: 2 }], total: 19.9, paid: false, note: null }
        const result = yield* docs.put(carts, "cart-1", value)
        assert.strictEqual(result.version, 1n)
        assert.deepStrictEqual(result.appended, [])
        const got = Option.getOrThrow(yield* docs.get(carts, "cart-1"))
        assert.deepStrictEqual(got, { id: "cart-1", version: 1n, value })
      }))

    it.effect("each put increments the version: 1, 2, 3, and get returns the latest value", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const c = json(n.collection())
        const results = []
        for (const step of [1, 2, 3]) results.push((yield* docs.put(c, "doc", { step })).version)
        assert.deepStrictEqual(results, [1n, 2n, 3n])
        assert.deepStrictEqual(Option.getOrThrow(yield* docs.get(c, "doc")), {
          id: "doc",
          version: 3n,
          value: { step: 3 }
        })
      }))

    it.effect("put with expected missing creates; on an existing document it fails with DocumentConflict", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const c = json(n.collection())
        assert.strictEqual((yield* docs.put(c, "a", { v: 1 }, { expected: "missing" })).version, 1n)
        const error = yield* failsWith("DocumentConflict")(docs.put(c, "a", { v: 2 }, { expected: "missing" }))
        assert.strictEqual(error.collection, c.name)
        assert.strictEqual(error.id, "a")
        assert.strictEqual(error.actual, 1n)
        assert.isFalse(error.isRetryable)
        assert.deepStrictEqual(Option.getOrThrow(yield* docs.get(c, "a")).value, { v: 1 })
      }))

    it.effect("put with the current version succeeds; a stale version fails with DocumentConflict reporting actual", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const c = json(n.collection())
        yield* docs.put(c, "a", { v: 1 })
        assert.strictEqual((yield* docs.put(c, "a", { v: 2 }, { expected: 1n })).version, 2n)
        const stale = yield* failsWith("DocumentConflict")(docs.put(c, "a", { v: 3 }, { expected: 1n }))
        assert.strictEqual(stale.actual, 2n)
        const ahead = yield* failsWith("DocumentConflict")(docs.put(c, "a", { v: 3 }, { expected: 5n }))
        assert.strictEqual(ahead.actual, 2n)
        assert.deepStrictEqual(Option.getOrThrow(yield* docs.get(c, "a")), { id: "a", version: 2n, value: { v: 2 } })
      }))

    it.effect("put with a version on a missing document fails with DocumentConflict and actual undefined", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const c = json(n.collection())
        const error = yield* failsWith("DocumentConflict")(docs.put(c, "a", { v: 1 }, { expected: 1n }))
        assert.strictEqual(error.actual, undefined)
        assert.isTrue(Option.isNone(yield* docs.get(c, "a")))
      }))

    it.effect("put with expected any creates and overwrites", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const c = json(n.collection())
        assert.strictEqual((yield* docs.put(c, "a", 1, { expected: "any" })).version, 1n)
        assert.strictEqual((yield* docs.put(c, "a", 2, { expected: "any" })).version, 2n)
        assert.strictEqual(Option.getOrThrow(yield* docs.get(c, "a")).value, 2)
      }))

    it.effect("put with an expected version below 1 fails with InvalidArgument and writes nothing", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const c = json(n.collection())
        yield* failsWith("InvalidArgument")(docs.put(c, "a", 1, { expected: 0n }))
        yield* failsWith("InvalidArgument")(docs.put(c, "a", 1, { expected: -1n }))
        assert.isTrue(Option.isNone(yield* docs.get(c, "a")))
      }))

    it.effect("delete removes a document and returns true; deleting a missing one returns false", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const c = json(n.collection())
        yield* docs.put(c, "a", 1)
        yield* docs.put(c, "b", 2)
        assert.isTrue(yield* docs.delete(c, "a"))
        assert.isTrue(Option.isNone(yield* docs.get(c, "a")))
        assert.isFalse(yield* docs.delete(c, "a"))
        assert.isFalse(yield* docs.delete(c, "never"))
        assert.strictEqual(yield* docs.count(c), 1)
      }))

    it.effect("delete with the current version succeeds; a wrong one fails with DocumentConflict and keeps it", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const c = json(n.collection())
        yield* docs.put(c, "a", 1)
        yield* docs.put(c, "a", 2)
        const error = yield* failsWith("DocumentConflict")(docs.delete(c, "a", { expected: 1n }))
        assert.strictEqual(error.actual, 2n)
        const missing = yield* failsWith("DocumentConflict")(docs.delete(c, "a", { expected: "missing" }))
        assert.strictEqual(missing.actual, 2n)
        assert.strictEqual(Option.getOrThrow(yield* docs.get(c, "a")).version, 2n)
        assert.isTrue(yield* docs.delete(c, "a", { expected: 2n }))
        assert.isTrue(Option.isNone(yield* docs.get(c, "a")))
      }))

    it.effect("delete with a version on a missing document fails with DocumentConflict and actual undefined", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const c = json(n.collection())
        const error = yield* failsWith("DocumentConflict")(docs.delete(c, "a", { expected: 1n }))
        assert.strictEqual(error.actual, undefined)
        assert.isFalse(yield* docs.delete(c, "a", { expected: "missing" }))
      }))

    it.effect("after a delete the id can be created again with expected missing", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const c = json(n.collection())
        yield* docs.put(c, "a", { gen: 1 })
        yield* docs.delete(c, "a")
        yield* docs.put(c, "a", { gen: 2 }, { expected: "missing" })
        assert.deepStrictEqual(Option.getOrThrow(yield* docs.get(c, "a")).value, { gen: 2 })
      }))

    it.effect("collections are separate: one id in two collections is two documents", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const a = json(n.collection("a"))
        const b = json(n.collection("b"))
        yield* docs.put(a, "same", "in a")
        yield* docs.put(b, "same", "in b")
        yield* docs.put(b, "same", "in b again")
        assert.deepStrictEqual(Option.getOrThrow(yield* docs.get(a, "same")), {
          id: "same",
          version: 1n,
          value: "in a"
        })
        assert.strictEqual(Option.getOrThrow(yield* docs.get(b, "same")).version, 2n)
        yield* docs.delete(a, "same")
        assert.isTrue(Option.isSome(yield* docs.get(b, "same")))
      }))

    it.effect("document ids are exact: case, punctuation and Unicode are kept", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const c = json(n.collection())
        const ids = [
          "Cart-1",
          "cart-1",
          "it's \"quoted\"",
          "'; DROP TABLE documents; --",
          "ünï/名前/🎉",
          "$dollar",
          "a%_b"
        ]
        for (const [i, id] of ids.entries()) yield* docs.put(c, id, i)
        for (const [i, id] of ids.entries()) {
          assert.deepStrictEqual(Option.getOrThrow(yield* docs.get(c, id)), { id, version: 1n, value: i })
        }
        const all = yield* Stream.runCollect(docs.find(c))
        assert.sameMembers(all.map((d) => d.id), ids)
      }))

    it.effect("hostile strings in document values round-trip exactly", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const c = json(n.collection())
        const value = {
          texts: [...documentStrings],
          keyed: Object.fromEntries(documentStrings.slice(0, 16).map((text, i) => [text, i]))
        }
        yield* docs.put(c, "hostile", value)
        assert.deepStrictEqual(Option.getOrThrow(yield* docs.get(c, "hostile")).value, value)
        const [found] = yield* Stream.runCollect(docs.find(c, { where: { "texts": { ne: null } } }))
        assert.deepStrictEqual(found.value, value)
      }))

    it.effect("a NUL character in a document string fails with InvalidDocument and writes nothing", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const c = json(n.collection())
        yield* docs.put(c, "kept", { text: "before" })
        for (const value of [{ text: "a\u0000b" }, { list: ["\u0000"] }, { ["k\u0000"]: 1 }, "\u0000"]) {
          const error = yield* failsWith("InvalidDocument")(docs.put(c, "kept", value))
          assert.strictEqual(error.id, "kept")
          yield* failsWith("InvalidDocument")(docs.put(c, "new", value))
        }
        assert.deepStrictEqual(Option.getOrThrow(yield* docs.get(c, "kept")), {
          id: "kept",
          version: 1n,
          value: { text: "before" }
        })
        assert.isTrue(Option.isNone(yield* docs.get(c, "new")))
      }))

    it.effect(`${writers} fibers incrementing one document with expected versions (retrying conflicts) lose nothing`, () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const c = json(n.collection())
        const increments = 5
        yield* docs.put(c, "counter", { count: 0 }, { expected: "missing" })
        yield* Effect.forEach(versions(writers), () =>
          Effect.gen(function*() {
            for (let i = 0; i < increments; i++) {
              while (true) {
                const current = Option.getOrThrow(yield* docs.get(c, "counter"))
                const count = (current.value as { count: number }).count
                const outcome = yield* Effect.result(
                  docs.put(c, "counter", { count: count + 1 }, { expected: current.version })
                )
                if (Result.isSuccess(outcome)) break
                if (outcome.failure._tag !== "DocumentConflict") {
                  return assert.fail(`unexpected failure: ${show(outcome.failure)}`)
                }
                yield* Effect.yieldNow
              }
            }
          }), { concurrency: "unbounded", discard: true })
        const final = Option.getOrThrow(yield* docs.get(c, "counter"))
        assert.deepStrictEqual(final.value, { count: writers * increments })
        assert.strictEqual(final.version, BigInt(writers * increments + 1))
      }))

    it.effect(`${writers} concurrent puts with expected missing: exactly one creates the document`, () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const c = json(n.collection())
        const outcomes = yield* Effect.forEach(
          versions(writers).map(Number),
          (w) => Effect.result(docs.put(c, "once", { w }, { expected: "missing" })),
          { concurrency: "unbounded" }
        )
        const winners = outcomes.filter(Result.isSuccess)
        assert.strictEqual(winners.length, 1)
        for (const outcome of outcomes.filter(Result.isFailure)) {
          assert.strictEqual(outcome.failure._tag, "DocumentConflict")
        }
        assert.strictEqual(Option.getOrThrow(yield* docs.get(c, "once")).version, 1n)
      }))
  })

  describe("typed collections", () => {
    it.effect("a Schema-typed document round-trips decoded (Date and NumberFromString fields)", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const orders = DocumentStore.collection(n.collection(), Order)
        const placedAt = new Date("2026-01-02T03:04:05.678Z")
        yield* docs.put(orders, "o-1", { placedAt, total: 12.5, status: "open" })
        const got = Option.getOrThrow(yield* docs.get(orders, "o-1"))
        assert.instanceOf(got.value.placedAt, Date)
        assert.strictEqual(got.value.placedAt.getTime(), placedAt.getTime())
        assert.strictEqual(got.value.total, 12.5)
        assert.strictEqual(got.value.status, "open")
        assert.isFalse(Object.hasOwn(got.value, "note"))
        const [found] = yield* Stream.runCollect(docs.find(orders, { where: { status: "open" } }))
        assert.instanceOf(found.value.placedAt, Date)
        assert.strictEqual(found.value.total, 12.5)
      }))

    it.effect("queries compare the encoded JSON form of a typed document", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const orders = DocumentStore.collection(n.collection(), Order)
        yield* docs.put(orders, "o-1", { placedAt: new Date("2026-01-01T00:00:00.000Z"), total: 10, status: "open" })
        yield* docs.put(orders, "o-2", { placedAt: new Date("2026-03-01T00:00:00.000Z"), total: 20, status: "paid" })
        const byEncodedTotal = yield* docs.count(orders, { where: { total: "10" } })
        assert.strictEqual(byEncodedTotal, 1)
        assert.strictEqual(yield* docs.count(orders, { where: { total: 10 } }), 0)
        const after = yield* Stream.runCollect(
          docs.find(orders, { where: { placedAt: { gt: "2026-02-01T00:00:00.000Z" } } })
        )
        assert.deepStrictEqual(after.map((d) => d.id), ["o-2"])
      }))

    it.effect("a value the schema cannot encode fails with InvalidDocument and writes nothing", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const orders = DocumentStore.collection(n.collection(), Order)
        const error = yield* failsWith("InvalidDocument")(
          docs.put(orders, "o-1", { placedAt: new Date(), total: 1, status: "closed" } as never)
        )
        assert.strictEqual(error.collection, orders.name)
        assert.strictEqual(error.id, "o-1")
        assert.isTrue(Option.isNone(yield* docs.get(orders, "o-1")))
        assert.strictEqual(yield* docs.count(orders), 0)
      }))

    it.effect("a value whose encoded form is not plain JSON fails with InvalidDocument and writes nothing", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const c = json(n.collection())
        const cyclic: Record<string, unknown> = {}
        cyclic.self = cyclic
        for (const value of [{ at: new Date() }, { n: 1n }, new Map(), { x: Number.NaN }, cyclic, [undefined]]) {
          yield* failsWith("InvalidDocument")(docs.put(c, "bad", value))
        }
        assert.strictEqual(yield* docs.count(c), 0)
      }))

    it.effect("a document larger than the size limit fails with InvalidDocument and writes nothing", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const c = json(n.collection())
        yield* failsWith("InvalidDocument")(docs.put(c, "big", { blob: "x".repeat(maxDocumentBytes) }))
        assert.isTrue(Option.isNone(yield* docs.get(c, "big")))
      }))

    it.effect("a collection with declared indexes accepts writes and serves queries", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const c = DocumentStore.collection(n.collection(), Schema.Unknown, {
          indexes: ["status", ["customer.id", "total"], ["createdAt"]]
        })
        assert.deepStrictEqual(c.indexes, [{ fields: ["status"] }, { fields: ["customer.id", "total"] }, {
          fields: ["createdAt"]
        }])
        for (let i = 0; i < 6; i++) {
          yield* docs.put(c, `d${i}`, {
            status: i % 2 === 0 ? "open" : "paid",
            customer: { id: `c${i % 3}` },
            total: i
          })
        }
        assert.strictEqual(yield* docs.count(c, { where: { status: "open" } }), 3)
        const found = yield* Stream.runCollect(docs.find(c, {
          where: { "customer.id": "c0", total: { gte: 0 } },
          orderBy: [{ field: "total", direction: "desc" }]
        }))
        assert.deepStrictEqual(found.map((d) => d.id), ["d3", "d0"])
      }))
  })

  describe("invalid collections and ids", () => {
    for (
      const bad of ["", "has-dash", "has space", "1starts_with_digit", "x".repeat(64), "semi;colon", "quote'", "ünï"]
    ) {
      it.effect(`collection name ${JSON.stringify(bad.length > 20 ? `${bad.slice(0, 8)}…(${bad.length})` : bad)} is refused everywhere`, () =>
        Effect.gen(function*() {
          const docs = yield* DocumentStore.DocumentStore
          const c = json(bad)
          const put = yield* failsWith("InvalidDocument")(docs.put(c, "a", 1))
          assert.strictEqual(put.collection, bad)
          yield* failsWith("InvalidDocument")(docs.get(c, "a"))
          yield* failsWith("InvalidDocument")(docs.delete(c, "a"))
          const query = yield* streamFailsWith("InvalidQuery")(docs.find(c))
          assert.strictEqual(query.collection, bad)
          yield* failsWith("InvalidQuery")(docs.findPage(c))
          yield* failsWith("InvalidQuery")(docs.count(c))
        }))
    }

    it.effect("a 63-character collection name is accepted", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const c = json(n.collection().padEnd(63, "x"))
        yield* docs.put(c, "a", 1)
        assert.strictEqual(yield* docs.count(c), 1)
      }))

    for (
      const [label, id] of [
        ["an empty", ""],
        ["a NUL-containing", "a\u0000b"],
        ["a newline-containing", "a\nb"],
        ["a leading-whitespace", " a"],
        ["a 257-character", "x".repeat(257)]
      ] as const
    ) {
      it.effect(`${label} document id fails with InvalidDocument on put, get and delete, writing nothing`, () =>
        Effect.gen(function*() {
          const docs = yield* DocumentStore.DocumentStore
          const n = names()
          const c = json(n.collection())
          const error = yield* failsWith("InvalidDocument")(docs.put(c, id, 1))
          assert.strictEqual(error.id, id)
          yield* failsWith("InvalidDocument")(docs.get(c, id))
          yield* failsWith("InvalidDocument")(docs.delete(c, id))
          assert.strictEqual(yield* docs.count(c), 0)
        }))
    }
  })

  describe("documents with events", () => {
    it.effect("put with events writes the document and appends the events in one step", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const c = json(n.collection())
        const result = yield* docs.put(c, "cart-1", { items: 1 }, {
          expected: "missing",
          events: [{
            stream: n.stream("cart-1"),
            events: events(n.type("ItemAdded"), 2),
            expected: ExpectedVersion.noStream
          }]
        })
        assert.strictEqual(result.version, 1n)
        assert.strictEqual(result.appended.length, 1)
        assert.strictEqual(result.appended[0].stream, n.stream("cart-1"))
        assert.strictEqual(result.appended[0].nextExpectedVersion, 1n)
        const read = yield* readStream(n.stream("cart-1"))
        assert.deepStrictEqual(read.map((e) => e.type), [n.type("ItemAdded"), n.type("ItemAdded")])
        assert.strictEqual(read[1].position, result.appended[0].position)
        assert.deepStrictEqual(Option.getOrThrow(yield* docs.get(c, "cart-1")).value, { items: 1 })
      }))

    it.effect("put with a conflicting event part writes neither the document nor any event", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const c = json(n.collection())
        yield* store.append(n.stream("x"), events(n.type("Old"), 1))
        const error = yield* failsWith("WrongExpectedVersion")(docs.put(c, "d", { v: 1 }, {
          events: [
            { stream: n.stream("y"), events: events(n.type("New"), 1) },
            { stream: n.stream("x"), events: events(n.type("New"), 1), expected: ExpectedVersion.noStream }
          ]
        }))
        assert.strictEqual(error.actual, 0n)
        assert.isTrue(Option.isNone(yield* docs.get(c, "d")))
        assert.strictEqual((yield* readAll({ filter: { types: [n.type("New")] } })).length, 0)
      }))

    it.effect("put with a document conflict appends none of its events", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const c = json(n.collection())
        yield* docs.put(c, "d", { v: 1 })
        yield* failsWith("DocumentConflict")(docs.put(c, "d", { v: 2 }, {
          expected: "missing",
          events: [{ stream: n.stream(), events: events(n.type("E"), 1) }]
        }))
        assert.deepStrictEqual(Option.getOrThrow(yield* docs.get(c, "d")).value, { v: 1 })
        const store = yield* EventStore.EventStore
        assert.strictEqual((yield* store.streamInfo(n.stream())).status, "missing")
      }))

    it.effect("put with events and a stale numeric expected version fails with DocumentConflict, appending nothing", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const store = yield* EventStore.EventStore
        const n = names()
        const c = json(n.collection())
        yield* docs.put(c, "d", { v: 1 })
        yield* docs.put(c, "d", { v: 2 })
        yield* store.append(n.stream(), events(n.type("Old"), 1))
        for (const stale of [1n, 3n]) {
          const error = yield* failsWith("DocumentConflict")(docs.put(c, "d", { v: 9 }, {
            expected: stale,
            events: [
              { stream: n.stream(), events: events(n.type("New"), 2) },
              { stream: n.stream("other"), events: events(n.type("New"), 1) }
            ].slice(0, supportsAppendMany ? 2 : 1)
          }))
          assert.strictEqual(error.actual, 2n)
          assert.isFalse(error.isRetryable)
        }
        assert.deepStrictEqual(Option.getOrThrow(yield* docs.get(c, "d")), { id: "d", version: 2n, value: { v: 2 } })
        assert.strictEqual((yield* store.streamInfo(n.stream())).lastVersion, 0n)
        assert.strictEqual((yield* store.streamInfo(n.stream("other"))).status, "missing")
        assert.strictEqual((yield* readAll({ filter: { types: [n.type("New")] } })).length, 0)
        // The current version goes through, with its events.
        const ok = yield* docs.put(c, "d", { v: 3 }, {
          expected: 2n,
          events: [{ stream: n.stream(), events: events(n.type("New"), 1) }]
        })
        assert.strictEqual(ok.version, 3n)
        assert.deepStrictEqual(ok.appended.map((r) => r.nextExpectedVersion), [1n])
      }))

    it.effect("put with events for a tombstoned stream fails with StreamDeleted and leaves the document as it was", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const c = json(n.collection())
        yield* docs.put(c, "d", { v: 1 })
        yield* store.tombstoneStream(n.stream())
        const error = yield* failsWith("StreamDeleted")(docs.put(c, "d", { v: 2 }, {
          events: [{ stream: n.stream(), events: events(n.type("E"), 1) }]
        }))
        assert.isTrue(error.tombstoned)
        assert.deepStrictEqual(Option.getOrThrow(yield* docs.get(c, "d")), { id: "d", version: 1n, value: { v: 1 } })
      }))

    it.effect("put with an invalid event fails with InvalidEvent and writes nothing", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const c = json(n.collection())
        const error = yield* failsWith("InvalidEvent")(docs.put(c, "d", { v: 1 }, {
          events: [{ stream: n.stream(), events: [{ type: n.type("E"), data: { at: new Date() } }] }]
        }))
        assert.strictEqual(error.reason, "NotJson")
        assert.isTrue(Option.isNone(yield* docs.get(c, "d")))
        assert.strictEqual((yield* store.streamInfo(n.stream())).status, "missing")
      }))

    it.effect("put with the same event id in two event parts fails and writes nothing", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const c = json(n.collection())
        const event = { id: uuid(), type: n.type("E"), data: {} }
        const outcome = yield* Effect.result(docs.put(c, "d", { v: 1 }, {
          events: [{ stream: n.stream("a"), events: [event] }, { stream: n.stream("b"), events: [event] }]
        }))
        assert.isTrue(Result.isFailure(outcome), "the put succeeded, writing one event id twice")
        assert.isTrue(Option.isNone(yield* docs.get(c, "d")))
        assert.strictEqual((yield* readAll({ filter: { categories: [n.category] } })).length, 0)
      }))

    describe("a put with events repeated (the same event ids, the same document)", () => {
      // Events with ids of their own, so a repeat carries the same ids (as the retry layer does).
      const withIds = (type: string, count: number, start = 0) =>
        events(type, count, start).map((event) => ({ ...event, id: uuid() }))

      it.effect("returns the original result and stores each event once (expected \"any\")", () =>
        Effect.gen(function*() {
          const docs = yield* DocumentStore.DocumentStore
          const n = names()
          const c = json(n.collection())
          const put = docs.put(c, "d", { v: 1 }, {
            events: [
              { stream: n.stream("a"), events: withIds(n.type("E"), 2) },
              { stream: n.stream("b"), events: withIds(n.type("E"), 1) }
            ].slice(0, supportsAppendMany ? 2 : 1)
          })
          const first = yield* put
          const again = yield* put
          assert.deepStrictEqual(again, first, "the repeat answers the original result")
          assert.strictEqual(first.version, 1n)
          assert.deepStrictEqual(Option.getOrThrow(yield* docs.get(c, "d")), { id: "d", version: 1n, value: { v: 1 } })
          const stored = yield* readAll({ filter: { categories: [n.category] } })
          assert.strictEqual(stored.length, supportsAppendMany ? 3 : 2, "each event stored once")
          assert.strictEqual(stored[1].position, first.appended[0].position)
        }))

      it.effect("returns the original result with exact expected versions, also after later writes to its streams", () =>
        Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          const docs = yield* DocumentStore.DocumentStore
          const n = names()
          const c = json(n.collection())
          yield* docs.put(c, "d", { v: 1 })
          yield* store.append(n.stream("a"), events(n.type("Old"), 1))
          const put = docs.put(c, "d", { v: 2 }, {
            expected: 1n,
            events: [
              { stream: n.stream("a"), events: withIds(n.type("New"), 2), expected: ExpectedVersion.exact(0n) },
              { stream: n.stream("b"), events: withIds(n.type("New"), 1), expected: ExpectedVersion.noStream }
            ].slice(0, supportsAppendMany ? 2 : 1)
          })
          const first = yield* put
          assert.strictEqual(first.version, 2n)
          assert.deepStrictEqual(yield* put, first, "the repeat answers the original result")
          // The event parts replay as appends do, even after their streams moved on.
          yield* store.append(n.stream("a"), events(n.type("Later"), 1))
          assert.deepStrictEqual(yield* put, first, "a repeat after a later append answers the original result")
          assert.deepStrictEqual(Option.getOrThrow(yield* docs.get(c, "d")), { id: "d", version: 2n, value: { v: 2 } })
          assert.strictEqual(
            (yield* readAll({ filter: { types: [n.type("New")] } })).length,
            supportsAppendMany ? 3 : 2
          )
          // The same with a document expected missing.
          const created = docs.put(c, "m", { v: 1 }, {
            expected: "missing",
            events: [{
              stream: n.stream("m"),
              events: withIds(n.type("Created"), 1),
              expected: ExpectedVersion.noStream
            }]
          })
          const made = yield* created
          assert.deepStrictEqual(yield* created, made)
          assert.strictEqual(made.version, 1n)
          assert.strictEqual((yield* readStream(n.stream("m"))).length, 1)
        }))

      it.effect("with a different document value fails with DuplicateEvent and changes nothing", () =>
        Effect.gen(function*() {
          const docs = yield* DocumentStore.DocumentStore
          const n = names()
          const c = json(n.collection())
          for (const expected of ["any", "missing"] as const) {
            const id = `d-${expected}`
            const parts = [{ stream: n.stream(id), events: withIds(n.type("E"), 2) }]
            const first = yield* docs.put(c, id, { v: 1 }, { expected, events: parts })
            const error = yield* failsWith("DuplicateEvent")(docs.put(c, id, { v: 2 }, { expected, events: parts }))
            assert.strictEqual(error.stream, n.stream(id))
            assert.strictEqual(error.eventId, parts[0].events[0].id)
            assert.deepStrictEqual(Option.getOrThrow(yield* docs.get(c, id)), { id, version: 1n, value: { v: 1 } })
            assert.strictEqual((yield* readStream(n.stream(id))).length, 2)
            // Nor is it the same write once the document has moved on, even back to the same value.
            yield* docs.put(c, id, { v: 3 })
            yield* failsWith("DuplicateEvent")(docs.put(c, id, { v: 1 }, { expected, events: parts }))
            assert.deepStrictEqual(Option.getOrThrow(yield* docs.get(c, id)).version, 2n)
            assert.strictEqual(first.version, 1n)
          }
          // An exact expected version: the stored document is not at the version that put produced.
          const parts = [{ stream: n.stream("x"), events: withIds(n.type("E"), 1) }]
          yield* docs.put(c, "x", { v: 1 })
          yield* docs.put(c, "x", { v: 2 }, { expected: 1n, events: parts })
          yield* docs.put(c, "x", { v: 2 })
          yield* failsWith("DuplicateEvent")(docs.put(c, "x", { v: 2 }, { expected: 1n, events: parts }))
          assert.deepStrictEqual(Option.getOrThrow(yield* docs.get(c, "x")).version, 3n)
          assert.strictEqual((yield* readStream(n.stream("x"))).length, 1)
        }))

      ids.effect(
        "with its event ids in another stream fails with DuplicateEvent and writes nothing",
        () =>
          Effect.gen(function*() {
            const store = yield* EventStore.EventStore
            const docs = yield* DocumentStore.DocumentStore
            const n = names()
            const c = json(n.collection())
            const batch = withIds(n.type("E"), 1)
            yield* docs.put(c, "d", { v: 1 }, { events: [{ stream: n.stream("a"), events: batch }] })
            const error = yield* failsWith("DuplicateEvent")(
              docs.put(c, "d", { v: 1 }, { events: [{ stream: n.stream("b"), events: batch }] })
            )
            assert.strictEqual(error.eventId, batch[0].id)
            assert.strictEqual((yield* store.streamInfo(n.stream("b"))).status, "missing")
            assert.deepStrictEqual(Option.getOrThrow(yield* docs.get(c, "d")).version, 1n)
          })
      )

      if (supportsAppendMany) {
        it.effect("with only some parts stored, answers those and appends the others with the document, as appendMany does", () =>
          Effect.gen(function*() {
            const store = yield* EventStore.EventStore
            const docs = yield* DocumentStore.DocumentStore
            const n = names()
            const c = json(n.collection())
            const stored = { stream: n.stream("a"), events: withIds(n.type("E"), 2) }
            const earlier = yield* store.append(stored.stream, stored.events)
            yield* docs.put(c, "d", { v: 1 })
            const result = yield* docs.put(c, "d", { v: 2 }, {
              expected: 1n,
              events: [stored, { stream: n.stream("b"), events: withIds(n.type("E"), 1) }]
            })
            assert.strictEqual(result.version, 2n)
            assert.deepStrictEqual(result.appended[0], earlier)
            assert.strictEqual(result.appended[1].nextExpectedVersion, 0n)
            assert.strictEqual((yield* readAll({ filter: { categories: [n.category] } })).length, 3)
          }))
      }

      it.effect("UnitOfWork.commit repeated with the same ids and documents returns the original result", () =>
        Effect.gen(function*() {
          const docs = yield* DocumentStore.DocumentStore
          const n = names()
          const c = json(n.collection())
          const commit = UnitOfWork.commit({
            appends: [
              { stream: n.stream("a"), events: withIds(n.type("E"), 2), expected: ExpectedVersion.noStream },
              { stream: n.stream("b"), events: withIds(n.type("E"), 1) }
            ].slice(0, supportsAppendMany ? 2 : 1),
            documents: [{ collection: c, id: "d", value: { v: 1 }, expected: "missing" }]
          })
          const first = yield* commit
          assert.deepStrictEqual(yield* commit, first, "the repeat answers the original result")
          assert.deepStrictEqual(first.documents, [1n])
          assert.deepStrictEqual(Option.getOrThrow(yield* docs.get(c, "d")).version, 1n)
          assert.strictEqual(
            (yield* readAll({ filter: { categories: [n.category] } })).length,
            supportsAppendMany ? 3 : 2
          )
          // With another document value it is not the same write.
          yield* failsWith("DuplicateEvent")(UnitOfWork.commit({
            appends: [{
              stream: n.stream("a"),
              events: (yield* readStream(n.stream("a"))).map((e) => ({ id: e.id, type: e.type, data: e.data }))
            }],
            documents: [{ collection: c, id: "d", value: { v: 2 } }]
          }))
          assert.deepStrictEqual(Option.getOrThrow(yield* docs.get(c, "d")).value, { v: 1 })
          if (unitsOfWork) {
            // Several documents (interactive transactions only): each is judged the same way.
            const several = UnitOfWork.commit({
              appends: [{ stream: n.stream("c"), events: withIds(n.type("E"), 1) }],
              documents: [
                { collection: c, id: "e", value: { v: 1 } },
                { collection: c, id: "f", value: { v: 1 }, expected: "missing" }
              ]
            })
            const once = yield* several
            assert.deepStrictEqual(once.documents, [1n, 1n])
            assert.deepStrictEqual(yield* several, once)
            assert.strictEqual((yield* readStream(n.stream("c"))).length, 1)
          }
        }))
    })

    if (supportsAppendMany) {
      it.effect("put with events for several streams appends to all of them atomically with the document", () =>
        Effect.gen(function*() {
          const docs = yield* DocumentStore.DocumentStore
          const n = names()
          const c = json(n.collection())
          const result = yield* docs.put(c, "d", { v: 1 }, {
            events: [
              { stream: n.stream("a"), events: events(n.type("E"), 1) },
              { stream: n.stream("b"), events: events(n.type("E"), 2) }
            ]
          })
          assert.deepStrictEqual(result.appended.map((r) => [r.stream, r.nextExpectedVersion]), [
            [n.stream("a"), 0n],
            [n.stream("b"), 1n]
          ])
          assert.strictEqual((yield* readAll({ filter: { categories: [n.category] } })).length, 3)
        }))
    }
  })
}
