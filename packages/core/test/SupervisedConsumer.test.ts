import { assert, describe, it } from "@effect/vitest"
import { Consumer, Event, EventStore, MemoryStore, ParkedEvents, StoreError } from "@strata/core"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as References from "effect/References"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"

const appendEach = (stream: string, count: number) =>
  Effect.flatMap(EventStore.EventStore, (store) =>
    Effect.forEach(
      Array.from({ length: count }, (_, i) => i),
      (i) => store.append(stream, [Event.make("Happened", { i })])
    ))

const reaches = (consumer: Consumer.Consumer<any>, state: Consumer.ConsumerState) =>
  consumer.statusChanges.pipe(
    Stream.filter((status) => status.state === state),
    Stream.runHead,
    Effect.map(Option.getOrThrow)
  )

interface Line {
  readonly message: string
  readonly level: string
  readonly annotations: Readonly<Record<string, unknown>>
}

const captureLogs = () => {
  const lines: Array<Line> = []
  const logger = Logger.make(({ fiber, logLevel, message }) => {
    lines.push({
      message: (Array.isArray(message) ? message : [message]).map(String).join(" "),
      level: logLevel,
      annotations: { ...fiber.getRef(References.CurrentLogAnnotations) }
    })
  })
  return { lines, layer: Logger.layer([logger]) }
}

