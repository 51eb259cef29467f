import { assert, describe, it } from "@effect/vitest"
import { Consumer, Event, EventStore, Health, JobQueue, MemoryStore, StoreError } from "@strata/core"
import { Backend, LeaseStore } from "@strata/core/backend"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"

const reaches = (name: string, state: Consumer.ConsumerState) =>
  Effect.flatMap(Consumer.get(name), (consumer) =>
    consumer.statusChanges.pipe(
      Stream.filter((status) => status.state === state),
      Stream.runHead,
      Effect.map(Option.getOrThrow)
    ))

describe("Health.check (memory)", () => {
  it.effect("an empty store is up, ready and live; no horizon, no consumers, no leases", () =>
    Effect.gen(function*() {
      const report = yield* Health.check()
      assert.strictEqual(report.status, "up")
      assert.isTrue(report.ready)
      assert.isTrue(report.live)
      assert.strictEqual(report.backend, "memory")
      assert.isTrue(report.reachable.ok)
      assert.isUndefined(report.reachable.head)
      assert.strictEqual(report.migrations.status, "current")
      assert.strictEqual(report.horizon.status, "none")
      assert.deepStrictEqual(report.consumers, [])
      assert.deepStrictEqual(report.leases, [])
      assert.deepStrictEqual(report.parked, {})
      assert.deepStrictEqual(report.problems, [])
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.live("consumers: a parked event and a consumer that gave up make it degraded and not live; leases listed", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      const { position } = yield* store.append("order-1", [
        Event.make("Fine", {}),
        Event.make("Poison", {}),
        Event.make("Fine", {})
      ])
      const parker = yield* Consumer.get("parker")
      yield* parker.waitFor(position)
      yield* reaches("parker", "live")
      yield* reaches("quitter", "failed")
      const leases = yield* LeaseStore.LeaseStore
      yield* leases.acquire("jobs/nightly", "worker-7", Duration.minutes(1))

      const report = yield* Health.check()
      assert.strictEqual(report.status, "degraded")
      assert.isTrue(report.ready, "the store itself serves")
      assert.isFalse(report.live, "a consumer gave up: restarting the process may cure it")
      assert.strictEqual(report.reachable.head, position)
      const byName = new Map(report.consumers.map((c) => [c.name, c]))
      const parked = byName.get("parker")!
      assert.strictEqual(parked.state, "live")
      assert.strictEqual(parked.position, position)
      assert.strictEqual(parked.lag, 0, "its checkpoint is at the head")
      const quitter = byName.get("quitter")!
      assert.strictEqual(quitter.state, "failed")
      assert.include(quitter.failure ?? "", "poison")
      assert.deepStrictEqual(report.parked, { parker: 1 })
      // The parking consumer holds its own lease (parking is fenced) besides the one taken here.
      assert.deepStrictEqual(report.leases.map((l) => l.name).sort(), ["consumer/parker", "jobs/nightly"])
      assert.strictEqual(report.leases.find((l) => l.name === "jobs/nightly")?.holder, "worker-7")
      assert.lengthOf(report.problems, 2)
      assert.isTrue(report.problems.some((p) => p.includes("quitter failed")))
      assert.isTrue(report.problems.some((p) => p.includes("parker has 1 parked")))
      // JSON: positions and tokens as strings.
      const json = Health.toJson(report) as { consumers: Array<{ position: unknown }> }
      assert.strictEqual(json.consumers[0]!.position, String(position))
    }).pipe(
      Effect.provide(
        Layer.mergeAll(
          Consumer.layer("parker", {
            parkAfter: 1,
            restart: Schedule.spaced("1 millis"),
            handler: (event) => event.type === "Poison" ? Effect.fail(new Error("poison")) : Effect.void
          }),
          Consumer.layer("quitter", {
            restart: Schedule.recurs(0),
            handler: (event) => event.type === "Poison" ? Effect.fail(new Error("poison")) : Effect.void
          })
        ).pipe(Layer.provideMerge(MemoryStore.layer()))
      )
    ))

  it.live(
    "a backend that fails or does not answer: down and not ready, still live; other checks still run",
    () =>
      Effect.gen(function*() {
        const backend = yield* Backend.Backend
        const failing = {
          ...backend,
          eventStore: {
            ...backend.eventStore,
            readAll: () =>
              Stream.fail(new StoreError.StoreUnavailable({ operation: "readAll", reason: "ConnectionError" }))
          }
        }
        const report = yield* Health.check().pipe(Effect.provideService(Backend.Backend, failing))
        assert.strictEqual(report.status, "down")
        assert.isFalse(report.ready)
        assert.isTrue(report.live, "an outage is not cured by restarting the process")
        assert.include(report.reachable.error ?? "", "ConnectionError")
        assert.strictEqual(report.migrations.status, "current")

        const silent = { ...backend, eventStore: { ...backend.eventStore, readAll: () => Stream.never } }
        const timedOut = yield* Health.check({ timeout: "20 millis" }).pipe(
          Effect.provideService(Backend.Backend, silent)
        )
        assert.strictEqual(timedOut.status, "down")
        assert.include(timedOut.reachable.error ?? "", "did not answer within")
      }).pipe(Effect.provide(MemoryStore.layer())),
    { timeout: 10_000 }
  )

  it.effect("a horizon probe: held past the limit is degraded, not down", () =>
    Effect.gen(function*() {
      const probe = (heldSeconds: number) =>
        Health.HorizonProbe.of({ read: Effect.succeed({ settled: 10n, pending: heldSeconds > 0, heldSeconds }) })
      const fine = yield* Health.check().pipe(Effect.provideService(Health.HorizonProbe, probe(0)))
      assert.deepStrictEqual(fine.horizon, { status: "ok", heldSeconds: 0, settled: 10n })
      assert.strictEqual(fine.status, "up")
      const held = yield* Health.check({ horizonHeldLimit: "5 seconds" }).pipe(
        Effect.provideService(Health.HorizonProbe, probe(7.5))
      )
      assert.strictEqual(held.horizon.status, "held")
      assert.strictEqual(held.status, "degraded")
      assert.isTrue(held.ready)
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.live("job queues: depth per queue; dead jobs make it degraded", () =>
    Effect.gen(function*() {
      const Mail = JobQueue.make("mail", Schema.Struct({ to: Schema.String }))
      yield* JobQueue.enqueue(Mail, { to: "ada" })
      yield* JobQueue.enqueue(Mail, { to: "alan" })
      yield* JobQueue.enqueue(Mail, { to: "later" }, { delay: "1 hour" })
      const fresh = yield* Health.check()
      assert.deepStrictEqual(fresh.jobs.map(({ oldestDueSeconds: _, ...depth }) => depth), [
        { queue: "mail", pending: 3, due: 2, running: 0, dead: 0 }
      ])
      assert.strictEqual(fresh.status, "up")

      // One job runs out of attempts.
      const { store } = yield* JobQueue.JobQueue
      const now = Date.now()
      const [taken] = yield* store.take({ queue: "mail", owner: "w1", now, leaseExpiresAt: now + 60_000, limit: 1 })
      yield* store.fail({ id: taken!.id, owner: "w1", attempt: taken!.attempt }, {
        now,
        error: "smtp down",
        retryAt: undefined
      })
      const report = yield* Health.check()
      assert.deepStrictEqual(report.jobs.map(({ queue, due, dead }) => ({ queue, due, dead })), [
        { queue: "mail", due: 1, dead: 1 }
      ])
      assert.strictEqual(report.status, "degraded")
      assert.isTrue(report.problems.some((p) => p === "job queue mail has 1 dead jobs"))
    }).pipe(Effect.provide(Layer.merge(MemoryStore.layer(), JobQueue.layerMemory))))
})
