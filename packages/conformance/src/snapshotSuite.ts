/**
 * Snapshots (latest folded state per stream) and consumer checkpoints (a position per name).
 *
 * @since 0.1.0
 */
import { assert, describe } from "@effect/vitest"
import { Event, EventStore } from "@strata/core"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { assertRecent, failsWith, names } from "./internal/fixtures.ts"
import { type ConformanceIt, resolve, type SuiteOptions } from "./SuiteOptions.ts"

/**
 * Registers the snapshot and checkpoint tests.
 *
 * @category suites
 * @since 0.1.0
 */
export const snapshotSuite = (it: ConformanceIt, suiteOptions?: SuiteOptions): void => {
  const options = resolve(suiteOptions)
  describe("snapshots", () => {
    it.effect("loading a snapshot that was never saved gives Option.none", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        assert.isTrue(Option.isNone(yield* store.loadSnapshot(n.stream())))
      }))

    it.effect("a saved snapshot loads back with its stream, version, state, schemaVersion and a recent createdAt", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.saveSnapshot(stream, { version: 41n, state: { total: 12.5, items: ["a", "b"] }, schemaVersion: 3 })
        const loaded = yield* store.loadSnapshot(stream)
        assert.isTrue(Option.isSome(loaded))
        const snapshot = Option.getOrThrow(loaded)
        assert.strictEqual(snapshot.stream, stream)
        assert.strictEqual(snapshot.version, 41n)
        assert.deepStrictEqual(snapshot.state, { total: 12.5, items: ["a", "b"] })
        assert.strictEqual(snapshot.schemaVersion, 3)
        assertRecent(snapshot.createdAt, "snapshot createdAt")
      }))

    it.effect("a newer snapshot replaces the older one", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.saveSnapshot(stream, { version: 5n, state: { count: 5 }, schemaVersion: 1 })
        yield* store.saveSnapshot(stream, { version: 9n, state: { count: 9 }, schemaVersion: 2 })
        const snapshot = Option.getOrThrow(yield* store.loadSnapshot(stream))
        assert.strictEqual(snapshot.version, 9n)
        assert.deepStrictEqual(snapshot.state, { count: 9 })
        assert.strictEqual(snapshot.schemaVersion, 2)
      }))

    it.effect("snapshots are kept per stream", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        yield* store.saveSnapshot(n.stream("a"), { version: 1n, state: "a" })
        yield* store.saveSnapshot(n.stream("b"), { version: 2n, state: "b" })
        assert.strictEqual(Option.getOrThrow(yield* store.loadSnapshot(n.stream("a"))).state, "a")
        assert.strictEqual(Option.getOrThrow(yield* store.loadSnapshot(n.stream("b"))).version, 2n)
        assert.isTrue(Option.isNone(yield* store.loadSnapshot(n.stream("c"))))
      }))

    it.effect("snapshot state of any JSON shape round-trips exactly", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const states = [
          null,
          0,
          "text with 'quotes' and \"doubles\" and \u0000 NUL",
          [1, [2, [3]], { four: null }],
          { unicode: "ünïcödé 名前 🎉", nested: { deep: { list: [true, false] } }, empty: {} }
        ]
        for (const [i, state] of states.entries()) {
          yield* store.saveSnapshot(n.stream(`s${i}`), { version: BigInt(i), state })
          assert.deepStrictEqual(Option.getOrThrow(yield* store.loadSnapshot(n.stream(`s${i}`))).state, state)
        }
      }))

    it.effect("a snapshot whose state is not plain JSON fails with InvalidArgument and is not saved", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        const cyclic: Record<string, unknown> = {}
        cyclic.self = cyclic
        for (const state of [{ n: 1n }, new Date(), { at: new Date() }, new Map([["a", 1]]), cyclic, { f: () => 1 }]) {
          const error = yield* failsWith("InvalidArgument")(store.saveSnapshot(stream, { version: 1n, state }))
          assert.strictEqual(error.operation, "saveSnapshot")
        }
        assert.isTrue(Option.isNone(yield* store.loadSnapshot(stream)))
      }))

    it.effect("a snapshot with a negative version or schemaVersion fails with InvalidArgument", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* failsWith("InvalidArgument")(store.saveSnapshot(stream, { version: -1n, state: {} }))
        yield* failsWith("InvalidArgument")(store.saveSnapshot(stream, { version: 1n, state: {}, schemaVersion: -1 }))
        yield* failsWith("InvalidArgument")(store.saveSnapshot(stream, { version: 1n, state: {}, schemaVersion: 1.5 }))
        assert.isTrue(Option.isNone(yield* store.loadSnapshot(stream)))
      }))
  })

  describe("checkpoints", () => {
    it.effect("loading a checkpoint that was never saved gives Option.none", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        assert.isTrue(Option.isNone(yield* store.loadCheckpoint(n.checkpoint())))
      }))

    it.effect("a saved checkpoint loads back", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        yield* store.saveCheckpoint(n.checkpoint("a"), 1234n)
        assert.deepStrictEqual(yield* store.loadCheckpoint(n.checkpoint("a")), Option.some(1234n))
        yield* store.saveCheckpoint(n.checkpoint("zero"), 0n)
        assert.deepStrictEqual(yield* store.loadCheckpoint(n.checkpoint("zero")), Option.some(0n))
      }))

    it.effect("saving a checkpoint again overwrites it, also with a lower position", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const name = n.checkpoint()
        yield* store.saveCheckpoint(name, 10n)
        yield* store.saveCheckpoint(name, 20n)
        assert.deepStrictEqual(yield* store.loadCheckpoint(name), Option.some(20n))
        yield* store.saveCheckpoint(name, 5n)
        assert.deepStrictEqual(yield* store.loadCheckpoint(name), Option.some(5n))
      }))

    it.effect("checkpoints are kept per name, and names are case-sensitive and exact", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        yield* store.saveCheckpoint(n.checkpoint("Upper"), 1n)
        yield* store.saveCheckpoint(n.checkpoint("it's \"quoted\"; DROP TABLE x"), 2n)
        assert.deepStrictEqual(yield* store.loadCheckpoint(n.checkpoint("Upper")), Option.some(1n))
        assert.isTrue(Option.isNone(yield* store.loadCheckpoint(n.checkpoint("upper"))))
        assert.deepStrictEqual(
          yield* store.loadCheckpoint(n.checkpoint("it's \"quoted\"; DROP TABLE x")),
          Option.some(2n)
        )
        assert.isTrue(Option.isNone(yield* store.loadCheckpoint(n.checkpoint("Uppe"))))
      }))

    it.effect("deleting or tombstoning a stream drops its snapshot, so a re-created stream never starts from it", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const soft = n.stream("soft")
        const gone = n.stream("gone")
        for (const stream of [soft, gone]) {
          yield* store.append(stream, [Event.make("A", {})])
          yield* store.saveSnapshot(stream, { version: 0n, state: { folded: 1 } })
        }
        yield* store.deleteStream(soft)
        yield* store.tombstoneStream(gone)
        assert.isTrue(Option.isNone(yield* store.loadSnapshot(soft)))
        assert.isTrue(Option.isNone(yield* store.loadSnapshot(gone)))
      }))

    it.effect("positions up to the backend's largest integer round-trip exactly; above it is InvalidArgument", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const big = 9_007_199_254_740_993n
        if (options.maxInteger >= big) {
          yield* store.saveCheckpoint(n.checkpoint("big"), big)
          assert.deepStrictEqual(yield* store.loadCheckpoint(n.checkpoint("big")), Option.some(big))
        } else {
          const error = yield* failsWith("InvalidArgument")(store.saveCheckpoint(n.checkpoint("big"), big))
          assert.strictEqual(error.operation, "saveCheckpoint")
          assert.isTrue(Option.isNone(yield* store.loadCheckpoint(n.checkpoint("big"))))
        }
        yield* store.saveCheckpoint(n.checkpoint("max"), options.maxInteger)
        assert.deepStrictEqual(yield* store.loadCheckpoint(n.checkpoint("max")), Option.some(options.maxInteger))
      }))

    it.effect("invalid checkpoint names fail with InvalidArgument on save and load", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        for (const name of ["", "a\u0000b", "line\nbreak", " padded", "trailing ", "x".repeat(257)]) {
          const saved = yield* failsWith("InvalidArgument")(store.saveCheckpoint(name, 1n))
          assert.strictEqual(saved.operation, "saveCheckpoint")
          const loaded = yield* failsWith("InvalidArgument")(store.loadCheckpoint(name))
          assert.strictEqual(loaded.operation, "loadCheckpoint")
        }
      }))

    it.effect("a negative checkpoint position fails with InvalidArgument and saves nothing", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        yield* failsWith("InvalidArgument")(store.saveCheckpoint(n.checkpoint("neg"), -1n))
        assert.isTrue(Option.isNone(yield* store.loadCheckpoint(n.checkpoint("neg"))))
      }))
  })
}