describe("Consumer (supervised)", () => {
  it.live("Consumer.layer registers each consumer in one shared registry; Consumer.get finds it", () =>
    Effect.gen(function*() {
      const [, last] = yield* appendEach("order-1", 2)
      const handled: Array<string> = []
      const consumers = Layer.mergeAll(
        Consumer.layer("a", { handler: (event) => Effect.sync(() => void handled.push(`a${event.position}`)) }),
        Consumer.layer("b", { handler: (event) => Effect.sync(() => void handled.push(`b${event.position}`)) })
      )
      yield* Effect.gen(function*() {
        const a = yield* Consumer.get("a")
        const b = yield* Consumer.get("b")
        yield* a.waitFor(last.position)
        yield* b.waitFor(last.position)
        const registry = yield* Consumer.Consumers
        assert.deepStrictEqual((yield* registry.all).map((c) => c.name).sort(), ["a", "b"])
        const missing = yield* Effect.flip(Consumer.get("c"))
        assert.strictEqual(missing._tag, "InvalidArgument")
        assert.include(missing.message, "running: a, b")
      }).pipe(Effect.provide(consumers))
      assert.deepStrictEqual(handled.filter((h) => h.startsWith("a")), ["a1", "a2"])
      assert.deepStrictEqual(handled.filter((h) => h.startsWith("b")), ["b1", "b2"])

      // Two layers with one name in one program: the second refuses to start.
      const twice = Layer.mergeAll(
        Consumer.layer("same", { handler: () => Effect.void }),
        Consumer.layer("same", { handler: () => Effect.void })
      )
      const error = yield* Effect.flip(Layer.build(twice).pipe(Effect.scoped))
      assert.strictEqual(error._tag, "InvalidArgument")
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.live("refuses bad options when it starts", () =>
    Effect.gen(function*() {
      const bad = [
        Consumer.make("x", { handler: () => Effect.void, parkAfter: 0 }),
        Consumer.make("x", { handler: () => Effect.void, checkpointEvery: 0 }),
        Consumer.make("", { handler: () => Effect.void }),
        Consumer.make("x", { handler: () => Effect.void, filter: { types: [""] } })
      ]
      for (const make of bad) {
        const error = yield* Effect.flip(Effect.scoped(make))
        assert.strictEqual(error._tag, "InvalidArgument")
      }
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.live("store outages are always retried, even when the restart schedule allows no restart", () =>
    Effect.gen(function*() {
      const { eventStore } = yield* MemoryStore.make()
      let failures = 0
      const flaky: EventStore.EventStoreShape = {
        ...eventStore,
        subscribeAll: (options) =>
          Stream.suspend(() =>
            failures++ < 4
              ? Stream.fail(new StoreError.StoreUnavailable({ operation: "subscribeAll", reason: "test" }))
              : eventStore.subscribeAll(options)
          )
      }
      yield* Effect.gen(function*() {
        const [, last] = yield* appendEach("flaky-1", 2)
        const handled: Array<bigint> = []
        const consumer = yield* Consumer.make("flaky", {
          restart: Schedule.recurs(0),
          outage: Schedule.max([Schedule.spaced("1 millis"), Schedule.recurs(1)]),
          handler: (event) => Effect.sync(() => void handled.push(event.position))
        })
        yield* consumer.waitFor(last.position)
        assert.deepStrictEqual(handled, [1n, 2n])
        const status = yield* consumer.status
        assert.strictEqual(status.restarts, 4)
        assert.isUndefined(status.failure)
      }).pipe(
        Effect.provideService(EventStore.EventStore, flaky),
        // A store built by hand: checkpoints through the EventStore in context, nothing parked.
        Effect.provideService(Consumer.Checkpoints, Consumer.storeCheckpoints),
        Effect.provideService(ParkedEvents.ParkedEvents, ParkedEvents.makeMemory()),
        Effect.scoped
      )
    }))

  it.live("a handler that throws is a failure of its event: counted, then parked", () =>
    Effect.gen(function*() {
      const [first, second] = yield* appendEach("order-1", 2)
      const consumer = yield* Consumer.make("thrower", {
        restart: Schedule.spaced("1 millis"),
        parkAfter: 2,
        handler: (event) =>
          event.position === first.position
            ? Effect.sync(() => {
              throw new Error("thrown")
            })
            : Effect.void
      })
      yield* consumer.waitFor(second.position)
      const parked = yield* consumer.parked
      assert.deepStrictEqual(parked.map((p) => [p.position, p.attempts, p.error]), [[first.position, 2, "thrown"]])
    }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer())))

  it.live("logs start, each failure with its event, parking, caught-up and stop", () => {
    const { layer, lines } = captureLogs()
    return Effect.gen(function*() {
      const [bad, good] = yield* appendEach("order-1", 2)
      yield* Effect.gen(function*() {
        const consumer = yield* Consumer.make("logged", {
          restart: Schedule.spaced("1 millis"),
          parkAfter: 2,
          handler: (event) => event.position === bad.position ? Effect.fail(new Error("nope")) : Effect.void
        })
        yield* consumer.waitFor(good.position)
        yield* reaches(consumer, "live")
      }).pipe(Effect.scoped)
      const messages = lines.map((line) => line.message)
      assert.isTrue(messages.some((m) => m === "Strata: consumer logged started"))
      const failure = lines.find((line) => line.message.includes("failed on event Happened"))
      assert.isDefined(failure)
      assert.include(failure!.message, `"order-1"@0 (position ${bad.position})`)
      assert.include(failure!.message, "nope")
      assert.strictEqual(failure!.level, "Warn")
      assert.strictEqual(failure!.annotations["strata.consumer"], "logged")
      assert.strictEqual(failure!.annotations["strata.event.position"], String(bad.position))
      assert.strictEqual(failure!.annotations["strata.event.stream"], "order-1")
      assert.strictEqual(failure!.annotations["strata.event.type"], "Happened")
      assert.isTrue(messages.some((m) => m.includes("2 times, parking it")))
      assert.isTrue(messages.some((m) => m.includes("parked 1 event(s)")))
      assert.isTrue(messages.some((m) => m.startsWith("Strata: consumer logged caught up")))
      assert.strictEqual(messages[messages.length - 1], "Strata: consumer logged stopped")
    }).pipe(Effect.provide(MemoryStore.layer()), Effect.provide(layer))
  })

  it.live("waitFor returns once the handled events are counted in the metric", () =>
    Effect.gen(function*() {
      const results = yield* appendEach("order-1", 3)
      const consumer = yield* Consumer.make("counted", { handler: () => Effect.void })
      const handled = Metric.withAttributes(Consumer.eventsHandledTotal, { consumer: "counted" })
      yield* consumer.waitFor(results[2].position)
      assert.strictEqual((yield* Metric.value(handled)).count, 3)
    }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer())))

  it.live("measures lag while behind, logs catch-up progress, and reports zero once live", () => {
    const { layer, lines } = captureLogs()
    return Effect.gen(function*() {
      const results = yield* appendEach("order-1", 3)
      const gate = yield* Deferred.make<void>()
      const consumer = yield* Consumer.make("lagging", {
        monitorInterval: "5 millis",
        // One commit per event: position 1 commits while the handler blocks on 2.
        checkpointEvery: 1,
        handler: (event) => event.position === 2n ? Deferred.await(gate) : Effect.void
      })
      const events = Metric.withAttributes(Consumer.lagEvents, { consumer: "lagging" })
      const seconds = Metric.withAttributes(Consumer.lagSeconds, { consumer: "lagging" })
      // Blocked on position 2 after committing 1: two positions behind the head (3).
      while ((yield* Metric.value(events)).value !== 2) yield* Effect.sleep("5 millis")
      assert.isAtLeast((yield* Metric.value(seconds)).value, 0)
      assert.strictEqual((yield* consumer.status).state, "catching-up")
      assert.isTrue(lines.some((line) => line.message.includes("catching up: at position 1 of 3 (2 behind")))
      yield* Deferred.succeed(gate, undefined)
      yield* consumer.waitFor(results[2].position)
      yield* reaches(consumer, "live")
      assert.strictEqual((yield* Metric.value(events)).value, 0)
      assert.strictEqual((yield* Metric.value(seconds)).value, 0)
    }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer()), Effect.provide(layer))
  })

  it.live("handleBatch: a poison event is parked alone; replay hands it to handleBatch on its own", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      const { position: last } = yield* store.append("order-1", [0, 1, 2, 3].map((i) => Event.make("Happened", { i })))
      let broken = true
      const batches: Array<ReadonlyArray<number>> = []
      const consumer = yield* Consumer.make("batched", {
        restart: Schedule.spaced("1 millis"),
        parkAfter: 1,
        handleBatch: (events) =>
          Effect.suspend(() => {
            const items = events.map((event) => (event.data as { i: number }).i)
            if (broken && items.includes(2)) return Effect.fail(new Error("poison"))
            batches.push(items)
            return Effect.void
          })
      })
      yield* consumer.waitFor(last)
      assert.deepStrictEqual((yield* consumer.parked).map((p) => p.position), [3n])
      // The batch failed, its events went one at a time (0 and 1 commit, 2 fails), then 2 was parked
      // in the commit of the next batch, which handled 3.
      assert.deepStrictEqual(batches, [[0], [1], [3]])
      broken = false
      yield* consumer.replay(3n)
      assert.deepStrictEqual(batches, [[0], [1], [3], [2]])
      assert.deepStrictEqual(yield* consumer.parked, [])
    }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer())))

  it.live("starting from the end covers what came before: waitFor on an older position returns at once", () =>
    Effect.gen(function*() {
      const [old] = yield* appendEach("order-1", 1)
      const handled: Array<bigint> = []
      const consumer = yield* Consumer.make("tail", {
        from: "end",
        handler: (event) => Effect.sync(() => void handled.push(event.position))
      })
      yield* consumer.waitFor(old.position)
      const [next] = yield* appendEach("order-2", 1)
      yield* consumer.waitFor(next.position)
      assert.deepStrictEqual(handled, [next.position])
    }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer())))
})

describe("Consumer (supervised, TestClock)", () => {
  it.effect("waits out the default restart backoff before the next attempt", () =>
    Effect.gen(function*() {
      const [first] = yield* appendEach("order-1", 1)
      let calls = 0
      const consumer = yield* Consumer.make("backoff", {
        handler: () => Effect.suspend(() => ++calls === 1 ? Effect.fail(new Error("once")) : Effect.void)
      })
      const restarting = yield* reaches(consumer, "restarting")
      assert.strictEqual(restarting.failure?.message, "once")
      assert.strictEqual(calls, 1)
      // Consumer.defaultRestartSchedule waits 200 ms before the first restart.
      yield* TestClock.adjust("199 millis")
      assert.strictEqual(calls, 1)
      yield* TestClock.adjust("1 millis")
      yield* consumer.waitFor(first.position)
      assert.strictEqual(calls, 2)
    }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer())))
})
