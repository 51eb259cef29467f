/**
 * Retention: truncate-before, max-count and max-age hide a stream's older events from stream reads
 * and subscriptions, never from the global log.
 *
 * @since 0.1.0
 */
import { assert, describe } from "@effect/vitest"
import { EventStore, ExpectedVersion } from "@strata/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { collect, events, failsWith, names, readAll, readStream, versions } from "./internal/fixtures.ts"
import { type ConformanceIt, resolve, type SuiteOptions } from "./SuiteOptions.ts"

/**
 * Registers the retention tests.
 *
 * @category suites
 * @since 0.1.0
 */
export const retentionSuite = (it: ConformanceIt, options?: SuiteOptions): void => {
  // maxAge: long enough for any backend to append and read back well within it; short enough to wait out.
  const { deliveryTimeout, longStreamLength, maxAgeMillis, pollInterval } = resolve(options)
  const outlive = Effect.sleep(Duration.millis(maxAgeMillis + 300))

  describe("retention", () => {
    it.effect("truncateBefore hides older events from read while readAll still has them", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("E"), 6))
        const retention = yield* store.setRetention(stream, { truncateBefore: 4n })
        assert.strictEqual(retention.truncateBefore, 4n)
        assert.deepStrictEqual((yield* readStream(stream)).map((e) => e.version), [4n, 5n])
        assert.deepStrictEqual((yield* readStream(stream, { direction: "backwards" })).map((e) => e.version), [
          5n,
          4n
        ])
        assert.deepStrictEqual((yield* readStream(stream, { from: 1n })).map((e) => e.version), [4n, 5n])
        assert.deepStrictEqual(
          (yield* readStream(stream, { from: 5n, direction: "backwards", limit: 10 })).map((e) => e.version),
          [5n, 4n]
        )
        const global = yield* readAll({ filter: { categories: [n.category] } })
        assert.deepStrictEqual(global.map((e) => e.version), versions(6))
      }))

    it.effect("retention hides events but keeps versions: lastVersion and exact(last) are unchanged", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("E"), 5))
        yield* store.setRetention(stream, { truncateBefore: 5n })
        assert.deepStrictEqual(yield* readStream(stream), [])
        const info = yield* store.streamInfo(stream)
        assert.strictEqual(info.status, "active")
        assert.strictEqual(info.lastVersion, 4n)
        const result = yield* store.append(stream, events(n.type("E"), 1), { expected: ExpectedVersion.exact(4) })
        assert.strictEqual(result.nextExpectedVersion, 5n)
        assert.deepStrictEqual((yield* readStream(stream)).map((e) => e.version), [5n])
      }))

    it.effect("maxCount keeps only the last N events visible, and the window moves with appends", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("E"), 5))
        const retention = yield* store.setRetention(stream, { maxCount: 2 })
        assert.strictEqual(retention.maxCount, 2)
        assert.deepStrictEqual((yield* readStream(stream)).map((e) => e.version), [3n, 4n])
        yield* store.append(stream, events(n.type("E"), 1))
        assert.deepStrictEqual((yield* readStream(stream)).map((e) => e.version), [4n, 5n])
        assert.deepStrictEqual((yield* readStream(stream, { direction: "backwards" })).map((e) => e.version), [
          5n,
          4n
        ])
        assert.strictEqual((yield* readAll({ filter: { categories: [n.category] } })).length, 6)
      }))

    it.effect("maxAge hides events older than it from read, but not from readAll", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("Old"), 3))
        const retention = yield* store.setRetention(stream, { maxAge: Duration.millis(maxAgeMillis) })
        assert.strictEqual(Duration.toMillis(retention.maxAge!), maxAgeMillis)
        assert.strictEqual((yield* readStream(stream)).length, 3)
        yield* outlive
        yield* store.append(stream, events(n.type("New"), 2))
        const read = yield* readStream(stream)
        assert.deepStrictEqual(read.map((e) => [e.version, e.type]), [[3n, n.type("New")], [4n, n.type("New")]])
        assert.deepStrictEqual((yield* readStream(stream, { direction: "backwards" })).map((e) => e.version), [
          4n,
          3n
        ])
        assert.strictEqual((yield* readAll({ filter: { categories: [n.category] } })).length, 5)
        assert.strictEqual((yield* store.streamInfo(stream)).lastVersion, 4n)
      }))

    it.effect(`a subscription skips ${longStreamLength} events hidden by maxAge and delivers the fresh ones`, () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("Old"), longStreamLength))
        yield* store.setRetention(stream, { maxAge: maxAgeMillis })
        yield* outlive
        yield* store.append(stream, events(n.type("New"), 2))
        const sub = yield* collect(store.subscribe(stream), deliveryTimeout)
        const got = yield* sub.take(2)
        assert.deepStrictEqual(got.map((e) => [e.version, e.type]), [
          [BigInt(longStreamLength), n.type("New")],
          [BigInt(longStreamLength + 1), n.type("New")]
        ])
      }))

    it.effect("a subscription from start skips events hidden by truncateBefore and maxCount", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        yield* store.append(n.stream("a"), events(n.type("E"), 6))
        yield* store.setRetention(n.stream("a"), { truncateBefore: 4n })
        yield* store.append(n.stream("b"), events(n.type("E"), 6))
        yield* store.setRetention(n.stream("b"), { maxCount: 1 })
        const a = yield* collect(store.subscribe(n.stream("a")), deliveryTimeout)
        assert.deepStrictEqual((yield* a.take(2)).map((e) => e.version), [4n, 5n])
        const b = yield* collect(store.subscribe(n.stream("b")), deliveryTimeout)
        assert.deepStrictEqual((yield* b.take(1)).map((e) => e.version), [5n])
      }))

    it.effect("a subscription whose cursor sits on the first visible event delivers only what follows it", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        yield* store.append(n.stream("a"), events(n.type("E"), 6))
        yield* store.setRetention(n.stream("a"), { truncateBefore: 4n })
        yield* store.append(n.stream("b"), events(n.type("E"), 6))
        yield* store.setRetention(n.stream("b"), { maxCount: 2 })
        // Versions 4 and 5 are visible on both; the cursor is on 4, the first of them, or just before it.
        const onFirst = yield* collect(store.subscribe(n.stream("a"), { from: { after: 4n } }), deliveryTimeout)
        const beforeFirst = yield* collect(store.subscribe(n.stream("a"), { from: { after: 3n } }), deliveryTimeout)
        const counted = yield* collect(store.subscribe(n.stream("b"), { from: { after: 4n } }), deliveryTimeout)
        assert.deepStrictEqual((yield* onFirst.take(1)).map((e) => e.version), [5n])
        assert.deepStrictEqual((yield* beforeFirst.take(2)).map((e) => e.version), [4n, 5n])
        assert.deepStrictEqual((yield* counted.take(1)).map((e) => e.version), [5n])
        yield* store.append(n.stream("a"), events(n.type("E"), 1, 6))
        yield* store.append(n.stream("b"), events(n.type("E"), 1, 6))
        assert.deepStrictEqual((yield* onFirst.take(1)).map((e) => e.version), [6n])
        assert.deepStrictEqual((yield* beforeFirst.take(1)).map((e) => e.version), [6n])
        // maxCount 2 now hides version 4, which the subscription already passed: nothing is replayed.
        assert.deepStrictEqual((yield* counted.take(1)).map((e) => e.version), [6n])
        yield* Effect.sleep(Duration.sum(Duration.fromInputUnsafe(pollInterval), Duration.millis(150)))
        assert.deepStrictEqual(yield* onFirst.drain, [])
        assert.deepStrictEqual(yield* beforeFirst.drain, [])
        assert.deepStrictEqual(yield* counted.drain, [])
      }))

    it.effect("when truncateBefore and maxCount both apply, the stricter one wins", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("E"), 10))
        yield* store.setRetention(stream, { truncateBefore: 2n, maxCount: 5 })
        assert.deepStrictEqual((yield* readStream(stream)).map((e) => e.version), [5n, 6n, 7n, 8n, 9n])
        yield* store.setRetention(stream, { truncateBefore: 8n })
        assert.deepStrictEqual((yield* readStream(stream)).map((e) => e.version), [8n, 9n])
      }))

    it.effect("a retention patch: null clears a rule, an absent field keeps it", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("E"), 6))
        const all = yield* store.setRetention(stream, { truncateBefore: 1n, maxCount: 4, maxAge: "1 hour" })
        assert.strictEqual(all.truncateBefore, 1n)
        assert.strictEqual(all.maxCount, 4)
        assert.strictEqual(Duration.toMillis(all.maxAge!), 3_600_000)
        const kept = yield* store.setRetention(stream, { maxCount: null })
        assert.strictEqual(kept.truncateBefore, 1n)
        assert.strictEqual(kept.maxCount, undefined)
        assert.strictEqual(Duration.toMillis(kept.maxAge!), 3_600_000)
        assert.deepStrictEqual((yield* readStream(stream)).map((e) => e.version), [1n, 2n, 3n, 4n, 5n])
        const info = yield* store.streamInfo(stream)
        assert.strictEqual(info.retention.truncateBefore, 1n)
        assert.strictEqual(info.retention.maxCount, undefined)
        assert.strictEqual(Duration.toMillis(info.retention.maxAge!), 3_600_000)
        const cleared = yield* store.setRetention(stream, { truncateBefore: null, maxAge: null })
        assert.deepStrictEqual(cleared, {})
        assert.deepStrictEqual((yield* store.streamInfo(stream)).retention, {})
        assert.strictEqual((yield* readStream(stream)).length, 6)
      }))

    it.effect("an empty patch changes nothing and returns the current retention", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("E"), 3))
        yield* store.setRetention(stream, { maxCount: 2 })
        const same = yield* store.setRetention(stream, {})
        assert.strictEqual(same.maxCount, 2)
        assert.strictEqual(same.truncateBefore, undefined)
        assert.strictEqual(same.maxAge, undefined)
        assert.strictEqual((yield* readStream(stream)).length, 2)
      }))

    it.effect("retention set on a missing stream applies once the stream is written", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        const retention = yield* store.setRetention(stream, { maxCount: 2 })
        assert.strictEqual(retention.maxCount, 2)
        const info = yield* store.streamInfo(stream)
        assert.strictEqual(info.status, "missing")
        assert.strictEqual(info.retention.maxCount, 2)
        yield* store.append(stream, events(n.type("E"), 5), { expected: ExpectedVersion.noStream })
        assert.deepStrictEqual((yield* readStream(stream)).map((e) => e.version), [3n, 4n])
      }))

    it.effect("an invalid retention patch fails with InvalidArgument and changes nothing", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const n = names()
        const stream = n.stream()
        yield* store.append(stream, events(n.type("E"), 3))
        const bad: ReadonlyArray<EventStore.RetentionPatch> = [
          { maxCount: 0 },
          { maxCount: -1 },
          { maxCount: 1.5 },
          { truncateBefore: -1n },
          { truncateBefore: 3 as unknown as bigint },
          { maxAge: 0 },
          { maxAge: -5 },
          { maxAge: "Infinity" }
        ]
        for (const patch of bad) {
          const error = yield* failsWith("InvalidArgument")(store.setRetention(stream, patch))
          assert.strictEqual(error.operation, "setRetention")
        }
        assert.deepStrictEqual((yield* store.streamInfo(stream)).retention, {})
        assert.strictEqual((yield* readStream(stream)).length, 3)
      }))
  })
}
