/**
 * Stream lifecycle: `streamInfo`, soft delete (numbering resumes), tombstone (permanent); and a
 * store whose database was never migrated ({@link notMigratedSuite}).
 *
 * @since 0.1.0
 */
import { assert, describe, layer } from "@effect/vitest"
import { DocumentStore, Event, EventStore, ExpectedVersion, ParkedEvents, Store, StoreAdmin } from "@strata/core"
import { LeaseStore } from "@strata/core/backend"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
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

const Notes = DocumentStore.collection("conformance_not_migrated", Schema.Struct({ n: Schema.Finite }))

/**
 * A store opened on a database nobody migrated (`migrate: false` on a new SQLite file, a new
 * PostgreSQL database or schema, a new D1 binding): every operation fails with a typed
 * `StoreUnavailable` whose reason starts with `NotMigrated` and says to run `strata migrate`, never
 * with a defect; once `StoreAdmin.migrate` has run, the same store works. `unmigrated` must open
 * such a store without migrating it; the suite turns its retries off, so each failure shows at once.
 *
 * @example
 * ```ts
 * import { notMigratedSuite } from "@strata/conformance/lifecycleSuite"
 * import { SqliteStore } from "@strata/sqlite"
 *
 * notMigratedSuite("sqlite :memory:", SqliteStore.layer({ filename: ":memory:", migrate: false }))
 * ```
 *
 * @category suites
 * @since 0.1.0
 */
export const notMigratedSuite = (
  name: string,
  unmigrated: Layer.Layer<Store.Services, unknown>,
  options?: SuiteOptions
): void =>
  layer(Store.layer(unmigrated, { retry: false }), {
    timeout: resolve(options).timeout,
    excludeTestServices: true
  })(`Strata conformance, a store that was never migrated (${name})`, (it) => {
    const operations = Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      const documents = yield* DocumentStore.DocumentStore
      const leases = yield* LeaseStore.LeaseStore
      const parked = yield* ParkedEvents.ParkedEvents
      const first = <A, E, R>(stream: Stream.Stream<A, E, R>) => Stream.runCollect(Stream.take(stream, 1))
      const event = () => [Event.make("NotMigratedProbe", { n: 1 })]
      return {
        append: store.append("probe-1", event()),
        "append (expected no stream)": store.append("probe-1", event(), { expected: ExpectedVersion.noStream }),
        appendMany: store.appendMany([{ stream: "probe-1", events: event() }, { stream: "probe-2", events: event() }]),
        read: first(store.read("probe-1")),
        readAll: first(store.readAll()),
        subscribeAll: first(store.subscribeAll({ from: "start" })),
        subscribe: first(store.subscribe("probe-1", { from: "start" })),
        streamInfo: store.streamInfo("probe-1"),
        deleteStream: store.deleteStream("probe-1"),
        tombstoneStream: store.tombstoneStream("probe-1"),
        setRetention: store.setRetention("probe-1", { maxCount: 3 }),
        saveSnapshot: store.saveSnapshot("probe-1", { version: 0n, state: {} }),
        loadSnapshot: store.loadSnapshot("probe-1"),
        saveCheckpoint: store.saveCheckpoint("probe", 1n),
        loadCheckpoint: store.loadCheckpoint("probe"),
        "documents.get": documents.get(Notes, "1"),
        "documents.put": documents.put(Notes, "1", { n: 1 }),
        "documents.count": documents.count(Notes),
        "documents.find": Stream.runCollect(documents.find(Notes, {})),
        "Lease.acquire": leases.acquire("probe", "holder", Duration.seconds(5)),
        "Lease.list": leases.list("probe"),
        "ParkedEvents.count": parked.count("probe"),
        "ParkedEvents.list": parked.list("probe")
      } satisfies Record<string, Effect.Effect<unknown, unknown>>
    })

    it.effect("every operation fails with StoreUnavailable (NotMigrated) naming strata migrate, never a defect", () =>
      Effect.gen(function*() {
        const all = yield* operations
        for (const [operation, effect] of Object.entries(all)) {
          const exit = yield* Effect.exit(effect as Effect.Effect<unknown, unknown>)
          assert.isTrue(Exit.isFailure(exit), `${operation} succeeded on a store that has no tables`)
          if (Exit.isSuccess(exit)) continue
          assert.isFalse(Cause.hasDies(exit.cause), `${operation} died: ${Cause.pretty(exit.cause)}`)
          const error = Cause.squash(exit.cause) as { readonly _tag?: string; readonly reason?: unknown }
          assert.strictEqual(error._tag, "StoreUnavailable", `${operation}: ${String(error)}`)
          assert.match(String(error.reason), /^NotMigrated: strata_\w+ does not exist/, operation)
          assert.include(String(error.reason), "strata migrate", operation)
          // What the log shows: the missing table and what to do, not "failed transiently".
          assert.notInclude((error as unknown as Error).message, "transiently", operation)
          assert.include((error as unknown as Error).message, "strata migrate", operation)
        }
      }))

    it.effect("once the migrations run, the same store works", () =>
      Effect.gen(function*() {
        const admin = yield* StoreAdmin.StoreAdmin
        yield* admin.migrate
        const store = yield* EventStore.EventStore
        const written = yield* store.append("probe-1", [Event.make("NotMigratedProbe", { n: 1 })])
        assert.strictEqual(written.nextExpectedVersion, 0n)
        const read = yield* Stream.runCollect(store.read("probe-1"))
        assert.deepStrictEqual(read.map((e) => e.type), ["NotMigratedProbe"])
        const documents = yield* DocumentStore.DocumentStore
        yield* documents.put(Notes, "1", { n: 1 })
        assert.strictEqual(yield* documents.count(Notes), 1)
      }))
  })
