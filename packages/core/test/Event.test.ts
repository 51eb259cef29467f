import { assert, describe, it } from "@effect/vitest"
import { Event, EventStore, MemoryStore, Store } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"

const detail = (data: unknown) =>
  Effect.gen(function*() {
    const result = yield* Effect.result(Event.prepare("cart-1", [{ type: "E", data }]))
    assert.isTrue(Result.isFailure(result))
    if (Result.isFailure(result)) return result.failure.detail
    return ""
  })

describe("Event.prepare", () => {
  it.effect("names the path to the part of the data that is not JSON", () =>
    Effect.gen(function*() {
      assert.strictEqual(
        yield* detail({ lines: [{ sku: "a" }, { at: new Date(0) }] }),
        "data is not plain JSON: $.lines[1].at is a Date, not a plain object; encode it first (for example with its Schema)"
      )
      assert.strictEqual(
        yield* detail({ "a b": [1, Number.NaN] }),
        "data is not plain JSON: $.a b[1] is NaN, which JSON cannot represent"
      )
      const cyclic: Record<string, unknown> = { inner: { list: [0] } }
      ;(cyclic.inner as { list: Array<unknown> }).list.push(cyclic)
      assert.strictEqual(
        yield* detail(cyclic),
        "data is not plain JSON: $.inner.list[1] refers back to one of its parents (a cycle)"
      )
    }))

  it.effect("accepts a shared (not cyclic) object twice and drops undefined properties", () =>
    Effect.gen(function*() {
      const shared = { sku: "a" }
      const [event] = yield* Event.prepare("cart-1", [{ type: "E", data: { a: shared, b: [shared], c: undefined } }])
      assert.strictEqual(event.data, JSON.stringify({ a: shared, b: [shared] }))
    }))

  it("makes strictly increasing v7 ids, also within one millisecond", () => {
    const ids = Array.from({ length: 10_000 }, Event.makeEventId)
    const v7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
    for (let i = 0; i < ids.length; i++) {
      if (!v7.test(ids[i])) assert.fail(`id ${i} (${ids[i]}) is not a UUIDv7`)
      if (i > 0 && !(ids[i - 1] < ids[i])) assert.fail(`id ${i} (${ids[i]}) is not after id ${i - 1} (${ids[i - 1]})`)
    }
    // The first 48 bits are the millisecond: 10,000 ids share milliseconds, so the order within one
    // millisecond is what this checks.
    const millis = new Set(ids.map((id) => id.slice(0, 8) + id.slice(9, 13)))
    assert.isBelow(millis.size, ids.length)
  })
})

describe("Event metadata from the context", () => {
  const cause = { id: "0190a5d2-0000-7000-8000-000000000001" }

  it.effect("metadata that is not a plain object is left for the store to refuse, not replaced", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      const error = yield* Effect.flip(
        store.append("cart-1", [{ type: "E", data: {}, metadata: new Date(0) as never }]).pipe(Event.causedBy(cause))
      )
      assert.strictEqual(error._tag, "InvalidEvent")
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("a store with spans off still records the caller's span; a disabled tracer records none", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      const span = yield* Effect.withSpan(
        Effect.tap(Effect.currentSpan, () => store.append("cart-2", [Event.make("E", {})])),
        "caller"
      )
      yield* Effect.withSpan(store.append("cart-3", [Event.make("E", {})]), "untraced").pipe(
        Effect.withTracerEnabled(false)
      )
      const [traced] = yield* Stream.runCollect(store.read("cart-2"))
      const [untraced] = yield* Stream.runCollect(store.read("cart-3"))
      assert.deepStrictEqual(traced.metadata, { traceId: span.traceId, spanId: span.spanId })
      assert.deepStrictEqual(untraced.metadata, {})
    }).pipe(Effect.provide(Store.layer(MemoryStore.layer(), { spans: false }))))

  it.effect("causedBy replaces an outer cause; correlatedWith keeps the cause", () =>
    Effect.gen(function*() {
      const inner = { id: "0190a5d2-0000-7000-8000-000000000002", metadata: { correlationId: "c-2" } }
      const seen = yield* Effect.flatMap(
        Effect.flatMap(Effect.service(Event.CurrentCausation), (outer) =>
          Effect.map(
            Effect.service(Event.CurrentCausation).pipe(Event.causedBy(inner)),
            (nested) => [outer, nested]
          )),
        (pair) =>
          Effect.map(Effect.service(Event.CurrentCausation).pipe(Event.correlatedWith("r-1")), (c) => [...pair, c])
      ).pipe(Event.causedBy(cause))
      assert.deepStrictEqual(seen, [
        { causationId: cause.id, correlationId: cause.id },
        { causationId: inner.id, correlationId: "c-2" },
        { causationId: cause.id, correlationId: "r-1" }
      ])
    }))
})
