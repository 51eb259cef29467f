/**
 * Sizes: every statement built from caller-sized input (multi-stream appends, documents carrying
 * events, filters with many values) works at any size the single-stream path accepts, whatever the
 * database's limit on bound parameters (PostgreSQL 32,767, SQLite 32,766, D1 100).
 *
 * @since 0.1.0
 */
import { assert, describe } from "@effect/vitest"
import { DocumentStore, EventStore } from "@strata/core"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { events, names, readAll, readStream } from "./internal/fixtures.ts"
import { type ConformanceIt, resolve, type SuiteOptions } from "./SuiteOptions.ts"

/**
 * Registers the size tests.
 *
 * @category suites
 * @since 0.1.0
 */
export const sizeSuite = (it: ConformanceIt, options?: SuiteOptions): void => {
  const { largeAppendEvents, supportsAppendMany } = resolve(options)
  // Multiples of 40, so 50 streams share the same total evenly.
  const perStream = Math.max(40, Math.floor(largeAppendEvents / 80) * 40)

  describe("sizes", () => {
    if (supportsAppendMany) {
      it.effect(
        `appendMany of 2 x ${perStream} events writes every event (more than one statement's parameters)`,
        () =>
          Effect.gen(function*() {
            const store = yield* EventStore.EventStore
            const n = names()
            const results = yield* store.appendMany([
              { stream: n.stream("a"), events: events(n.type("E"), perStream) },
              { stream: n.stream("b"), events: events(n.type("E"), perStream) }
            ])
            assert.deepStrictEqual(results.map((r) => r.nextExpectedVersion), [
              BigInt(perStream - 1),
              BigInt(perStream - 1)
            ])
            assert.strictEqual((yield* readStream(n.stream("a"))).length, perStream)
            assert.strictEqual((yield* readStream(n.stream("b"))).length, perStream)
          }),
        { timeout: 120_000 }
      )

      it.effect(
        `appendMany across 50 streams of ${perStream / 40} events each writes every event`,
        () =>
          Effect.gen(function*() {
            const store = yield* EventStore.EventStore
            const n = names()
            const requests = Array.from(
              { length: 50 },
              (_, i) => ({ stream: n.stream(`s${i}`), events: events(n.type("E"), perStream / 40) })
            )
            const results = yield* store.appendMany(requests)
            assert.strictEqual(results.length, 50)
            const all = yield* readAll({ filter: { categories: [n.category] } })
            assert.strictEqual(all.length, 50 * (perStream / 40))
          }),
        { timeout: 120_000 }
      )

      it.effect(
        `a document put carrying 2 x ${perStream} events commits them all with the document`,
        () =>
          Effect.gen(function*() {
            const docs = yield* DocumentStore.DocumentStore
            const n = names()
            const collection = DocumentStore.collection(n.collection(), Schema.Unknown)
            const written = yield* docs.put(collection, "big", { ok: true }, {
              expected: "missing",
              events: [
                { stream: n.stream("a"), events: events(n.type("E"), perStream) },
                { stream: n.stream("b"), events: events(n.type("E"), perStream) }
              ]
            })
            assert.strictEqual(written.version, 1n)
            assert.strictEqual(written.appended.length, 2)
            assert.strictEqual((yield* readStream(n.stream("b"))).length, perStream)
          }),
        { timeout: 120_000 }
      )
    }

    it.effect(
      "a document query with an `in` list of 5,000 values answers it, or refuses it with InvalidQuery",
      () =>
        Effect.gen(function*() {
          const docs = yield* DocumentStore.DocumentStore
          const n = names()
          const collection = DocumentStore.collection(n.collection(), Schema.Struct({ code: Schema.Number }))
          yield* docs.put(collection, "wanted", { code: 4_999 })
          yield* docs.put(collection, "other", { code: -1 })
          const codes = Array.from({ length: 5_000 }, (_, i) => i)
          const exit = yield* Effect.exit(Stream.runCollect(docs.find(collection, { where: { code: { in: codes } } })))
          if (Exit.isSuccess(exit)) {
            assert.deepStrictEqual(exit.value.map((d) => d.id), ["wanted"])
          } else {
            // A backend whose statements bind fewer values (D1: 100) refuses it up front, typed.
            const failure = exit.cause.reasons.find(Cause.isFailReason)
            assert.isDefined(failure, "a typed failure, not a defect")
            assert.strictEqual(failure?.error._tag, "InvalidQuery")
          }
        }),
      { timeout: 60_000 }
    )

    it.effect(
      "readAll with 5,000 types, 5,000 categories and 5,000 prefixes in its filter finds the matching events",
      () =>
        Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          const n = names()
          yield* store.append(n.stream(), events(n.type("Wanted"), 3))
          const types = [...Array.from({ length: 4_999 }, (_, i) => n.type(`Other${i}`)), n.type("Wanted")]
          const categories = [...Array.from({ length: 4_999 }, (_, i) => `${n.category}x${i}`), n.category]
          const streamPrefixes = [...Array.from({ length: 4_999 }, (_, i) => `${n.category}-nope${i}`), n.stream()]
          const found = yield* readAll({ filter: { types, categories, streamPrefixes } })
          assert.deepStrictEqual(found.map((e) => e.type), [n.type("Wanted"), n.type("Wanted"), n.type("Wanted")])
        }),
      { timeout: 60_000 }
    )
  })
}
