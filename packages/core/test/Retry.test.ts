import { assert, describe, it } from "@effect/vitest"
import { DocumentStore, EventStore, MemoryStore, Retry, StoreError } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"

const unavailable = (operation: string) => new StoreError.StoreUnavailable({ operation, reason: "ConnectionError" })

const finalErrors = [
  new StoreError.WrongExpectedVersion({ stream: "s", expected: "no stream", actual: 0n }),
  new StoreError.StreamDeleted({ stream: "s", tombstoned: true }),
  new StoreError.DuplicateEvent({ stream: "s", eventId: "00000000-0000-7000-8000-000000000000" }),
  new StoreError.InvalidEvent({ stream: "s", reason: "NotJson", detail: "x" }),
  new StoreError.InvalidArgument({ operation: "append", detail: "x" })
] as const

/** A memory store whose append and subscribeAll fail with `error` (each call counted) `failures` times. */
const failing = (error: unknown, failures = Number.POSITIVE_INFINITY) =>
  Effect.gen(function*() {
    const { eventStore } = yield* MemoryStore.make()
    const calls = { append: 0, subscribeAll: 0 }
    const store: EventStore.EventStoreShape = {
      ...eventStore,
      append: (stream, events, options) =>
        Effect.suspend(() =>
          calls.append++ < failures ? Effect.fail(error as never) : eventStore.append(stream, events, options)
        ),
      subscribeAll: (options) =>
        Stream.suspend(() =>
          calls.subscribeAll++ < failures ? Stream.fail(error as never) : eventStore.subscribeAll(options)
        )
    }
    return { calls, store, inner: eventStore }
  })

/** Collects what is logged while `effect` runs. */
const captureLogs = <A, E, R>(effect: Effect.Effect<A, E, R>) => {
  const lines: Array<string> = []
  const logger = Logger.make(({ message }) => {
    lines.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
  })
  return effect.pipe(
    Effect.provide(Logger.layer([logger])),
    Effect.map((result) => ({ result, lines }))
  )
}

