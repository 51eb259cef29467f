/**
 * Subscriptions run by a handler (`EventStore.follow` over a fed subscription, issue 23, many
 * subscribers): under the store's decorators the feed member runs Retry's resumption from its own
 * cursor, Metrics' count and one Tracing span per delivered batch; a stream it cannot run as a member
 * runs in a fiber with the same outcome; an idle one is a feed member and its fiber has ended.
 */
import { assert, describe, it } from "@effect/vitest"
import { Event, EventStore, MemoryStore, Metrics, Retry, Store, StoreError } from "@strata/core"
import { Tracing } from "@strata/core/backend"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import * as Feed from "./feedFixture.ts"

/** The shared feed fixture, and a memory store whose `subscribe` is the fixture's fed subscription. */
const fixture = Effect.gen(function*() {
  const { append, control, feed, subscribe } = yield* Feed.fixture()
  const memory = yield* MemoryStore.make()
  const store: EventStore.EventStoreShape = { ...memory.eventStore, subscribe: (stream) => subscribe(stream) }
  return { feed, append, control, store }
})

const until = (check: () => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 500 && !check(); i++) yield* Effect.sleep("2 millis")
    assert.isTrue(check(), "condition reached")
  })

const positions = (events: ReadonlyArray<Event.RecordedEvent>) => events.map((e) => Number(e.position))

