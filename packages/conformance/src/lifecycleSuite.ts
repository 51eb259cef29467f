/**
 * Stream lifecycle: `streamInfo`, soft delete (numbering resumes), tombstone (permanent).
 *
 * @since 0.1.0
 */
import { assert, describe } from "@effect/vitest"
import { EventStore, ExpectedVersion } from "@strata/core"
import * as Effect from "effect/Effect"
import { collect, events, failsWith, names, readAll, readStream, streamFailsWith } from "./internal/fixtures.ts"
import { type ConformanceIt, resolve, type SuiteOptions } from "./SuiteOptions.ts"

/**
 * Registers the stream lifecycle tests.
 *
 * @category suites
 * @since 0.1.0
 */
export const lifecycleSuite = (it: ConformanceIt, options?: SuiteOptions): void => {
  const { deliveryTimeout } = resolve(options)

  describe("streamInfo", () => {
    it.effect("a stream never written is missing, with no last version and no retention", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const info = yield* store.streamInfo(n.stream())
        assert.deepStrictEqual(info, { stream: n.stream(), status: "missing", lastVersion: undefined, retention: {} })
      }))

    it.effect("a written stream is active and reports its last version", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("E"), 4))
        const info = yield* store.streamInfo(stream)
        assert.strictEqual(info.stream, stream)
        assert.strictEqual(info.status, "active")
        assert.strictEqual(info.lastVersion, 3n)
        assert.deepStrictEqual(info.retention, {})
      }))

    it.effect("a soft-deleted stream is deleted and keeps its last version", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("E"), 3))
        yield* store.deleteStream(stream)
        const info = yield* store.streamInfo(stream)
        assert.strictEqual(info.status, "deleted")
        assert.strictEqual(info.lastVersion, 2n)
      }))

    it.effect("a tombstoned stream is tombstoned and keeps its last version", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("E"), 2))
        yield* store.tombstoneStream(stream)
        const info = yield* store.streamInfo(stream)
        assert.strictEqual(info.status, "tombstoned")
        assert.strictEqual(info.lastVersion, 1n)
      }))
  })

  describe("soft delete", () => {
    it.effect("soft delete hides every event from read, forwards and backwards", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("E"), 3))
        yield* store.deleteStream(stream)
        assert.deepStrictEqual(yield* readStream(stream), [])
        assert.deepStrictEqual(yield* readStream(stream, { direction: "backwards" }), [])
        assert.deepStrictEqual(yield* readStream(stream, { from: 0n }), [])
      }))

    it.effect("appending after a soft delete continues numbering and only the new events are visible", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("Old"), 3))
        yield* store.deleteStream(stream)
        const result = yield* store.append(stream, events(n.type("New"), 2), { expected: ExpectedVersion.noStream })
        assert.strictEqual(result.nextExpectedVersion, 4n)
        const read = yield* readStream(stream)
        assert.deepStrictEqual(read.map((e) => e.version), [3n, 4n])
        assert.deepStrictEqual(read.map((e) => e.type), [n.type("New"), n.type("New")])
        const backwards = yield* readStream(stream, { direction: "backwards" })
        assert.deepStrictEqual(backwards.map((e) => e.version), [4n, 3n])
        const info = yield* store.streamInfo(stream)
        assert.strictEqual(info.status, "active")
        assert.strictEqual(info.lastVersion, 4n)
      }))

    it.effect("after re-appending, exact(last version) works and the stream can be deleted again", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("E"), 2))
        yield* store.deleteStream(stream)
        yield* store.append(stream, events(n.type("E"), 1))
        const next = yield* store.append(stream, events(n.type("E"), 1), { expected: ExpectedVersion.exact(2) })
        assert.strictEqual(next.nextExpectedVersion, 3n)
        yield* store.deleteStream(stream, { expected: ExpectedVersion.exact(3) })
        assert.deepStrictEqual(yield* readStream(stream), [])
        const again = yield* store.append(stream, events(n.type("E"), 1), { expected: ExpectedVersion.noStream })
        assert.strictEqual(again.nextExpectedVersion, 4n)
        assert.deepStrictEqual((yield* readStream(stream)).map((e) => e.version), [4n])
      }))

    it.effect("readAll still carries the events of a soft-deleted stream", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("E"), 3))
        yield* store.deleteStream(stream)
        const global = yield* readAll({ filter: { categories: [n.category] } })
        assert.deepStrictEqual(global.map((e) => e.version), [0n, 1n, 2n])
      }))

    it.effect("a subscription to a soft-deleted stream delivers only the events appended after the delete", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("Old"), 3))
        yield* store.deleteStream(stream)
        const sub = yield* collect(store.subscribe(stream, { from: "start" }), deliveryTimeout)
        yield* store.append(stream, events(n.type("New"), 2))
        const got = yield* sub.take(2)
        assert.deepStrictEqual(got.map((e) => [e.version, e.type]), [[3n, n.type("New")], [4n, n.type("New")]])
      }))

    it.effect("subscribeAll still delivers the events of a soft-deleted stream", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        yield* store.append(n.stream(), events(n.type("E"), 2))
        yield* store.deleteStream(n.stream())
        const sub = yield* collect(store.subscribeAll({ filter: { categories: [n.category] } }), deliveryTimeout)
        assert.deepStrictEqual((yield* sub.take(2)).map((e) => e.version), [0n, 1n])
      }))

    it.effect("soft-deleting an empty name has no events to hide and leaves it missing", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.deleteStream(stream, { expected: ExpectedVersion.noStream })
        const info = yield* store.streamInfo(stream)
        assert.strictEqual(info.lastVersion, undefined)
        assert.notStrictEqual(info.status, "active")
        const result = yield* store.append(stream, events(n.type("E"), 1), { expected: ExpectedVersion.noStream })
        assert.strictEqual(result.nextExpectedVersion, 0n)
      }))
  })

  describe("tombstone", () => {
    it.effect("after a tombstone, append fails with StreamDeleted { tombstoned: true } in every mode", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("E"), 2))
        yield* store.tombstoneStream(stream)
        for (
          const expected of [
            undefined,
            ExpectedVersion.any,
            ExpectedVersion.noStream,
            ExpectedVersion.streamExists,
            ExpectedVersion.exact(1)
          ]
        ) {
          const error = yield* failsWith("StreamDeleted")(store.append(stream, events(n.type("E"), 1), { expected }))
          assert.strictEqual(error.stream, stream)
          assert.isTrue(error.tombstoned)
          assert.isFalse(error.isRetryable)
        }
      }))

    it.effect("retrying an append stored before the tombstone fails with StreamDeleted: the tombstone wins over the replay", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        const stored = events(n.type("E"), 2)
        yield* store.append(stream, stored, { expected: ExpectedVersion.noStream })
        yield* store.tombstoneStream(stream)
        for (const expected of [ExpectedVersion.noStream, ExpectedVersion.any, undefined]) {
          const error = yield* failsWith("StreamDeleted")(store.append(stream, stored, { expected }))
          assert.isTrue(error.tombstoned)
          const many = yield* failsWith("StreamDeleted")(store.appendMany([{ stream, events: stored, expected }]))
          assert.isTrue(many.tombstoned)
        }
      }))

    it.effect("reading a tombstoned stream fails with StreamDeleted { tombstoned: true }", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("E"), 2))
        yield* store.tombstoneStream(stream)
        const error = yield* streamFailsWith("StreamDeleted")(store.read(stream))
        assert.isTrue(error.tombstoned)
        assert.strictEqual(error.stream, stream)
        const backwards = yield* streamFailsWith("StreamDeleted")(store.read(stream, { direction: "backwards" }))
        assert.isTrue(backwards.tombstoned)
      }))

    it.effect("deleting or tombstoning a tombstoned stream fails with StreamDeleted { tombstoned: true }", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("E"), 1))
        yield* store.tombstoneStream(stream)
        assert.isTrue((yield* failsWith("StreamDeleted")(store.deleteStream(stream))).tombstoned)
        assert.isTrue((yield* failsWith("StreamDeleted")(store.tombstoneStream(stream))).tombstoned)
        assert.strictEqual((yield* store.streamInfo(stream)).status, "tombstoned")
      }))

    it.effect("setRetention on a tombstoned stream fails with StreamDeleted", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("E"), 1))
        yield* store.tombstoneStream(stream)
        const error = yield* failsWith("StreamDeleted")(store.setRetention(stream, { maxCount: 1 }))
        assert.isTrue(error.tombstoned)
      }))

    it.effect("a name tombstoned before any write can never be written", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.tombstoneStream(stream)
        assert.strictEqual((yield* store.streamInfo(stream)).status, "tombstoned")
        const error = yield* failsWith("StreamDeleted")(
          store.append(stream, events(n.type("E"), 1), { expected: ExpectedVersion.noStream })
        )
        assert.isTrue(error.tombstoned)
        assert.strictEqual((yield* readAll({ filter: { categories: [n.category] } })).length, 0)
      }))

    it.effect("a soft-deleted stream can be tombstoned, which is final", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("E"), 2))
        yield* store.deleteStream(stream)
        yield* store.tombstoneStream(stream)
        assert.strictEqual((yield* store.streamInfo(stream)).status, "tombstoned")
        yield* failsWith("StreamDeleted")(store.append(stream, events(n.type("E"), 1)))
      }))

    it.effect("readAll still carries the events of a tombstoned stream", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("E"), 3))
        yield* store.tombstoneStream(stream)
        const global = yield* readAll({ filter: { categories: [n.category] } })
        assert.deepStrictEqual(global.map((e) => e.version), [0n, 1n, 2n])
      }))

    it.effect("tombstoning one stream leaves streams that share its prefix writable", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        yield* store.append(n.stream("a"), events(n.type("E"), 1))
        yield* store.append(n.stream("ab"), events(n.type("E"), 1))
        yield* store.tombstoneStream(n.stream("a"))
        const result = yield* store.append(n.stream("ab"), events(n.type("E"), 1))
        assert.strictEqual(result.nextExpectedVersion, 1n)
        assert.strictEqual((yield* store.streamInfo(n.stream("ab"))).status, "active")
      }))
  })
}
