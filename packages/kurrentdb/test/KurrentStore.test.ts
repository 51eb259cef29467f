/**
 * What only the KurrentDB backend has: connection failures, a dropped subscription, a server
 * without multi-stream appends. Each test starts its own emulator, whatever KURRENTDB_URL says.
 */
import { assert, describe, it } from "@effect/vitest"
import { EventStore, ExpectedVersion, StoreError } from "@strata/core"
import { KurrentStore } from "@strata/kurrentdb"
import { KurrentEmulator } from "@strata/kurrentdb-emulator"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { randomUUID } from "node:crypto"

const emulator = (options?: KurrentEmulator.EmulatorOptions) =>
  Effect.acquireRelease(
    Effect.promise(() => KurrentEmulator.start(options)),
    (e) => Effect.promise(() => e.stop())
  )

// The client's channel may still be closing when the emulator is back ("Channel closed before call
// started"): the append after an outage is retried while it is unavailable, as a store under Retry
// would, with its event id fixed so a retry cannot write it twice; what these tests check is the
// subscription.
const afterOutage = <A, E>(append: Effect.Effect<A, E>) =>
  Effect.retry(append, {
    while: StoreError.isRetryable,
    schedule: Schedule.spaced("50 millis"),
    times: 40
  })

const withStore = <A, E>(
  connectionString: string,
  f: (store: EventStore.EventStoreShape) => Effect.Effect<A, E>
) => Effect.flatMap(KurrentStore.make({ connectionString }), ({ eventStore }) => f(eventStore))

