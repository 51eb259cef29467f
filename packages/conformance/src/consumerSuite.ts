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
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { names } from "./internal/fixtures.ts"

// Waits (polling the store) until the consumer's checkpoint is `position`.
const untilCheckpoint = (name: string, position: bigint) =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    while (true) {
      const checkpoint = yield* store.loadCheckpoint(name)
      if (checkpoint._tag === "Some" && checkpoint.value >= position) return
      yield* Effect.sleep("5 millis")
    }
  })
import { type ConformanceIt, resolve, type SuiteOptions } from "./SuiteOptions.ts"

/**
 * Registers the consumer tests.
 *
 * @category suites
 * @since 0.1.0
 */
export const consumerSuite = (it: ConformanceIt, options?: SuiteOptions): void => {
  const { deliveryTimeout, transactionalCheckpoints } = resolve(options)

  describe("consumers, defaults", () => {
    it.effect("catching up with the defaults commits fewer times than it handles events, in order", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const checkpoints = yield* Consumer.Checkpoints
        const n = names()
        const total = 40
        const { position } = yield* store.append(
          n.stream(),
          Array.from({ length: total }, (_, i) => Event.make(n.type("E"), { i }))
        )
        const commits: Array<bigint> = []
        const counting: Consumer.CheckpointStore = {
          ...checkpoints,
          fenced: undefined,
          commit: (name, at, work) =>
            checkpoints.commit(name, at, Effect.tap(work, () => Effect.sync(() => void commits.push(at))))
        }
        const handled: Array<number> = []
        const fiber = yield* Effect.forkChild(
          Consumer.run(n.checkpoint(), {
            filter: { categories: [n.category] },
            handler: (event) => Effect.sync(() => void handled.push((event.data as { i: number }).i))
          }).pipe(Effect.provideService(Consumer.Checkpoints, counting))
        )
        yield* untilCheckpoint(n.checkpoint(), position)
        yield* Fiber.interrupt(fiber)
        assert.deepStrictEqual(handled, Array.from({ length: total }, (_, i) => i))
        assert.isBelow(commits.length, total, `${commits.length} commits for ${total} events`)
        assert.strictEqual(commits[commits.length - 1], position)
      }).pipe(Effect.timeout(deliveryTimeout)))

    it.effect("with the defaults, an event appended while caught up is handled and committed within 2 s", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const first = yield* store.append(n.stream(), [Event.make(n.type("E"), { i: 0 })])
        const fiber = yield* Effect.forkChild(
          Consumer.run(n.checkpoint(), { filter: { categories: [n.category] }, handler: () => Effect.void })
        )
        yield* untilCheckpoint(n.checkpoint(), first.position).pipe(Effect.timeout(deliveryTimeout))
        const live = yield* store.append(n.stream(), [Event.make(n.type("E"), { i: 1 })])
        // A batch never waits to fill up: the lone live event commits on its own.
        yield* untilCheckpoint(n.checkpoint(), live.position).pipe(Effect.timeout("2 seconds"))
        yield* Fiber.interrupt(fiber)
      }))
  })

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
