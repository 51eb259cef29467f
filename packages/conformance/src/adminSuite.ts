/**
 * StoreAdmin: migration status, consumer checkpoints with their lag, and statistics, checked
 * against what the EventStore itself reads.
 *
 * @since 0.1.0
 */
import { assert, describe } from "@effect/vitest"
import { Event, EventStore, StoreAdmin } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { names } from "./internal/fixtures.ts"
import { type ConformanceIt, resolve, type SuiteOptions } from "./SuiteOptions.ts"

/**
 * Registers the StoreAdmin tests.
 *
 * @category suites
 * @since 0.1.0
 */
export const adminSuite = (it: ConformanceIt, suiteOptions?: SuiteOptions): void => {
  const options = resolve(suiteOptions)
  describe("admin", () => {
    it.effect("after the layer started, no migration is pending and migrate applies nothing", () =>
      Effect.gen(function*() {
        const admin = yield* StoreAdmin.StoreAdmin
        const status = yield* admin.migrationStatus
        assert.deepStrictEqual(status.pending, [])
        assert.deepStrictEqual(yield* admin.migrate, [])
        const ids = status.applied.map(({ id }) => id)
        assert.deepStrictEqual(ids, [...ids].sort((a, b) => a - b))
      }))

    it.effect("stats agree with readAll: events, head, and the counts of this test's types and category", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const admin = yield* StoreAdmin.StoreAdmin
        const n = names()
        yield* store.append(n.stream("a"), [Event.make(n.type("X"), {}), Event.make(n.type("Y"), {})])
        yield* store.append(n.stream("b"), [Event.make(n.type("X"), {})])
        const stats = yield* admin.stats
        const all = yield* Stream.runCollect(store.readAll())
        assert.strictEqual(stats.events, all.length)
        assert.strictEqual(stats.head, all.at(-1)?.position)
        assert.isAtLeast(stats.streams, new Set(all.map((e) => e.stream)).size)
        assert.deepStrictEqual(stats.byType.filter(({ key }) => key.startsWith(n.type(""))), [
          { key: n.type("X"), count: 2 },
          { key: n.type("Y"), count: 1 }
        ])
        assert.deepStrictEqual(stats.byCategory.filter(({ key }) => key === n.category), [{
          key: n.category,
          count: 3
        }])
        if (stats.databaseBytes !== undefined) assert.isAbove(stats.databaseBytes, 0)
      }))

    it.effect("checkpoints are listed with their lag, and deleting one makes its consumer start over", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const admin = yield* StoreAdmin.StoreAdmin
        const n = names()
        const first = yield* store.append(n.stream(), [Event.make(n.type("A"), {})])
        yield* store.append(n.stream(), [Event.make(n.type("A"), {}), Event.make(n.type("A"), {})])
        const name = n.checkpoint()
        yield* store.saveCheckpoint(name, first.position)
        if (!options.listsCheckpoints) {
          const error = yield* Effect.flip(admin.checkpoints)
          assert.strictEqual(error._tag, "Unsupported")
          return
        }
        const after = (yield* Stream.runCollect(store.readAll({ from: first.position + 1n }))).length
        const listed = (yield* admin.checkpoints).find((c) => c.name === name)
        assert.deepStrictEqual(listed, { name, position: first.position, lag: after })
        assert.isTrue(yield* admin.deleteCheckpoint(name))
        assert.isFalse(yield* admin.deleteCheckpoint(name))
        assert.isTrue(Option.isNone(yield* store.loadCheckpoint(name)))
        assert.isUndefined((yield* admin.checkpoints).find((c) => c.name === name))
      }))

    it.effect("deleteCheckpoint refuses a bad name with InvalidArgument", () =>
      Effect.gen(function*() {
        const admin = yield* StoreAdmin.StoreAdmin
        if (!options.listsCheckpoints) return
        const error = yield* Effect.flip(admin.deleteCheckpoint(""))
        assert.strictEqual(error._tag, "InvalidArgument")
      }))
  })
}
