import { assert, it } from "@effect/vitest"
import { Event, EventStore, ExpectedVersion, MemoryStore } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"

it.live("memory smoke", () =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    const r = yield* store.append("cart-1", [Event.make("A", { n: 1 }), Event.make("B", { n: 2 })], {
      expected: ExpectedVersion.noStream
    })
    assert.strictEqual(r.nextExpectedVersion, 1n)
    const e = yield* Effect.flip(store.append("cart-1", [Event.make("A", {})], { expected: ExpectedVersion.noStream }))
    assert.strictEqual(e._tag, "WrongExpectedVersion")
    const all = yield* Stream.runCollect(store.read("cart-1"))
    assert.deepStrictEqual(all.map((x) => x.type), ["A", "B"])
    const fiber = yield* Stream.runCollect(Stream.take(store.subscribeAll({ from: "start" }), 5)).pipe(Effect.forkChild)
    yield* Effect.sleep("10 millis")
    yield* store.append("cart-2", [Event.make("C", {}), Event.make("D", {}), Event.make("E", {})])
    const got = yield* Fiber.join(fiber)
    assert.deepStrictEqual(got.map((x) => x.position), [1n, 2n, 3n, 4n, 5n])
  }).pipe(Effect.provide(MemoryStore.layer())))
