// Health.check on SQLite: migrations pending on a store started with `migrate: false`, current once
// migrated; checkpoints (with their lag), leases and parked events come from the database, so a
// consumer of another process shows too.
import { assert, describe, it } from "@effect/vitest"
import { Event, EventStore, Health, ParkedEvents, StoreAdmin } from "@strata/core"
import { LeaseStore } from "@strata/core/backend"
import { SqliteStore } from "@strata/sqlite"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

const tempFile = () => Path.join(Fs.mkdtempSync(Path.join(Os.tmpdir(), "strata-health-")), "app.db")

describe("Health.check (SQLite)", () => {
  it.effect("a file without the schema: reachable, migrations pending, not ready; migrated: up", () =>
    Effect.gen(function*() {
      const report = yield* Health.check()
      assert.isTrue(report.reachable.ok, "the database answers")
      assert.strictEqual(report.migrations.status, "pending")
      assert.isAbove(report.migrations.pending.length, 0)
      assert.isFalse(report.ready)
      assert.strictEqual(report.status, "down")
      assert.isTrue(report.problems.some((p) => p.startsWith("migrations pending")))

      const admin = yield* StoreAdmin.StoreAdmin
      yield* admin.migrate
      const after = yield* Health.check()
      assert.strictEqual(after.migrations.status, "current")
      assert.deepStrictEqual(after.problems, [])
      assert.strictEqual(after.status, "up")
      assert.strictEqual(after.backend, "sqlite")
      assert.strictEqual(after.horizon.status, "none", "one writer at a time: no horizon")
    }).pipe(Effect.provide(SqliteStore.layer({ filename: tempFile(), migrate: false }))))

  it.effect("checkpoints with their lag, leases and parked events of consumers not running here", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      const first = yield* store.append("order-1", [Event.make("A", {}), Event.make("B", {})])
      yield* store.append("order-2", [Event.make("C", {})])
      // Another process's consumer: its checkpoint after the first append, one parked event, a lease.
      yield* store.saveCheckpoint("billing", first.position)
      const parked = yield* ParkedEvents.ParkedEvents
      yield* parked.park({
        consumer: "billing",
        position: first.position,
        stream: "order-1",
        version: 1n,
        id: crypto.randomUUID(),
        type: "B",
        error: "boom",
        attempts: 3,
        parkedAt: new Date()
      })
      const leases = yield* LeaseStore.LeaseStore
      yield* leases.acquire("consumer/billing", "host-2", Duration.minutes(1))

      const report = yield* Health.check({ lagLimit: 0 })
      assert.isTrue(report.ready)
      assert.strictEqual(report.status, "degraded")
      assert.deepStrictEqual(report.consumers.map((c) => [c.name, c.state, c.position, c.lag]), [
        ["billing", undefined, first.position, 1]
      ])
      assert.deepStrictEqual(report.parked, { billing: 1 })
      assert.deepStrictEqual(report.leases.map((l) => [l.name, l.holder]), [["consumer/billing", "host-2"]])
      assert.isTrue(report.problems.some((p) => p.includes("1 events behind")))
      const quiet = yield* Health.check({ checkpoints: false })
      assert.deepStrictEqual(quiet.consumers, [])
    }).pipe(Effect.provide(SqliteStore.layer({ filename: tempFile() }))))
})
