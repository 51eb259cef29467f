/**
 * Consumers: a handler's document writes and its checkpoint commit together. A batch whose handler
 * fails leaves neither the documents it wrote nor a checkpoint past it, on every backend whose
 * checkpoints are transactional (memory, SQLite, PostgreSQL; not D1, which has no transactions).
 *
 * @since 0.1.0
 */
import { assert, describe } from "@effect/vitest"
import { Consumer, DocumentStore, Event, EventStore } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { names } from "./internal/fixtures.ts"
import { type ConformanceIt, resolve, type SuiteOptions } from "./SuiteOptions.ts"

/**
 * Registers the consumer tests.
 *
 * @category suites
 * @since 0.1.0
 */
export const consumerSuite = (it: ConformanceIt, options?: SuiteOptions): void => {
  const { transactionalCheckpoints } = resolve(options)
  if (!transactionalCheckpoints) return

  describe("consumers", () => {
    it.effect("a handler that fails after writing a document leaves neither the document nor a checkpoint", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const collection = DocumentStore.collection(n.collection(), Schema.Unknown)
        yield* store.append(n.stream(), [Event.make(n.type("E"), { i: 0 })])
        const exit = yield* Effect.exit(
          Consumer.run(n.checkpoint(), {
            filter: { categories: [n.category] },
            handler: (event) =>
              Effect.andThen(docs.put(collection, "seen", { version: Number(event.version) }), Effect.fail("boom"))
          })
        )
        assert.isTrue(Exit.isFailure(exit), "the consumer stops on its handler's failure")
        assert.isTrue(Option.isNone(yield* docs.get(collection, "seen")), "the document write was rolled back")
        assert.isTrue(Option.isNone(yield* store.loadCheckpoint(n.checkpoint())), "no checkpoint was committed")
      }))

    it.effect("a handler that succeeds commits its document and the checkpoint together", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const docs = yield* DocumentStore.DocumentStore
        const n = names()
        const collection = DocumentStore.collection(n.collection(), Schema.Unknown)
        const { position } = yield* store.append(n.stream(), [Event.make(n.type("E"), { i: 0 })])
        yield* Consumer.make(n.checkpoint(), {
          filter: { categories: [n.category] },
          handler: () => Effect.asVoid(docs.put(collection, "seen", { ok: true }))
        }).pipe(
          Effect.tap((consumer) => consumer.waitFor(position)),
          Effect.scoped
        )
        assert.deepStrictEqual(yield* store.loadCheckpoint(n.checkpoint()), Option.some(position))
        assert.isTrue(Option.isSome(yield* docs.get(collection, "seen")))
      }))
  })
}