describe("EventStore.follow (a handler per delivered batch)", () => {
  it.live("under Retry and Metrics: an outage is ridden out from its cursor, each event counted once", () =>
    Effect.gen(function*() {
      const { append, control, feed, store } = yield* fixture
      const decorated = Metrics.withMetrics(Retry.withRetry(store, { streams: Schedule.spaced("5 millis") }))
      const read = Metric.withAttributes(Metrics.eventsReadTotal, { backend: "memory", operation: "subscribe" })
      const before = (yield* Metric.value(read)).count
      const got: Array<Event.RecordedEvent> = []
      const scope = yield* Scope.make()
      const subscription = yield* EventStore.follow(
        decorated.subscribe("s-1"),
        (events) => Effect.sync(() => got.push(...events))
      ).pipe(Scope.provide(scope))
      yield* append("s-1", 3)
      yield* until(() => got.length === 3)
      // The reader fails (every member with it); while it keeps failing the retry waits and joins again.
      control.fail = true
      yield* append("s-1", 2)
      yield* Effect.sleep("30 millis")
      control.fail = false
      yield* append("s-1", 2)
      yield* until(() => got.length === 7)
      assert.deepStrictEqual(positions(got), [1, 2, 3, 4, 5, 6, 7])
      assert.strictEqual(feed.members(), 1)
      assert.strictEqual((yield* Metric.value(read)).count - before, 7, "each delivered event counted once")
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(feed.members(), 0)
      assert.isTrue(Exit.isSuccess(yield* Effect.exit(subscription.await)))
    }))

  it.live("without a retry, the reader's failure ends it: await fails with StoreUnavailable", () =>
    Effect.gen(function*() {
      const { append, control, feed, store } = yield* fixture
      const got: Array<Event.RecordedEvent> = []
      const subscription = yield* EventStore.follow(
        store.subscribe("s-1"),
        (events) => Effect.sync(() => got.push(...events))
      ).pipe(Scope.provide(yield* Scope.make()))
      yield* append("s-1", 1)
      yield* until(() => got.length === 1)
      control.fail = true
      yield* append("s-1", 1)
      const exit = yield* Effect.exit(subscription.await)
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(
        Exit.isFailure(exit) && exit.cause.reasons[0]._tag === "Fail" ? exit.cause.reasons[0].error._tag : undefined,
        "StoreUnavailable"
      )
      assert.strictEqual(feed.members(), 0)
    }))

  it.live("with a tracer installed: one span per delivered batch, ended with it (none held while idle)", () => {
    const spans: Array<Tracer.NativeSpan> = []
    const tracer = Tracer.make({
      span: (options) => {
        const span = new Tracer.NativeSpan(options)
        spans.push(span)
        return span
      }
    })
    return Effect.gen(function*() {
      const { append, store } = yield* fixture
      const traced = Tracing.eventStore(store)
      let batches = 0
      yield* Effect.scoped(Effect.gen(function*() {
        yield* EventStore.follow(traced.subscribe("s-1"), () => Effect.sync(() => void batches++))
        yield* append("s-1", 2)
        yield* until(() => batches === 1)
        yield* append("s-1", 1)
        yield* until(() => batches === 2)
        const mine = spans.filter((span) => span.name === "strata.subscribe")
        assert.strictEqual(mine.length, 2, "one span per batch")
        assert.isTrue(mine.every((span) => span.status._tag === "Ended"), "each ended with its batch")
        assert.deepStrictEqual(mine.map((span) => span.attributes.get("strata.event.count")), [2, 1])
        assert.deepStrictEqual(mine.map((span) => span.attributes.get("strata.stream")), ["s-1", "s-1"])
      }))
    }).pipe(Effect.withTracer(tracer))
  })

  it.live("Store.layer with spans: false: still a feed member (a fiber per delivery, none kept), and no span", () => {
    const spans: Array<string> = []
    const tracer = Tracer.make({
      span: (options) => {
        spans.push(options.name)
        return new Tracer.NativeSpan(options)
      }
    })
    return Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      const fibers: Array<number> = []
      let delivered = 0
      yield* Effect.scoped(Effect.gen(function*() {
        yield* EventStore.subscribeWith("q-1", (events) =>
          Effect.sync(() => {
            delivered += events.length
            fibers.push(Fiber.getCurrent()!.id)
          }))
        yield* store.append("q-1", [Event.make("E", {})])
        yield* until(() => delivered === 1)
        yield* store.append("q-1", [Event.make("E", {})])
        yield* until(() => delivered === 2)
      }))
      // A fiber of its own per delivery (the member's), not one fiber running runForEach throughout.
      assert.notStrictEqual(fibers[0], fibers[1])
      assert.deepStrictEqual(spans.filter((name) => name.startsWith("strata.")), [])
    }).pipe(
      Effect.provide(Store.layer(MemoryStore.layer(), { spans: false })),
      Effect.withTracer(tracer)
    )
  })

  it.live("a stream it cannot run as a feed member runs in a fiber: the same batches, its failure reported", () =>
    Effect.gen(function*() {
      const got: Array<number> = []
      const failing = Stream.concat(
        Stream.fromIterable([Feed.event(1, "x"), Feed.event(2, "x")]),
        Stream.fail(new StoreError.StoreUnavailable({ operation: "test", reason: "ConnectionError" }))
      )
      const subscription = yield* EventStore.follow(
        failing,
        (events) => Effect.sync(() => got.push(...positions(events)))
      ).pipe(Scope.provide(yield* Scope.make()))
      const exit = yield* Effect.exit(subscription.await)
      assert.isTrue(Exit.isFailure(exit))
      assert.deepStrictEqual(got, [1, 2])
    }))

  it.live("closing the scope while the handler runs interrupts it; nothing is handed over after", () =>
    Effect.gen(function*() {
      const { append, feed, store } = yield* fixture
      let started = 0
      let finished = 0
      const scope = yield* Scope.make()
      yield* EventStore.follow(store.subscribe("s-1"), () =>
        Effect.andThen(
          Effect.sync(() => void started++),
          Effect.andThen(Effect.sleep("1 hour"), Effect.sync(() => void finished++))
        )).pipe(Scope.provide(scope))
      yield* append("s-1", 1)
      yield* until(() => started === 1)
      yield* Scope.close(scope, Exit.void)
      yield* append("s-1", 1)
      yield* Effect.sleep("20 millis")
      assert.strictEqual(started, 1)
      assert.strictEqual(finished, 0)
      assert.strictEqual(feed.members(), 0)
    }))
})
