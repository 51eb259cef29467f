// Health.check on PostgreSQL: migrations pending on a database PgStore.layer did not migrate, and the
// read horizon (PgStore.layerHealth, provided by PgStore.layer): an append in flight that idles holds
// global readers back, and the report says for how long, from the holder's transaction start, without
// any reader polling.
import { assert, describe, layer } from "@effect/vitest"
import { Event, EventStore, Health, StoreAdmin, UnitOfWork } from "@strata/core"
import { PgStore } from "@strata/postgres"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import { PgTestDatabase } from "./utils.ts"

const StoreLayer = Layer.unwrap(
  Effect.map(PgTestDatabase, (db) => PgStore.layer({ url: db.url, migrate: false }))
).pipe(Layer.provideMerge(PgTestDatabase.layer))

describe("Health.check (PostgreSQL)", () => {
  layer(StoreLayer, { timeout: "60 seconds", excludeTestServices: true })((it) => {
    it.effect("migrations pending, then current; the horizon held by an idle append in flight", () =>
      Effect.gen(function*() {
        const pending = yield* Health.check()
        assert.isTrue(pending.reachable.ok)
        assert.strictEqual(pending.migrations.status, "pending")
        assert.isFalse(pending.ready)
        assert.strictEqual(pending.status, "down")

        yield* (yield* StoreAdmin.StoreAdmin).migrate
        const store = yield* EventStore.EventStore
        const { position } = yield* store.append("order-1", [Event.make("Placed", {})])
        const current = yield* Health.check()
        assert.strictEqual(current.migrations.status, "current")
        assert.strictEqual(current.backend, "postgres")
        assert.strictEqual(current.reachable.head, position)
        assert.strictEqual(current.horizon.status, "ok")
        assert.strictEqual(current.horizon.heldSeconds, 0)
        assert.strictEqual(current.horizon.settled, position + 1n)
        assert.strictEqual(current.status, "up")

        // An append in a unit of work that then idles: readers are held below it.
        const appended = yield* Deferred.make<void>()
        const unit = yield* Effect.forkChild(
          UnitOfWork.transaction(Effect.gen(function*() {
            yield* store.append("order-2", [Event.make("Placed", {})])
            yield* Deferred.succeed(appended, undefined)
            return yield* Effect.never
          })).pipe(Effect.provideService(UnitOfWork.Timeout, "30 seconds"), Effect.exit)
        )
        yield* Deferred.await(appended)
        yield* Effect.sleep("1200 millis")
        const held = yield* Health.check({ horizonHeldLimit: "500 millis" })
        assert.strictEqual(held.horizon.status, "held")
        assert.isAtLeast(held.horizon.heldSeconds, 1)
        assert.isBelow(held.horizon.heldSeconds, 30)
        assert.strictEqual(held.horizon.settled, position + 1n)
        assert.strictEqual(held.status, "degraded")
        assert.isTrue(held.ready, "appends still work: degraded, not down")
        assert.isTrue(held.problems.some((p) => p.includes("held back")))
        yield* Fiber.interrupt(unit)

        const released = yield* Health.check({ horizonHeldLimit: "500 millis" })
        assert.strictEqual(released.horizon.status, "ok")
        assert.strictEqual(released.horizon.heldSeconds, 0)
        assert.strictEqual(released.status, "up")
      }))
  })
})