describe("KurrentStore", () => {
  it.live(
    "an unreachable server is StoreUnavailable naming the endpoint, never the credentials",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const e = yield* emulator()
        const port = e.port
        yield* Effect.promise(() => e.stop())
        const errors = yield* withStore(
          `kurrentdb://admin:s3cr3t-pass@127.0.0.1:${port}?tls=false&maxDiscoverAttempts=1&defaultDeadline=2000`,
          (store) =>
            Effect.all([
              Effect.flip(store.append("a-1", [{ type: "E", data: {} }])),
              Effect.flip(Stream.runCollect(store.read("a-1")))
            ])
        )
        for (const error of errors) {
          assert.strictEqual(error._tag, "StoreUnavailable")
          assert.isTrue(StoreError.isRetryable(error))
          assert.include((error as StoreError.StoreUnavailable).reason, `127.0.0.1:${port}`)
          assert.notInclude(JSON.stringify(error) + error.message, "s3cr3t")
        }
      })),
    30_000
  )

  it.live(
    "a subscription resumes after the last delivered event when the server drops it",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const e = yield* emulator()
        yield* withStore(e.connectionString, (store) =>
          Effect.gen(function*() {
            const stream = `resume-${Date.now()}`
            yield* store.append(stream, [{ type: "E", data: { i: 0 } }, { type: "E", data: { i: 1 } }])
            const seen = yield* Queue.unbounded<bigint>()
            const fiber = yield* store.subscribe(stream).pipe(
              Stream.runForEach((event) => Queue.offer(seen, event.version)),
              Effect.forkChild
            )
            assert.deepStrictEqual([yield* Queue.take(seen), yield* Queue.take(seen)], [0n, 1n])
            e.unavailable = true
            yield* Effect.sleep("150 millis")
            e.unavailable = false
            yield* afterOutage(store.append(stream, [{ id: randomUUID(), type: "E", data: { i: 2 } }]))
            assert.strictEqual(yield* Queue.take(seen), 2n)
            yield* Effect.sleep("100 millis")
            assert.strictEqual(yield* Queue.size(seen), 0)
            yield* Fiber.interrupt(fiber)
          }))
      })),
    30_000
  )

  it.live(
    "a subscription dropped after delivering only version 0 resumes after it, not at it",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const e = yield* emulator()
        yield* withStore(e.connectionString, (store) =>
          Effect.gen(function*() {
            const stream = `resume0-${Date.now()}`
            yield* store.append(stream, [{ type: "E", data: { i: 0 } }])
            const seen = yield* Queue.unbounded<bigint>()
            const fiber = yield* store.subscribe(stream).pipe(
              Stream.runForEach((event) => Queue.offer(seen, event.version)),
              Effect.forkChild
            )
            assert.strictEqual(yield* Queue.take(seen), 0n)
            e.unavailable = true
            yield* Effect.sleep("150 millis")
            e.unavailable = false
            yield* afterOutage(store.append(stream, [{ id: randomUUID(), type: "E", data: { i: 1 } }]))
            assert.strictEqual(yield* Queue.take(seen), 1n)
            yield* Effect.sleep("100 millis")
            assert.strictEqual(yield* Queue.size(seen), 0)
            yield* Fiber.interrupt(fiber)
          }))
      })),
    30_000
  )

  it.live(
    "a subscription from after version 0, dropped before delivering anything, resumes after version 0",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const e = yield* emulator()
        yield* withStore(e.connectionString, (store) =>
          Effect.gen(function*() {
            const stream = `resumeafter0-${Date.now()}`
            yield* store.append(stream, [{ type: "E", data: { i: 0 } }])
            const seen = yield* Queue.unbounded<bigint>()
            const fiber = yield* store.subscribe(stream, { from: { after: 0n } }).pipe(
              Stream.runForEach((event) => Queue.offer(seen, event.version)),
              Effect.forkChild
            )
            yield* Effect.sleep("150 millis")
            e.unavailable = true
            yield* Effect.sleep("150 millis")
            e.unavailable = false
            yield* afterOutage(store.append(stream, [{ id: randomUUID(), type: "E", data: { i: 1 } }]))
            assert.strictEqual(yield* Queue.take(seen), 1n)
            yield* Effect.sleep("100 millis")
            assert.strictEqual(yield* Queue.size(seen), 0)
            yield* Fiber.interrupt(fiber)
          }))
      })),
    30_000
  )

  it.live(
    "a subscribeAll resumes after the last delivered position when the server drops it",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const e = yield* emulator()
        yield* withStore(e.connectionString, (store) =>
          Effect.gen(function*() {
            const category = `resumeall${Date.now()}`
            yield* store.append(`${category}-a`, [{ type: "E", data: { i: 0 } }])
            const seen = yield* Queue.unbounded<string>()
            const fiber = yield* store.subscribeAll({ filter: { categories: [category] } }).pipe(
              Stream.runForEach((event) => Queue.offer(seen, `${event.stream}@${event.version}`)),
              Effect.forkChild
            )
            assert.strictEqual(yield* Queue.take(seen), `${category}-a@0`)
            e.unavailable = true
            yield* Effect.sleep("150 millis")
            e.unavailable = false
            yield* store.append(`${category}-b`, [{ type: "E", data: { i: 1 } }])
            assert.strictEqual(yield* Queue.take(seen), `${category}-b@0`)
            yield* Effect.sleep("100 millis")
            assert.strictEqual(yield* Queue.size(seen), 0)
            yield* Fiber.interrupt(fiber)
          }))
      })),
    30_000
  )

  it.live(
    "appendMany against a server before 25.1 is Unsupported and writes nothing",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const e = yield* emulator({ serverVersion: "24.10.0", multiStreamAppend: false })
        yield* withStore(e.connectionString, (store) =>
          Effect.gen(function*() {
            const error = yield* Effect.flip(store.appendMany([
              { stream: "old-a", events: [{ type: "E", data: {} }] },
              { stream: "old-b", events: [{ type: "E", data: {} }] }
            ]))
            assert.strictEqual(error._tag, "Unsupported")
            assert.strictEqual((yield* store.streamInfo("old-a")).status, "missing")
          }))
      })),
    30_000
  )

  it.live(
    "appendMany goes through AppendRecords on 26.1 and through the append session on 25.x; conflicts decode on both",
    () =>
      Effect.forEach([true, false], (appendRecords) =>
        Effect.scoped(Effect.gen(function*() {
          const e = yield* emulator({ appendRecords })
          // The emulator's database is where both RPCs land: AppendRecords in writeRecords, the session in write.
          const calls = { records: 0, session: 0 }
          const { write, writeRecords } = e.database
          e.database.writeRecords = (...args) => (calls.records++, writeRecords.apply(e.database, args))
          e.database.write = (...args) => (calls.session++, write.apply(e.database, args))
          yield* withStore(e.connectionString, (store) =>
            Effect.gen(function*() {
              yield* store.append("many-b", [{ type: "E", data: {} }])
              calls.records = calls.session = 0
              const written = yield* store.appendMany([
                { stream: "many-a", events: [{ type: "E", data: {} }, { type: "E", data: {} }] },
                { stream: "many-b", events: [{ type: "E", data: {} }], expected: ExpectedVersion.exact(0n) }
              ])
              assert.deepStrictEqual(written.map((r) => r.nextExpectedVersion), [1n, 1n])
              assert.deepStrictEqual(calls, appendRecords ? { records: 1, session: 0 } : { records: 0, session: 1 })
              // A stale expected version on the second part: the conflict names its stream and actual version.
              const conflict = yield* Effect.flip(store.appendMany([
                { stream: "many-c", events: [{ type: "E", data: {} }] },
                { stream: "many-b", events: [{ type: "E", data: {} }], expected: ExpectedVersion.exact(0n) }
              ]))
              assert.strictEqual(conflict._tag, "WrongExpectedVersion")
              assert.deepStrictEqual(
                conflict._tag === "WrongExpectedVersion" ? [conflict.stream, conflict.actual] : [],
                ["many-b", 1n]
              )
              assert.strictEqual((yield* store.streamInfo("many-c")).status, "missing")
              // A tombstoned part: StreamDeleted, nothing written.
              yield* store.append("many-t", [{ type: "E", data: {} }])
              yield* store.tombstoneStream("many-t")
              const deleted = yield* Effect.flip(store.appendMany([
                { stream: "many-d", events: [{ type: "E", data: {} }] },
                { stream: "many-t", events: [{ type: "E", data: {} }] }
              ]))
              assert.strictEqual(deleted._tag, "StreamDeleted")
              assert.strictEqual((yield* store.streamInfo("many-d")).status, "missing")
            }))
        }))),
    30_000
  )

  it.live("layerConfig reads KURRENTDB_URL", () =>
    Effect.scoped(Effect.gen(function*() {
      const e = yield* emulator()
      const layer = KurrentStore.layerConfig().pipe(
        Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnvRecord({ KURRENTDB_URL: e.connectionString })))
      )
      const result = yield* Effect.provide(
        Effect.flatMap(
          EventStore.EventStore,
          (store) => store.append("config-1", [{ type: "E", data: {} }])
        ),
        layer
      )
      assert.strictEqual(result.nextExpectedVersion, 0n)
      assert.strictEqual(e.database.lastEventNumber("config-1"), 0n)
    })), 30_000)
})
