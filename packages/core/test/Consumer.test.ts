import { assert, describe, it } from "@effect/vitest"
import { Consumer, Event, EventCodec, EventStore, MemoryStore, StoreError } from "@strata/core"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"

class Boom extends Data.TaggedError("Boom")<{ readonly position: bigint }> {}

const appendEach = (stream: string, count: number) =>
  Effect.flatMap(EventStore.EventStore, (store) =>
    Effect.forEach(
      Array.from({ length: count }, (_, i) => i),
      (i) => store.append(stream, [Event.make("Happened", { i })]),
      { discard: true }
    ))

const checkpointOf = (name: string) =>
  Effect.flatMap(EventStore.EventStore, (store) => store.loadCheckpoint(name)).pipe(
    Effect.map(Option.getOrUndefined)
  )

// Waits (without asserting on time) until the consumer has committed `position`, so an interruption
// lands between events rather than inside one.
const committed = (name: string, position: bigint) =>
  Effect.gen(function*() {
    while ((yield* checkpointOf(name)) !== position) yield* Effect.sleep("1 millis")
  })

// Runs a consumer that records positions until it has handled `until` events, then stops it at a
// commit boundary.
const runUntil = (name: string, handled: Array<bigint>, until: number, options?: { checkpointEvery?: number }) =>
  Effect.gen(function*() {
    const done = yield* Deferred.make<void>()
    const fiber = yield* Consumer.run(name, {
      ...options,
      handler: (event) =>
        Effect.suspend(() => {
          handled.push(event.position)
          return handled.length === until ? Deferred.succeed(done, undefined) : Effect.void
        })
    }).pipe(Effect.forkChild)
    yield* Deferred.await(done)
    yield* committed(name, handled[handled.length - 1])
    yield* Fiber.interrupt(fiber)
  })

// A checkpoint store that records the position of every commit.
const recordCommits = () => {
  const commits: Array<bigint> = []
  const recording: Consumer.CheckpointStore = {
    load: Consumer.storeCheckpoints.load,
    commit: (name, position, work) =>
      Consumer.storeCheckpoints.commit(
        name,
        position,
        Effect.tap(work, () => Effect.sync(() => commits.push(position)))
      )
  }
  return { commits, recording }
}

