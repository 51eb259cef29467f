/**
 * DocumentStore batches: `getMany` (one query for many ids) and `writeMany` (puts and deletes of one
 * collection, all or nothing, each with its own expectation), their limits and bad input.
 *
 * @since 0.1.0
 */
import { assert, describe } from "@effect/vitest"
import { DocumentStore } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { failsWith, names } from "./internal/fixtures.ts"
import type { ConformanceIt, SuiteOptions } from "./SuiteOptions.ts"

const json = (name: string) => DocumentStore.collection(name, Schema.Unknown)
const Count = Schema.Struct({ n: Schema.Number })

/**
 * Registers the document batch tests.
 *
 * @category suites
 * @since 0.1.0
 */
export const documentBatchSuite = (it: ConformanceIt, _options?: SuiteOptions): void => {
  describe("document batches", () => {
    it.effect("getMany returns the stored documents in the order of the ids, missing ones left out, repeats once", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const c = json(names().collection())
        yield* docs.put(c, "a", { v: "a" })
        yield* docs.put(c, "b", { v: "b" })
        yield* docs.put(c, "b", { v: "b2" })
        const found = yield* docs.getMany(c, ["b", "nope", "a", "b"])
        assert.deepStrictEqual(found, [
          { id: "b", version: 2n, value: { v: "b2" } },
          { id: "a", version: 1n, value: { v: "a" } }
        ])
        assert.deepStrictEqual(yield* docs.getMany(c, []), [])
      }))

    it.effect("writeMany puts and deletes with their expectations and answers each new version in order", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const c = DocumentStore.collection(names().collection(), Count)
        yield* docs.put(c, "kept", { n: 1 })
        yield* docs.put(c, "gone", { n: 1 })
        yield* docs.put(c, "any", { n: 1 })
        const versions = yield* docs.writeMany(c, [
          { id: "new", value: { n: 1 }, expected: "missing" },
          { id: "kept", value: { n: 2 }, expected: 1n },
          { id: "gone", value: DocumentStore.Delete, expected: 1n },
          { id: "any", value: { n: 5 } },
          { id: "fresh", value: { n: 7 }, expected: "any" },
          { id: "never", value: DocumentStore.Delete }
        ])
        assert.deepStrictEqual(versions, [1n, 2n, undefined, 2n, 1n, undefined])
        const found = yield* docs.getMany(c, ["new", "kept", "gone", "any", "fresh", "never"])
        assert.deepStrictEqual(found.map((d) => [d.id, d.version, d.value.n]), [
          ["new", 1n, 1],
          ["kept", 2n, 2],
          ["any", 2n, 5],
          ["fresh", 1n, 7]
        ])
        assert.deepStrictEqual(yield* docs.writeMany(c, []), [])
      }))

    it.effect("a writeMany with a stale expectation fails with the first conflicting id and writes nothing", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const c = DocumentStore.collection(names().collection(), Count)
        yield* docs.put(c, "a", { n: 1 })
        yield* docs.put(c, "b", { n: 1 })
        yield* docs.put(c, "b", { n: 2 })
        yield* docs.put(c, "c", { n: 1 })
        const error = yield* failsWith("DocumentConflict")(docs.writeMany(c, [
          { id: "new", value: { n: 1 }, expected: "missing" },
          { id: "a", value: { n: 9 }, expected: 1n },
          { id: "c", value: DocumentStore.Delete, expected: 1n },
          { id: "b", value: { n: 9 }, expected: 1n },
          { id: "a2", value: { n: 9 }, expected: 3n },
          { id: "c2", value: { n: 9 }, expected: "any" }
        ]))
        assert.strictEqual(error.collection, c.name)
        assert.strictEqual(error.id, "b")
        assert.strictEqual(error.expected, "version 1")
        assert.strictEqual(error.actual, 2n)
        const found = yield* docs.getMany(c, ["new", "a", "b", "c", "c2"])
        assert.deepStrictEqual(found.map((d) => [d.id, d.version, d.value.n]), [
          ["a", 1n, 1],
          ["b", 2n, 2],
          ["c", 1n, 1]
        ])
      }))

    it.effect("writeMany expecting missing on a stored document, or a version of an absent one, conflicts", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const c = json(names().collection())
        yield* docs.put(c, "there", { v: 1 })
        const onStored = yield* failsWith("DocumentConflict")(
          docs.writeMany(c, [{ id: "ok", value: 1, expected: "missing" }, {
            id: "there",
            value: 2,
            expected: "missing"
          }])
        )
        assert.deepStrictEqual([onStored.id, onStored.expected, onStored.actual], ["there", "missing", 1n])
        const onAbsent = yield* failsWith("DocumentConflict")(
          docs.writeMany(c, [{ id: "absent", value: DocumentStore.Delete, expected: 1n }])
        )
        assert.deepStrictEqual([onAbsent.id, onAbsent.actual], ["absent", undefined])
        const deleteOfStored = yield* failsWith("DocumentConflict")(
          docs.writeMany(c, [{ id: "there", value: DocumentStore.Delete, expected: "missing" }])
        )
        assert.strictEqual(deleteOfStored.id, "there")
        assert.isTrue(Option.isNone(yield* docs.get(c, "ok")))
        assert.isTrue(Option.isSome(yield* docs.get(c, "there")))
      }))

    it.effect("a batch above what one statement binds is written whole (300 documents)", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const c = DocumentStore.collection(names().collection(), Count)
        const ids = Array.from({ length: 300 }, (_, i) => `d-${i}`)
        yield* docs.writeMany(c, ids.map((id, i) => ({ id, value: { n: i }, expected: "missing" as const })))
        const first = yield* docs.getMany(c, ids)
        assert.strictEqual(first.length, 300)
        const versions = yield* docs.writeMany(
          c,
          first.map((d) => ({ id: d.id, value: { n: d.value.n + 1 }, expected: d.version }))
        )
        assert.deepStrictEqual(versions, ids.map(() => 2n))
        const second = yield* docs.getMany(c, ids)
        assert.deepStrictEqual(second.map((d) => d.value.n), ids.map((_, i) => i + 1))
        assert.strictEqual(yield* docs.count(c), 300)
      }))

    it.effect("more than maxBatch ids or writes, or an id written twice, is InvalidArgument; a bad id InvalidDocument", () =>
      Effect.gen(function*() {
        const docs = yield* DocumentStore.DocumentStore
        const c = json(names().collection())
        const many = Array.from({ length: DocumentStore.maxBatch + 1 }, (_, i) => `d-${i}`)
        yield* failsWith("InvalidArgument")(docs.getMany(c, many))
        yield* failsWith("InvalidArgument")(docs.writeMany(c, many.map((id) => ({ id, value: 1 }))))
        const twice = yield* failsWith("InvalidArgument")(
          docs.writeMany(c, [{ id: "x", value: 1 }, { id: "x", value: 2 }])
        )
        assert.include(twice.detail, "\"x\"")
        yield* failsWith("InvalidArgument")(docs.writeMany(c, [{ id: "x", value: 1, expected: 0n }]))
        yield* failsWith("InvalidDocument")(docs.getMany(c, ["ok", ""]))
        yield* failsWith("InvalidDocument")(docs.writeMany(c, [{ id: "ok", value: 1 }, { id: "", value: 1 }]))
        const typed = DocumentStore.collection(names().collection(), Count)
        yield* failsWith("InvalidDocument")(
          docs.writeMany(typed, [{ id: "a", value: { n: 1 } }, { id: "b", value: { n: "no" } as never }])
        )
        assert.strictEqual(yield* docs.count(c), 0)
        assert.strictEqual(yield* docs.count(typed), 0)
      }))
  })
}
