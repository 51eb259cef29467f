import { assert, describe, it } from "@effect/vitest"
import { DocumentStore, Event, EventStore, MemoryStore, Metrics, Retry, Store, StoreError } from "@strata/core"
import type { Backend } from "@strata/core/backend"
import { spanNames } from "@strata/test-utils/Spans"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Schema from "effect/Schema"

const docs = DocumentStore.collection("accounts", Schema.Struct({ balance: Schema.Number }))

/**
 * A memory backend whose first append and first document put fail transiently; counts the attempts.
 * Its own layer has no decorators, so the tests see what `Store.layer` adds.
 */
const flakyBackend = () => {
  const attempts = { append: 0, put: 0 }
  const make = Effect.map(MemoryStore.make(), (backend): Backend.Backend => ({
    ...backend,
    eventStore: {
      ...backend.eventStore,
      append: (stream, events, options) =>
        Effect.suspend(() =>
          attempts.append++ === 0
            ? Effect.fail(new StoreError.StoreUnavailable({ operation: "append", reason: "ConnectionError" }))
            : backend.eventStore.append(stream, events, options)
        )
    },
    documentStore: {
      ...backend.documentStore,
      put: (collection, id, value, options) =>
        Effect.suspend(() =>
          attempts.put++ === 0
            ? Effect.fail(new StoreError.StoreUnavailable({ operation: "put", reason: "ConnectionError" }))
            : backend.documentStore.put(collection, id, value, options)
        )
    }
  }))
  return { attempts, layer: Store.layerBackend(make, { retry: false, metrics: false }) }
}

const isolated = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.provideService(effect, Metric.MetricRegistry, new Map())

const count = (metric: Metric.Metric<number, Metric.CounterState<number>>, attributes: Record<string, string>) =>
  Effect.map(Metric.value(Metric.withAttributes(metric, attributes)), (state) => state.count)

const work = Effect.gen(function*() {
  const events = yield* EventStore.EventStore
  const documents = yield* DocumentStore.DocumentStore
  yield* events.append("acct-1", [Event.make("Opened", {})])
  yield* documents.put(docs, "acct-1", { balance: 0 })
})

describe("Store.layer", () => {
  it.live("wraps both services: a transient failure is retried on each, and each counts once in metrics", () =>
    Effect.gen(function*() {
      const backend = flakyBackend()
      yield* work.pipe(Effect.provide(Store.layer(backend.layer)))
      assert.deepStrictEqual(backend.attempts, { append: 2, put: 2 })
      assert.strictEqual(yield* count(Metrics.appendsTotal, { backend: "memory", operation: "append" }), 1)
      const put = { backend: "memory", operation: "put" }
      assert.strictEqual(yield* count(Metrics.documentOperationsTotal, { ...put, outcome: "ok" }), 1)
      assert.strictEqual(yield* count(Metrics.documentOperationsTotal, { ...put, outcome: "StoreUnavailable" }), 0)
      const duration = yield* Metric.value(Metric.withAttributes(Metrics.documentDuration, put))
      assert.strictEqual(duration.count, 1)
    }).pipe(isolated))

  it.live("each decorator can be turned off", () =>
    Effect.gen(function*() {
      const backend = flakyBackend()
      const error = yield* Effect.flip(work.pipe(Effect.provide(Store.layer(backend.layer, { retry: false }))))
      assert.strictEqual(error._tag, "StoreUnavailable")
      assert.strictEqual(backend.attempts.append, 1)
      yield* work.pipe(Effect.provide(Store.layer(flakyBackend().layer, { metrics: false })))
      assert.strictEqual(yield* count(Metrics.appendsTotal, { backend: "memory", operation: "append" }), 0)
    }).pipe(isolated))

  it.effect("spans: false records no span; the default records the backend's", () =>
    Effect.gen(function*() {
      const off = yield* spanNames(work.pipe(Effect.provide(Store.layer(MemoryStore.layer(), { spans: false }))))
      assert.deepStrictEqual(off.filter((name) => name.startsWith("strata.")), [])
      const on = yield* spanNames(work.pipe(Effect.provide(Store.layer(MemoryStore.layer()))))
      assert.deepStrictEqual(on.filter((name) => name.startsWith("strata.")), [
        "strata.append",
        "strata.document.put"
      ])
    }))

  it.live("passes the backend's other services through, and leaves no undecorated store behind", () =>
    Effect.gen(function*() {
      class Extra extends Context.Service<Extra, { readonly n: number }>()("test/Extra") {}
      const backend = flakyBackend()
      const withExtra = Layer.merge(backend.layer, Layer.succeed(Extra, { n: 7 }))
      yield* Effect.gen(function*() {
        assert.strictEqual((yield* Extra).n, 7)
        yield* work
      }).pipe(Effect.provide(Store.layer(withExtra)))
      assert.deepStrictEqual(backend.attempts, { append: 2, put: 2 })
    }))

  it.live("the trap it replaces: Layer.merge(Retry.layer(), backend) type-checks but does not retry", () =>
    Effect.gen(function*() {
      const backend = flakyBackend()
      const merged = Layer.merge(Retry.layer(), backend.layer).pipe(Layer.provide(flakyBackend().layer))
      const error = yield* Effect.flip(work.pipe(Effect.provide(merged)))
      assert.strictEqual(error._tag, "StoreUnavailable")
    }))

  it.effect("store durations use millisecond buckets from 0.5 ms to 10 s", () =>
    Effect.gen(function*() {
      yield* work.pipe(Effect.provide(Store.layer(MemoryStore.layer())))
      const state = yield* Metric.value(
        Metric.withAttributes(Metrics.appendDuration, { backend: "memory", operation: "append" })
      )
      const bounds = state.buckets.map(([bound]) => bound).filter(Number.isFinite)
      assert.deepStrictEqual(bounds, [...Metrics.durationBoundaries])
    }).pipe(isolated))
})
