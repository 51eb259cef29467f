import { assert, describe, it } from "@effect/vitest"
import { Event, EventStore, ExpectedVersion, MemoryStore, Metrics, Retry, Store, StoreError } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"

// Fails the first append with a transient error.
const attempts = { count: 0 }
const flaky = {
  get failures() {
    return attempts.count
  },
  layer: Layer.effect(
    EventStore.EventStore,
    Effect.map(EventStore.EventStore, (store) =>
      EventStore.EventStore.of({
        ...store,
        append: (stream, events, options) =>
          Effect.suspend(() =>
            attempts.count++ === 0
              ? Effect.fail(new StoreError.StoreUnavailable({ operation: "append", reason: "test" }))
              : store.append(stream, events, options)
          )
      }))
  )
}

// The decorators under test over a store built without its own.
const store = Metrics.layer().pipe(Layer.provide(Store.layer(MemoryStore.layer(), { metrics: false, retry: false })))

// Each test gets its own registry: metrics are global otherwise.
const isolated = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.provideService(effect, Metric.MetricRegistry, new Map())

const count = (metric: Metric.Metric<number, Metric.CounterState<number>>, attributes: Record<string, string>) =>
  Effect.map(Metric.value(Metric.withAttributes(metric, attributes)), (state) => state.count)

describe("Metrics", () => {
  it.effect("counts appends, appended events, conflicts, errors, durations and events read", () =>
    Effect.gen(function*() {
      const events = yield* EventStore.EventStore
      yield* events.append("m-1", [Event.make("A", {}), Event.make("B", {})], { expected: ExpectedVersion.noStream })
      yield* events.append("m-1", [Event.make("C", {})], { expected: ExpectedVersion.exact(1) })
      const conflict = yield* Effect.flip(
        events.append("m-1", [Event.make("D", {})], { expected: ExpectedVersion.noStream })
      )
      assert.strictEqual(conflict._tag, "WrongExpectedVersion")
      const invalid = yield* Effect.flip(events.append("m-1", []))
      assert.strictEqual(invalid._tag, "InvalidEvent")
      yield* events.appendMany([
        { stream: "m-2", events: [Event.make("E", {})] },
        { stream: "m-3", events: [Event.make("F", {}), Event.make("G", {})] }
      ])
      assert.strictEqual((yield* Stream.runCollect(events.read("m-1"))).length, 3)
      assert.strictEqual((yield* Stream.runCollect(events.readAll())).length, 6)
      assert.strictEqual((yield* Stream.runCollect(Stream.take(events.subscribeAll(), 4))).length, 4)

      const append = { backend: "memory", operation: "append" }
      const many = { backend: "memory", operation: "appendMany" }
      assert.deepStrictEqual(
        [
          yield* count(Metrics.appendsTotal, append),
          yield* count(Metrics.eventsAppendedTotal, append),
          yield* count(Metrics.appendConflictsTotal, append),
          yield* count(Metrics.appendErrorsTotal, { ...append, error: "WrongExpectedVersion" }),
          yield* count(Metrics.appendErrorsTotal, { ...append, error: "InvalidEvent" })
        ],
        [2, 3, 1, 1, 1]
      )
      assert.deepStrictEqual(
        [
          yield* count(Metrics.appendsTotal, many),
          yield* count(Metrics.eventsAppendedTotal, many),
          yield* count(Metrics.appendConflictsTotal, many)
        ],
        [1, 3, 0]
      )
      const duration = yield* Metric.value(Metric.withAttributes(Metrics.appendDuration, append))
      assert.strictEqual(duration.count, 4)
      assert.deepStrictEqual(
        [
          yield* count(Metrics.eventsReadTotal, { backend: "memory", operation: "read" }),
          yield* count(Metrics.eventsReadTotal, { backend: "memory", operation: "readAll" }),
          yield* count(Metrics.eventsReadTotal, { backend: "memory", operation: "subscribeAll" })
        ],
        // A page counts in full when it is pulled, even if the consumer takes only part of it.
        [3, 6, 6]
      )
      // Every series carries the backend.
      const series = (yield* Metric.snapshot).filter((s) => s.id.startsWith("strata_"))
      assert.isAbove(series.length, 0)
      assert.isTrue(series.every((s) => s.attributes?.backend === "memory"))
    }).pipe(Effect.provide(store), isolated))

  it.live("adds the given attributes; outside the retry layer a retried append counts once", () =>
    Effect.gen(function*() {
      const events = yield* EventStore.EventStore
      yield* events.append("m-4", [Event.make("A", {})])
      yield* events.append("m-4", [Event.make("B", {})])
      const attributes = { backend: "memory", operation: "append", service: "billing" }
      assert.strictEqual(yield* count(Metrics.appendsTotal, attributes), 2)
      assert.strictEqual(yield* count(Metrics.appendErrorsTotal, { ...attributes, error: "StoreUnavailable" }), 0)
      assert.strictEqual(yield* count(Metrics.appendsTotal, { backend: "memory", operation: "append" }), 0)
      // One failed attempt, then one per committed append.
      assert.strictEqual(flaky.failures, 3)
    }).pipe(
      Effect.provide(
        Metrics.layer({ attributes: { service: "billing" } }).pipe(
          Layer.provide(Retry.layer(Schedule.recurs(3))),
          Layer.provide(flaky.layer),
          Layer.provide(Store.layer(MemoryStore.layer(), { metrics: false, retry: false }))
        )
      ),
      isolated
    ))

  it("withMetrics is dual", () => {
    const shape = { backend: "x", append: () => Effect.void } as unknown as EventStore.EventStoreShape
    assert.strictEqual(Metrics.withMetrics(shape).backend, "x")
    assert.strictEqual(Metrics.withMetrics({ attributes: { a: "b" } })(shape).backend, "x")
  })
})
