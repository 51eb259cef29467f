/**
 * Supervised consumers (`Consumer.make` / `Consumer.layer`) on the backend: restart after a failure,
 * poison events parked after N failures (kept in the backend's parked-events store), replay and
 * discard, `waitFor` / `caughtUp`, and the status. Restart schedules are a few milliseconds, and no
 * assertion is about time: each test waits for the consumer through `waitFor` or its status.
 *
 * @since 0.1.0
 */
import { assert, describe } from "@effect/vitest"
import { Consumer, DocumentStore, Event, EventStore, StoreError } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { names } from "./internal/fixtures.ts"
import { type ConformanceIt, resolve, type SuiteOptions } from "./SuiteOptions.ts"

const quick = Schedule.spaced("5 millis")

// A counter document per event id, bumped by the handler through the DocumentStore: with
// transactional checkpoints it commits with the batch, so a rolled-back batch leaves no count.
const bump = (collection: DocumentStore.Collection<{ readonly seen: number }, unknown>, id: string) =>
  Effect.gen(function*() {
    const docs = yield* DocumentStore.DocumentStore
    const found = yield* docs.get(collection, id)
    yield* docs.put(collection, id, { seen: found._tag === "Some" ? found.value.value.seen + 1 : 1 })
  })

const counts = (collection: DocumentStore.Collection<{ readonly seen: number }, unknown>, ids: ReadonlyArray<string>) =>
  Effect.flatMap(
    DocumentStore.DocumentStore,
    (docs) =>
      Effect.forEach(
        ids,
        (id) => Effect.map(docs.get(collection, id), (found) => found._tag === "Some" ? found.value.value.seen : 0)
      )
  )

const Seen = Schema.Struct({ seen: Schema.Number })

// Waits (without a clock) for the consumer to reach a state.
const reaches = (consumer: Consumer.Consumer<any>, state: Consumer.ConsumerState) =>
  consumer.statusChanges.pipe(
    Stream.filter((status) => status.state === state),
    Stream.runHead,
    Effect.map(Option.getOrThrow)
  )

/**
 * Registers the supervised-consumer tests.
 *
 * @category suites
 * @since 0.1.0
 */