describe("Retry", () => {
  for (const error of finalErrors) {
    it.effect(`${error._tag} comes back after exactly one attempt`, () =>
      Effect.gen(function*() {
        const { calls, store } = yield* failing(error)
        const retried = Retry.withRetry(store)
        const exit = yield* Effect.exit(retried.append("s", [{ type: "E", data: {} }]))
        assert.isTrue(Exit.isFailure(exit))
        assert.strictEqual(calls.append, 1)
        const streamExit = yield* Effect.exit(Stream.runDrain(retried.subscribeAll()))
        assert.isTrue(Exit.isFailure(streamExit))
        assert.strictEqual(calls.subscribeAll, 1)
      }))
  }

  it.effect("StoreUnavailable is retried as the schedule says: recurs(3) means four attempts, then the error", () =>
    Effect.gen(function*() {
      const { calls, store } = yield* failing(unavailable("append"))
      const exit = yield* Effect.exit(Retry.withRetry(store, Schedule.recurs(3)).append("s", [{ type: "E", data: {} }]))
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(calls.append, 4)
    }))

  it.effect("the default append budget is short: six attempts within 1.6 s, then StoreUnavailable", () =>
    Effect.gen(function*() {
      const { calls, store } = yield* failing(unavailable("append"))
      const fiber = yield* Effect.forkChild(Effect.exit(Retry.withRetry(store).append("s", [{ type: "E", data: {} }])))
      yield* TestClock.adjust("1600 millis")
      const exit = yield* Fiber.join(fiber)
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(calls.append, 6)
    }))

  it.effect("a transient append failure that clears is retried and the append lands once", () =>
    Effect.gen(function*() {
      const { calls, inner, store } = yield* failing(unavailable("append"), 2)
      const fiber = yield* Effect.forkChild(Retry.withRetry(store).append("s", [{ type: "E", data: {} }]))
      yield* TestClock.adjust("1 second")
      const result = yield* Fiber.join(fiber)
      assert.strictEqual(result.nextExpectedVersion, 0n)
      assert.strictEqual(calls.append, 3)
      assert.strictEqual((yield* Stream.runCollect(inner.read("s"))).length, 1)
    }))

  it.effect("the default stream schedule rides out an outage of more than 30 s, with capped backoff", () =>
    Effect.gen(function*() {
      const { calls, store } = yield* failing(unavailable("subscribeAll"))
      let ended = false
      const fiber = yield* Effect.forkChild(
        Effect.exit(Stream.runDrain(Retry.withRetry(store).subscribeAll())).pipe(
          Effect.ensuring(Effect.sync(() => (ended = true)))
        )
      )
      yield* TestClock.adjust("30 seconds")
      assert.isFalse(ended, "the subscription gave up within 30 s")
      // Capped at 5 s between attempts: 100 ms .. 3.2 s (6 waits, 6.3 s), then one every 5 s.
      const byThirty = calls.subscribeAll
      assert.isAtLeast(byThirty, 11)
      assert.isAtMost(byThirty, 13)
      yield* TestClock.adjust("2 minutes")
      const exit = yield* Fiber.join(fiber)
      assert.isTrue(Exit.isFailure(exit), "the subscription ends with the error after its budget")
      assert.isAtMost(calls.subscribeAll, 20)
    }))

  it.effect("a subscription survives an outage, logs each retry with its reason, and resumes after the last event", () =>
    Effect.gen(function*() {
      const { eventStore } = yield* MemoryStore.make()
      let down = false
      const calls = { opened: 0 }
      const flaky: EventStore.EventStoreShape = {
        ...eventStore,
        subscribeAll: (options) =>
          Stream.suspend(() => {
            calls.opened++
            return down ? Stream.fail(unavailable("subscribeAll")) : eventStore.subscribeAll(options).pipe(
              // The connection drops after each delivery while `down` is set.
              Stream.flatMap((event) => down ? Stream.fail(unavailable("subscribeAll")) : Stream.succeed(event))
            )
          })
      }
      const retried = Retry.withRetry(flaky, { streams: Schedule.spaced("1 second") })
      yield* eventStore.append("a-1", [{ type: "E", data: 1 }, { type: "E", data: 2 }])
      const { lines, result: delivered } = yield* captureLogs(Effect.gen(function*() {
        const fiber = yield* Effect.forkChild(Stream.runCollect(Stream.take(retried.subscribeAll(), 4)))
        yield* TestClock.adjust("10 millis")
        down = true
        yield* eventStore.append("a-1", [{ type: "E", data: 3 }])
        yield* TestClock.adjust("3 seconds")
        down = false
        yield* eventStore.append("a-1", [{ type: "E", data: 4 }])
        yield* TestClock.adjust("2 seconds")
        return yield* Fiber.join(fiber)
      }))
      assert.deepStrictEqual(delivered.map((e) => e.data), [1, 2, 3, 4])
      assert.isAtLeast(calls.opened, 3)
      assert.isAtLeast(lines.length, 2)
      assert.isTrue(
        lines.every((line) => line.includes("subscribeAll") && line.includes("ConnectionError")),
        lines.join("\n")
      )
      assert.isTrue(lines.some((line) => line.includes("after position 2")), lines.join("\n"))
    }))

  it.effect("withDocumentRetry retries a document read and counts attempts; final errors once", () =>
    Effect.gen(function*() {
      const { documentStore } = yield* MemoryStore.make()
      const c = DocumentStore.collection("docs", Schema.Unknown)
      let calls = 0
      let fail: unknown = unavailable("get")
      const flaky: DocumentStore.DocumentStoreShape = {
        ...documentStore,
        get: (collection, id) =>
          Effect.suspend(() => (calls++ < 2 ? Effect.fail(fail as never) : documentStore.get(collection, id)))
      }
      yield* documentStore.put(c, "d", { x: 1 })
      const fiber = yield* Effect.forkChild(Retry.withDocumentRetry(flaky).get(c, "d"))
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(Option.map(yield* Fiber.join(fiber), (d) => d.value), Option.some({ x: 1 }))
      assert.strictEqual(calls, 3)
      calls = 0
      fail = new StoreError.InvalidDocument({ collection: "docs", id: "d", detail: "x" })
      yield* Effect.flip(Retry.withDocumentRetry(flaky).get(c, "d"))
      assert.strictEqual(calls, 1)
    }))
})
