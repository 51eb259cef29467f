import { assert, describe, it } from "@effect/vitest"
import { Lease } from "@strata/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as TestClock from "effect/testing/TestClock"

describe("Lease (memory store, TestClock)", () => {
  it.effect("a stalled holder's lease is taken over exactly when its TTL has passed", () =>
    Effect.gen(function*() {
      const store = yield* Lease.makeMemory
      const a = yield* store.acquire("job", "a", Duration.seconds(10))
      assert.isTrue(Option.isSome(a))
      yield* TestClock.adjust("9999 millis")
      assert.isTrue(Option.isNone(yield* store.acquire("job", "b", Duration.seconds(10))), "still a's at TTL - 1 ms")
      yield* TestClock.adjust("1 millis")
      const b = yield* store.acquire("job", "b", Duration.seconds(10))
      assert.isTrue(Option.isSome(b) && Option.isSome(a) && b.value.token === a.value.token + 1n)
    }))

  it.effect("holding renews in the background, so a standby waits as long as the holder lives", () =>
    Effect.gen(function*() {
      const store = yield* Lease.makeMemory
      const holder = yield* Effect.forkChild(
        Lease.holding("job", { ttl: "3 seconds", holder: "a" })(() => Effect.never).pipe(
          Effect.provideService(Lease.LeaseStore, store)
        )
      )
      yield* TestClock.adjust("10 millis")
      for (let i = 0; i < 10; i++) {
        yield* TestClock.adjust("1 second")
        assert.isTrue(Option.isNone(yield* store.acquire("job", "b", Duration.seconds(3))), `held after ${i + 1} s`)
      }
      yield* Fiber.interrupt(holder)
      assert.isTrue(Option.isSome(yield* store.acquire("job", "b", Duration.seconds(3))), "released on interruption")
    }))
})
