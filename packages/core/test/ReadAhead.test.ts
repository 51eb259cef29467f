/**
 * The consume loop's read-ahead (issue 23): every element once and in order, whatever is read
 * meanwhile taken at once, the reader held at `capacity`, the upstream's failure and end passed on.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import { readAhead } from "../src/processing/internal/consumer/readAhead.ts"

const pages = (count: number, size: number) =>
  Array.from({ length: count }, (_, page) => Array.from({ length: size }, (_, i) => page * size + i))

describe("readAhead", () => {
  it.effect("hands every element over once, in order, in the arrays read meanwhile", () =>
    Effect.gen(function*() {
      const taken: Array<ReadonlyArray<number>> = []
      yield* Stream.runForEachArray(
        readAhead(Stream.fromArrays(...pages(10, 5)), 1000),
        (array) =>
          Effect.gen(function*() {
            taken.push([...array])
            // A handler that takes its time: the reader reads on meanwhile.
            for (let i = 0; i < 10; i++) yield* Effect.yieldNow
          })
      )
      assert.deepStrictEqual(taken.flat(), Array.from({ length: 50 }, (_, i) => i))
      // Each take after the first gets all the pages read while the one before was handled.
      assert.isBelow(taken.length, 5)
    }))

  it.effect("the reader stops at capacity until the consumer takes", () =>
    Effect.gen(function*() {
      let read = 0
      const source = Stream.fromArrays(...pages(10, 5)).pipe(Stream.tap(() => Effect.sync(() => read++)))
      const first = yield* Deferred.make<ReadonlyArray<number>>()
      const release = yield* Deferred.make<void>()
      const taken: Array<number> = []
      const fiber = yield* Effect.forkChild(Stream.runForEachArray(readAhead(source, 12), (array) =>
        Effect.gen(function*() {
          if (taken.length === 0) {
            yield* Deferred.succeed(first, array)
            yield* Deferred.await(release)
          }
          taken.push(...array)
        })))
      yield* Deferred.await(first)
      for (let i = 0; i < 20; i++) {
        yield* Effect.yieldNow
      }
      // At most one page past capacity is read while the first take is held.
      const firstSize = (yield* Deferred.await(first)).length
      assert.isAtMost(read - firstSize, 15)
      assert.isBelow(read, 50)
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(
        taken,
        Array.from({ length: 50 }, (_, i) =>
          i)
      )
    }))

  it.effect("passes the upstream's failure on after what was read before it", () =>
    Effect.gen(function*() {
      const taken: Array<number> = []
      const failed = yield* Stream.runForEachArray(
        readAhead(Stream.concat(Stream.fromArrays(...pages(3, 4)), Stream.fail("boom")), 100),
        (array) =>
          Effect.sync(() => {
            taken.push(...array)
          })
      ).pipe(Effect.flip)
      assert.strictEqual(failed, "boom")
      assert.deepStrictEqual(taken, Array.from({ length: 12 }, (_, i) => i))
    }))

  it.effect("an empty upstream ends at once", () =>
    Effect.gen(function*() {
      const all = yield* Stream.runCollect(readAhead(Stream.empty, 10))
      assert.deepStrictEqual(all, [])
    }))
})