export const supervisedConsumerSuite = (it: ConformanceIt, options?: SuiteOptions): void => {
  const { deliveryTimeout, supportsParking, transactionalCheckpoints } = resolve(options)
  // Each event's count: exactly once where the writes commit with the checkpoint, at least once elsewhere.
  const once = (seen: ReadonlyArray<number>, message: string) =>
    transactionalCheckpoints
      ? assert.isTrue(seen.every((n) => n === 1), `${message}: ${seen.join(", ")}`)
      : assert.isTrue(seen.every((n) => n >= 1), `${message}: ${seen.join(", ")}`)

  describe("supervised consumers", () => {
    it.effect("restarts after a handler failure, and handles each event once it succeeds", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const results = yield* Effect.forEach(
          [0, 1, 2],
          (i) => store.append(n.stream(), [Event.make(n.type("E"), { i })])
        )
        const handled: Array<number> = []
        let failures = 0
        const consumer = yield* Consumer.make(n.checkpoint(), {
          filter: { categories: [n.category] },
          restart: quick,
          // One commit per event: \`handled\` is outside the store, so a batch rolled back on a
          // failure would repeat the events before it there.
          checkpointEvery: 1,
          handler: (event) =>
            Effect.suspend(() => {
              const i = (event.data as { i: number }).i
              if (i === 1 && failures < 2) {
                failures++
                return Effect.fail(new Error("flaky"))
              }
              handled.push(i)
              return Effect.void
            })
        })
        yield* consumer.waitFor(results[2].position)
        assert.deepStrictEqual(handled, [0, 1, 2])
        const live = yield* reaches(consumer, "live")
        assert.strictEqual(live.restarts, 2)
        assert.strictEqual(live.position, results[2].position)
        assert.deepStrictEqual(yield* store.loadCheckpoint(n.checkpoint()), Option.some(results[2].position))
      }).pipe(Effect.scoped, Effect.timeout(deliveryTimeout)))

    it.effect("a consumer whose restart schedule ends is failed, names the event, and waitFor says so", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const { position } = yield* store.append(n.stream(), [Event.make(n.type("Bad"), {})])
        const consumer = yield* Consumer.make(n.checkpoint(), {
          filter: { categories: [n.category] },
          restart: Schedule.recurs(1),
          handler: () => Effect.fail(new Error("cannot handle"))
        })
        const error = yield* Effect.flip(consumer.waitFor(position))
        assert.strictEqual(error._tag, "ConsumerStopped")
        if (error._tag === "ConsumerStopped") assert.strictEqual(error.state, "failed")
        const status = yield* consumer.status
        assert.strictEqual(status.state, "failed")
        assert.strictEqual(status.failure?.event?.position, position)
        assert.strictEqual(status.failure?.event?.stream, n.stream())
        assert.strictEqual(status.failure?.event?.type, n.type("Bad"))
        assert.strictEqual(status.failure?.attempts, 2)
        assert.strictEqual(status.failure?.message, "cannot handle")
        assert.isTrue(Option.isNone(yield* store.loadCheckpoint(n.checkpoint())))
      }).pipe(Effect.scoped, Effect.timeout(deliveryTimeout)))

    it.effect("the restart schedule starts over after progress: failures spread across handled events never exhaust it", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const results = yield* Effect.forEach(
          [0, 1, 2, 3, 4, 5],
          (i) => store.append(n.stream(), [Event.make(n.type("E"), { i })])
        )
        const failed = new Set<number>()
        const handled: Array<number> = []
        // One restart allowed; every event fails once, each failure after the previous event's commit.
        const consumer = yield* Consumer.make(n.checkpoint(), {
          filter: { categories: [n.category] },
          restart: Schedule.recurs(1),
          // One commit per event: \`handled\` is outside the store, so a batch rolled back on a
          // failure would repeat the events before it there.
          checkpointEvery: 1,
          handler: (event) =>
            Effect.suspend(() => {
              const i = (event.data as { i: number }).i
              if (!failed.has(i)) {
                failed.add(i)
                return Effect.fail(new Error(`flaky ${i}`))
              }
              handled.push(i)
              return Effect.void
            })
        })
        yield* consumer.waitFor(results[5].position)
        assert.deepStrictEqual(handled, [0, 1, 2, 3, 4, 5])
        const live = yield* reaches(consumer, "live")
        assert.strictEqual(live.restarts, 6)
        assert.deepStrictEqual(yield* store.loadCheckpoint(n.checkpoint()), Option.some(results[5].position))
      }).pipe(Effect.scoped, Effect.timeout(deliveryTimeout)))

    it.effect("waitFor passes events the filter skips; caughtUp waits for everything in the log", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const other = names()
        const handled: Array<bigint> = []
        const consumer = yield* Consumer.make(n.checkpoint(), {
          filter: { categories: [n.category] },
          handler: (event) => Effect.sync(() => void handled.push(event.position))
        })
        const first = yield* store.append(n.stream(), [Event.make(n.type("E"), {})])
        const skipped = yield* store.append(other.stream(), [Event.make(other.type("E"), {})])
        yield* consumer.waitFor(skipped.position)
        assert.deepStrictEqual(handled, [first.position])
        const more = yield* Effect.forEach(
          [1, 2, 3, 4, 5],
          (i) => store.append(n.stream(`s${i}`), [Event.make(n.type("E"), { i })])
        )
        yield* consumer.caughtUp
        assert.deepStrictEqual(handled, [first.position, ...more.map((r) => r.position)])
        const error = yield* Effect.flip(consumer.waitFor(-1n))
        assert.strictEqual(error._tag, "InvalidArgument")
      }).pipe(Effect.scoped, Effect.timeout(deliveryTimeout)))

    it.effect("stops with its scope: the status says stopped and waitFor fails", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const consumer = yield* Consumer.make(n.checkpoint(), {
          filter: { categories: [n.category] },
          handler: () => Effect.void
        }).pipe(
          Effect.tap((consumer) => consumer.caughtUp),
          Effect.scoped
        )
        assert.strictEqual((yield* consumer.status).state, "stopped")
        const { position } = yield* store.append(n.stream(), [Event.make(n.type("E"), {})])
        const error = yield* Effect.flip(consumer.waitFor(position))
        assert.strictEqual(error._tag, "ConsumerStopped")
        if (error._tag === "ConsumerStopped") assert.strictEqual(error.state, "stopped")
      }).pipe(Effect.timeout(deliveryTimeout)))

    it.effect("with the defaults, an outage in the middle of a batch re-delivers it; its writes count each event once", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const collection = DocumentStore.collection(n.collection(), Seen)
        const { position } = yield* store.append(
          n.stream(),
          Array.from({ length: 6 }, (_, i) => Event.make(n.type("E"), { i }))
        )
        let outages = 0
        const consumer = yield* Consumer.make(n.checkpoint(), {
          filter: { categories: [n.category] },
          outage: quick,
          handler: (event) =>
            Effect.suspend(() => {
              if ((event.data as { i: number }).i === 3 && outages === 0) {
                outages++
                return Effect.fail(new StoreError.StoreUnavailable({ operation: "test", reason: "outage" }))
              }
              return bump(collection, event.id)
            })
        })
        yield* consumer.waitFor(position)
        assert.strictEqual(outages, 1)
        const ids = (yield* Stream.runCollect(store.read(n.stream()))).map((event) => event.id)
        once(yield* counts(collection, ids), "deliveries per event")
        assert.deepStrictEqual(yield* store.loadCheckpoint(n.checkpoint()), Option.some(position))
      }).pipe(Effect.scoped, Effect.timeout(deliveryTimeout)))

    if (!supportsParking) {
      it.effect("a consumer that parks refuses to start with Unsupported", () =>
        Effect.gen(function*() {
          const n = names()
          const error = yield* Effect.flip(
            Consumer.make(n.checkpoint(), { parkAfter: 3, handler: () => Effect.void })
          )
          assert.strictEqual(error._tag, "Unsupported")
        }).pipe(Effect.scoped))
      return
    }

    it.effect("parks an event after parkAfter failures, with the error, and moves on", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        yield* store.append(n.stream(), [Event.make(n.type("Ok"), { i: 0 })])
        const poison = yield* store.append(n.stream(), [Event.make(n.type("Poison"), { i: 1 })])
        const last = yield* store.append(n.stream(), [Event.make(n.type("Ok"), { i: 2 })])
        const handled: Array<number> = []
        const consumer = yield* Consumer.make(n.checkpoint(), {
          filter: { categories: [n.category] },
          restart: quick,
          parkAfter: 3,
          // One commit per event: \`handled\` is outside the store, so a batch rolled back on a
          // failure would repeat the events before it there.
          checkpointEvery: 1,
          handler: (event) =>
            event.type === n.type("Poison")
              ? Effect.fail(new Error("bad data"))
              : Effect.sync(() => void handled.push((event.data as { i: number }).i))
        })
        yield* consumer.waitFor(last.position)
        assert.deepStrictEqual(handled, [0, 2])
        const parked = yield* consumer.parked
        assert.strictEqual(parked.length, 1)
        assert.strictEqual(parked[0].consumer, n.checkpoint())
        assert.strictEqual(parked[0].position, poison.position)
        assert.strictEqual(parked[0].stream, n.stream())
        assert.strictEqual(parked[0].version, 1n)
        assert.strictEqual(parked[0].type, n.type("Poison"))
        assert.strictEqual(parked[0].attempts, 3)
        assert.strictEqual(parked[0].error, "bad data")
        const status = yield* consumer.status
        assert.strictEqual(status.parked, 1)
        assert.strictEqual(status.restarts, 3)
        assert.deepStrictEqual(yield* store.loadCheckpoint(n.checkpoint()), Option.some(last.position))
      }).pipe(Effect.scoped, Effect.timeout(deliveryTimeout)))

    it.effect("with the defaults, a poison event in the middle of a catch-up batch is parked; the others are handled once", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const collection = DocumentStore.collection(n.collection(), Seen)
        const events = Array.from(
          { length: 7 },
          (_, i) => Event.make(n.type(i === 3 ? "Poison" : "Ok"), { i })
        )
        const { position } = yield* store.append(n.stream(), events)
        let poisonCalls = 0
        const consumer = yield* Consumer.make(n.checkpoint(), {
          filter: { categories: [n.category] },
          restart: quick,
          parkAfter: 3,
          handler: (event) =>
            event.type === n.type("Poison")
              ? Effect.andThen(Effect.sync(() => poisonCalls++), Effect.fail(new Error("bad data")))
              : bump(collection, event.id)
        })
        yield* consumer.waitFor(position)
        const stored = yield* Stream.runCollect(store.read(n.stream()))
        const parked = yield* consumer.parked
        assert.deepStrictEqual(parked.map((p) => p.position), [stored[3].position])
        assert.strictEqual(parked[0].attempts, 3)
        assert.strictEqual(poisonCalls, 3, "the poison event is handled once per attempt")
        once(
          yield* counts(collection, stored.filter((_, i) => i !== 3).map((event) => event.id)),
          "deliveries per event"
        )
        assert.deepStrictEqual(yield* counts(collection, [stored[3].id]), [0])
        assert.deepStrictEqual(yield* store.loadCheckpoint(n.checkpoint()), Option.some(position))
        assert.strictEqual((yield* consumer.status).parked, 1)
      }).pipe(Effect.scoped, Effect.timeout(deliveryTimeout)))

    it.effect("handleBatch: a poison event in a batch is isolated and parked; the others are handled once", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const collection = DocumentStore.collection(n.collection(), Seen)
        const events = Array.from(
          { length: 5 },
          (_, i) => Event.make(n.type(i === 2 ? "Poison" : "Ok"), { i })
        )
        const { position } = yield* store.append(n.stream(), events)
        const consumer = yield* Consumer.make(n.checkpoint(), {
          filter: { categories: [n.category] },
          restart: quick,
          parkAfter: 2,
          handleBatch: (batch) =>
            batch.some((event) => event.type === n.type("Poison"))
              ? Effect.fail(new Error("bad data"))
              : Effect.forEach(batch, (event) => bump(collection, event.id), { discard: true })
        })
        yield* consumer.waitFor(position)
        const stored = yield* Stream.runCollect(store.read(n.stream()))
        const parked = yield* consumer.parked
        assert.deepStrictEqual(parked.map((p) => p.position), [stored[2].position])
        assert.strictEqual(parked[0].attempts, 2)
        once(
          yield* counts(collection, stored.filter((_, i) => i !== 2).map((event) => event.id)),
          "deliveries per event"
        )
        assert.deepStrictEqual(yield* store.loadCheckpoint(n.checkpoint()), Option.some(position))
      }).pipe(Effect.scoped, Effect.timeout(deliveryTimeout)))

    it.effect("replays a parked event through the handler and removes it; discard removes without handling", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        let broken = true
        const handled: Array<number> = []
        const consumer = yield* Consumer.make(n.checkpoint(), {
          filter: { categories: [n.category] },
          restart: quick,
          parkAfter: 1,
          handler: (event) =>
            Effect.suspend(() => {
              const i = (event.data as { i: number }).i
              if (broken && event.type === n.type("Poison")) return Effect.fail(new Error(`poison ${i}`))
              handled.push(i)
              return Effect.void
            })
        })
        const first = yield* store.append(n.stream(), [Event.make(n.type("Poison"), { i: 1 })])
        yield* consumer.waitFor(first.position)
        assert.deepStrictEqual((yield* consumer.parked).map((p) => p.position), [first.position])

        // A replay that fails again keeps the event parked, with the new error and one more attempt.
        const failed = yield* Effect.flip(consumer.replay(first.position))
        assert.strictEqual((failed as Error).message, "poison 1")
        const still = yield* consumer.parked
        assert.strictEqual(still.length, 1)
        assert.strictEqual(still[0].attempts, 2)

        broken = false
        yield* consumer.replay(first.position)
        assert.deepStrictEqual(handled, [1])
        assert.deepStrictEqual(yield* consumer.parked, [])
        assert.strictEqual((yield* consumer.status).parked, 0)

        broken = true
        const second = yield* store.append(n.stream(), [Event.make(n.type("Poison"), { i: 2 })])
        yield* consumer.waitFor(second.position)
        assert.strictEqual((yield* consumer.status).parked, 1)
        yield* consumer.discard(second.position)
        assert.deepStrictEqual(yield* consumer.parked, [])
        assert.deepStrictEqual(handled, [1])
        assert.strictEqual((yield* consumer.status).parked, 0)

        const notParked = yield* Effect.flip(consumer.replay(second.position))
        assert.strictEqual((notParked as { _tag: string })._tag, "InvalidArgument")
        const notDiscarded = yield* Effect.flip(consumer.discard(second.position))
        assert.strictEqual(notDiscarded._tag, "InvalidArgument")
      }).pipe(Effect.scoped, Effect.timeout(deliveryTimeout)))

    it.effect("parked events outlive the consumer: a new instance of the same name lists them", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const poison = yield* store.append(n.stream(), [Event.make(n.type("Poison"), {})])
        const settings = {
          filter: { categories: [n.category] },
          restart: quick,
          parkAfter: 2,
          handler: () => Effect.fail(new Error("no"))
        }
        yield* Consumer.make(n.checkpoint(), settings).pipe(
          Effect.tap((consumer) => consumer.waitFor(poison.position)),
          Effect.scoped
        )
        const again = yield* Consumer.make(n.checkpoint(), settings)
        assert.strictEqual((yield* again.status).parked, 1)
        assert.deepStrictEqual((yield* again.parked).map((p) => p.position), [poison.position])
        yield* again.discard(poison.position)
      }).pipe(Effect.scoped, Effect.timeout(deliveryTimeout)))
  })
}
