/**
 * A fed subscription (Subscription.catchUpThenLive over a LiveFeed, issue 23, many subscribers): the
 * subscription is its own feed member. Across the catch-up/live seam nothing is lost, repeated or
 * reordered; a slow consumer overflows and catches up by itself; interrupting the consumer removes
 * its member from the feed wherever the consumer was (waiting, or in its handler).
 */
import { assert, describe, it } from "@effect/vitest"
import type { Event } from "@strata/core"
import { MemoryStore, Metrics, Retry } from "@strata/core"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { fixture } from "./feedFixture.ts"

const waitUntil = (check: () => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 1_000 && !check(); i++) yield* Effect.yieldNow
    assert.isTrue(check(), "condition reached")
  })

const positions = (events: ReadonlyArray<Event.RecordedEvent>) => events.map((e) => Number(e.position))

describe("Subscription (fed by a LiveFeed)", () => {
  it.effect("catch-up then live: every event once, in order, across the seam", () =>
    Effect.gen(function*() {
      const { append, feed, subscribe } = yield* fixture({ pageSize: 4 })
      yield* append("s-1", 9)
      yield* append("s-2", 3)
      const got: Array<Event.RecordedEvent> = []
      const fiber = yield* Stream.runForEach(subscribe("s-1"), (e) =>
        Effect.sync(() => {
          got.push(e)
        })).pipe(Effect.forkChild)
      // Appends while it catches up (its pages are smaller than the backlog) and once it is live.
      yield* append("s-1", 2)
      yield* waitUntil(() => got.length === 11)
      yield* append("s-2")
      yield* append("s-1", 3)
      yield* waitUntil(() => got.length === 14)
      assert.deepStrictEqual(positions(got), [1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 14, 16, 17, 18])
      assert.strictEqual(feed.members(), 1)
      yield* Fiber.interrupt(fiber)
      assert.strictEqual(feed.members(), 0, "interrupted while waiting: its member left")
      assert.isFalse(feed.running(), "the last member left: the reader stopped")
    }))

  it.effect("interrupted in its handler (not waiting), it leaves the feed too", () =>
    Effect.gen(function*() {
      const { append, feed, subscribe } = yield* fixture()
      const entered = yield* Deferred.make<void>()
      const fiber = yield* Stream.runForEach(subscribe("s-1"), () =>
        Effect.andThen(Deferred.succeed(entered, undefined), Effect.never)).pipe(Effect.forkChild)
      yield* waitUntil(() =>
        feed.members() === 1
      )
      yield* append("s-1")
      yield* Deferred.await(entered)
      yield* Fiber.interrupt(fiber)
      assert.strictEqual(feed.members(), 0)
    }))

  it.effect("many idle subscriptions: every one is a member while live, none once interrupted", () =>
    Effect.gen(function*() {
      const { append, feed, subscribe } = yield* fixture()
      const got = new Map<string, Array<number>>()
      const fibers = yield* Effect.forEach(
        Array.from({ length: 200 }, (_, i) => `s-${i}`),
        (stream) =>
          Stream.runForEach(subscribe(stream), (e) =>
            Effect.sync(() => {
              got.set(stream, [...(got.get(stream) ?? []), Number(e.position)])
            })).pipe(Effect.forkChild)
      )
      yield* waitUntil(() => feed.members() === 200)
      for (let i = 0; i < 200; i++) yield* append(`s-${i}`)
      yield* waitUntil(() => got.size === 200)
      for (let i = 0; i < 200; i++) assert.deepStrictEqual(got.get(`s-${i}`), [i + 1])
      yield* Fiber.interruptAll(fibers)
      assert.strictEqual(feed.members(), 0)
      assert.isFalse(feed.running())
    }))

  it.effect("a slow consumer overflows its bounded buffer, catches up with its own reads, and loses nothing", () =>
    Effect.gen(function*() {
      const { append, control, feed, subscribe } = yield* fixture({ pageSize: 5, bufferSize: 3 })
      const gate = yield* Deferred.make<void>()
      const got: Array<Event.RecordedEvent> = []
      const fiber = yield* Stream.runForEach(
        subscribe(),
        (e) => Effect.andThen(Deferred.await(gate), Effect.sync(() => got.push(e)))
      ).pipe(Effect.forkChild)
      yield* waitUntil(() => feed.members() === 1 && feed.running())
      yield* append("s-1")
      // 20 more while its handler is held: more than its buffer of 3.
      for (let i = 0; i < 20; i++) yield* append("s-1")
      const readsBefore = control.ownReads
      yield* Deferred.succeed(gate, undefined)
      yield* waitUntil(() => got.length === 21)
      assert.deepStrictEqual(positions(got), Array.from({ length: 21 }, (_, i) => i + 1))
      assert.isAbove(control.ownReads, readsBefore, "it overflowed and read for itself")
      yield* append("s-1")
      yield* waitUntil(() => got.length === 22)
      assert.strictEqual(feed.members(), 1, "it joined again")
      yield* Fiber.interrupt(fiber)
      assert.strictEqual(feed.members(), 0)
    }))

  it.effect("the reader's failure fails the subscription with its error", () =>
    Effect.gen(function*() {
      const { append, control, feed, subscribe } = yield* fixture()
      const fiber = yield* Stream.runDrain(subscribe("s-1")).pipe(Effect.forkChild)
      yield* waitUntil(() => feed.members() === 1 && feed.running())
      control.fail = true
      yield* append("s-1")
      const exit = yield* Fiber.await(fiber)
      assert.isTrue(exit._tag === "Failure")
      assert.strictEqual(feed.members(), 0)
    }))

  it.live("under Retry and Metrics it runs their work in its own pull: an outage is ridden out from its cursor, each event counted once", () =>
    Effect.gen(function*() {
      const { append, control, feed, subscribe } = yield* fixture()
      const memory = yield* MemoryStore.make()
      // A store whose subscriptions are the fixture's fed ones, decorated as Store.layer does.
      const store = Metrics.withMetrics(
        Retry.withRetry({ ...memory.eventStore, subscribe: (stream) => subscribe(stream) }, {
          streams: Schedule.spaced("5 millis")
        })
      )
      const read = Metric.withAttributes(Metrics.eventsReadTotal, { backend: "memory", operation: "subscribe" })
      const before = (yield* Metric.value(read)).count
      const got: Array<Event.RecordedEvent> = []
      const fiber = yield* Stream.runForEach(store.subscribe("s-1"), (e) => Effect.sync(() => got.push(e))).pipe(
        Effect.forkChild
      )
      yield* append("s-1", 3)
      yield* Effect.gen(function*() {
        while (got.length < 3) yield* Effect.sleep("2 millis")
      })
      // The reader fails (every member with it); while it keeps failing the retry waits and joins again.
      control.fail = true
      yield* append("s-1", 2)
      yield* Effect.sleep("30 millis")
      control.fail = false
      yield* append("s-1", 2)
      yield* Effect.gen(function*() {
        while (got.length < 7) yield* Effect.sleep("2 millis")
      })
      assert.deepStrictEqual(positions(got), [1, 2, 3, 4, 5, 6, 7])
      assert.isUndefined(fiber.pollUnsafe(), "still running")
      assert.strictEqual(feed.members(), 1)
      assert.strictEqual((yield* Metric.value(read)).count - before, 7, "each delivered event counted once")
      yield* Fiber.interrupt(fiber)
      assert.strictEqual(feed.members(), 0)
    }))
})