describe("Consumer", () => {
  it.live("resumes after its checkpoint: no event missed, none handled twice", () =>
    Effect.gen(function*() {
      const handled: Array<bigint> = []
      yield* appendEach("order-1", 5)
      yield* runUntil("projector", handled, 5)
      assert.strictEqual(yield* checkpointOf("projector"), 5n)

      // Written while the consumer is stopped, then more while it runs again.
      yield* appendEach("order-2", 3)
      const done = yield* Deferred.make<void>()
      const fiber = yield* Consumer.run("projector", {
        handler: (event) =>
          Effect.suspend(() => {
            handled.push(event.position)
            return handled.length === 10 ? Deferred.succeed(done, undefined) : Effect.void
          })
      }).pipe(Effect.forkChild)
      yield* appendEach("order-3", 2)
      yield* Deferred.await(done)
      yield* committed("projector", 10n)
      yield* Fiber.interrupt(fiber)
      assert.deepStrictEqual(handled, [1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n, 10n])
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.live("a failing handler stops the consumer before the failed event's checkpoint", () =>
    Effect.gen(function*() {
      yield* appendEach("order-1", 5)
      const failed = yield* Consumer.run("mailer", {
        handler: (event) => event.position === 3n ? Effect.fail(new Boom({ position: 3n })) : Effect.void
      }).pipe(Effect.flip)
      assert.deepStrictEqual(failed, new Boom({ position: 3n }))
      assert.strictEqual(yield* checkpointOf("mailer"), 2n)

      const handled: Array<bigint> = []
      yield* runUntil("mailer", handled, 3)
      assert.deepStrictEqual(handled, [3n, 4n, 5n])
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.live("commits every N events and at the end of each delivered batch, through the Checkpoints seam", () =>
    Effect.gen(function*() {
      yield* appendEach("order-1", 7)
      const commits: Array<bigint> = []
      const recording: Consumer.CheckpointStore = {
        load: Consumer.storeCheckpoints.load,
        commit: (name, position, work) =>
          Consumer.storeCheckpoints.commit(
            name,
            position,
            Effect.tap(work, () => Effect.sync(() => commits.push(position)))
          )
      }
      const handled: Array<bigint> = []
      yield* runUntil("batched", handled, 7, { checkpointEvery: 3 }).pipe(
        Effect.provideService(Consumer.Checkpoints, recording)
      )
      assert.deepStrictEqual(handled, [1n, 2n, 3n, 4n, 5n, 6n, 7n])
      assert.deepStrictEqual(commits, [3n, 6n, 7n])
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.live("with batches, a failure commits the events before it: the checkpoint stays just before the failed event", () =>
    Effect.gen(function*() {
      yield* appendEach("order-1", 6)
      const failed = yield* Consumer.run("batched", {
        checkpointEvery: 3,
        handler: (event) => event.position === 5n ? Effect.fail(new Boom({ position: 5n })) : Effect.void
      }).pipe(Effect.flip)
      assert.deepStrictEqual(failed, new Boom({ position: 5n }))
      assert.strictEqual(yield* checkpointOf("batched"), 4n)
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.live("by default commits each delivered batch once, not once per event", () =>
    Effect.gen(function*() {
      yield* appendEach("order-1", 7)
      const { commits, recording } = recordCommits()
      const handled: Array<bigint> = []
      yield* runUntil("defaults", handled, 7).pipe(Effect.provideService(Consumer.Checkpoints, recording))
      assert.deepStrictEqual(handled, [1n, 2n, 3n, 4n, 5n, 6n, 7n])
      assert.deepStrictEqual(commits, [7n])
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.live("each event's handling is caused by it across a batch, also in a fiber the handler forks; the context is restored after", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      yield* store.append("order-1", [Event.make("Happened", { i: 0 }, { correlationId: "conv-1" })])
      yield* appendEach("order-2", 2)
      const causes = yield* Stream.runCollect(store.readAll())
      const forks: Array<Fiber.Fiber<unknown, unknown>> = []
      const seen: Array<Event.Causation> = []
      const done = yield* Deferred.make<void>()
      const fiber = yield* Consumer.run("reactor", {
        filter: { categories: ["order"] },
        handler: (event) =>
          Effect.gen(function*() {
            seen.push(yield* Event.CurrentCausation)
            yield* store.append(`reaction-${event.position}`, [Event.make("Reacted", {})])
            // Appends after the next events' handlers have run: still caused by this event.
            forks.push(
              yield* Effect.forkDetach(
                Effect.andThen(
                  Deferred.await(done),
                  store.append(`later-${event.position}`, [Event.make("Reacted", {})])
                )
              )
            )
            if (event.position === causes[causes.length - 1].position) yield* Deferred.succeed(done, undefined)
          })
      }).pipe(Effect.forkChild)
      yield* committed("reactor", causes[causes.length - 1].position)
      yield* Fiber.interrupt(fiber)
      yield* Fiber.awaitAll(forks)
      const expected = causes.map((cause) => ({
        causationId: cause.id,
        correlationId: cause.position === 1n ? "conv-1" : cause.id
      }))
      assert.deepStrictEqual(seen, expected)
      for (const [i, cause] of causes.entries()) {
        for (const prefix of ["reaction", "later"]) {
          const [reaction] = yield* Stream.runCollect(store.read(`${prefix}-${cause.position}`))
          const { causationId, correlationId } = reaction.metadata
          assert.deepStrictEqual({ causationId, correlationId }, expected[i], `${prefix}-${cause.position}`)
        }
      }
      // After the batch (and a failed one), the consumer's fiber has no causation left.
      const after = yield* Consumer.run("failing", {
        filter: { categories: ["order"] },
        handler: (event) => event.position === 2n ? Effect.fail(new Boom({ position: 2n })) : Effect.void
      }).pipe(Effect.flip, Effect.andThen(Event.CurrentCausation))
      assert.deepStrictEqual(after, {})
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.live("checkpointEvery: 1 commits after every event", () =>
    Effect.gen(function*() {
      yield* appendEach("order-1", 3)
      const { commits, recording } = recordCommits()
      yield* runUntil("each", [], 3, { checkpointEvery: 1 }).pipe(
        Effect.provideService(Consumer.Checkpoints, recording)
      )
      assert.deepStrictEqual(commits, [1n, 2n, 3n])
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("sizes batches from the last one's pace so each ends within checkpointInterval", () =>
    Effect.gen(function*() {
      yield* appendEach("order-1", 10)
      const { commits, recording } = recordCommits()
      let handled = 0
      // Each event takes 40 ms of (test) time: after the first batch (10 events, 400 ms), batches of 2.
      const fiber = yield* Consumer.run("paced", {
        checkpointInterval: "100 millis",
        handler: () => Effect.andThen(TestClock.adjust("40 millis"), Effect.sync(() => void handled++))
      }).pipe(Effect.provideService(Consumer.Checkpoints, recording), Effect.forkChild)
      while (commits.length < 1) yield* Effect.yieldNow
      // Six more in one append: one delivered chunk.
      yield* Effect.flatMap(
        EventStore.EventStore,
        (store) => store.append("order-2", Array.from({ length: 6 }, (_, i) => Event.make("Happened", { i })))
      )
      while (commits[commits.length - 1] !== 16n) yield* Effect.yieldNow
      yield* Fiber.interrupt(fiber)
      assert.strictEqual(commits[0], 10n)
      // However the six are delivered, no later batch holds more than two events.
      const sizes = commits.slice(1).map((position, i) => Number(position - commits[i]))
      assert.isTrue(sizes.every((size) => size >= 1 && size <= 2), `batch sizes ${sizes.join(", ")}`)
      assert.isAtLeast(sizes.length, 3)
      assert.strictEqual(handled, 16)
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("a batch that fails after taking too long shrinks the batches of the restart", () =>
    Effect.gen(function*() {
      yield* appendEach("order-1", 10)
      const { commits, recording } = recordCommits()
      let failed = false
      // 40 ms of (test) time per event; the tenth fails once with an outage (as a timed-out batch
      // would): 400 ms for ten events, so the restart's batches hold two.
      const fiber = yield* Consumer.run("shrinks", {
        checkpointInterval: "100 millis",
        retry: Schedule.recurs(1),
        handler: (event) =>
          Effect.andThen(
            TestClock.adjust("40 millis"),
            event.position === 10n && !failed
              ? Effect.andThen(
                Effect.sync(() => void (failed = true)),
                Effect.fail(new StoreError.StoreUnavailable({ operation: "test", reason: "timeout" }))
              )
              : Effect.void
          )
      }).pipe(Effect.provideService(Consumer.Checkpoints, recording), Effect.forkChild)
      while (commits[commits.length - 1] !== 10n) yield* Effect.yieldNow
      yield* Fiber.interrupt(fiber)
      assert.isTrue(failed)
      assert.deepStrictEqual(commits, [2n, 4n, 6n, 8n, 10n])
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.live("handleBatch gets each delivered batch at once, in one commit", () =>
    Effect.gen(function*() {
      yield* appendEach("order-1", 5)
      const { commits, recording } = recordCommits()
      const batches: Array<ReadonlyArray<bigint>> = []
      const fiber = yield* Consumer.run("batcher", {
        handleBatch: (events) => Effect.sync(() => void batches.push(events.map((event) => event.position)))
      }).pipe(Effect.provideService(Consumer.Checkpoints, recording), Effect.forkChild)
      yield* committed("batcher", 5n)
      yield* Fiber.interrupt(fiber)
      assert.deepStrictEqual(batches, [[1n, 2n, 3n, 4n, 5n]])
      assert.deepStrictEqual(commits, [5n])
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.live("handleBatch failing on one event: the events before it commit one at a time, the failure is that event's", () =>
    Effect.gen(function*() {
      yield* appendEach("order-1", 5)
      const { commits, recording } = recordCommits()
      const batches: Array<ReadonlyArray<bigint>> = []
      const failed = yield* Consumer.run("batcher", {
        handleBatch: (events) =>
          Effect.suspend(() => {
            batches.push(events.map((event) => event.position))
            const bad = events.find((event) => event.position === 3n)
            return bad === undefined ? Effect.void : Effect.fail(new Boom({ position: bad.position }))
          })
      }).pipe(Effect.provideService(Consumer.Checkpoints, recording), Effect.flip)
      assert.deepStrictEqual(failed, new Boom({ position: 3n }))
      assert.deepStrictEqual(batches, [[1n, 2n, 3n, 4n, 5n], [1n], [2n], [3n]])
      assert.deepStrictEqual(commits, [1n, 2n])
      assert.strictEqual(yield* checkpointOf("batcher"), 2n)
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("refuses both or neither of handler and handleBatch, and a bad checkpointInterval, with InvalidArgument", () =>
    Effect.gen(function*() {
      const refused = (options: Consumer.ConsumerOptions<never, never>) =>
        Effect.map(Effect.flip(Consumer.run("x", options)), (error) => error._tag)
      assert.strictEqual(yield* refused({}), "InvalidArgument")
      assert.strictEqual(
        yield* refused({ handler: () => Effect.void, handleBatch: () => Effect.void }),
        "InvalidArgument"
      )
      assert.strictEqual(yield* refused({ handler: () => Effect.void, checkpointInterval: 0 }), "InvalidArgument")
      assert.strictEqual(
        yield* refused({ handler: () => Effect.void, checkpointInterval: "soon" as never }),
        "InvalidArgument"
      )
      assert.strictEqual(
        yield* refused({ handler: () => Effect.void, checkpointInterval: "Infinity" as never }),
        "InvalidArgument"
      )
      const made = yield* Effect.flip(Effect.scoped(Consumer.make<never, never>("y", {})))
      assert.strictEqual(made._tag, "InvalidArgument")
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.live("starts after `from` when there is no checkpoint, and after the checkpoint when there is one", () =>
    Effect.gen(function*() {
      yield* appendEach("order-1", 4)
      const handled: Array<bigint> = []
      const done = yield* Deferred.make<void>()
      const first = yield* Consumer.run("late", {
        from: { after: 2n },
        filter: { categories: ["order"] },
        handler: (event) =>
          Effect.suspend(() => {
            handled.push(event.position)
            return handled.length === 2 ? Deferred.succeed(done, undefined) : Effect.void
          })
      }).pipe(Effect.forkChild)
      yield* Deferred.await(done)
      yield* committed("late", 4n)
      yield* Fiber.interrupt(first)
      assert.deepStrictEqual(handled, [3n, 4n])

      yield* appendEach("order-2", 1)
      yield* Effect.flatMap(EventStore.EventStore, (store) => store.append("other-1", [Event.make("Ignored", {})]))
      const again = yield* Deferred.make<void>()
      const second = yield* Consumer.run("late", {
        from: "start",
        filter: { categories: ["order"] },
        handler: (event) =>
          Effect.suspend(() => {
            handled.push(event.position)
            return Deferred.succeed(again, undefined)
          })
      }).pipe(Effect.forkChild)
      yield* Deferred.await(again)
      yield* committed("late", 5n)
      yield* Fiber.interrupt(second)
      assert.deepStrictEqual(handled, [3n, 4n, 5n])
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.live("runs a typed handler; undecodable events can be skipped and still move the checkpoint", () =>
    Effect.gen(function*() {
      const Placed = EventCodec.type("Placed", { schema: Schema.Struct({ total: Schema.Number }) })
      const Orders = EventCodec.make([Placed])
      const store = yield* EventStore.EventStore
      yield* Orders.append("order-1", [Placed.make({ total: 10 })])
      yield* store.append("order-1", [Event.make("Placed", { total: "ten" })])
      yield* Orders.append("order-1", [Placed.make({ total: 5 })])

      const totals: Array<number> = []
      const done = yield* Deferred.make<void>()
      const fiber = yield* Consumer.run("totals", {
        filter: EventCodec.filter(Orders),
        handler: Orders.handler((decoded) =>
          Effect.suspend(() => {
            totals.push(decoded.event.total)
            return totals.length === 2 ? Deferred.succeed(done, undefined) : Effect.void
          }), { onDecodeError: "skip" })
      }).pipe(Effect.forkChild)
      yield* Deferred.await(done)
      yield* committed("totals", 3n)
      yield* Fiber.interrupt(fiber)
      assert.deepStrictEqual(totals, [10, 5])

      // Failing on decode errors instead: the consumer stops at the bad event.
      const error = yield* Consumer.run("strict", { handler: Orders.handler(() => Effect.void) }).pipe(Effect.flip)
      assert.strictEqual(error._tag, "EventDecodeError")
      if (error._tag === "EventDecodeError") assert.strictEqual(error.position, 2n)
      assert.strictEqual(yield* checkpointOf("strict"), 1n)
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("refuses a checkpointEvery below 1", () =>
    Effect.gen(function*() {
      const error = yield* Consumer.run("x", { checkpointEvery: 0, handler: () => Effect.void }).pipe(Effect.flip)
      assert.strictEqual(error._tag, "InvalidArgument")
    }).pipe(Effect.provide(MemoryStore.layer())))
  it.live("a transient store failure restarts the consumer from its checkpoint: each event handled once", () =>
    Effect.gen(function*() {
      const { eventStore } = yield* MemoryStore.make()
      let failures = 0
      // The subscription drops (StoreUnavailable) after every second event, three times.
      const flaky: EventStore.EventStoreShape = {
        ...eventStore,
        subscribeAll: (options) =>
          eventStore.subscribeAll(options).pipe(
            Stream.zipWithIndex,
            Stream.flatMap(([event, i]) =>
              i === 2 && failures < 3
                ? Effect.sync(() => failures++).pipe(
                  Effect.andThen(
                    Effect.fail(new StoreError.StoreUnavailable({ operation: "subscribeAll", reason: "test" }))
                  ),
                  Stream.fromEffect
                )
                : Stream.succeed(event)
            )
          )
      }
      const handled: Array<unknown> = []
      yield* Effect.gen(function*() {
        yield* appendEach("flaky-1", 8)
        const fiber = yield* Effect.forkChild(Consumer.run("flaky", {
          handler: (event) => Effect.sync(() => handled.push((event.data as { i: number }).i)),
          retry: Schedule.spaced("10 millis")
        }))
        while (handled.length < 8) yield* Effect.sleep("5 millis")
        yield* Fiber.interrupt(fiber)
      }).pipe(
        Effect.provideService(EventStore.EventStore, flaky),
        // A store built by hand: checkpoints through the EventStore in context.
        Effect.provideService(Consumer.Checkpoints, Consumer.storeCheckpoints)
      )
      assert.strictEqual(failures, 3)
      assert.deepStrictEqual(handled, [0, 1, 2, 3, 4, 5, 6, 7])
    }).pipe(Effect.timeout("10 seconds")))
})
