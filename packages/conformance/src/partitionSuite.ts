/**
 * Subscribing to one partition of the global log (`filter.partition`), as consumer-group members do.
 *
 * @since 0.1.0
 */
import { assert, describe } from "@effect/vitest"
import { ConsumerGroup, EventStore } from "@strata/core"
import * as Effect from "effect/Effect"
import { assertIncreasing, collect, events, names, readAll, streamFailsWith } from "./internal/fixtures.ts"
import { type ConformanceIt, resolve, type SuiteOptions } from "./SuiteOptions.ts"

/**
 * Registers the partitioned-subscription tests.
 *
 * @category suites
 * @since 0.1.0
 */
export const partitionSuite = (it: ConformanceIt, options?: SuiteOptions): void => {
  const { deliveryTimeout } = resolve(options)

  describe("subscribeAll by partition", () => {
    it.effect("each partition's subscription delivers its stored then live events, the union is the log", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const count = 3
        const streams = Array.from({ length: 12 }, (_, i) => n.stream(`s${i}`))
        for (const stream of streams.slice(0, 6)) yield* store.append(stream, events(n.type("E"), 2))
        const subs = yield* Effect.forEach(
          Array.from({ length: count }, (_, index) => index),
          (index) =>
            collect(
              store.subscribeAll({
                from: "start",
                filter: { categories: [n.category], partition: { count, index } }
              }),
              deliveryTimeout
            )
        )
        const countOf = (index: number, from: number, to: number) =>
          streams.slice(from, to).filter((stream) => ConsumerGroup.partitionOf(stream, count) === index).length * 2
        const stored = yield* Effect.forEach(subs, (sub, index) => sub.take(countOf(index, 0, 6)))
        for (const stream of streams.slice(6)) yield* store.append(stream, events(n.type("E"), 2))
        const live = yield* Effect.forEach(subs, (sub, index) => sub.take(countOf(index, 6, 12)))
        const union: Array<(typeof stored)[number][number]> = []
        for (let index = 0; index < count; index++) {
          const got = [...stored[index], ...live[index]]
          assertIncreasing(got.map((e) => e.position), `positions of partition ${index}`)
          for (const event of got) assert.strictEqual(ConsumerGroup.partitionOf(event.stream, count), index)
          union.push(...got)
        }
        union.sort((a, b) => (a.position < b.position ? -1 : a.position > b.position ? 1 : 0))
        const whole = yield* readAll({ filter: { categories: [n.category] } })
        assert.deepStrictEqual(union.map((e) => e.id), whole.map((e) => e.id))
        for (const sub of subs) assert.deepStrictEqual(yield* sub.drain, [])
      }))

    it.effect("a bad partition fails subscribeAll with InvalidArgument", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const error = yield* streamFailsWith("InvalidArgument")(
          store.subscribeAll({ filter: { partition: { count: 2, index: 2 } } })
        )
        assert.strictEqual(error.operation, "subscribeAll")
      }))
  })
}
